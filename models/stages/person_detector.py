"""`person_detector`: people in a frame of any size: SSDLite person detector (ONNX) on the frame and tiles, and
MoveNet MultiPose on the whole frame, merged by NMS.

The network sees 300x300. Small people in a large frame vanish at that scale, so besides the whole frame it runs
on overlapping tiles (2x1 for wide frames, 2x2 for large ones), and NMS merges the results. Each window is a call
of its own: the graph resizes its input with TensorFlow's bilinear resize, and resizing the windows here to batch
them (cv2) changed the detections enough to cost 0.05 COCO keypoint AP on ../shared/data/pose/coco.

SSDLite misses people in unusual postures and people cut by the image edge (a crouching skier filling the lower
right of a COCO photo); MoveNet, bottom-up from keypoints, finds them but sees at most six people. Together they
find every annotated person in ../shared/data/pose/coco.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from models.runtime.device import device_field
from models.runtime.onnx import load_stage_model
from models.vision import movenet
from models.vision.roi import nms
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from models.vision.persons import Persons
from pipeline.stage import Stage, StageContext, StageParams


class PersonDetectorParams(StageParams):
    model: str = Field(default="ssdlite_person", description="model name from the manifest, or a path")
    score_threshold: float = Field(default=0.15, ge=0, le=1)
    nms_iou: float = Field(default=0.5, gt=0, le=1)
    tiles: str = Field(default="auto", pattern=r"^(auto|fine|none|\d+x\d+)$",
                       description="auto (2 columns from 600 px wide, 2 rows from 600 px high) | fine (one tile "
                                   "per ~280 px from 600 px on: 5x3 at 1280x720) | none | COLSxROWS")
    tile_overlap: float = Field(default=0.2, ge=0, lt=0.5)
    max_detections: int = Field(default=50, ge=1)
    min_size: float = Field(default=8.0, ge=0, description="drop boxes smaller than this (pixels)")
    bottom_up: str = Field(default="movenet_multipose",
                           description="a second, bottom-up detector on the whole frame (MoveNet MultiPose, at "
                                       "most 6 people); empty turns it off")
    bottom_up_side: int = Field(default=256, ge=64, le=1024, description="its input's long side (px)")
    bottom_up_score: float = Field(default=0.25, ge=0, le=1)
    device: str = device_field()


TILE_SIDE = 280  # px of frame per tile in "fine"


def tile_grid(width: int, height: int, spec: str, overlap: float) -> list[tuple[int, int, int, int]]:
    """Windows (x1, y1, x2, y2): the whole frame first, then the tiles."""
    windows = [(0, 0, width, height)]
    if spec == "none":
        return windows
    if spec == "auto":
        cols = 2 if width >= 600 else 1
        rows = 2 if height >= 600 else 1
    elif spec == "fine":
        # tiles of about TILE_SIDE px, so that a person 40 px tall is still ~30 px at the network's 300x300;
        # frames under 600 px keep "auto"'s grid
        cols = 1 if width < 600 else max(2, round(width / TILE_SIDE))
        rows = 1 if height < 600 else max(2, round(height / TILE_SIDE))
    else:
        cols, rows = (int(v) for v in spec.split("x"))
    if cols * rows <= 1:
        return windows
    tw, th = width / (cols - (cols - 1) * overlap), height / (rows - (rows - 1) * overlap)
    for r in range(rows):
        for c in range(cols):
            x1, y1 = int(round(c * tw * (1 - overlap))), int(round(r * th * (1 - overlap)))
            windows.append((x1, y1, min(width, int(round(x1 + tw))), min(height, int(round(y1 + th)))))
    return windows


@register_stage
class PersonDetectorStage(Stage):
    type_name = "person_detector"
    inputs = ("color",)
    outputs = ("persons",)
    stateless = True
    Params = PersonDetectorParams

    def setup(self, context: StageContext, intra_op_threads: int = 0) -> None:
        """``intra_op_threads``: CPU threads per model call (0: one per core); 1 keeps a background detector on
        the thread that calls it (see tracked_pose)."""
        self.model = load_stage_model(self.params.model, self.params.device, context.device, intra_op_threads)
        self.bottom_up = (load_stage_model(self.params.bottom_up, self.params.device, context.device,
                                           intra_op_threads) if self.params.bottom_up else None)

    def detect_bottom_up(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prepared = movenet.prepare(image, self.params.bottom_up_side)
        out = self.bottom_up.run_input(prepared.tensor)[0]
        people = movenet.decode(out, prepared, self.params.bottom_up_score)
        h, w = image.shape[:2]
        return np.clip(people.boxes, 0, [w, h, w, h]), people.scores

    def detect(self, image: np.ndarray, tiles: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (n,4) and scores (n,) of the people in ``image``; ``tiles`` overrides the parameter."""
        h, w = image.shape[:2]
        boxes, scores = [], []
        if self.bottom_up is not None:
            b, s = self.detect_bottom_up(image)
            boxes.append(b)
            scores.append(s)
        for x1, y1, x2, y2 in tile_grid(w, h, tiles or self.params.tiles, self.params.tile_overlap):
            tile = np.ascontiguousarray(image[y1:y2, x1:x2])[None]
            out = self.model.outputs_of(tile)
            n = int(out["num_detections:0"][0])
            b = out["detection_boxes:0"][0, :n]  # ymin, xmin, ymax, xmax normalised to the tile
            s = out["detection_scores:0"][0, :n]
            keep = s >= self.params.score_threshold
            b, s = b[keep], s[keep]
            tw, th = x2 - x1, y2 - y1
            boxes.append(np.stack([x1 + b[:, 1] * tw, y1 + b[:, 0] * th, x1 + b[:, 3] * tw, y1 + b[:, 2] * th], 1))
            scores.append(s)
        boxes_a, scores_a = np.concatenate(boxes), np.concatenate(scores)
        big = np.minimum(boxes_a[:, 2] - boxes_a[:, 0], boxes_a[:, 3] - boxes_a[:, 1]) >= self.params.min_size
        boxes_a, scores_a = boxes_a[big], scores_a[big]
        keep = nms(boxes_a, scores_a, self.params.score_threshold, self.params.nms_iou)[: self.params.max_detections]
        return boxes_a[keep].astype(np.float32), scores_a[keep].astype(np.float32)

    def process(self, packet: FramePacket) -> dict[str, Any]:
        boxes, scores = self.detect(packet.color)
        return {"persons": Persons(boxes, scores)}

    def describe(self) -> dict:
        info = self.model.describe()
        if self.bottom_up is not None:
            info["bottom_up"] = self.bottom_up.describe()
        return info
