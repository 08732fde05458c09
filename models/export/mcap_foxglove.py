"""``results.mcap``: the run in MCAP with Foxglove's protobuf schemas, so Foxglove opens it with no plugin.

Topics (``log_time`` = the source's timestamp in ns, ``sequence`` = the JSONL's ``frame``):

- ``/camera/color`` ``foxglove.CompressedImage`` (JPEG) and ``/camera/depth`` ``foxglove.RawImage`` (16UC1, in
  ``depth_scale`` units): only in a live run (a results.jsonl holds no images);
- ``/camera/calibration`` ``foxglove.CameraCalibration`` (K, P, plumb_bob D) for every frame with intrinsics;
- ``/persons/image`` ``foxglove.ImageAnnotations``: per person its 2D keypoints (points in the keypoint order of
  the JSONL, COCO skeleton edges as a line list), its box (a line loop) and ``#track action`` text;
- ``/persons/scene`` ``foxglove.SceneUpdate``: one entity per person (id = track id) with its 3D keypoints
  (spheres), skeleton (lines), gaze ray (arrow) and label (text), in frame ``camera`` (x right, y down, z ahead);
  every frame replaces the last (``deletions`` of all first).

Kill-safety: messages go into zstd chunks, and a chunk is written to the file when it reaches 1 MiB or is 1 s old
(source time). A run killed outright leaves a file without its summary and footer: MCAP's readers refuse it as
is, but it is whole up to its last chunk, and ``mcap recover`` (or reading it as a stream,
``StreamReader``, stopping at the cut) gives back every message of the whole chunks.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from models.export.base import Exporter, person_label, timestamp_ns, track_key
from models.results import FrameResult
from models.vision.keypoints import COCO17_EDGES
from pipeline.packet import FramePacket

CHUNK_BYTES = 1 << 20
CHUNK_EVERY_NS = 1_000_000_000
FRAME_ID = "camera"
JPEG_QUALITY = 85


class McapExporter(Exporter):
    filename = "results.mcap"
    needs = ("mcap", "mcap_protobuf", "foxglove_schemas_protobuf")

    def __init__(self, folder: str | Path) -> None:
        super().__init__(folder)
        self._file = None
        self._writer = None
        self._channels: dict[str, int] = {}
        self._chunk_t0: int | None = None
        self.messages: dict[str, int] = {}

    def open(self, source_info: dict[str, Any] | None = None) -> None:
        from mcap.writer import CompressionType, Writer

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        self._writer = Writer(self._file, chunk_size=CHUNK_BYTES, compression=CompressionType.ZSTD)
        self._writer.start(profile="", library="percept")

    def _put(self, topic: str, message: Any, log_time: int, sequence: int) -> None:
        from mcap_protobuf.schema import register_schema

        channel = self._channels.get(topic)
        if channel is None:
            schema = register_schema(self._writer, type(message))
            channel = self._channels[topic] = self._writer.register_channel(topic, "protobuf", schema)
        self._writer.add_message(channel, log_time=log_time, data=message.SerializeToString(),
                                 publish_time=log_time, sequence=sequence)
        self.messages[topic] = self.messages.get(topic, 0) + 1

    def add(self, result: FrameResult, packet: FramePacket | None = None) -> None:
        t = timestamp_ns(result)
        stamp = _stamp(t)
        seq = result.frame
        if packet is not None:
            self._put("/camera/color", _color(packet, stamp), t, seq)
            if packet.depth is not None:
                self._put("/camera/depth", _depth(packet, stamp), t, seq)
            if packet.color_intrinsics is not None:
                self._put("/camera/calibration", _calibration(packet.color_intrinsics, stamp), t, seq)
        self._put("/persons/image", _image_annotations(result, stamp), t, seq)
        self._put("/persons/scene", _scene(result, stamp), t, seq)
        self.frames += 1
        self._flush_chunk(t)

    def _flush_chunk(self, t: int) -> None:
        """A chunk at least every CHUNK_EVERY_NS of source time, so a killed run loses at most about that much."""
        if self._chunk_t0 is None:
            self._chunk_t0 = t
        if t - self._chunk_t0 >= CHUNK_EVERY_NS:
            # what the writer does itself when a chunk is full (private in mcap 1.x: without it, 1 MiB chunks only)
            finalize = getattr(self._writer, "_Writer__finalize_chunk", None)
            if finalize is not None:
                finalize()
            self._chunk_t0 = t
        self._file.flush()

    def close(self) -> None:
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            writer.finish()
        finally:
            self._file.close()


def _stamp(t: int):
    from google.protobuf.timestamp_pb2 import Timestamp

    return Timestamp(seconds=t // 1_000_000_000, nanos=t % 1_000_000_000)


def _color(packet: FramePacket, stamp):
    import cv2
    from foxglove_schemas_protobuf.CompressedImage_pb2 import CompressedImage

    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(packet.color[:, :, ::-1]),
                            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding of the colour frame failed")
    return CompressedImage(timestamp=stamp, frame_id=FRAME_ID, data=jpeg.tobytes(), format="jpeg")


def _depth(packet: FramePacket, stamp):
    from foxglove_schemas_protobuf.RawImage_pb2 import RawImage

    depth = np.ascontiguousarray(packet.depth, dtype="<u2")
    return RawImage(timestamp=stamp, frame_id=FRAME_ID if packet.depth_aligned else "depth",
                    width=depth.shape[1], height=depth.shape[0], encoding="16UC1", step=depth.shape[1] * 2,
                    data=depth.tobytes())


def _calibration(k, stamp):
    from foxglove_schemas_protobuf.CameraCalibration_pb2 import CameraCalibration

    d = list(k.distortion)
    model, n = ("plumb_bob", 5) if len(d) <= 5 else ("rational_polynomial", 8)  # ROS's names for OpenCV's models
    d = (d + [0.0] * n)[:n]
    return CameraCalibration(timestamp=stamp, frame_id=FRAME_ID, width=k.width, height=k.height,
                             distortion_model=model, D=d,
                             K=[k.fx, 0, k.cx, 0, k.fy, k.cy, 0, 0, 1], R=[1, 0, 0, 0, 1, 0, 0, 0, 1],
                             P=[k.fx, 0, k.cx, 0, 0, k.fy, k.cy, 0, 0, 0, 1, 0])


def _edges(names: tuple[str, ...]) -> list[tuple[int, int]]:
    index = {n: j for j, n in enumerate(names)}
    return [(index[a], index[b]) for a, b in COCO17_EDGES if a in index and b in index]


def _image_annotations(result: FrameResult, stamp):
    from foxglove_schemas_protobuf.Color_pb2 import Color
    from foxglove_schemas_protobuf.ImageAnnotations_pb2 import ImageAnnotations
    from foxglove_schemas_protobuf.Point2_pb2 import Point2
    from foxglove_schemas_protobuf.PointsAnnotation_pb2 import PointsAnnotation
    from foxglove_schemas_protobuf.TextAnnotation_pb2 import TextAnnotation

    persons = result.persons
    out = ImageAnnotations()
    green, white = Color(r=0.1, g=0.9, b=0.3, a=1.0), Color(r=1, g=1, b=1, a=1)
    edges = _edges(persons.keypoint_names) if persons.keypoints is not None else []
    for i in range(len(persons)):
        x1, y1, x2, y2 = (float(v) for v in persons.boxes[i])
        out.points.append(PointsAnnotation(
            timestamp=stamp, type=PointsAnnotation.LINE_LOOP, thickness=2, outline_color=green,
            points=[Point2(x=x1, y=y1), Point2(x=x2, y=y1), Point2(x=x2, y=y2), Point2(x=x1, y=y2)]))
        out.texts.append(TextAnnotation(timestamp=stamp, position=Point2(x=x1, y=max(0.0, y1 - 4)),
                                        text=person_label(result, i), font_size=14, text_color=white,
                                        background_color=Color(r=0, g=0, b=0, a=0.6)))
        if persons.keypoints is None:
            continue
        kp = persons.keypoints[i]
        out.points.append(PointsAnnotation(  # every keypoint in the JSONL's order (NaN ones as 0, 0)
            timestamp=stamp, type=PointsAnnotation.POINTS, thickness=4, outline_color=green,
            points=[Point2(x=_num(x), y=_num(y)) for x, y, _ in kp]))
        segments = [Point2(x=float(kp[j, 0]), y=float(kp[j, 1])) for a, b in edges
                    if np.all(np.isfinite(kp[[a, b], :2])) for j in (a, b)]
        if segments:
            out.points.append(PointsAnnotation(timestamp=stamp, type=PointsAnnotation.LINE_LIST, thickness=2,
                                               outline_color=green, points=segments))
    return out


def _num(v: float) -> float:
    return float(v) if math.isfinite(float(v)) else 0.0


def _scene(result: FrameResult, stamp):
    from foxglove_schemas_protobuf.ArrowPrimitive_pb2 import ArrowPrimitive
    from foxglove_schemas_protobuf.Color_pb2 import Color
    from foxglove_schemas_protobuf.LinePrimitive_pb2 import LinePrimitive
    from foxglove_schemas_protobuf.Point3_pb2 import Point3
    from foxglove_schemas_protobuf.Pose_pb2 import Pose
    from foxglove_schemas_protobuf.Quaternion_pb2 import Quaternion
    from foxglove_schemas_protobuf.SceneEntity_pb2 import SceneEntity
    from foxglove_schemas_protobuf.SceneEntityDeletion_pb2 import SceneEntityDeletion
    from foxglove_schemas_protobuf.SceneUpdate_pb2 import SceneUpdate
    from foxglove_schemas_protobuf.SpherePrimitive_pb2 import SpherePrimitive
    from foxglove_schemas_protobuf.TextPrimitive_pb2 import TextPrimitive
    from foxglove_schemas_protobuf.Vector3_pb2 import Vector3

    persons = result.persons
    update = SceneUpdate(deletions=[SceneEntityDeletion(timestamp=stamp, type=SceneEntityDeletion.ALL)])
    green, yellow = Color(r=0.1, g=0.9, b=0.3, a=1.0), Color(r=1.0, g=0.85, b=0.1, a=1.0)
    identity = Quaternion(x=0, y=0, z=0, w=1)
    edges = _edges(persons.keypoint_names) if persons.keypoints is not None else []
    faces = persons.faces
    for i in range(len(persons)):
        entity = SceneEntity(timestamp=stamp, frame_id=FRAME_ID, id=track_key(persons.track_ids[i], i),
                             frame_locked=True)
        kp3 = persons.keypoints_3d[i] if persons.keypoints_3d is not None else None
        if kp3 is not None:
            for j, (name, p) in enumerate(zip(persons.keypoint_names, kp3)):
                if np.all(np.isfinite(p)):
                    entity.spheres.append(SpherePrimitive(
                        pose=Pose(position=Vector3(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                                  orientation=identity), size=Vector3(x=0.04, y=0.04, z=0.04), color=green))
                    entity.metadata.add(key=name, value=f"{p[0]:.4f},{p[1]:.4f},{p[2]:.4f}")
            segments = [Point3(x=float(kp3[j, 0]), y=float(kp3[j, 1]), z=float(kp3[j, 2])) for a, b in edges
                        if np.all(np.isfinite(kp3[[a, b]])) for j in (a, b)]
            if segments:
                entity.lines.append(LinePrimitive(type=LinePrimitive.LINE_LIST, thickness=2,
                                                  scale_invariant=True, points=segments, color=green))
        anchor = persons.positions_3d[i] if persons.positions_3d is not None else None
        if anchor is not None and np.all(np.isfinite(anchor)):
            entity.texts.append(TextPrimitive(
                pose=Pose(position=Vector3(x=float(anchor[0]), y=float(anchor[1]) - 0.3, z=float(anchor[2])),
                          orientation=identity), billboard=True, font_size=14, scale_invariant=True,
                color=Color(r=1, g=1, b=1, a=1), text=person_label(result, i)))
        if faces is not None and faces.found[i] and faces.gaze is not None and faces.gaze_origin_3d is not None:
            origin, direction = faces.gaze_origin_3d[i], faces.gaze[i]
            if np.all(np.isfinite(origin)) and np.all(np.isfinite(direction)):
                entity.arrows.append(ArrowPrimitive(
                    pose=Pose(position=Vector3(x=float(origin[0]), y=float(origin[1]), z=float(origin[2])),
                              orientation=_quaternion_from_x(direction)),
                    shaft_length=0.4, shaft_diameter=0.01, head_length=0.08, head_diameter=0.03, color=yellow))
        update.entities.append(entity)
    return update


def _quaternion_from_x(direction: np.ndarray):
    """The rotation taking +x (Foxglove's arrow axis) onto ``direction``."""
    from foxglove_schemas_protobuf.Quaternion_pb2 import Quaternion

    d = np.asarray(direction, np.float64)
    d = d / (np.linalg.norm(d) or 1.0)
    x = np.array([1.0, 0.0, 0.0])
    axis = np.cross(x, d)
    w = 1.0 + float(np.dot(x, d))
    if w < 1e-9:  # opposite: half a turn about z
        return Quaternion(x=0, y=0, z=1, w=0)
    q = np.array([axis[0], axis[1], axis[2], w])
    q /= np.linalg.norm(q)
    return Quaternion(x=q[0], y=q[1], z=q[2], w=q[3])
