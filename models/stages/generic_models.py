"""Stages for users' own models of popular families (see models/vision/decoders.py): `yolo` (Ultralytics detect
or pose exports), `rtmdet` (person boxes) and `rtmpose` (top-down SimCC keypoints on each person's box)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import cv2
import numpy as np
from pydantic import Field

from models.runtime.device import device_field
from models.runtime.onnx import load_stage_model
from models.vision.decoders import decode_rtmdet, decode_simcc, decode_yolo
from models.vision.letterbox import letterbox
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from models.vision.detections import Detections
from models.vision.keypoints import COCO17_NAMES
from models.vision.persons import Persons
from pipeline.stage import Stage, StageContext, StageParams


def _keypoint_names(k: int) -> tuple[str, ...]:
    return COCO17_NAMES if k == 17 else tuple(f"kp{i}" for i in range(k))


class YoloParams(StageParams):
    model: str = Field(description="path to an Ultralytics YOLO ONNX export (or a manifest name)")
    task: str = Field(default="detect", pattern="^(detect|pose)$")
    input_size: int = Field(default=640, ge=32)
    score_threshold: float = Field(default=0.25, ge=0, le=1)
    nms_iou: float = Field(default=0.45, gt=0, le=1)
    class_names: list[str] = Field(default_factory=list, description="detect: names by class id")
    num_keypoints: int = Field(default=17, ge=1)
    device: str = device_field()


@register_stage
class YoloStage(Stage):
    """detect -> "objects" (Detections); pose -> "persons" with keypoints (COCO-17 names when K = 17)."""

    type_name = "yolo"
    inputs = ("color",)
    stateless = True
    Params = YoloParams

    def __init__(self, params: YoloParams | None = None) -> None:
        super().__init__(params)
        self.outputs = ("persons", "persons.keypoints") if self.params.task == "pose" else ("objects",)

    def setup(self, context: StageContext) -> None:
        self.model = load_stage_model(self.params.model, self.params.device, context.device)

    def process(self, packet: FramePacket) -> dict[str, Any]:
        p = self.params
        img, lb = letterbox(packet.color, p.input_size)
        x = (img.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        out = self.model.run_input(x)[0]
        dec = decode_yolo(out, p.task, p.score_threshold, p.nms_iou, p.num_keypoints)
        boxes = lb.to_image(dec.boxes)
        if p.task == "detect":
            return {"objects": Detections(boxes, dec.scores, dec.class_ids, tuple(p.class_names))}
        kps = dec.keypoints.copy()
        kps[..., :2] = lb.to_image(kps[..., :2])
        return {"persons": Persons(boxes, dec.scores, keypoints=kps, keypoint_names=_keypoint_names(p.num_keypoints))}

    def describe(self) -> dict:
        return self.model.describe()


class RtmdetParams(StageParams):
    model: str
    input_size: int = Field(default=640, ge=32)
    score_threshold: float = Field(default=0.3, ge=0, le=1)
    person_label: int = 0
    mean: list[float] = Field(default_factory=lambda: [103.53, 116.28, 123.675], description="BGR, MMDet's")
    std: list[float] = Field(default_factory=lambda: [57.375, 57.12, 58.395])
    device: str = device_field()


@register_stage
class RtmdetStage(Stage):
    type_name = "rtmdet"
    inputs = ("color",)
    outputs = ("persons",)
    stateless = True
    Params = RtmdetParams

    def setup(self, context: StageContext) -> None:
        self.model = load_stage_model(self.params.model, self.params.device, context.device)

    def process(self, packet: FramePacket) -> dict[str, Any]:
        p = self.params
        img, lb = letterbox(packet.color[:, :, ::-1], p.input_size)  # MMDet models take BGR
        x = ((img.astype(np.float32) - np.float32(p.mean)) / np.float32(p.std)).transpose(2, 0, 1)[None]
        dets, labels = self.model.run_input(x)[:2]
        dec = decode_rtmdet(dets, labels, p.score_threshold)
        person = dec.class_ids == p.person_label
        return {"persons": Persons(lb.to_image(dec.boxes[person]), dec.scores[person])}


class RtmposeParams(StageParams):
    model: str
    input_width: int = Field(default=192, ge=8)
    input_height: int = Field(default=256, ge=8)
    box_padding: float = Field(default=1.25, gt=0)
    split_ratio: float = Field(default=2.0, gt=0)
    mean: list[float] = Field(default_factory=lambda: [123.675, 116.28, 103.53], description="RGB")
    std: list[float] = Field(default_factory=lambda: [58.395, 57.12, 57.375])
    device: str = device_field()


@register_stage
class RtmposeStage(Stage):
    """Top-down: each person's box (padded, aspect fixed to the model's) -> SimCC keypoints, batched."""

    type_name = "rtmpose"
    inputs = ("color", "persons.rows")
    outputs = ("persons.keypoints", "persons.keypoints_3d")  # new 2D keypoints; the old 3D ones no longer apply
    stateless = True
    Params = RtmposeParams

    def setup(self, context: StageContext) -> None:
        self.model = load_stage_model(self.params.model, self.params.device, context.device)
        k = self.model.session.get_outputs()[0].shape[1]  # SimCC: (batch, keypoints, bins)
        self.num_keypoints = k if isinstance(k, int) else len(COCO17_NAMES)

    def affines(self, boxes: np.ndarray) -> list[np.ndarray]:
        p = self.params
        w_in, h_in = p.input_width, p.input_height
        out = []
        for x1, y1, x2, y2 in boxes:
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            bw, bh = (x2 - x1) * p.box_padding, (y2 - y1) * p.box_padding
            if bw / bh > w_in / h_in:
                bh = bw * h_in / w_in
            else:
                bw = bh * w_in / h_in
            s = w_in / bw
            out.append(np.array([[s, 0, w_in / 2 - s * cx], [0, s, h_in / 2 - s * cy]], np.float64))
        return out

    def process(self, packet: FramePacket) -> dict[str, Any]:
        persons: Persons = packet.get("persons")
        p = self.params
        if len(persons) == 0:  # no one: no keypoints, but the field is written (readers run on the frame)
            k = self.num_keypoints
            return {"persons": replace(persons, keypoints=np.zeros((0, k, 3), np.float32),
                                       keypoint_names=_keypoint_names(k), keypoints_3d=None, keypoints_3d_conf=None)}
        mats = self.affines(persons.boxes)
        crops = np.stack([cv2.warpAffine(packet.color, m, (p.input_width, p.input_height), flags=cv2.INTER_LINEAR)
                          for m in mats]).astype(np.float32)
        x = ((crops - np.float32(p.mean)) / np.float32(p.std)).transpose(0, 3, 1, 2)
        simcc_x, simcc_y = self.model.run_input(x)[:2]
        kps = decode_simcc(simcc_x, simcc_y, p.split_ratio)
        for i, m in enumerate(mats):
            inv = cv2.invertAffineTransform(m)
            kps[i, :, :2] = kps[i, :, :2] @ inv[:, :2].T + inv[:, 2]
        return {"persons": replace(persons, keypoints=kps, keypoint_names=_keypoint_names(kps.shape[1]),
                                   keypoints_3d=None,
                                   keypoints_3d_conf=None)}
