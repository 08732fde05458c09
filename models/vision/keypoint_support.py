"""Is a keypoint on the person's visible silhouette? The pose landmark models also segment the person in their
crop; a keypoint that the landmark head places confidently where the mask says "not this person" (legs behind a
table, an arm behind someone else) is predicted, not seen.
"""
from __future__ import annotations

import numpy as np


def mask_support(points: np.ndarray, mask_logits: np.ndarray, input_size: int, radius: int = 4) -> np.ndarray:
    """points (N,K,2) crop pixels; mask_logits (N,S,S,1) or (N,S,S) -> (N,K) the highest mask probability within
    ``radius`` mask pixels of each point (a keypoint on a thin limb's edge still counts), 0 outside the crop."""
    masks = np.asarray(mask_logits, np.float32).reshape(len(points), mask_logits.shape[1], mask_logits.shape[2])
    n, h, w = masks.shape
    if n == 0:
        return np.zeros(points.shape[:2], np.float32)
    col = np.floor(points[..., 0] / input_size * w).astype(np.int64)
    row = np.floor(points[..., 1] / input_size * h).astype(np.int64)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    offsets = np.arange(-radius, radius + 1)
    rows = np.clip(row[..., None] + offsets, 0, h - 1)  # (N,K,r)
    cols = np.clip(col[..., None] + offsets, 0, w - 1)
    ni = np.arange(n)[:, None, None, None]
    window = masks[ni, rows[..., :, None], cols[..., None, :]]  # (N,K,r,r)
    best = window.max(axis=(2, 3))
    prob = 0.5 * (1.0 + np.tanh(0.5 * best))
    return np.where(inside, prob, 0.0).astype(np.float32)
