"""Depth-to-colour registration without librealsense: vectorised, z-buffered, crack-free.

Each valid depth pixel is deprojected, moved into the colour camera and projected; where several land on one
colour pixel the nearest wins (a scatter-min z-buffer, ``np.minimum.at``). Forward mapping leaves one-pixel cracks
where the colour image samples more finely than the depth image or surfaces are seen at a slant; a crack pixel
takes the nearer of its two valid neighbours across it (left/right or up/down), so real occlusion holes, which
are wider, stay empty.
"""
from __future__ import annotations

import cv2
import numpy as np

from calibration.camera import Extrinsics, Intrinsics


class DepthAligner:
    """Precomputes the per-pixel rays of the depth camera, so that each frame costs a few vector operations."""

    def __init__(self, depth_intr: Intrinsics, color_intr: Intrinsics, depth_to_color: Extrinsics | None = None,
                 fill_cracks: bool = True) -> None:
        self.depth_intr, self.color_intr = depth_intr, color_intr
        self.ext = depth_to_color or Extrinsics()
        self.fill_cracks = fill_cracks
        h, w = depth_intr.height, depth_intr.width
        u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        px = np.stack([u.ravel(), v.ravel()], axis=1)
        if depth_intr.has_distortion:
            norm = cv2.undistortPoints(px.reshape(-1, 1, 2), depth_intr.matrix,
                                       np.asarray(depth_intr.distortion)).reshape(-1, 2)
        else:
            norm = np.stack([(px[:, 0] - depth_intr.cx) / depth_intr.fx, (px[:, 1] - depth_intr.cy) / depth_intr.fy], 1)
        rays = np.concatenate([norm, np.ones((len(norm), 1))], axis=1)  # depth-camera rays with z = 1
        # colour-camera coordinates are R @ (ray * z) + t = z * (R @ ray) + t; keep x, y, z rows contiguous
        rot = (rays @ self.ext.rotation.T).astype(np.float32)
        self._ax, self._ay, self._az = (np.ascontiguousarray(rot[:, k]) for k in range(3))
        self._t = self.ext.translation.astype(np.float32)
        # a depth pixel covers about this many colour pixels: forward mapping leaves gaps up to ceil(scale) - 1 wide
        scale = max(color_intr.fx / depth_intr.fx, color_intr.fy / depth_intr.fy)
        self.crack_radius = max(1, int(np.ceil(scale - 1e-6)) - 1)
        self._identity = (depth_intr == color_intr and np.allclose(self.ext.rotation, np.eye(3))
                          and np.allclose(self.ext.translation, 0))

    def align(self, depth: np.ndarray, depth_scale: float = 0.001) -> np.ndarray:
        """uint16 depth in the depth camera -> uint16 depth (same units) on the colour image's pixel grid."""
        if depth.shape != (self.depth_intr.height, self.depth_intr.width):
            raise ValueError(f"depth is {depth.shape[1]}x{depth.shape[0]}, expected "
                             f"{self.depth_intr.width}x{self.depth_intr.height}")
        if self._identity:
            return depth.copy()
        cw, ch = self.color_intr.width, self.color_intr.height
        c = self.color_intr
        raw = depth.ravel()
        z = raw.astype(np.float32)
        z *= np.float32(depth_scale)
        tx, ty, tz = (float(v) for v in self._t)
        zc = self._az * z + np.float32(tz)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.float32(1.0) / zc
            u = (self._ax * z + np.float32(tx)) * inv * np.float32(c.fx) + np.float32(c.cx + 0.5)
            v = (self._ay * z + np.float32(ty)) * inv * np.float32(c.fy) + np.float32(c.cy + 0.5)
        ok = (raw > 0) & (zc > 1e-4) & (u >= 0) & (u < cw) & (v >= 0) & (v < ch)
        target = v[ok].astype(np.int32) * cw + u[ok].astype(np.int32)
        values = np.clip(zc[ok] / np.float32(depth_scale), 1, 65534).astype(np.uint16)
        out = np.full(cw * ch, 65535, np.uint16)
        np.minimum.at(out, target, values)
        out[out == 65535] = 0
        out = out.reshape(ch, cw)
        if self.fill_cracks:
            # two passes: the second fills where an empty row crosses an empty column
            out = fill_cracks(fill_cracks(out, self.crack_radius), self.crack_radius)
        return out


def fill_cracks(depth: np.ndarray, radius: int = 1) -> np.ndarray:
    """Fill holes that have valid pixels within ``radius`` on both sides (left and right, or above and below) with
    the nearest surface around them. Gaps of forward mapping are at most ``radius`` wide; occlusion holes behind
    foreground edges are wider and stay empty. (OpenCV mask operations: this runs on every frame.)"""
    hole = cv2.compare(depth, 0, cv2.CMP_EQ)  # 255 where empty
    valid = cv2.bitwise_not(hole)
    k = radius + 1
    row, col = np.ones((1, k), np.uint8), np.ones((k, 1), np.uint8)
    # "a valid pixel within radius to the left" = dilation with a kernel anchored at its right end, etc.
    horizontal = cv2.bitwise_and(cv2.dilate(valid, row, anchor=(k - 1, 0), borderValue=0),
                                 cv2.dilate(valid, row, anchor=(0, 0), borderValue=0))
    vertical = cv2.bitwise_and(cv2.dilate(valid, col, anchor=(0, k - 1), borderValue=0),
                               cv2.dilate(valid, col, anchor=(0, 0), borderValue=0))
    crack = cv2.bitwise_and(hole, cv2.bitwise_or(horizontal, vertical))
    big = cv2.bitwise_or(depth, hole.astype(np.uint16) * np.uint16(257))  # holes -> 65535, so min ignores them
    nearest = cv2.erode(big, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
    out = depth.copy()
    cv2.copyTo(nearest, crack, out)
    return out


def align_depth_to_color(depth: np.ndarray, depth_intr: Intrinsics, color_intr: Intrinsics,
                         depth_to_color: Extrinsics | None = None, depth_scale: float = 0.001) -> np.ndarray:
    """One-off convenience; use DepthAligner for streams (it caches the rays)."""
    return DepthAligner(depth_intr, color_intr, depth_to_color).align(depth, depth_scale)
