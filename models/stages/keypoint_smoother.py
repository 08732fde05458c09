"""`keypoint_smoother`: One Euro filtering of each tracked person's keypoints (and 3D keypoints) over time."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pydantic import Field

from models.vision.one_euro import OneEuroFilter
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from pipeline.stage import Stage, StageParams, StreamContext


class SmootherParams(StageParams):
    min_cutoff: float = Field(default=1.0, gt=0, description="Hz; lower = smoother when still")
    beta: float = Field(default=0.05, ge=0, description="speed coefficient; higher = less lag when moving")
    max_missing: int = Field(default=15, ge=1)


@dataclass
class _SmootherState:
    """One stream's filters: track id -> (2D filter, 3D filter, frame last seen)."""

    filters: dict[int, tuple[OneEuroFilter, OneEuroFilter, int]] = field(default_factory=dict)
    frame: int = 0


@register_stage
class KeypointSmootherStage(Stage):
    type_name = "keypoint_smoother"
    inputs = ("persons.keypoints", "persons.track_ids")
    optional_inputs = ("persons.keypoints_3d",)
    outputs = ("persons.keypoints", "persons.keypoints_3d")
    Params = SmootherParams

    def open_stream(self, stream: StreamContext) -> _SmootherState:
        return _SmootherState()

    def process(self, packet: FramePacket, state: _SmootherState) -> dict[str, Any]:
        persons = packet.get("persons")
        state.frame += 1
        if persons.keypoints is None or len(persons) == 0:
            return {"persons": persons}
        kps = persons.keypoints.copy()
        k3 = persons.keypoints_3d.copy() if persons.keypoints_3d is not None else None
        p = self.params
        for i, tid in enumerate(persons.track_ids.tolist()):
            if tid < 0:
                continue
            f2, f3, _ = state.filters.get(tid) or (OneEuroFilter(p.min_cutoff, p.beta),
                                                   OneEuroFilter(p.min_cutoff, p.beta), 0)
            kps[i, :, :2] = f2(kps[i, :, :2], packet.timestamp)
            if k3 is not None and np.isfinite(k3[i]).all():
                k3[i] = f3(k3[i], packet.timestamp)
            state.filters[tid] = (f2, f3, state.frame)
        stale = [t for t, (_, _, seen) in state.filters.items() if state.frame - seen > p.max_missing]
        for t in stale:
            del state.filters[t]
        return {"persons": replace(persons, keypoints=kps, keypoints_3d=k3)}
