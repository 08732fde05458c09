"""The one overlay renderer: boxes, track ids, skeletons, 3D distance, actions, faces, stage errors.

Used by the annotated-video sink and by the Qt UI, so what users see live and in files is the same drawing.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.camera import Intrinsics
from calibration.geometry import project
from pipeline.packet import FramePacket
from models.vision.camera_guess import intrinsics_of
from models.vision.detections import Detections
from models.vision.faces import Faces
from models.vision.keypoints import COCO17_EDGES
from models.vision.persons import Persons

_PALETTE = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
], dtype=np.uint8)
AXIS_COLORS = ((255, 40, 40), (40, 220, 40), (60, 90, 255))  # head x, y, forward (RGB)
GAZE_COLOR = (255, 230, 0)
NOSE_TIP, BETWEEN_EYES = 1, 168  # MediaPipe face mesh indices


def color_for(track_id: int) -> tuple[int, int, int]:
    c = _PALETTE[track_id % len(_PALETTE)] if track_id >= 0 else np.array((200, 200, 200))
    return int(c[0]), int(c[1]), int(c[2])


@dataclass
class OverlayStyle:
    """How and what to draw. The layer switches (boxes ... errors) let the UI turn each layer on and off; the
    annotated video draws them all. Keypoints below ``keypoint_threshold`` are never drawn."""

    keypoint_threshold: float = 0.3
    thickness: int = 2
    font_scale: float = 0.5
    show_depth_inset: bool = True
    boxes: bool = True
    track_ids: bool = True  # "#id score" label of each person
    skeletons: bool = True
    distance: bool = True  # distance to the camera (position_3d) in the label
    actions: bool = True  # action label with its score
    objects: bool = True
    faces: bool = True  # face box (and the mesh when ``face_mesh``)
    face_mesh: bool = False
    gaze: bool = True  # head pose axes and gaze arrows
    errors: bool = True

    LAYERS = ("boxes", "track_ids", "skeletons", "distance", "actions", "objects", "faces", "face_mesh", "gaze",
              "errors", "show_depth_inset")


class OverlayRenderer:
    """``render(packet) -> RGB uint8 image`` with the packet's results drawn on a copy of its colour image."""

    def __init__(self, style: OverlayStyle | None = None) -> None:
        self.style = style or OverlayStyle()

    def __call__(self, packet: FramePacket) -> np.ndarray:
        return self.render(packet)

    def render(self, packet: FramePacket) -> np.ndarray:
        image = packet.color.copy()
        scale = max(image.shape[0], image.shape[1]) / 1000.0
        thickness = max(1, round(self.style.thickness * max(scale, 0.6)))
        font = self.style.font_scale * max(scale, 0.6)
        if self.style.show_depth_inset and packet.depth is not None:
            self._depth_inset(image, packet)
        objects = packet.get("objects")
        if isinstance(objects, Detections) and self.style.objects:
            self._objects(image, objects, thickness, font)
        persons = packet.get("persons")
        if isinstance(persons, Persons):
            intr = intrinsics_of(packet)[0] if persons.faces is not None else None
            self._persons(image, persons, thickness, font, intr)
        if packet.errors and self.style.errors:
            text = f"{len(packet.errors)} error(s): {packet.errors[0].get('stage')}"
            _label(image, text, (5, image.shape[0] - 8), (255, 80, 80), font)
        return image

    def _depth_inset(self, image: np.ndarray, packet: FramePacket) -> None:
        h, w = image.shape[:2]
        iw, ih = w // 5, h // 5
        if iw < 16 or ih < 16:
            return
        metres = packet.depth_metres()
        valid = metres > 0
        norm = np.zeros(metres.shape, np.uint8)
        if valid.any():
            lo, hi = np.percentile(metres[valid], [2, 98])
            norm = np.clip((metres - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
            norm[~valid] = 0
        colored = cv2.applyColorMap(cv2.resize(norm, (iw, ih), interpolation=cv2.INTER_NEAREST), cv2.COLORMAP_TURBO)
        image[h - ih - 4:h - 4, w - iw - 4:w - 4] = colored[..., ::-1]

    def _objects(self, image: np.ndarray, objects: Detections, thickness: int, font: float) -> None:
        for det in objects.to_json():
            x1, y1, x2, y2 = (int(round(v)) for v in det["bbox"])
            color = color_for(det["class_id"])
            cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness)
            _label(image, f"{det['label']} {det['score']:.2f}", (x1, max(12, y1 - 4)), color, font)

    def _persons(self, image: np.ndarray, persons: Persons, thickness: int, font: float,
                 intr: Intrinsics | None = None) -> None:
        names = persons.keypoint_names
        index = {n: i for i, n in enumerate(names)}
        edges = [(index[a], index[b]) for a, b in COCO17_EDGES if a in index and b in index]
        style = self.style
        thr = style.keypoint_threshold
        for i in range(len(persons)):
            tid = int(persons.track_ids[i])
            color = color_for(tid)
            x1, y1, x2, y2 = (int(round(v)) for v in persons.boxes[i])
            if style.boxes:
                cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness)
            parts = [f"#{tid}" if tid >= 0 else "person", f"{persons.scores[i]:.2f}"] if style.track_ids else []
            if style.distance and persons.positions_3d is not None and np.all(np.isfinite(persons.positions_3d[i])):
                parts.append(f"{float(np.linalg.norm(persons.positions_3d[i])):.2f} m")
            if parts:
                _label(image, " ".join(parts), (x1, max(12, y1 - 4)), color, font)
            if style.actions and persons.action_probs is not None:
                label, score, is_action = persons.action_decision(i)
                if is_action or persons.action_threshold <= 0:  # an abstaining model shows nothing
                    _label(image, f"{label} {score:.2f}", (x1, min(image.shape[0] - 4, y2 + 14)), color, font)
            if persons.keypoints is not None and style.skeletons:
                kp = persons.keypoints[i]
                for a, b in edges:
                    if kp[a, 2] >= thr and kp[b, 2] >= thr:
                        cv2.line(image, _pt(kp[a]), _pt(kp[b]), color, thickness, cv2.LINE_AA)
                for j in range(len(names)):
                    if kp[j, 2] >= thr:
                        cv2.circle(image, _pt(kp[j]), thickness + 1, (255, 255, 255), -1, cv2.LINE_AA)
            if persons.faces is not None and intr is not None:
                self._face(image, persons.faces, i, color, thickness, intr)

    def _face(self, image: np.ndarray, faces: Faces, i: int, color, thickness: int, intr: Intrinsics) -> None:
        """Face box (and mesh), head axes from the nose tip, gaze arrows from the irises, the gaze target."""
        style = self.style
        box = faces.boxes[i].astype(np.float64)
        if not faces.found[i] or not np.all(np.isfinite(box)):
            return
        width = max(box[2] - box[0], 1.0)
        centre = (box[:2] + box[2:]) / 2
        marks = _row(faces.landmarks, i)
        if style.faces:
            cv2.rectangle(image, _pt(box[:2]), _pt(box[2:]), color, max(1, thickness // 2))
            if style.face_mesh and marks is not None:
                h, w = image.shape[:2]
                xy = np.round(marks[:, :2]).astype(int)
                xy = xy[(xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)]
                image[xy[:, 1], xy[:, 0]] = color
        if not style.gaze:
            return
        axes = _head_axes(faces, i, 0.6 * width, intr)
        if axes is not None:
            nose = marks[NOSE_TIP, :2] if marks is not None else centre
            for vec, axis_color in zip(axes, AXIS_COLORS):
                cv2.line(image, _pt(nose), _pt(nose + vec), axis_color, thickness, cv2.LINE_AA)
        gaze = _row(faces.gaze, i)
        if gaze is None:
            return
        iris = faces.iris[i] if faces.iris is not None else np.empty((0, 2))
        origins = [p for p in iris.astype(np.float64) if np.all(np.isfinite(p))]
        if not origins:
            origins = [marks[BETWEEN_EYES, :2] if marks is not None else centre]
        vec = gaze[:2] * 1.5 * width
        for start in origins:
            if np.hypot(*vec) < 2 * thickness:  # looking (nearly) straight at the camera
                cv2.circle(image, _pt(start), thickness + 1, GAZE_COLOR, -1, cv2.LINE_AA)
            else:
                cv2.arrowedLine(image, _pt(start), _pt(start + vec), GAZE_COLOR, thickness, cv2.LINE_AA,
                                tipLength=0.2)
        target = _row(faces.gaze_target_px, i)
        if target is not None:
            cv2.line(image, _pt(np.mean(origins, axis=0)), _pt(target), GAZE_COLOR, 1, cv2.LINE_AA)
            cv2.circle(image, _pt(target), 3 * thickness, GAZE_COLOR, thickness, cv2.LINE_AA)


def _row(values: np.ndarray | None, i: int) -> np.ndarray | None:
    """Row ``i`` of an optional field as float64, None where the field is absent or the row is not all finite."""
    if values is None or not np.all(np.isfinite(values[i])):
        return None
    return values[i].astype(np.float64)


def _head_axes(faces: Faces, i: int, length: float, intr: Intrinsics) -> np.ndarray | None:
    """(3,2) image vectors of the face model's x, y and forward (-z) axes, ``length`` px where parallel to the
    image: projected from the head's 3D position where known, orthographic otherwise."""
    rotation = _row(faces.head_rotation, i)
    if rotation is None:
        return None
    axes = rotation.T * np.array([[1.0], [1.0], [-1.0]])  # rows: the axes in the camera frame
    t = _row(faces.head_translation, i)
    if t is not None and t[2] > 0:
        ends = t + axes * (length * t[2] / intr.fx)
        if np.all(ends[:, 2] > 0.2 * t[2]):
            uv = project(np.vstack([t, ends]), intr)
            return uv[1:] - uv[0]
    return axes[:, :2] * length


def _pt(row: np.ndarray) -> tuple[int, int]:
    return int(round(float(row[0]))), int(round(float(row[1])))


def _label(image: np.ndarray, text: str, origin: tuple[int, int], color, font: float) -> None:
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
    x, y = origin
    cv2.rectangle(image, (x, y - th - base), (x + tw + 2, y + base - 1), color, -1)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(image, text, (x + 1, y - 1), cv2.FONT_HERSHEY_SIMPLEX, font, ink, 1, cv2.LINE_AA)
