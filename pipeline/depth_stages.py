"""Model-free geometry stages that write "depth": stereo matching and depth-to-colour registration.

Sources only read (and, for a stereo pair, rectify); the work that turns a frame into RGB-D happens here, so that
the scheduler can pipeline it (or several workers can share it) and a graph can leave it out.

- ``stereo_depth``: a rectified pair (``color`` = left, ``right``, ``baseline_m``, ``color_intrinsics``) ->
  semi-global matching (``calibration.disparity.DisparityEstimator``) -> ``Z = f * B / d`` -> uint16 millimetres
  registered to the rectified left image.
- ``register_depth``: depth in the depth camera (``depth_aligned=False`` with ``depth_intrinsics`` and
  ``depth_to_color``, e.g. a RealSense recording) -> depth on the colour image's pixel grid
  (``calibration.registration.DepthAligner``).

Both return ``{}`` (nothing written, the frame passes through) when they do not apply, so a graph may list them
for every source.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from calibration.camera import Extrinsics, Intrinsics
from calibration.disparity import DisparityEstimator, DisparityParams, disparity_to_depth
from calibration.registration import DepthAligner
from pipeline.packet import DepthMap, FramePacket
from pipeline.registry import register_stage
from pipeline.stage import Stage, StageParams


def stereo_depth_mm(disparity: np.ndarray, focal_px: float, baseline_m: float) -> np.ndarray:
    """Disparity (px, NaN = none) -> uint16 depth in millimetres, 0 where there is no estimate, clipped to 65535."""
    depth_m = disparity_to_depth(disparity, focal_px, baseline_m)
    return np.nan_to_num(np.clip(depth_m * 1000.0, 0, 65535), nan=0).astype(np.uint16)


class StereoDepthParams(StageParams):
    num_disparities: int = Field(default=64, gt=0, le=1024,
                                 description="SGBM search range in pixels (a positive multiple of 16)")
    block_size: int = Field(default=3, ge=1, le=11, description="SGBM matching block side (odd)")
    uniqueness: int = Field(default=5, ge=0, le=100, description="SGBM uniqueness ratio in percent")
    lr_tolerance_px: float = Field(default=1.5, ge=0,
                                   description="left-right consistency tolerance in px; 0 turns the check off")
    fill: bool = Field(default=True, description="fill holes from the background (farther) neighbour on the row")
    median: bool = Field(default=True, description="5x5 median on the disparity")

    @field_validator("num_disparities")
    @classmethod
    def _multiple_of_16(cls, v: int) -> int:
        if v % 16:
            raise ValueError(f"must be a positive multiple of 16, got {v}")
        return v

    @field_validator("block_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"must be odd, got {v}")
        return v


@register_stage
class StereoDepthStage(Stage):
    """Depth from a rectified stereo pair, registered pixel for pixel to the rectified left (colour) image.

    Without a right image the frame passes through. The estimator keeps no frame-to-frame state, but OpenCV's
    StereoSGBM objects reuse internal buffers in ``compute`` and the estimator builds them lazily, so each worker
    thread gets its own estimator.
    """

    type_name = "stereo_depth"
    inputs = ("color",)
    optional_inputs = ("right",)
    outputs = ("depth",)
    stateless = True
    Params = StereoDepthParams

    def __init__(self, params: StereoDepthParams | None = None) -> None:
        super().__init__(params)
        p = self.params
        self._disparity_params = DisparityParams(num_disparities=p.num_disparities, block_size=p.block_size,
                                                 uniqueness=p.uniqueness, lr_tolerance_px=p.lr_tolerance_px,
                                                 fill=p.fill, median=p.median)
        self._local = threading.local()

    def estimator(self) -> DisparityEstimator:
        """This thread's estimator (built on first use)."""
        est = getattr(self._local, "estimator", None)
        if est is None:
            est = self._local.estimator = DisparityEstimator(self._disparity_params)
        return est

    def process(self, packet: FramePacket) -> dict[str, Any]:
        right = packet.right
        if right is None:
            return {}
        intr = packet.color_intrinsics
        if intr is None or not packet.baseline_m or packet.baseline_m <= 0:
            raise ValueError("stereo_depth: the frame has a right image but no "
                             f"{'colour intrinsics' if intr is None else 'positive baseline_m'}; "
                             "the stereo source sets both from the calibration")
        # RGB or BGR makes no difference: SGBM sums its matching cost over the channels
        disparity = self.estimator().compute(packet.color, right)
        depth = stereo_depth_mm(disparity, intr.fx, float(packet.baseline_m))
        return {"depth": DepthMap(depth, 0.001, aligned=True, intrinsics=intr)}


class RegisterDepthParams(StageParams):
    fill_cracks: bool = Field(default=True, description="fill the one-pixel cracks of forward mapping")
    cache_size: int = Field(default=8, ge=1, le=256, description="aligners kept (one per camera calibration)")


def _calibration_key(depth_intr: Intrinsics, color_intr: Intrinsics, ext: Extrinsics) -> tuple:
    return (depth_intr, color_intr, np.asarray(ext.rotation, np.float64).tobytes(),
            np.asarray(ext.translation, np.float64).tobytes())


@register_stage
class RegisterDepthStage(Stage):
    """Registers unaligned depth to the colour image (z-buffered, crack-free; no librealsense).

    Applies when the frame has depth with ``depth_aligned=False`` and its ``depth_intrinsics``,
    ``color_intrinsics`` and ``depth_to_color`` are known; otherwise the frame passes through unchanged. The
    aligner (per-pixel rays, a few MB) is built once per calibration and shared by all workers: ``align`` only
    reads it.
    """

    type_name = "register_depth"
    inputs = ("color",)
    optional_inputs = ("depth",)
    outputs = ("depth",)
    stateless = True
    Params = RegisterDepthParams

    def __init__(self, params: RegisterDepthParams | None = None) -> None:
        super().__init__(params)
        self._aligners: OrderedDict[tuple, DepthAligner] = OrderedDict()
        self._lock = threading.Lock()

    def aligner(self, depth_intr: Intrinsics, color_intr: Intrinsics, ext: Extrinsics) -> DepthAligner:
        key = _calibration_key(depth_intr, color_intr, ext)
        with self._lock:
            found = self._aligners.get(key)
            if found is not None:
                self._aligners.move_to_end(key)
                return found
        built = DepthAligner(depth_intr, color_intr, ext, fill_cracks=self.params.fill_cracks)  # outside the lock
        with self._lock:
            found = self._aligners.setdefault(key, built)
            self._aligners.move_to_end(key)
            while len(self._aligners) > self.params.cache_size:
                self._aligners.popitem(last=False)
        return found

    def process(self, packet: FramePacket) -> dict[str, Any]:
        depth = packet.depth
        if (depth is None or packet.depth_aligned or packet.depth_intrinsics is None
                or packet.color_intrinsics is None or packet.depth_to_color is None):
            return {}
        aligner = self.aligner(packet.depth_intrinsics, packet.color_intrinsics, packet.depth_to_color)
        aligned = aligner.align(depth, packet.depth_scale)
        return {"depth": DepthMap(aligned, packet.depth_scale, aligned=True, intrinsics=packet.color_intrinsics)}

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"calibrations": len(self._aligners)}
