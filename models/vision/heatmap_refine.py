"""MediaPipe's landmark refinement from heatmaps: the pose landmark models also output a low-resolution heatmap
per landmark, and MediaPipe's solution replaces each regressed landmark by the heatmap-weighted mean position in
a small window around it where the heatmap is confident. Without it the keypoints sit a few pixels off the
solution's (the close-up test measures that).
"""
from __future__ import annotations

import numpy as np

from models.vision.arrays import sigmoid


def refine_from_heatmaps(points: np.ndarray, heatmaps: np.ndarray, input_size: int, kernel: int = 7,
                         min_confidence: float = 0.5) -> np.ndarray:
    """points (N,K,2) in crop pixels of a ``input_size`` square; heatmaps (N,H,W,K) logits. Returns refined points.

    Points outside the heatmap stay; a window is cut at the heatmap's border (zero border)."""
    n, h, w, k = heatmaps.shape
    out = np.array(points, np.float32, copy=True)
    if n == 0:
        return out
    col = np.floor(points[..., 0] / input_size * w).astype(np.int64)  # (N,K)
    row = np.floor(points[..., 1] / input_size * h).astype(np.int64)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    half = (kernel - 1) // 2
    offsets = np.arange(-half, half + 1)
    cols = col[..., None] + offsets  # (N,K,k)
    rows = row[..., None] + offsets
    col_ok = (cols >= 0) & (cols < w)
    row_ok = (rows >= 0) & (rows < h)
    probs = sigmoid(heatmaps.astype(np.float32))
    ni, ki = np.arange(n)[:, None, None, None], np.arange(k)[None, :, None, None]
    window = probs[ni, np.clip(rows, 0, h - 1)[..., :, None], np.clip(cols, 0, w - 1)[..., None, :], ki]
    window = window * (row_ok[..., :, None] & col_ok[..., None, :])  # (N,K,kernel,kernel)
    total = window.sum(axis=(2, 3))
    peak = window.max(axis=(2, 3))
    ok = inside & (peak >= min_confidence) & (total > 0)
    safe = np.where(total > 0, total, 1.0)
    mean_col = (window.sum(axis=2) * cols).sum(axis=2) / safe
    mean_row = (window.sum(axis=3) * rows).sum(axis=2) / safe
    out[..., 0] = np.where(ok, mean_col / w * input_size, out[..., 0])
    out[..., 1] = np.where(ok, mean_row / h * input_size, out[..., 1])
    return out
