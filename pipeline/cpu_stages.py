"""Model-free OpenCV stages: image conditioning blocks and the ``bench.yaml`` workload.

They do real work of a few milliseconds per frame in OpenCV, which releases the GIL, so they show what the
scheduler's pipelining gains on CPU. ``passthrough`` does nothing and measures the engine's own overhead.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from pydantic import Field

from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from pipeline.stage import Stage, StageContext, StageParams, StreamContext


class _OpenCVParams(StageParams):
    opencv_threads: int | None = Field(default=None, ge=0, description="cv2.setNumThreads; None leaves it")


class _OpenCVStage(Stage):
    def setup(self, context: StageContext) -> None:
        if self.params.opencv_threads is not None:
            cv2.setNumThreads(self.params.opencv_threads)


@register_stage
class PassthroughStage(Stage):
    """Does nothing; measures the scheduler's per-frame cost."""

    type_name = "passthrough"
    inputs = ("color",)
    outputs = ()
    stateless = True

    def process(self, packet: FramePacket) -> dict[str, Any]:
        return {}


@register_stage
class SmoothStage(_OpenCVStage):
    """Edge-preserving denoise: Gaussian then a small bilateral pass on the grey image."""

    type_name = "smooth"
    inputs = ("color",)
    outputs = ("smooth",)
    stateless = True

    class Params(_OpenCVParams):
        kernel: int = Field(default=5, ge=1, le=31)
        diameter: int = Field(default=7, ge=1, le=15, description="bilateral filter diameter")

    def process(self, packet: FramePacket) -> dict[str, Any]:
        k = self.params.kernel | 1
        gray = cv2.cvtColor(packet.color, cv2.COLOR_RGB2GRAY)
        blurred = cv2.GaussianBlur(gray, (k, k), 0)
        d = self.params.diameter
        return {"smooth": cv2.bilateralFilter(blurred, d, 30, d)}


@register_stage
class EdgesStage(_OpenCVStage):
    """Canny edges of the smoothed image and a distance-to-edge map; reports edge share and mean distance."""

    type_name = "edges"
    inputs = ("smooth",)
    outputs = ("edges", "edge_density", "edge_distance")
    stateless = True

    class Params(_OpenCVParams):
        low: int = 50
        high: int = 150

    def process(self, packet: FramePacket) -> dict[str, Any]:
        edges = cv2.Canny(packet.get("smooth"), self.params.low, self.params.high)
        edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
        count = np.count_nonzero(edges)
        if not count:  # a flat frame: no edge to measure from (distanceTransform would give inf)
            return {"edges": edges, "edge_density": 0.0, "edge_distance": None}
        distance = cv2.distanceTransform(cv2.bitwise_not(edges), cv2.DIST_L2, 5)
        return {"edges": edges, "edge_density": round(float(count) / edges.size, 5),
                "edge_distance": round(float(distance.mean()), 3)}


@register_stage
class MotionStage(_OpenCVStage):
    """Dense optical flow (Farneback) against the previous frame; reports mean motion in px/frame.

    Stateful: it keeps the previous frame, so it sees frames in order.
    """

    type_name = "motion"
    inputs = ("smooth",)
    outputs = ("motion",)

    class Params(_OpenCVParams):
        scale: float = Field(default=0.5, gt=0, le=1)
        levels: int = Field(default=2, ge=1, le=6)
        iterations: int = Field(default=2, ge=1, le=10)

    def open_stream(self, stream: StreamContext) -> dict[str, np.ndarray | None]:
        return {"previous": None}  # the stream's last downscaled frame

    def process(self, packet: FramePacket, state: dict[str, np.ndarray | None]) -> dict[str, Any]:
        s = self.params.scale
        image = packet.get("smooth")
        if round(min(image.shape[:2]) * s) >= 1:
            small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        else:  # a side of a pixel or two would scale to nothing: keep it one pixel
            size = (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        previous, state["previous"] = state["previous"], small
        if previous is None or previous.shape != small.shape:
            return {"motion": 0.0}
        flow = cv2.calcOpticalFlowFarneback(previous, small, None, 0.5, self.params.levels, 9,
                                            self.params.iterations, 5, 1.1, 0)
        return {"motion": round(float(np.linalg.norm(flow, axis=2).mean()) / s, 4)}


@register_stage
class DepthHolesStage(_OpenCVStage):
    """Fills small depth holes (closing + median) and smooths depth edge-preservingly (bilateral, as
    librealsense's spatial filter does); reports the valid-depth share (0 without depth)."""

    type_name = "depth_fill"
    inputs = ("color",)
    optional_inputs = ("depth",)
    outputs = ("depth_valid", "depth_mean_m")
    stateless = True

    class Params(_OpenCVParams):
        kernel: int = Field(default=5, ge=1, le=31)
        diameter: int = Field(default=5, ge=1, le=15)

    def process(self, packet: FramePacket) -> dict[str, Any]:
        if packet.depth is None:
            return {"depth_valid": 0.0}
        k = np.ones((self.params.kernel, self.params.kernel), np.uint8)
        closed = cv2.morphologyEx(packet.depth, cv2.MORPH_CLOSE, k)
        filled = np.where(packet.depth == 0, closed, packet.depth)
        filled = cv2.medianBlur(filled, 5)
        d = self.params.diameter
        smoothed = cv2.bilateralFilter(filled.astype(np.float32), d, 50.0, d)
        return {"depth_valid": round(float(np.count_nonzero(filled)) / filled.size, 5),
                "depth_mean_m": round(float(smoothed[filled > 0].mean()) * packet.depth_scale, 4)
                if np.any(filled) else None}
