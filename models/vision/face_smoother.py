"""One Euro smoothing of each tracked face's head rotation and gaze over time (models/vision/one_euro.py).

The rotation is filtered as its 9 matrix entries and put back on the rotation group (the nearest rotation, by
SVD): between frames a head turns a few degrees, where that is as good as filtering on the group. The gaze is
filtered as a 3-vector and normalised. Per track, one stream's faces; a track unseen for ``max_missing`` frames is
forgotten, and rows without a track id (-1) pass unfiltered.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.vision.one_euro import OneEuroFilter


def nearest_rotation(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


@dataclass
class FaceSmoother:
    """One stream's filters: track id -> (rotation filter, gaze filter, frame last seen)."""

    min_cutoff: float = 1.0
    beta: float = 0.5
    max_missing: int = 15
    filters: dict[int, tuple[OneEuroFilter, OneEuroFilter, int]] = field(default_factory=dict)
    frame: int = 0

    def __call__(self, track_ids: np.ndarray, rotations: np.ndarray, gazes: np.ndarray,
                 t: float) -> tuple[np.ndarray, np.ndarray]:
        """(n,) track ids, (n,3,3) rotations and (n,3) gazes (NaN rows where unknown) at time ``t`` s -> the
        smoothed copies."""
        self.frame += 1
        rot, gaze = rotations.copy(), gazes.copy()
        for i, tid in enumerate(np.asarray(track_ids).tolist()):
            if tid < 0:
                continue
            f_rot, f_gaze, _ = self.filters.get(tid) or (OneEuroFilter(self.min_cutoff, self.beta),
                                                         OneEuroFilter(self.min_cutoff, self.beta), 0)
            if np.all(np.isfinite(rot[i])):
                rot[i] = nearest_rotation(f_rot(rot[i], t))
            if np.all(np.isfinite(gaze[i])):
                g = f_gaze(gaze[i], t)
                gaze[i] = g / np.linalg.norm(g)
            self.filters[tid] = (f_rot, f_gaze, self.frame)
        for tid in [k for k, (_, _, seen) in self.filters.items() if self.frame - seen > self.max_missing]:
            del self.filters[tid]
        return rot, gaze
