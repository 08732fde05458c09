"""Dense disparity for rectified pairs: semi-global matching (OpenCV SGBM, 3-way), a left-right consistency check,
occlusion-aware hole filling and a median pass.

Why each step: SGBM alone leaves ~20-25% of Middlebury pixels wrong or empty, mostly at occlusions and depth
edges. The consistency check (against a right-view disparity computed at half resolution: a quarter of the cost)
removes mismatches; filling each hole from the farther (smaller-disparity) of its nearest valid neighbours on the
row puts occluded pixels on the background, where they belong; the 5x5 median removes remaining speckles while
keeping edges. The left border, which SGBM cannot match, is padded so that it gets estimates too.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.errors import CalibrationError


@dataclass
class DisparityParams:
    num_disparities: int = 64  # multiple of 16
    block_size: int = 3
    uniqueness: int = 5
    lr_tolerance_px: float = 1.5
    fill: bool = True
    median: bool = True


def _sgbm(num_disparities: int, block_size: int, uniqueness: int, channels: int) -> cv2.StereoSGBM:
    area = channels * block_size * block_size
    return cv2.StereoSGBM_create(
        minDisparity=0, numDisparities=num_disparities, blockSize=block_size, P1=8 * area, P2=32 * area,
        disp12MaxDiff=-1, uniquenessRatio=uniqueness, speckleWindowSize=0, speckleRange=2, preFilterCap=63,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)


def _raw(matcher, left: np.ndarray, right: np.ndarray, pad: int) -> np.ndarray:
    lp = cv2.copyMakeBorder(left, 0, 0, pad, 0, cv2.BORDER_REPLICATE)
    rp = cv2.copyMakeBorder(right, 0, 0, pad, 0, cv2.BORDER_REPLICATE)
    return matcher.compute(lp, rp)[:, pad:].astype(np.float32) / 16.0


def fill_from_background(disp: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Each invalid pixel takes the smaller disparity of its nearest valid neighbours left and right on its row."""
    h, w = disp.shape
    cols = np.arange(w)[None, :]
    left_idx = np.maximum.accumulate(np.where(valid, cols, -1), axis=1)
    right_idx = np.minimum.accumulate(np.where(valid, cols, w)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(h)[:, None]
    left = np.where(left_idx >= 0, disp[rows, np.clip(left_idx, 0, w - 1)], np.inf)
    right = np.where(right_idx < w, disp[rows, np.clip(right_idx, 0, w - 1)], np.inf)
    filled = np.where(valid, disp, np.minimum(left, right))
    filled[~np.isfinite(filled)] = np.nan
    return filled.astype(np.float32)


class DisparityEstimator:
    def __init__(self, params: DisparityParams | None = None) -> None:
        self.params = params or DisparityParams()
        if self.params.num_disparities % 16 or self.params.num_disparities <= 0:
            raise CalibrationError("num_disparities must be a positive multiple of 16")
        self._cache: dict[int, tuple] = {}

    def _matchers(self, channels: int):
        if channels not in self._cache:
            p = self.params
            half = max(16, (p.num_disparities // 2 + 15) // 16 * 16)
            self._cache[channels] = (_sgbm(p.num_disparities, p.block_size, p.uniqueness, channels),
                                     _sgbm(half, 3, p.uniqueness, channels), half)
        return self._cache[channels]

    def compute(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """float32 disparity of the left image in pixels; NaN where there is no estimate."""
        if left.shape != right.shape:
            raise CalibrationError(f"left {left.shape} and right {right.shape} images differ in size")
        p = self.params
        channels = 1 if left.ndim == 2 else left.shape[2]
        full, half_matcher, half_nd = self._matchers(channels)
        disp = _raw(full, left, right, p.num_disparities)
        h, w = disp.shape
        valid = disp >= 0
        if p.lr_tolerance_px > 0:
            lh = cv2.resize(left, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            rh = cv2.resize(right, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            right_disp = cv2.flip(_raw(half_matcher, cv2.flip(rh, 1), cv2.flip(lh, 1), half_nd), 1)
            right_disp = cv2.resize(right_disp, (w, h), interpolation=cv2.INTER_NEAREST) * 2.0
            xs = np.clip(np.arange(w)[None, :] - np.rint(np.maximum(disp, 0)).astype(np.int32), 0, w - 1)
            valid &= np.abs(disp - right_disp[np.arange(h)[:, None], xs]) <= p.lr_tolerance_px
        out = fill_from_background(disp, valid) if p.fill else np.where(valid, disp, np.nan).astype(np.float32)
        if p.median:
            nan = np.isnan(out)
            med = cv2.medianBlur(np.nan_to_num(out, nan=0.0), 5)
            out = np.where(nan, np.nan, med).astype(np.float32)
        return out


def disparity_to_depth(disp: np.ndarray, focal_px: float, baseline_m: float) -> np.ndarray:
    """Depth in metres (NaN where disparity is missing or not positive)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = focal_px * baseline_m / disp
    depth[~(disp > 0)] = np.nan
    return depth
