"""ByteTrack-style tracking (Zhang et al., ECCV 2022): a constant-velocity Kalman filter per track and two rounds
of IoU matching, first with confident detections, then with the low-score ones that plain trackers discard (they
are often the occluded people an existing track is following).

Written here rather than taken from a library: supervision 0.31 no longer ships ByteTrack, its older releases and
Roboflow's `trackers` depend on opencv-python (which breaks PyQt6), and norfair pins numpy < 2.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


class _Kalman:
    """State (cx, cy, w, h, vcx, vcy, vw, vh); measurement (cx, cy, w, h). Noise scales with box size."""

    F = np.eye(8)
    F[:4, 4:] = np.eye(4)
    H = np.eye(4, 8)

    def __init__(self, box: np.ndarray) -> None:
        z = _to_z(box)
        self.x = np.concatenate([z, np.zeros(4)])
        s = max(z[3], 1.0)
        self.P = np.diag([(0.1 * s) ** 2] * 4 + [(0.1 * s) ** 2] * 4) * 4

    def predict(self) -> None:
        s = max(self.x[3], 1.0)
        q = np.diag([(0.05 * s) ** 2] * 4 + [(0.0125 * s) ** 2] * 4)
        self.x = self.F @ self.x
        self.P = self.F @ self.P @ self.F.T + q

    def update(self, box: np.ndarray) -> None:
        s = max(self.x[3], 1.0)
        r = np.diag([(0.05 * s) ** 2] * 4)
        y = _to_z(box) - self.H @ self.x
        S = self.H @ self.P @ self.H.T + r
        K = self.P @ self.H.T @ np.linalg.inv(S)
        self.x = self.x + K @ y
        self.P = (np.eye(8) - K @ self.H) @ self.P

    @property
    def box(self) -> np.ndarray:
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def _to_z(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)])


@dataclass
class _Track:
    track_id: int
    kalman: _Kalman
    missed: int = 0
    hits: int = 1


@dataclass
class ByteTracker:
    high_score: float = 0.5
    low_score: float = 0.1
    new_track_score: float = 0.4
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    max_missed: int = 30
    _tracks: list[_Track] = field(default_factory=list)
    _next_id: int = 1

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Track ids for each detection row (-1: not tracked, e.g. an unmatched low-score box)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        ids = np.full(len(boxes), -1, np.int64)
        for t in self._tracks:
            t.kalman.predict()
        high = np.flatnonzero(scores >= self.high_score)
        low = np.flatnonzero((scores >= self.low_score) & (scores < self.high_score))
        unmatched_tracks = list(range(len(self._tracks)))
        for dets, min_iou in ((high, self.match_iou), (low, self.low_match_iou)):
            if len(dets) == 0 or not unmatched_tracks:
                continue
            predicted = np.stack([self._tracks[i].kalman.box for i in unmatched_tracks])
            iou = iou_matrix(predicted, boxes[dets])
            rows, cols = linear_sum_assignment(-iou)
            matched = set()
            for r, c in zip(rows, cols):
                if iou[r, c] < min_iou:
                    continue
                track = self._tracks[unmatched_tracks[r]]
                track.kalman.update(boxes[dets[c]])
                track.missed, track.hits = 0, track.hits + 1
                ids[dets[c]] = track.track_id
                matched.add(r)
            unmatched_tracks = [t for k, t in enumerate(unmatched_tracks) if k not in matched]
        for i in unmatched_tracks:
            self._tracks[i].missed += 1
        for d in high:
            if ids[d] == -1 and scores[d] >= self.new_track_score:
                self._tracks.append(_Track(self._next_id, _Kalman(boxes[d])))
                ids[d] = self._next_id
                self._next_id += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        return ids

    @property
    def active_tracks(self) -> int:
        return sum(1 for t in self._tracks if t.missed == 0)
