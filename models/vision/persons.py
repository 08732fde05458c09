"""``Persons``: the people in one frame, struct-of-arrays, validated at construction (in the style of supervision's
Detections).

Stages never mutate a result in place: they build a new one (``dataclasses.replace``) and return it, so that
concurrent branches of a graph can read a frame's results safely.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from models.vision.arrays import as_array, from_rounded, json_number, json_track_id, rounded
from models.vision.faces import Faces


@dataclass(frozen=True)
class Persons:
    """People in one frame, one row per person.

    boxes (n,4) xyxy px; scores (n,); track_ids (n,) with -1 for "not tracked";
    keypoints (n,K,3) x, y, score in px with names ``keypoint_names``; keypoints_3d (n,K,3) metres in the colour
    camera frame, NaN where unknown; keypoints_3d_conf (n,K); positions_3d (n,3) metres, NaN where unknown;
    action_probs (n,C) class probabilities over ``action_labels``; faces: the face of each person.
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
    action_threshold: float = 0.0  # the best action is the label only from this probability on (else column 0)
    faces: Faces | None = None  # one row per person (``Faces.found`` False where none was found)

    # The fields stages declare ("persons.keypoints", pipeline/keys.py) -> the attributes that carry them; the
    # first one is None where no stage has written the field. "rows" (boxes and scores) are the rows themselves:
    # whoever makes the value writes them; a stage that needs only them (the tracker) reads "persons.rows".
    PARTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "rows": ("boxes", "scores"),
        "track_ids": ("track_ids",),
        "keypoints": ("keypoints", "keypoint_names"),
        "keypoints_3d": ("keypoints_3d", "keypoints_3d_conf", "positions_3d"),
        "actions": ("action_probs", "action_labels", "action_future", "action_threshold"),
        "faces": ("faces",),
    }

    def __post_init__(self) -> None:
        boxes = as_array(self.boxes, np.float32, (4,), "boxes", None)
        n = len(boxes)
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("boxes", boxes)
        set_("scores", as_array(self.scores, np.float32, (), "scores", n))
        set_("track_ids", as_array(np.full(n, -1) if self.track_ids is None else self.track_ids,
                                    np.int64, (), "track_ids", n))
        k = len(self.keypoint_names)
        if self.keypoints is not None:
            if k == 0:
                raise ValueError("keypoints given without keypoint_names")
            set_("keypoints", as_array(self.keypoints, np.float32, (k, 3), "keypoints", n))
        if self.keypoints_3d is not None:
            if self.keypoints is None:
                raise ValueError("keypoints_3d given without keypoints")
            set_("keypoints_3d", as_array(self.keypoints_3d, np.float32, (k, 3), "keypoints_3d", n))
            conf = np.ones((n, k)) if self.keypoints_3d_conf is None else self.keypoints_3d_conf
            set_("keypoints_3d_conf", as_array(conf, np.float32, (k,), "keypoints_3d_conf", n))
        if self.positions_3d is not None:
            set_("positions_3d", as_array(self.positions_3d, np.float32, (3,), "positions_3d", n))
        if self.action_probs is not None:
            c = len(self.action_labels)
            if c == 0:
                raise ValueError("action_probs given without action_labels")
            set_("action_probs", as_array(self.action_probs, np.float32, (c,), "action_probs", n))
            if self.action_future is not None:
                fut = np.asarray(self.action_future, np.float32)
                if fut.ndim != 3 or fut.shape[0] != n or fut.shape[2] != c:
                    raise ValueError(f"action_future must have shape (n, S, {c}), got {fut.shape}")
                set_("action_future", fut)
        if self.faces is not None and len(self.faces) != n:
            raise ValueError(f"faces has {len(self.faces)} rows, expected {n}")

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
            faces=None if self.faces is None else self.faces[index],
        )

    def action_decision(self, i: int) -> tuple[str, float, bool]:
        """(label, score, is_action) of person i: the most probable class, unless it is an action whose probability
        is under ``action_threshold``; then the model abstains with its background class (column 0). The one rule
        the JSON line, the overlay and the UI show."""
        p = self.action_probs[i]
        best = int(np.argmax(p))
        if best != 0 and p[best] < self.action_threshold:
            best = 0
        return self.action_labels[best], float(p[best]), best != 0

    def keypoint_index(self, name: str) -> int:
        return self.keypoint_names.index(name)

    @classmethod
    def from_json(cls, items: list[dict] | None) -> "Persons":
        """The inverse of ``to_json`` (within its rounding).

        Keypoints by name -> (n,K,3) with ``keypoint_names`` in the order of the first person's dict; null
        coordinates, null keypoint entries and null position_3d -> NaN (where every person's keypoints_3d or
        position_3d is null, the field is None); ``action.scores`` -> action_probs over action_labels.
        ``action.anticipated`` holds only each step's best class, so ``action_future`` is not restored (``to_json``
        of the result leaves "anticipated" out). Bad input raises ValueError naming the person and field.
        """
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ValueError(f"persons must be a list of persons, got {type(items).__name__}")
        if not items:
            return cls.empty()
        for i, p in enumerate(items):
            if not isinstance(p, dict):
                raise ValueError(f"persons[{i}] must be an object, got {type(p).__name__}")
            for key in ("bbox", "score"):
                if key not in p:
                    raise ValueError(f"persons[{i}] has no '{key}'")
        boxes = [from_rounded(p["bbox"], 4, f"persons[{i}].bbox") for i, p in enumerate(items)]
        scores = [json_number(p["score"], f"persons[{i}].score") for i, p in enumerate(items)]
        tids = [json_track_id(p.get("track_id"), f"persons[{i}]") for i, p in enumerate(items)]
        fields: dict[str, Any] = {}

        names = _common_names(items, "keypoints")
        if names is not None:
            fields["keypoint_names"] = names
            fields["keypoints"] = [[[np.nan] * 3 if p["keypoints"][n] is None else
                                     from_rounded(p["keypoints"][n], 3, f"persons[{i}].keypoints.{n}")
                                     for n in names] for i, p in enumerate(items)]
        if any(p.get("keypoints_3d") is not None for p in items):
            if names is None:
                raise ValueError("persons have keypoints_3d but no keypoints")
            rows = []
            for i, p in enumerate(items):
                kp3 = p.get("keypoints_3d")
                if kp3 is None:
                    rows.append(np.full((len(names), 3), np.nan))
                    continue
                if not isinstance(kp3, dict) or set(kp3) != set(names):
                    raise ValueError(f"persons[{i}].keypoints_3d must map the keypoint names "
                                     f"({', '.join(names)}) to [x, y, z] or null")
                rows.append([[np.nan] * 3 if kp3[n] is None else
                             from_rounded(kp3[n], 3, f"persons[{i}].keypoints_3d.{n}") for n in names])
            fields["keypoints_3d"] = rows
        if any(p.get("position_3d") is not None for p in items):
            fields["positions_3d"] = [[np.nan] * 3 if p.get("position_3d") is None else
                                      from_rounded(p["position_3d"], 3, f"persons[{i}].position_3d")
                                      for i, p in enumerate(items)]
        with_action = [p.get("action") is not None for p in items]
        if any(with_action):
            if not all(with_action):
                raise ValueError(f"persons[{with_action.index(False)}] has no action while "
                                 f"persons[{with_action.index(True)}] has one")
            for i, p in enumerate(items):
                if not isinstance(p["action"], dict) or not isinstance(p["action"].get("scores"), dict) \
                        or not p["action"]["scores"]:
                    raise ValueError(f"persons[{i}].action must have 'scores': {{label: probability}}")
            labels = tuple(items[0]["action"]["scores"])
            probs = []
            for i, p in enumerate(items):
                sc = p["action"]["scores"]
                if set(sc) != set(labels):
                    raise ValueError(f"persons[{i}].action.scores has labels {', '.join(sc)}; persons[0] has "
                                     f"{', '.join(labels)}")
                probs.append([json_number(sc[lab], f"persons[{i}].action.scores.{lab}") for lab in labels])
            fields["action_labels"], fields["action_probs"] = labels, probs
            fields["action_threshold"] = json_number(items[0]["action"].get("threshold", 0.0),
                                                     "persons[0].action.threshold")
        if any("face" in p for p in items):
            fields["faces"] = Faces.from_json([p.get("face") for p in items])
        return cls(np.array(boxes), np.array(scores), np.array(tids), **fields)

    def to_json(self) -> list[dict]:
        out = []
        for i in range(len(self)):
            rec: dict[str, Any] = {
                "track_id": int(self.track_ids[i]) if self.track_ids[i] >= 0 else None,
                "bbox": rounded(self.boxes[i], 2),
                "score": round(float(self.scores[i]), 4),
                "keypoints": None, "keypoints_3d": None, "position_3d": None,
            }
            if self.keypoints is not None:
                rec["keypoints"] = {name: rounded(self.keypoints[i, j], 3)
                                    for j, name in enumerate(self.keypoint_names)}
            if self.keypoints_3d is not None:
                rec["keypoints_3d"] = {
                    name: (None if not np.all(np.isfinite(self.keypoints_3d[i, j]))
                           else rounded(self.keypoints_3d[i, j], 4))
                    for j, name in enumerate(self.keypoint_names)}
            if self.positions_3d is not None and np.all(np.isfinite(self.positions_3d[i])):
                rec["position_3d"] = rounded(self.positions_3d[i], 4)
            if self.action_probs is not None:
                label, score, _ = self.action_decision(i)
                rec["action"] = {"label": label, "score": round(score, 4),
                                 "scores": {lab: round(float(v), 4)
                                            for lab, v in zip(self.action_labels, self.action_probs[i])}}
                if self.action_threshold > 0:
                    rec["action"]["threshold"] = round(float(self.action_threshold), 4)
                if self.action_future is not None:
                    rec["action"]["anticipated"] = [
                        {"label": self.action_labels[int(np.argmax(q))], "score": round(float(np.max(q)), 4)}
                        for q in self.action_future[i]]
            if self.faces is not None:
                rec["face"] = self.faces.row_json(i)
            out.append(rec)
        return out


def _common_names(items: list[dict], key: str) -> tuple[str, ...] | None:
    """The names of every person's ``key`` dict (the first person's order), or None where no person has one."""
    present = [p.get(key) is not None for p in items]
    if not any(present):
        return None
    if not all(present):
        raise ValueError(f"persons[{present.index(False)}] has no {key} while persons[{present.index(True)}] has")
    for i, p in enumerate(items):
        if not isinstance(p[key], dict) or not p[key]:
            raise ValueError(f"persons[{i}].{key} must map keypoint names to [x, y, score]")
    names = tuple(items[0][key])
    for i, p in enumerate(items[1:], 1):
        if set(p[key]) != set(names):
            raise ValueError(f"persons[{i}].{key} names {', '.join(p[key])}; persons[0] names {', '.join(names)}")
    return names
