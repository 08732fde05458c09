"""Where a gaze ray first meets a depth map, and whose box that point lands in.

The depth map is treated as solid from its surface backwards (what the camera cannot see behind a surface counts
as occupied), so a ray hits the first pixel whose surface it reaches or passes. The ray is marched in 3D with
samples close enough that consecutive ones are at most a pixel apart in the image (a thin object cannot be jumped
over), then the crossing is refined between the last free sample and the first hit.
"""
from __future__ import annotations

import numpy as np

from calibration.camera import Intrinsics
from calibration.geometry import deproject, project

_NAN2, _NAN3 = np.full(2, np.nan), np.full(3, np.nan)
_MAX_SPLIT = 64  # most sub-samples one base interval is split into (bounds the cost of odd geometry)


def _pixels(points: np.ndarray, intr: Intrinsics, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N,3) points -> (N,2) pixels (NaN behind the camera), their rounded (N,2) indices, and whether inside.

    With lens distortion, points far outside the field of view can fold back into the image, so the pinhole
    projection must also land near the image."""
    z = points[:, 2]
    front = z > 1e-6
    px = np.full((len(points), 2), np.nan)
    inside = np.zeros(len(points), bool)
    if front.any():
        p = points[front]
        px[front] = project(p, intr)
        pin_u = intr.fx * p[:, 0] / p[:, 2] + intr.cx
        pin_v = intr.fy * p[:, 1] / p[:, 2] + intr.cy
        near = (pin_u > -0.5 * w) & (pin_u < 1.5 * w) & (pin_v > -0.5 * h) & (pin_v < 1.5 * h)
        inside[front] = near
    idx = np.rint(np.nan_to_num(px, nan=-1.0, posinf=-1.0, neginf=-1.0)).astype(np.int64)
    inside &= (idx[:, 0] >= 0) & (idx[:, 0] < w) & (idx[:, 1] >= 0) & (idx[:, 1] < h)
    return px, idx, inside


def _densify(t: np.ndarray, px: np.ndarray, max_px: float = 1.0) -> np.ndarray:
    """Split each interval of ``t`` so that its samples move at most ``max_px`` pixels in the image."""
    if len(t) < 2:
        return t
    gap = np.linalg.norm(np.diff(px, axis=0), axis=1) / max_px
    n = np.clip(np.ceil(np.nan_to_num(gap, nan=1.0, posinf=_MAX_SPLIT)), 1, _MAX_SPLIT).astype(np.int64)
    first = np.repeat(np.cumsum(n) - n, n)
    frac = (np.arange(int(n.sum())) - first) / np.repeat(n, n)
    return np.append(np.repeat(t[:-1], n) + frac * np.repeat(np.diff(t), n), t[-1])


def cast_gaze(origin: np.ndarray, direction: np.ndarray, depth_m: np.ndarray, intr: Intrinsics,
              max_range_m: float = 10.0, min_range_m: float = 0.15, tolerance_m: float = 0.03,
              step_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first point where the ray ``origin + t * direction`` (t in [min_range_m, max_range_m]) meets the
    surface of ``depth_m`` ((H,W) metres, 0 = unknown, registered to ``intr``), and its pixel.

    A sample hits when its pixel has depth and the sample is at most ``tolerance_m`` in front of that depth or
    behind it; holes are free space. Starting at ``min_range_m`` keeps the ray off the looker's own face.
    ``step_m`` None: each sample 1 % farther than the last (dense near the face, where pixels are large), then
    split to one pixel apart. Returns (target_3d (3,), target_px (2,)): the point on the surface (the hit pixel
    deprojected at its depth); NaN where the ray leaves the image, goes behind the camera or hits nothing.
    """
    o = np.asarray(origin, np.float64).reshape(3)
    d = np.asarray(direction, np.float64).reshape(3)
    norm = np.linalg.norm(d)
    if not (np.all(np.isfinite(o)) and np.isfinite(norm) and norm > 0 and 0 <= min_range_m < max_range_m):
        return _NAN3.copy(), _NAN2.copy()
    d = d / norm
    h, w = depth_m.shape
    if step_m is None:
        start = max(min_range_m, 1e-3)
        t = np.geomspace(start, max_range_m, int(np.ceil(np.log(max_range_m / start) / np.log1p(0.01))) + 1)
    elif step_m > 0:
        t = np.append(np.arange(min_range_m, max_range_m, step_m), max_range_m)
    else:
        raise ValueError(f"step_m must be positive, got {step_m}")

    def window(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
        """Pixels of the samples, and the run [start, stop) where the ray is in the image (its projection is a
        straight line, so it enters the image at most once and, once out, stays out)."""
        px, idx, inside = _pixels(o + t[:, None] * d, intr, w, h)
        start = int(np.argmax(inside))
        stop = start + int(np.argmin(inside[start:])) if not inside[start:].all() else len(t)
        return px, idx, inside, start, stop

    def gap(t: np.ndarray, idx: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """Sample z minus surface depth; -inf outside the image and in holes (free space)."""
        surf = np.where(inside, depth_m[np.where(inside, idx[:, 1], 0), np.where(inside, idx[:, 0], 0)], 0.0)
        return np.where(surf > 0, o[2] + t * d[2] - surf, -np.inf)

    px, _, inside, start, stop = window(t)
    if not inside.any():
        return _NAN3.copy(), _NAN2.copy()
    lo = max(start - 1, 0)
    t = _densify(t[lo:stop + 1], px[lo:stop + 1])
    px, idx, inside, start, stop = window(t)
    if not inside.any():
        return _NAN3.copy(), _NAN2.copy()
    t, idx, inside = t[:stop], idx[:stop], inside[:stop]
    s = gap(t, idx, inside)
    hits = np.flatnonzero(s >= -tolerance_m)
    if len(hits) == 0:
        return _NAN3.copy(), _NAN2.copy()
    i = int(hits[0])
    if i > 0:
        # Refine to the true crossing (gap >= 0) when the ray reaches it while still within tolerance; else to
        # the first point within tolerance (a ray grazing a surface).
        run_end = i + int(np.argmin(s[i:] >= -tolerance_m)) if not np.all(s[i:] >= -tolerance_m) else len(s)
        crossed = np.flatnonzero(s[i:run_end] >= 0)
        level = 0.0 if len(crossed) else -tolerance_m
        j = i + int(crossed[0]) if len(crossed) else i
        lo, hi = t[j - 1], t[j]  # free at lo (gap below the level), hit at hi
        for _ in range(3):  # three rounds of 16 sub-intervals: the bracket shrinks 4096-fold
            ts = np.linspace(lo, hi, 17)
            _, sub_idx, sub_in = _pixels(o + ts[:, None] * d, intr, w, h)
            ok = gap(ts, sub_idx, sub_in) >= level
            ok[-1] = True
            k = int(np.argmax(ok[1:])) + 1
            lo, hi = ts[k - 1], ts[k]
        t_hit = hi
    else:
        t_hit = t[0]
    hit_px, hit_idx, _ = _pixels((o + t_hit * d)[None], intr, w, h)
    surf = float(depth_m[hit_idx[0, 1], hit_idx[0, 0]])
    return deproject(hit_px, np.array([surf]), intr)[0], hit_px[0]


def box_hit(target_px: np.ndarray, boxes: np.ndarray, track_ids: np.ndarray, exclude_index: int | None) -> int:
    """The track id of the smallest box (xyxy) containing ``target_px``, not counting row ``exclude_index`` (the
    looker); -1 when none contains it or that box is untracked. Smallest, because a person in front of another
    is the one whose box is tighter around the point."""
    p = np.asarray(target_px, np.float64).reshape(2)
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not np.all(np.isfinite(p)) or len(b) == 0:
        return -1
    inside = (b[:, 0] <= p[0]) & (p[0] <= b[:, 2]) & (b[:, 1] <= p[1]) & (p[1] <= b[:, 3])
    if exclude_index is not None and 0 <= exclude_index < len(b):
        inside[exclude_index] = False
    if not inside.any():
        return -1
    area = np.where(inside, (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), np.inf)
    return int(np.asarray(track_ids).reshape(-1)[int(np.argmin(area))])
