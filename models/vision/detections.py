"""``Detections``: boxes of any class in one frame, struct-of-arrays, validated at construction (in the style of
supervision's Detections). Stages never mutate one in place: they build a new one and return it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.vision.arrays import as_array, from_rounded, json_number, json_track_id, rounded


@dataclass(frozen=True)
class Detections:
    """Boxes of any class: ``boxes`` (n,4) xyxy pixels, ``scores`` (n,), ``class_ids`` (n,), ``track_ids`` (n,)."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: tuple[str, ...] = ()
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        boxes = as_array(self.boxes, np.float32, (4,), "boxes", None)
        n = len(boxes)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", as_array(self.scores, np.float32, (), "scores", n))
        object.__setattr__(self, "class_ids", as_array(self.class_ids, np.int64, (), "class_ids", n))
        tids = np.full(n, -1, np.int64) if self.track_ids is None else self.track_ids
        object.__setattr__(self, "track_ids", as_array(tids, np.int64, (), "track_ids", n))

    @classmethod
    def empty(cls, class_names: tuple[str, ...] = ()) -> "Detections":
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), class_names)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> "Detections":
        return Detections(self.boxes[index], self.scores[index], self.class_ids[index], self.class_names,
                          self.track_ids[index])

    def to_json(self) -> list[dict]:
        out = []
        for i in range(len(self)):
            cid = int(self.class_ids[i])
            label = self.class_names[cid] if 0 <= cid < len(self.class_names) else str(cid)
            out.append({
                "track_id": int(self.track_ids[i]) if self.track_ids[i] >= 0 else None,
                "label": label, "class_id": cid,
                "bbox": rounded(self.boxes[i], 2), "score": round(float(self.scores[i]), 4),
            })
        return out

    @classmethod
    def from_json(cls, items: list[dict] | None, class_names: tuple[str, ...] | None = None) -> "Detections":
        """The inverse of ``to_json`` (within its rounding). Without ``class_names``, they are rebuilt from the
        items' labels by class id (ids no item names are ``str(id)``), so ``to_json`` writes the same labels."""
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ValueError(f"objects must be a list of detections, got {type(items).__name__}")
        names: dict[int, str] = {}
        boxes, scores, cids, tids = [], [], [], []
        for i, item in enumerate(items):
            where = f"objects[{i}]"
            if not isinstance(item, dict):
                raise ValueError(f"{where} must be an object, got {type(item).__name__}")
            for key in ("bbox", "score", "class_id"):
                if key not in item:
                    raise ValueError(f"{where} has no '{key}'")
            cid = item["class_id"]
            if not isinstance(cid, int) or isinstance(cid, bool):
                raise ValueError(f"{where}.class_id must be an integer, got {cid!r}")
            boxes.append(from_rounded(item["bbox"], 4, f"{where}.bbox"))
            scores.append(json_number(item["score"], f"{where}.score"))
            cids.append(cid)
            tids.append(json_track_id(item.get("track_id"), where))
            label = item.get("label")
            if label is not None and cid >= 0:
                if names.setdefault(cid, str(label)) != str(label):
                    raise ValueError(f"{where}: class_id {cid} is labelled both {names[cid]!r} and {label!r}")
        if class_names is None:
            size = max(names, default=-1) + 1
            class_names = tuple(names.get(c, str(c)) for c in range(size))
        if not items:
            return cls.empty(tuple(class_names))
        return cls(np.array(boxes), np.array(scores), np.array(cids), tuple(class_names), np.array(tids))

