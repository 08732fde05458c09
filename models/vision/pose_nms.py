"""Pose-level duplicate suppression by OKS (object keypoint similarity), as COCO scores keypoints.

Box NMS keeps two boxes on one person when they overlap little: a box cut at a tile's edge beside the whole-frame
box, or a box on the upper body beside the full one. Their poses still land on the same joints, so comparing poses
catches what boxes miss, without suppressing two people who stand close (their joints are apart).
"""
from __future__ import annotations

import numpy as np

from models.vision.keypoints import COCO17_NAMES

# COCO's per-keypoint falloff constants (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0


def coco17_rows(keypoint_names: tuple[str, ...]) -> np.ndarray:
    """Indices of the COCO-17 keypoints among ``keypoint_names`` (the 33 MediaPipe names hold all 17)."""
    index = {name: i for i, name in enumerate(keypoint_names)}
    return np.array([index[name] for name in COCO17_NAMES])


def oks_matrix(keypoints: np.ndarray, boxes: np.ndarray, min_visibility: float = 0.3) -> np.ndarray:
    """(n, n) OKS between the poses ``keypoints`` (n, 17, 3: x, y, visibility), scaled by each row's box area.

    Only keypoints visible (>= ``min_visibility``) in both poses count; a pair with none in common scores 0."""
    n = len(keypoints)
    if n == 0:
        return np.zeros((0, 0))
    xy, vis = keypoints[:, :, :2].astype(np.float64), keypoints[:, :, 2] >= min_visibility
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0).astype(np.float64)
    d2 = ((xy[:, None] - xy[None, :]) ** 2).sum(-1)  # (n, n, 17)
    var = (2 * COCO_SIGMAS) ** 2
    e = d2 / (2 * var[None, None, :] * area[:, None, None])
    both = vis[:, None] & vis[None, :]
    sim = np.where(both, np.exp(-e), 0.0).sum(-1)
    return sim / np.maximum(both.sum(-1), 1)


def oks_nms(keypoints: np.ndarray, boxes: np.ndarray, scores: np.ndarray, threshold: float,
            min_visibility: float = 0.3) -> np.ndarray:
    """Indices kept, best score first: a pose whose OKS with a better-scoring kept pose exceeds ``threshold`` is a
    duplicate of it."""
    order = np.argsort(-scores, kind="stable")
    oks = oks_matrix(keypoints, boxes, min_visibility)
    kept: list[int] = []
    for i in order:
        if all(max(oks[k, i], oks[i, k]) <= threshold for k in kept):
            kept.append(int(i))
    return np.array(kept, dtype=np.int64)
