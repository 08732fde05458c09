"""The iris centre from the visible part of its rim, and how much of each iris is seen.

The iris model gives a centre and 4 rim points; where a lid covers part of the iris, the model's points there are
a guess (often pulled onto the lid), and so is its centre, which follows them. The rim points well inside the eye
opening (the mesh's lid contour) are seen: with the iris radius from the two rim points farthest apart (the
sides, which lids rarely cover), the centre is the point that puts the seen rim points on a circle of that radius.
With fewer than two seen rim points the model's centre stays.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

INSIDE = 0.1  # a rim point is seen when at least this share of the iris radius inside the lid contour
SAMPLES = np.stack(np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)), axis=-1).reshape(-1, 2)
SAMPLES = SAMPLES[np.hypot(SAMPLES[:, 0], SAMPLES[:, 1]) <= 1.0]  # points over the unit disc, for the seen share


@dataclass(frozen=True)
class IrisFit:
    """centre (2,) px, radius px, seen: the share of the iris disc inside the eye opening (0..1), rim_used: rim
    points the centre was fitted to (0 = the model's centre kept)."""

    centre: np.ndarray
    radius: float
    seen: float
    rim_used: int


def _inside_by(contour: np.ndarray, point: np.ndarray) -> float:
    """Signed distance px of ``point`` inside the closed ``contour`` (negative outside)."""
    return float(cv2.pointPolygonTest(contour.astype(np.float32).reshape(-1, 1, 2),
                                      (float(point[0]), float(point[1])), True))


def fit_iris(centre: np.ndarray, rim: np.ndarray, lids: np.ndarray, iterations: int = 10) -> IrisFit:
    """``centre`` (2,) the model's iris centre, ``rim`` (4,2) its rim points, ``lids`` (K,2) the eye opening's
    contour (px, in order)."""
    centre, rim = np.asarray(centre, np.float64), np.asarray(rim, np.float64)
    d = np.linalg.norm(rim[:, None] - rim[None], axis=2)
    radius = max(float(d.max()) / 2.0, 1e-6)
    seen_rim = np.array([_inside_by(lids, p) >= INSIDE * radius for p in rim])
    c = centre.copy()
    if seen_rim.sum() >= 2:
        pts = rim[seen_rim]
        for _ in range(iterations):  # Gauss-Newton on sum (|p - c| - r)^2, from the model's centre
            off = c - pts
            dist = np.maximum(np.linalg.norm(off, axis=1), 1e-9)
            jac = off / dist[:, None]
            step, *_ = np.linalg.lstsq(jac, -(dist - radius), rcond=None)
            c = c + step
            if np.linalg.norm(step) < 1e-3:
                break
        if not np.all(np.isfinite(c)) or np.linalg.norm(c - centre) > radius:
            c = centre.copy()  # a fit that wanders off by more than a radius is not trusted
    inside = [_inside_by(lids, c + radius * s) >= 0 for s in SAMPLES]
    return IrisFit(c, radius, float(np.mean(inside)), int(seen_rim.sum()) if not np.allclose(c, centre) else 0)


def eye_weights(fits: list[IrisFit | None]) -> np.ndarray:
    """(E,) confidence of each eye for combining their gazes: the seen share of its iris times its diameter px
    (a half-closed or small, far, side-on iris says less); 0 for an eye without a fit."""
    return np.array([0.0 if f is None else f.seen * 2.0 * f.radius for f in fits])
