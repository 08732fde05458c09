"""`movenet_pose`: people and their 17 COCO keypoints in one call on the whole frame (MoveNet MultiPose
Lightning), for the fast graph (`assets/graphs/pose_fast.yaml`). It finds at most six people and is weaker on
small ones than the person detector + BlazePose pair; it takes the place of both.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from models.runtime.device import device_field
from models.runtime.onnx import load_stage_model
from models.vision import movenet
from models.vision.persons import Persons
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from pipeline.stage import Stage, StageContext, StageParams


class MoveNetPoseParams(StageParams):
    model: str = "movenet_multipose"
    long_side: int = Field(default=256, ge=64, le=1024, description="network input's long side (px); 256 as "
                                                                    "Google's examples, more for small people")
    score_threshold: float = Field(default=0.2, ge=0, le=1, description="least person score kept")
    device: str = device_field()


@register_stage
class MoveNetPoseStage(Stage):
    type_name = "movenet_pose"
    inputs = ("color",)
    outputs = ("persons", "persons.keypoints")
    stateless = True
    Params = MoveNetPoseParams

    def setup(self, context: StageContext) -> None:
        self.model = load_stage_model(self.params.model, self.params.device, context.device)

    def process(self, packet: FramePacket) -> dict[str, Any]:
        prepared = movenet.prepare(packet.color, self.params.long_side)
        out = self.model.run_input(prepared.tensor)[0]
        people = movenet.decode(out, prepared, self.params.score_threshold)
        h, w = packet.color.shape[:2]
        boxes = np.clip(people.boxes, 0, [w, h, w, h])
        return {"persons": Persons(boxes, people.scores, keypoints=people.keypoints,
                                   keypoint_names=movenet.COCO17)}

    def describe(self) -> dict:
        return self.model.describe()
