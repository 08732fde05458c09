"""``Faces``: the face of each person in one frame, struct-of-arrays, one row per person row of ``Persons``.

A row whose face was not found has ``found`` False and NaN in every float field; a field a stage could not know
(head pose without landmarks, a gaze target without depth) is NaN in that row. Stages build new instances with
``dataclasses.replace``, never writing into one that another branch may be reading.

Conventions (the colour camera frame: x right, y down, z forward, metres):
- ``head_rotation`` maps the face model's frame (x toward the person's left, y down, z from the nose into the
  head; the identity for a face squarely facing the camera) to the camera frame.
- Angles in degrees: yaw > 0 when the direction points toward the camera's +x side, pitch > 0 when it points up
  (-y), both 0 for a direction pointing straight back at the camera (-z); roll > 0 when the top of the head
  tilts toward +x. Gaze and head pose use the same convention.
- Eye index 0 is the person's right eye, 1 the left (anatomical, as the pose keypoint names).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from models.vision.arrays import as_array, from_rounded, json_number, json_track_id, rounded

EYES = ("right", "left")
ORIGIN_SOURCES = ("unknown", "face_model", "iris", "depth")  # distance from the mean face size, 11.7 mm irises, depth


def angles_of(direction: np.ndarray) -> np.ndarray:
    """(..., 3) directions -> (..., 2) yaw, pitch in degrees (the convention above)."""
    d = np.asarray(direction, np.float64)
    yaw = np.degrees(np.arctan2(d[..., 0], -d[..., 2]))
    pitch = np.degrees(np.arctan2(-d[..., 1], np.hypot(d[..., 0], d[..., 2])))
    return np.stack([yaw, pitch], axis=-1)


def direction_of(yaw_deg: np.ndarray, pitch_deg: np.ndarray) -> np.ndarray:
    """The inverse of ``angles_of``: unit directions (..., 3)."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    return np.stack([np.cos(pitch) * np.sin(yaw), -np.sin(pitch), -np.cos(pitch) * np.cos(yaw)], axis=-1)


def euler_of(rotation: np.ndarray) -> np.ndarray:
    """(..., 3, 3) head rotations -> (..., 3) yaw, pitch, roll in degrees.

    R = Ry(-yaw) Rx(-pitch) Rz(roll): yaw and pitch are those of the face's forward direction (-z of the face
    model), roll the tilt of the head about it."""
    r = np.asarray(rotation, np.float64)
    a = np.arctan2(r[..., 0, 2], r[..., 2, 2])
    b = -np.arcsin(np.clip(r[..., 1, 2], -1.0, 1.0))
    c = np.arctan2(r[..., 1, 0], r[..., 1, 1])
    return np.degrees(np.stack([-a, -b, c], axis=-1))


def rotation_of(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """The inverse of ``euler_of``: a 3x3 rotation."""
    a, b, c = np.radians([-yaw_deg, -pitch_deg, roll_deg])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def _nan(n: int, *tail: int) -> np.ndarray:
    return np.full((n, *tail), np.nan, np.float32)


@dataclass(frozen=True)
class Faces:
    """Faces aligned with the rows of a ``Persons``.

    found (n,) bool; boxes (n,4) xyxy px; scores (n,); landmarks (n,468,3) image px x, y and a relative depth z
    in the same pixel scale (the face mesh; not written to JSON); iris (n,2,2) iris centres px per eye,
    iris_diameter_px (n,2) and iris_rim (n,2,4,2) the iris model's 4 points on each iris's rim px (not in JSON
    either);
    head_rotation (n,3,3); head_translation (n,3) metres (the face model's origin in the camera frame);
    eye_gaze (n,2,3) unit gaze per eye; gaze (n,3) combined unit gaze; gaze_origin_3d (n,3) metres (between the
    eyes); gaze_target_3d (n,3) metres, gaze_target_px (n,2): where the gaze ray first meets the depth map;
    gaze_target_track_id (n,) the person whose box the target lands in, -1 for none.
    """

    found: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None = None
    iris: np.ndarray | None = None
    iris_diameter_px: np.ndarray | None = None
    iris_rim: np.ndarray | None = None
    head_rotation: np.ndarray | None = None
    head_translation: np.ndarray | None = None
    eye_gaze: np.ndarray | None = None
    gaze: np.ndarray | None = None
    gaze_origin_3d: np.ndarray | None = None
    gaze_target_3d: np.ndarray | None = None
    gaze_target_px: np.ndarray | None = None
    gaze_target_track_id: np.ndarray | None = None
    origin_source: np.ndarray | None = None  # (n,) index into ORIGIN_SOURCES: how the distance was known

    _FLOAT_FIELDS = (("landmarks", (468, 3)), ("iris", (2, 2)), ("iris_diameter_px", (2,)), ("iris_rim", (2, 4, 2)),
                     ("head_rotation", (3, 3)),
                     ("head_translation", (3,)), ("eye_gaze", (2, 3)), ("gaze", (3,)), ("gaze_origin_3d", (3,)),
                     ("gaze_target_3d", (3,)), ("gaze_target_px", (2,)))

    def __post_init__(self) -> None:
        found = as_array(self.found, bool, (), "found", None)
        n = len(found)
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("found", found)
        set_("boxes", as_array(self.boxes, np.float32, (4,), "boxes", n))
        set_("scores", as_array(self.scores, np.float32, (), "scores", n))
        for name, tail in self._FLOAT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                set_(name, as_array(value, np.float32, tail, f"faces.{name}", n))
        if self.gaze_target_track_id is not None:
            set_("gaze_target_track_id", as_array(self.gaze_target_track_id, np.int64, (), "gaze_target_track_id", n))
        if self.origin_source is not None:
            set_("origin_source", as_array(self.origin_source, np.int8, (), "origin_source", n))

    @classmethod
    def none_found(cls, n: int) -> "Faces":
        return cls(np.zeros(n, bool), _nan(n, 4), _nan(n))

    def __len__(self) -> int:
        return len(self.found)

    def __getitem__(self, index) -> "Faces":
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        fields = {name: pick(getattr(self, name)) for name, _ in self._FLOAT_FIELDS}
        return replace(self, found=self.found[index], boxes=self.boxes[index], scores=self.scores[index],
                       gaze_target_track_id=pick(self.gaze_target_track_id), origin_source=pick(self.origin_source),
                       **fields)

    def merged(self, other: "Faces") -> "Faces":
        """These faces with the rows that ``other`` found taken from ``other`` (same rows, e.g. a second try)."""
        if len(other) != len(self):
            raise ValueError(f"cannot merge faces of {len(other)} rows into {len(self)}")
        take = other.found
        fields: dict[str, Any] = {}
        names = ("boxes", "scores", *(n for n, _ in self._FLOAT_FIELDS), "gaze_target_track_id", "origin_source")
        for name in names:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is None and theirs is None:
                continue
            a, b = self.filled(name), other.filled(name)
            a[take] = b[take]
            fields[name] = a
        return replace(self, found=self.found | take, **fields)

    def filled(self, name: str) -> np.ndarray:
        """Field ``name`` as an array, NaN-filled where the field is absent (for stages that fill some rows)."""
        value = getattr(self, name)
        if value is not None:
            return value.copy()
        if name == "gaze_target_track_id":
            return np.full(len(self), -1, np.int64)
        if name == "origin_source":
            return np.zeros(len(self), np.int8)
        return _nan(len(self), *dict(self._FLOAT_FIELDS)[name])

    # ----- JSON ---------------------------------------------------------------------------------------------
    def row_json(self, i: int) -> dict[str, Any] | None:
        """``persons[i]["face"]``: null where no face was found."""
        if not self.found[i]:
            return None
        rec: dict[str, Any] = {"bbox": rounded(self.boxes[i], 2), "score": round(float(self.scores[i]), 4),
                               "head_pose": None, "gaze": None}
        if self.head_rotation is not None and np.all(np.isfinite(self.head_rotation[i])):
            yaw, pitch, roll = euler_of(self.head_rotation[i])
            rec["head_pose"] = {"yaw": round(float(yaw), 2), "pitch": round(float(pitch), 2),
                                "roll": round(float(roll), 2),
                                "rotation": [rounded(row, 5) for row in self.head_rotation[i]],
                                "translation": (rounded(self.head_translation[i], 4)
                                                if self.head_translation is not None
                                                and np.all(np.isfinite(self.head_translation[i])) else None)}
        if self.gaze is not None and np.all(np.isfinite(self.gaze[i])):
            yaw, pitch = angles_of(self.gaze[i])
            gaze: dict[str, Any] = {"yaw": round(float(yaw), 2), "pitch": round(float(pitch), 2),
                                    "direction": rounded(self.gaze[i], 5)}
            for key, field, width in (("origin_3d", "gaze_origin_3d", 4), ("target_3d", "gaze_target_3d", 4),
                                      ("target_px", "gaze_target_px", 1)):
                value = getattr(self, field)
                gaze[key] = rounded(value[i], width) if value is not None and np.all(np.isfinite(value[i])) else None
            source = int(self.origin_source[i]) if self.origin_source is not None else 0
            gaze["origin_source"] = ORIGIN_SOURCES[source] if gaze["origin_3d"] is not None else None
            tid = self.gaze_target_track_id
            gaze["target_track_id"] = int(tid[i]) if tid is not None and tid[i] >= 0 else None
            if self.eye_gaze is not None:
                gaze["eyes"] = {eye: (rounded(self.eye_gaze[i, e], 5) if np.all(np.isfinite(self.eye_gaze[i, e]))
                                      else None) for e, eye in enumerate(EYES)}
            rec["gaze"] = gaze
        return rec

    @classmethod
    def from_json(cls, items: list[dict | None]) -> "Faces":
        """The inverse of ``row_json`` over persons' ``face`` entries (within its rounding; landmarks and iris
        centres are not in JSON and stay None). Bad input raises ValueError naming the person and field."""
        n = len(items)
        found = np.array([f is not None for f in items], bool)
        boxes, scores = _nan(n, 4), _nan(n)
        rot, trans, gaze, origin, target, target_px = (_nan(n, 3, 3), _nan(n, 3), _nan(n, 3), _nan(n, 3),
                                                       _nan(n, 3), _nan(n, 2))
        eyes, tids, sources = _nan(n, 2, 3), np.full(n, -1, np.int64), np.zeros(n, np.int8)
        any_head = any_gaze = any_eyes = False
        for i, f in enumerate(items):
            if f is None:
                continue
            where = f"persons[{i}].face"
            if not isinstance(f, dict) or "bbox" not in f or "score" not in f:
                raise ValueError(f"{where} must be null or an object with 'bbox' and 'score'")
            boxes[i] = from_rounded(f["bbox"], 4, f"{where}.bbox")
            scores[i] = json_number(f["score"], f"{where}.score")
            head = f.get("head_pose")
            if head is not None:
                if not isinstance(head.get("rotation"), list) or len(head["rotation"]) != 3:
                    raise ValueError(f"{where}.head_pose.rotation must be a 3x3 list")
                rot[i] = [from_rounded(r, 3, f"{where}.head_pose.rotation") for r in head["rotation"]]
                if head.get("translation") is not None:
                    trans[i] = from_rounded(head["translation"], 3, f"{where}.head_pose.translation")
                any_head = True
            g = f.get("gaze")
            if g is not None:
                gaze[i] = from_rounded(g.get("direction"), 3, f"{where}.gaze.direction")
                for key, arr, width in (("origin_3d", origin, 3), ("target_3d", target, 3),
                                        ("target_px", target_px, 2)):
                    if g.get(key) is not None:
                        arr[i] = from_rounded(g[key], width, f"{where}.gaze.{key}")
                tids[i] = json_track_id(g.get("target_track_id"), f"{where}.gaze.target")
                if g.get("origin_source") is not None:
                    if g["origin_source"] not in ORIGIN_SOURCES:
                        raise ValueError(f"{where}.gaze.origin_source must be one of {', '.join(ORIGIN_SOURCES)}")
                    sources[i] = ORIGIN_SOURCES.index(g["origin_source"])
                if g.get("eyes") is not None:
                    for e, eye in enumerate(EYES):
                        if g["eyes"].get(eye) is not None:
                            eyes[i, e] = from_rounded(g["eyes"][eye], 3, f"{where}.gaze.eyes.{eye}")
                    any_eyes = True
                any_gaze = True
        return cls(found, boxes, scores, head_rotation=rot if any_head else None,
                   head_translation=trans if any_head else None, gaze=gaze if any_gaze else None,
                   eye_gaze=eyes if any_eyes else None, gaze_origin_3d=origin if any_gaze else None,
                   gaze_target_3d=target if any_gaze else None, gaze_target_px=target_px if any_gaze else None,
                   gaze_target_track_id=tids if any_gaze else None, origin_source=sources if any_gaze else None)
