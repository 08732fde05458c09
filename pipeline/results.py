"""Typed per-frame results: struct-of-arrays, validated at construction (in the style of supervision's Detections).

Stages never mutate a result in place: they build a new one (``dataclasses.replace``) and return it, so that
concurrent branches of a graph can read a frame's results safely.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

# The 33 landmarks of MediaPipe Pose, in model order. The COCO-17 names are a subset of these names.
MEDIAPIPE_POSE_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)
# Skeleton edges over COCO-17 names, drawn by the overlay renderer.
COCO17_EDGES: tuple[tuple[str, str], ...] = (
    ("left_ankle", "left_knee"), ("left_knee", "left_hip"), ("right_ankle", "right_knee"),
    ("right_knee", "right_hip"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"),
    ("right_shoulder", "right_elbow"), ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"),
    ("left_eye", "right_eye"), ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
)


def _as_array(value: Any, dtype, shape_tail: tuple[int, ...], name: str, n: int | None) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    if n is None and arr.size == 0:
        arr = arr.reshape((0, *shape_tail))
    if arr.ndim != 1 + len(shape_tail) or tuple(arr.shape[1:]) != shape_tail:
        raise ValueError(f"{name} must have shape (n, {', '.join(map(str, shape_tail))}), got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows, expected {n}")
    return arr


def _rounded(values: np.ndarray, digits: int = 4) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), digits) for v in values]


@dataclass(frozen=True)
class Detections:
    """Boxes of any class: ``boxes`` (n,4) xyxy pixels, ``scores`` (n,), ``class_ids`` (n,), ``track_ids`` (n,)."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: tuple[str, ...] = ()
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        boxes = _as_array(self.boxes, np.float32, (4,), "boxes", None)
        n = len(boxes)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", _as_array(self.scores, np.float32, (), "scores", n))
        object.__setattr__(self, "class_ids", _as_array(self.class_ids, np.int64, (), "class_ids", n))
        tids = np.full(n, -1, np.int64) if self.track_ids is None else self.track_ids
        object.__setattr__(self, "track_ids", _as_array(tids, np.int64, (), "track_ids", n))

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
                "bbox": _rounded(self.boxes[i], 2), "score": round(float(self.scores[i]), 4),
            })
        return out


@dataclass(frozen=True)
class Persons:
    """People in one frame, one row per person.

    boxes (n,4) xyxy px; scores (n,); track_ids (n,) with -1 for "not tracked";
    keypoints (n,K,3) x, y, score in px with names ``keypoint_names``; keypoints_3d (n,K,3) metres in the colour
    camera frame, NaN where unknown; keypoints_3d_conf (n,K); positions_3d (n,3) metres, NaN where unknown;
    action_probs (n,C) class probabilities over ``action_labels``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    keypoint_names: tuple[str, ...] = ()
    keypoints_3d: np.ndarray | None = None
    keypoints_3d_conf: np.ndarray | None = None
    positions_3d: np.ndarray | None = None
    action_probs: np.ndarray | None = None
    action_labels: tuple[str, ...] = ()
    action_future: np.ndarray | None = None  # (n, S, C) anticipated probabilities of the next S steps

    def __post_init__(self) -> None:
        boxes = _as_array(self.boxes, np.float32, (4,), "boxes", None)
        n = len(boxes)
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("boxes", boxes)
        set_("scores", _as_array(self.scores, np.float32, (), "scores", n))
        set_("track_ids", _as_array(np.full(n, -1) if self.track_ids is None else self.track_ids,
                                    np.int64, (), "track_ids", n))
        k = len(self.keypoint_names)
        if self.keypoints is not None:
            if k == 0:
                raise ValueError("keypoints given without keypoint_names")
            set_("keypoints", _as_array(self.keypoints, np.float32, (k, 3), "keypoints", n))
        if self.keypoints_3d is not None:
            if self.keypoints is None:
                raise ValueError("keypoints_3d given without keypoints")
            set_("keypoints_3d", _as_array(self.keypoints_3d, np.float32, (k, 3), "keypoints_3d", n))
            conf = np.ones((n, k)) if self.keypoints_3d_conf is None else self.keypoints_3d_conf
            set_("keypoints_3d_conf", _as_array(conf, np.float32, (k,), "keypoints_3d_conf", n))
        if self.positions_3d is not None:
            set_("positions_3d", _as_array(self.positions_3d, np.float32, (3,), "positions_3d", n))
        if self.action_probs is not None:
            c = len(self.action_labels)
            if c == 0:
                raise ValueError("action_probs given without action_labels")
            set_("action_probs", _as_array(self.action_probs, np.float32, (c,), "action_probs", n))
            if self.action_future is not None:
                fut = np.asarray(self.action_future, np.float32)
                if fut.ndim != 3 or fut.shape[0] != n or fut.shape[2] != c:
                    raise ValueError(f"action_future must have shape (n, S, {c}), got {fut.shape}")
                set_("action_future", fut)

    @classmethod
    def empty(cls) -> "Persons":
        return cls(np.zeros((0, 4)), np.zeros(0))

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> "Persons":
        """Select rows (int array, slice or boolean mask), keeping every per-person field aligned."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return replace(
            self, boxes=self.boxes[index], scores=self.scores[index], track_ids=self.track_ids[index],
            keypoints=pick(self.keypoints), keypoints_3d=pick(self.keypoints_3d),
            keypoints_3d_conf=pick(self.keypoints_3d_conf), positions_3d=pick(self.positions_3d),
            action_probs=pick(self.action_probs), action_future=pick(self.action_future),
        )

    def keypoint_index(self, name: str) -> int:
        return self.keypoint_names.index(name)

    def to_json(self) -> list[dict]:
        out = []
        for i in range(len(self)):
            rec: dict[str, Any] = {
                "track_id": int(self.track_ids[i]) if self.track_ids[i] >= 0 else None,
                "bbox": _rounded(self.boxes[i], 2),
                "score": round(float(self.scores[i]), 4),
                "keypoints": None, "keypoints_3d": None, "position_3d": None,
            }
            if self.keypoints is not None:
                rec["keypoints"] = {name: _rounded(self.keypoints[i, j], 3)
                                    for j, name in enumerate(self.keypoint_names)}
            if self.keypoints_3d is not None:
                rec["keypoints_3d"] = {
                    name: (None if not np.all(np.isfinite(self.keypoints_3d[i, j]))
                           else _rounded(self.keypoints_3d[i, j], 4))
                    for j, name in enumerate(self.keypoint_names)}
            if self.positions_3d is not None and np.all(np.isfinite(self.positions_3d[i])):
                rec["position_3d"] = _rounded(self.positions_3d[i], 4)
            if self.action_probs is not None:
                p = self.action_probs[i]
                best = int(np.argmax(p))
                rec["action"] = {"label": self.action_labels[best], "score": round(float(p[best]), 4),
                                 "scores": {lab: round(float(v), 4) for lab, v in zip(self.action_labels, p)}}
                if self.action_future is not None:
                    rec["action"]["anticipated"] = [
                        {"label": self.action_labels[int(np.argmax(q))], "score": round(float(np.max(q)), 4)}
                        for q in self.action_future[i]]
            out.append(rec)
        return out
