"""Depth post-filters in the manner of librealsense's: decimation, threshold, spatial edge-preserving, temporal,
hole filling. All take and return uint16 depth (0 = no data) so they chain in any order."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from calibration.camera import Intrinsics


def decimate(depth: np.ndarray, factor: int = 2, intr: Intrinsics | None = None
             ) -> tuple[np.ndarray, Intrinsics | None]:
    """Downsample by ``factor`` taking the median of the valid pixels of each block (zeros ignored)."""
    if factor <= 1:
        return depth, intr
    h, w = (depth.shape[0] // factor) * factor, (depth.shape[1] // factor) * factor
    blocks = depth[:h, :w].reshape(h // factor, factor, w // factor, factor).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(h // factor, w // factor, factor * factor).astype(np.float32)
    blocks[blocks == 0] = np.nan
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(blocks, axis=2)
    out = np.nan_to_num(med, nan=0).astype(np.uint16)
    return out, (intr.scaled(1 / factor) if intr is not None else None)


def threshold(depth: np.ndarray, min_m: float, max_m: float, depth_scale: float = 0.001) -> np.ndarray:
    """Zero out depth outside [min_m, max_m] metres."""
    lo, hi = min_m / depth_scale, max_m / depth_scale
    return np.where((depth >= lo) & (depth <= hi), depth, 0).astype(np.uint16)


def spatial(depth: np.ndarray, sigma_depth_m: float = 0.05, diameter: int = 5, iterations: int = 2,
            depth_scale: float = 0.001) -> np.ndarray:
    """Edge-preserving smoothing: a bilateral filter on depth that leaves holes as holes and does not blur
    across depth edges larger than ~``sigma_depth_m``."""
    valid = depth > 0
    d = depth.astype(np.float32)
    for _ in range(iterations):
        # fill holes temporarily with a local mean so they do not pull edges to zero, then restore them
        d = np.where(valid, d, cv2.blur(d, (3, 3)))
        d = cv2.bilateralFilter(d, diameter, sigma_depth_m / depth_scale, diameter)
    return np.where(valid, np.clip(d, 0, 65535), 0).astype(np.uint16)


@dataclass
class TemporalFilter:
    """Exponential smoothing per pixel (alpha = weight of the new frame), reset where depth jumps by more than
    ``delta_m`` (motion) so moving edges do not smear; a pixel missing now keeps its history for
    ``persistence`` frames."""

    alpha: float = 0.4
    delta_m: float = 0.05
    persistence: int = 3
    depth_scale: float = 0.001
    _state: np.ndarray | None = field(default=None, repr=False)
    _missing: np.ndarray | None = field(default=None, repr=False)

    def __call__(self, depth: np.ndarray) -> np.ndarray:
        d = depth.astype(np.float32)
        if self._state is None or self._state.shape != d.shape:
            self._state = d.copy()
            self._missing = np.zeros(d.shape, np.int32)
            return depth.copy()
        valid, prev = d > 0, self._state
        prev_ok = prev > 0
        close = np.abs(d - prev) <= self.delta_m / self.depth_scale
        blended = np.where(valid & prev_ok & close, self.alpha * d + (1 - self.alpha) * prev, d)
        self._missing = np.where(valid, 0, self._missing + 1)
        keep = ~valid & prev_ok & (self._missing <= self.persistence)
        self._state = np.where(keep, prev, blended)
        return np.clip(self._state, 0, 65535).astype(np.uint16)


def fill_holes(depth: np.ndarray, mode: str = "farthest") -> np.ndarray:
    """Fill every hole from its nearest valid pixels to the left and right on the same row: ``farthest`` takes the
    larger depth (holes next to foreground edges are usually background), ``nearest`` the smaller."""
    h, w = depth.shape
    valid = depth > 0
    cols = np.arange(w)[None, :]
    left_idx = np.maximum.accumulate(np.where(valid, cols, -1), axis=1)
    right_idx = np.minimum.accumulate(np.where(valid, cols, w)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(h)[:, None]
    left = np.where(left_idx >= 0, depth[rows, np.clip(left_idx, 0, w - 1)], 0).astype(np.int32)
    right = np.where(right_idx < w, depth[rows, np.clip(right_idx, 0, w - 1)], 0).astype(np.int32)
    if mode == "farthest":
        cand = np.maximum(left, right)
    elif mode == "nearest":
        cand = np.where((left > 0) & (right > 0), np.minimum(left, right), np.maximum(left, right))
    else:
        raise ValueError(f"fill mode must be farthest or nearest, got {mode!r}")
    return np.where(valid, depth, cand).astype(np.uint16)
