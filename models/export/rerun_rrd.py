"""``results.rrd`` (or a live Rerun viewer): the run on Rerun's timelines ``frame`` (the JSONL's ``frame``) and
``time`` (the source's timestamp, seconds).

Entities (the camera frame: x right, y down, z ahead, metres; ``KEY`` = the track id, ``untracked_<row>`` else):

- ``world/camera`` pinhole from the colour intrinsics; ``world/camera/image`` the colour frame (JPEG),
  ``world/camera/depth`` the depth image (``meter`` = 1 / depth_scale), ``world/points`` the point cloud (every
  ``CLOUD_STEP``-th pixel of depth, coloured when depth is aligned): only in a live run, images need the packet;
- ``world/camera/image/boxes``: every person's box, labelled ``#track action score``, class "person";
- ``world/camera/image/person/KEY``: the 2D skeleton (Points2D with keypoint ids; names and edges are the static
  annotation context on ``world``), ``world/person/KEY/skeleton`` the 3D one, ``world/person/KEY/gaze`` the gaze
  ray (origin and 0.5 m along the direction); a person gone from a frame is cleared;
- ``actions/KEY``: the action label per track as a text log; ``latency_ms/STAGE``: per-stage latency (Scalars).

Kill-safety: the SDK writes the recording as a stream of messages from its own thread, flushed every
``FLUSH_EVERY_S`` here; a run killed outright leaves a file whose whole messages Rerun still reads (the viewer and
``rerun.chunk.RrdReader`` stop at the cut), missing at most the last moments not yet flushed.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from models.export.base import Exporter, person_label, track_key
from models.results import FrameResult
from models.vision.keypoints import COCO17_EDGES
from pipeline.packet import FramePacket

PERSON_CLASS = 1
CLOUD_STEP = 4  # every 4th pixel in x and y: 1/16 of the depth image
FLUSH_EVERY_S = 1.0
JPEG_QUALITY = 85


class RerunExporter(Exporter):
    """``live``: spawn a viewer, or connect to the one already listening on Rerun's port, instead of a file."""

    filename = "results.rrd"
    needs = ("rerun",)

    def __init__(self, folder: str | Path, live: bool = False) -> None:
        super().__init__(folder)
        self.live = live
        self._rec = None
        self._names: tuple[str, ...] | None = None
        self._people: set[str] = set()
        self._pinhole = None
        self._flushed = 0.0

    def open(self, source_info: dict[str, Any] | None = None) -> None:
        import rerun as rr

        name = str((source_info or {}).get("name") or "percept")
        self._rec = rr.RecordingStream("percept", recording_id=None)
        self._rec.send_recording_name(name)
        if self.live:
            self._rec.spawn(connect=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._rec.save(str(self.path))
        self._rec.log("world", rr.ViewCoordinates.RDF, static=True)
        self._flushed = time.monotonic()

    def add(self, result: FrameResult, packet: FramePacket | None = None) -> None:
        import rerun as rr

        rec = self._rec
        rec.set_time("frame", sequence=result.frame)
        if result.timestamp == result.timestamp:  # not NaN
            rec.set_time("time", duration=float(result.timestamp))
        if packet is not None:
            self._images(packet)
        persons = result.persons
        if persons.keypoints is not None and persons.keypoint_names != self._names:
            self._annotation_context(persons.keypoint_names)
        labels = [person_label(result, i) for i in range(len(persons))]
        rec.log("world/camera/image/boxes", rr.Boxes2D(array=persons.boxes, array_format=rr.Box2DFormat.XYXY,
                                                       labels=labels, class_ids=[PERSON_CLASS] * len(persons)))
        present = set()
        for i in range(len(persons)):
            key = track_key(persons.track_ids[i], i)
            present.add(key)
            self._person(result, i, key)
        for key in self._people - present:  # gone: not drawn on later frames
            rec.log(f"world/camera/image/person/{key}", rr.Clear(recursive=True))
            rec.log(f"world/person/{key}", rr.Clear(recursive=True))
        self._people = present
        for stage, ms in result.latency_ms.items():
            rec.log(f"latency_ms/{stage}", rr.Scalars(float(ms)))
        self.frames += 1
        if time.monotonic() - self._flushed >= FLUSH_EVERY_S:
            rec.flush()  # what is logged so far reaches the file: a kill loses at most this second
            self._flushed = time.monotonic()

    def _annotation_context(self, names: tuple[str, ...]) -> None:
        import rerun as rr

        index = {n: j for j, n in enumerate(names)}
        edges = [(index[a], index[b]) for a, b in COCO17_EDGES if a in index and b in index]
        context = rr.AnnotationContext([rr.ClassDescription(
            info=rr.AnnotationInfo(id=PERSON_CLASS, label="person", color=(40, 230, 80)),
            keypoint_annotations=[rr.AnnotationInfo(id=j, label=n) for j, n in enumerate(names)],
            keypoint_connections=edges)])
        self._rec.log("world", context, static=True)
        self._names = names

    def _person(self, result: FrameResult, i: int, key: str) -> None:
        import rerun as rr

        rec, persons = self._rec, result.persons
        if persons.keypoints is not None:
            kp = persons.keypoints[i]
            ok = np.all(np.isfinite(kp[:, :2]), axis=1)
            rec.log(f"world/camera/image/person/{key}",
                    rr.Points2D(kp[ok, :2], keypoint_ids=np.flatnonzero(ok), class_ids=PERSON_CLASS,
                                radii=rr.Radius.ui_points(3.0)))
        if persons.keypoints_3d is not None:
            kp3 = persons.keypoints_3d[i]
            ok = np.all(np.isfinite(kp3), axis=1)
            rec.log(f"world/person/{key}/skeleton",
                    rr.Points3D(kp3[ok], keypoint_ids=np.flatnonzero(ok), class_ids=PERSON_CLASS,
                                radii=rr.Radius.ui_points(4.0)))
        faces = persons.faces
        if faces is not None and faces.found[i] and faces.gaze is not None and faces.gaze_origin_3d is not None:
            origin, direction = faces.gaze_origin_3d[i], faces.gaze[i]
            if np.all(np.isfinite(origin)) and np.all(np.isfinite(direction)):
                rec.log(f"world/person/{key}/gaze", rr.Arrows3D(origins=[origin], vectors=[direction * 0.5],
                                                                colors=[(255, 215, 30)]))
        if persons.action_probs is not None:
            label, score, _ = persons.action_decision(i)
            rec.log(f"actions/{key}", rr.TextLog(f"{label} {score:.2f}"))

    def _images(self, packet: FramePacket) -> None:
        import cv2
        import rerun as rr

        rec = self._rec
        k = packet.color_intrinsics
        if k is not None and k != self._pinhole:
            rec.log("world/camera", rr.Pinhole(focal_length=[k.fx, k.fy], principal_point=[k.cx, k.cy],
                                               width=k.width, height=k.height), static=True)
            self._pinhole = k
        ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(packet.color[:, :, ::-1]),
                                [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if ok:
            rec.log("world/camera/image", rr.EncodedImage(contents=jpeg.tobytes(), media_type="image/jpeg"))
        if packet.depth is None:
            return
        if packet.depth_aligned:
            rec.log("world/camera/depth", rr.DepthImage(packet.depth, meter=1.0 / packet.depth_scale))
        cloud = point_cloud(packet)
        if cloud is not None:
            points, colors = cloud
            rec.log("world/points", rr.Points3D(points, colors=colors, radii=rr.Radius.ui_points(1.5)))

    def close(self) -> None:
        if self._rec is None:
            return
        rec, self._rec = self._rec, None
        rec.flush()
        if not self.live:
            rec.disconnect()  # closes the file sink: the .rrd is complete


def point_cloud(packet: FramePacket, step: int = CLOUD_STEP) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(N,3) points in the colour camera frame (metres) from every ``step``-th depth pixel, with their colours
    when depth is aligned; None without depth intrinsics."""
    k = packet.depth_camera
    if packet.depth is None or k is None:
        return None
    z = packet.depth[::step, ::step].astype(np.float32) * np.float32(packet.depth_scale)
    v, u = np.mgrid[0:packet.depth.shape[0]:step, 0:packet.depth.shape[1]:step]
    sx, sy = k.width / packet.depth.shape[1], k.height / packet.depth.shape[0]  # intrinsics of another size
    valid = z > 0
    z, u, v = z[valid], u[valid] * sx, v[valid] * sy
    points = np.stack([(u - k.cx) * z / k.fx, (v - k.cy) * z / k.fy, z], axis=1)
    colors = None
    if packet.depth_aligned:
        h, w = packet.color.shape[:2]
        colors = packet.color[np.clip(v.astype(int), 0, h - 1), np.clip(u.astype(int), 0, w - 1)]
    elif packet.depth_to_color is not None:
        points = packet.depth_to_color.apply(points)
    return points.astype(np.float32), colors
