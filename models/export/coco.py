"""``coco_keypoints.json``: the COCO keypoint results format (``[{image_id, category_id: 1, keypoints: [x, y, s] x
17 in COCO order, score}]``), what pycocotools' ``COCO.loadRes`` and the COCO evaluation read.

``image_id``: the number in a COCO image's file name (``000000000785.jpg`` -> 785, ``COCO_val2014_...42.jpg`` ->
42), else the frame index. A keypoint the person lacks (or with unknown coordinates) is (0, 0, 0); the third value
is the keypoint's score. People without keypoints (a graph without pose) are not written.

Kill-safety: the file is a JSON array that is valid after every frame: each frame's entries are written in one
write over the closing ``]`` (``WholeWritesFile.replace_tail``), so a run killed at any moment (SIGKILL) leaves
valid JSON with every finished frame.
"""
from __future__ import annotations

import json
import re

import numpy as np

from models.export.base import Exporter
from models.results import FrameResult
from models.vision.keypoints import COCO17_NAMES
from pipeline.packet import FramePacket
from pipeline.sinks.whole_writes import WholeWritesFile

COCO_IMAGE_NAME = re.compile(r"^(?:COCO_[A-Za-z0-9]+_)?(\d{12})\.(?:jpe?g|png)$", re.IGNORECASE)
CLOSE = b"\n]\n"


def coco_image_id(source_name: str | None, frame: int) -> int:
    """The COCO image id of a COCO image's file name, else the frame index."""
    match = COCO_IMAGE_NAME.match(source_name or "")
    return int(match.group(1)) if match else int(frame)


def coco_entries(result: FrameResult, image_id: int | None = None) -> list[dict]:
    """The COCO keypoint results of one frame (numbers as the JSONL line holds them, so pycocotools sees exactly
    the file's values); ``image_id`` defaults to ``coco_image_id`` of the frame."""
    persons = result.persons
    if persons.keypoints is None or not len(persons):
        return []
    index = {name: j for j, name in enumerate(persons.keypoint_names)}
    if image_id is None:
        image_id = coco_image_id(result.source_name, result.frame)
    entries = []
    for i in range(len(persons)):
        flat: list[float] = []
        for name in COCO17_NAMES:
            j = index.get(name)
            kp = (0.0, 0.0, 0.0) if j is None else persons.keypoints[i, j]
            if not np.all(np.isfinite(kp)):
                kp = (0.0, 0.0, 0.0)
            flat += [round(float(v), 3) for v in kp]
        entries.append({"image_id": image_id, "category_id": 1, "keypoints": flat,
                        "score": round(float(persons.scores[i]), 4)})
    return entries


class CocoKeypointsExporter(Exporter):
    filename = "coco_keypoints.json"

    def __init__(self, folder) -> None:
        super().__init__(folder)
        self._file = WholeWritesFile(self.path)
        self.entries = 0

    def open(self, source_info=None) -> None:
        self._file.open()
        self._file.append(b"[" + CLOSE)

    def add(self, result: FrameResult, packet: FramePacket | None = None) -> None:
        entries = coco_entries(result)
        if entries:
            body = ",\n".join(json.dumps(e, separators=(",", ":")) for e in entries).encode()
            lead = b",\n" if self.entries else b"\n"
            self._file.replace_tail(len(CLOSE), lead + body + CLOSE)
            self.entries += len(entries)
        self.frames += 1

    def close(self) -> None:
        self._file.close()
