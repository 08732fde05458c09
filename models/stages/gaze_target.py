"""`gaze_target`: where each person's gaze ray first meets the depth map, and whose box it lands in.

Needs a gaze (``faces.gaze`` and ``faces.gaze_origin_3d``, from a face/gaze stage) and depth registered to colour.
Without depth the target fields are still written, as NaN / -1, so the JSON says null rather than leaving the
keys out. Only person boxes are candidates for ``gaze_target_track_id``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from models.vision.camera_guess import intrinsics_of
from models.vision.gaze_target import box_hit, cast_gaze
from models.vision.persons import Persons
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from pipeline.stage import Stage, StageParams


class GazeTargetParams(StageParams):
    max_range_m: float = Field(default=10.0, gt=0, le=100, description="farthest gaze target, metres from the eyes")
    min_range_m: float = Field(default=0.15, ge=0, le=5,
                               description="where the ray starts, metres from the eyes (keeps it off the own face)")
    tolerance_m: float = Field(default=0.03, ge=0, le=1,
                               description="how far in front of a surface the ray may pass and still hit it")

    @model_validator(mode="after")
    def _range(self) -> "GazeTargetParams":
        if self.min_range_m >= self.max_range_m:
            raise ValueError(f"min_range_m ({self.min_range_m}) must be below max_range_m ({self.max_range_m})")
        return self


@register_stage
class GazeTargetStage(Stage):
    type_name = "gaze_target"
    inputs = ("persons.faces.gaze",)  # a head_gaze or learned_gaze stage before it (checked at build)
    optional_inputs = ("depth", "persons.track_ids")  # the id of the person looked at
    outputs = ("persons.faces",)
    stateless = True
    Params = GazeTargetParams

    def process(self, packet: FramePacket) -> dict[str, Any]:
        persons: Persons = packet.get("persons")
        faces = persons.faces
        if faces is None or len(persons) == 0:
            return {"persons": persons}
        target_3d, target_px = faces.filled("gaze_target_3d"), faces.filled("gaze_target_px")
        target_id = faces.filled("gaze_target_track_id")
        if faces.gaze is None or faces.gaze_origin_3d is None:
            rows = np.zeros(len(faces), bool)
        else:
            rows = np.isfinite(faces.gaze).all(axis=1) & np.isfinite(faces.gaze_origin_3d).all(axis=1)
        target_3d[rows], target_px[rows], target_id[rows] = np.nan, np.nan, -1
        depth_m = packet.aligned_depth_metres(self.type_name)
        if depth_m is not None and rows.any():
            intr, _ = intrinsics_of(packet)
            h, w = depth_m.shape
            if (intr.width, intr.height) != (w, h):
                intr = intr.scaled(w / intr.width, h / intr.height)
            p = self.params
            for i in np.flatnonzero(rows):
                xyz, px = cast_gaze(faces.gaze_origin_3d[i], faces.gaze[i], depth_m, intr, max_range_m=p.max_range_m,
                                    min_range_m=p.min_range_m, tolerance_m=p.tolerance_m)
                target_3d[i], target_px[i] = xyz, px
                target_id[i] = box_hit(px, persons.boxes, persons.track_ids, int(i))
        faces = replace(faces, gaze_target_3d=target_3d, gaze_target_px=target_px, gaze_target_track_id=target_id)
        return {"persons": replace(persons, faces=faces)}
