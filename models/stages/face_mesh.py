"""`face_mesh`: each person's face, its 468-point mesh and both irises, tied to the person row (and so to its
``track_id``).

Where the face ROI comes from, best first:
1. the pose keypoints (eyes, nose, mouth, ears) of a person: no detector call, works on small faces in crowds;
2. the full-range face detector on the top of a person's box, when the head keypoints are missing or unsure;
3. without a ``persons`` producer in the graph (the light face graph), the detector on the whole frame, each face
   becoming a person row.
A second landmark pass on the ROI that the first pass's mesh gives (rotation from the eye corners, as MediaPipe's
face tracking does) makes the mesh independent of how rough the first ROI was. All faces of a frame go through
the mesh model in one batched call, and all eyes through the iris model in another.

Face ROI tracking (``track_faces``, MediaPipe's landmark-to-ROI loop): a tracked person (track_id >= 0) whose face
was found on the stream's previous frame with presence >= ``track_min_presence``, and whose box still overlaps the
box it had then (IoU >= ``track_min_iou``), starts from the ROI of the previous frame's final mesh and gets ONE
mesh pass: that ROI is already what the second pass would have used. Where that pass's presence falls short, the
face starts again from the keypoints / detector in the same frame. State is per stream, keyed by track id, and a
track is forgotten on the first frame it has no face.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pydantic import Field

from models.runtime.device import device_field
from models.runtime.onnx import load_stage_model
from models.vision import face_mesh_topology as topo
from models.vision.arrays import sigmoid
from models.registry import resolve_model
from models.vision.blazeface import SPECS, anchors, decode
from models.vision.head_pose import FaceModel
from models.vision.roi import nms
from models.vision.faces import Faces
from models.vision.persons import Persons
from models.vision.roi import Roi, crop_batch
from pipeline import modes
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from pipeline.stage import Stage, StageContext, StageParams, StreamContext

MESH_INPUT = 192
IRIS_INPUT = 64


class FaceMeshParams(StageParams):
    detectors: tuple[str, ...] = Field(
        default=("face_detection_short_range", "face_detection_full_range"), min_length=1,
        description="face detectors whose faces are merged: short range for faces near the camera (or filling a "
                    "crop), full range for small faces up to ~5 m")
    mesh_model: str = "face_landmark"
    iris_model: str = "iris_landmark"
    iris: bool = Field(default=True, description="run the iris model (needed by the gaze stages)")
    keypoint_threshold: float = Field(default=0.5, ge=0, le=1, description="least visibility of the eye and "
                                                                            "nose keypoints to take the ROI from them")
    detector_threshold: float = Field(default=0.5, ge=0, le=1)
    min_presence: float = Field(default=0.5, ge=0, le=1, description="drop faces the mesh model says are not there")
    mirror_average: bool = Field(default=True, description="each mesh pass also on the mirrored crop, the two "
                                                           "meshes averaged: the model is not mirror-symmetric, and "
                                                           "left-right bias of its landmarks turns into yaw and pitch")
    face_model: str = Field(default="face_model_468", description="the symmetric face model whose left-right "
                                                                  "vertex pairs mirror_average uses")
    refine_passes: int = Field(default=1, ge=0, le=2, description="re-runs of the mesh on the ROI from its mesh")
    max_faces: int = Field(default=16, ge=1, le=256, description="largest people first; the rest get no face")
    min_face_px: float = Field(default=12.0, ge=4, description="faces smaller than this (eye distance x 3) are "
                                                               "skipped: too few pixels for landmarks")
    track_faces: bool = Field(default=True, description="a tracked person's face starts from its previous "
                                                         "frame's mesh ROI: one mesh pass instead of 1 + "
                                                         "refine_passes")
    track_min_presence: float = Field(default=0.8, ge=0, le=1, description="least mesh presence to keep tracking "
                                                                           "a face (and to accept a tracked pass)")
    track_min_iou: float = Field(default=0.3, ge=0, le=1, description="least overlap of a person's box with its "
                                                                      "box on the previous frame to reuse its ROI")
    retry_every: int = Field(default=5, ge=1, description="a tracked person whose face was looked for and not found "
                                                          "is looked for again after this many frames, not on "
                                                          "every frame (a back, a face too dark or too small "
                                                          "costs a detector call and mesh passes each time)")
    retry_max: int = Field(default=60, ge=1, description="the wait between searches doubles with each search "
                                                         "that finds no face, up to this many frames")
    async_search: bool = Field(default=True, description="live mode: a tracked person's face is searched from "
                                                          "scratch on a worker beside the frames that follow "
                                                          "(found, it is followed from the next frame on), so a "
                                                          "search never delays a frame")
    device: str = device_field()


@dataclass
class TrackedFace:
    """Where a track's face is expected on the next frame: the ROI of its final mesh, and the person's box then."""

    roi: Roi
    box: np.ndarray


@dataclass
class FaceTracks:
    """One stream's tracked faces (track id -> TrackedFace) and how many faces took the one-pass path."""

    faces: dict[int, TrackedFace] = field(default_factory=dict)
    not_found: dict[int, int] = field(default_factory=dict)  # track id -> frames since its face was looked for
    misses: dict[int, int] = field(default_factory=dict)  # track id -> searches in a row that found no face
    live: bool = False  # tracked people's faces are searched on the worker (async_search)
    pending: Future | None = None
    tracked_passes: int = 0
    full_passes: int = 0


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def roi_from_keypoints(kps: np.ndarray, names: tuple[str, ...], threshold: float) -> Roi | None:
    """A face ROI from a person's pose keypoints, or None where the eyes and nose are not all seen."""
    index = {n: i for i, n in enumerate(names)}
    need = ("nose", "left_eye", "right_eye")
    if any(n not in index or kps[index[n], 2] < threshold for n in need):
        return None
    right, left, nose = (kps[index[n], :2].astype(np.float64) for n in ("right_eye", "left_eye", "nose"))
    eye_mid = (left + right) / 2
    mouth = [kps[index[n], :2] for n in ("mouth_left", "mouth_right") if n in index and kps[index[n], 2] >= threshold]
    mouth_mid = np.mean(mouth, axis=0) if len(mouth) == 2 else nose + (nose - eye_mid) * 0.8
    ears = [kps[index[n], :2] for n in ("left_ear", "right_ear") if n in index and kps[index[n], 2] >= threshold]
    eye_vec = left - right
    down = mouth_mid - eye_mid
    size = max(3.2 * np.hypot(*eye_vec), 3.6 * np.hypot(*down),
               1.6 * np.hypot(*(ears[0] - ears[1])) if len(ears) == 2 else 0.0)
    # for a face turned sideways the eye line shortens; the eye->mouth direction still says where "down" is
    angle = np.arctan2(down[1], down[0]) - np.pi / 2 if np.hypot(*eye_vec) < 0.5 * np.hypot(*down) \
        else np.arctan2(eye_vec[1], eye_vec[0])
    centre = eye_mid + 0.35 * down
    return Roi(float(centre[0]), float(centre[1]), float(size), float(-angle))


def roi_from_mesh(points: np.ndarray, scale: float = 1.5) -> Roi:
    """MediaPipe's landmarks-to-ROI: rotation from the outer eye corners, the rotated bounding box of the mesh,
    square on its long side, x ``scale``."""
    right, left = points[topo.RIGHT_EYE_CORNERS[0], :2], points[topo.LEFT_EYE_CORNERS[0], :2]
    angle = float(np.arctan2(left[1] - right[1], left[0] - right[0]))
    c, s = np.cos(-angle), np.sin(-angle)
    rot = np.array([[c, -s], [s, c]])
    upright = points[:, :2] @ rot.T
    lo, hi = upright.min(axis=0), upright.max(axis=0)
    centre = rot.T @ ((lo + hi) / 2)
    return Roi(float(centre[0]), float(centre[1]), float(max(hi - lo) * scale), -angle)


def roi_from_detection(box: np.ndarray, kps: np.ndarray, scale: float = 1.5) -> Roi:
    """MediaPipe's detection-to-ROI: the box centre, rotation from the two eyes, side = long box side x scale."""
    angle = float(np.arctan2(kps[1, 1] - kps[0, 1], kps[1, 0] - kps[0, 0]))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return Roi(float(cx), float(cy), float(max(box[2] - box[0], box[3] - box[1]) * scale), -angle)


def eye_rois(points: np.ndarray, rotation: float, scale: float = 2.3) -> list[Roi]:
    """The two eye crops of the iris model (right eye first): centred between the eye corners, side = corner
    distance x ``scale``, rotated with the face."""
    out = []
    for a, b in topo.EYE_CORNERS:
        pa, pb = points[a, :2], points[b, :2]
        mid = (pa + pb) / 2
        out.append(Roi(float(mid[0]), float(mid[1]), float(np.hypot(*(pa - pb)) * scale), rotation))
    return out


@register_stage
class FaceMeshStage(Stage):
    type_name = "face_mesh"
    inputs = ("color",)
    # with people (it then waits for whoever made them): their head keypoints place the face and their track ids
    # carry it across frames; without a person stage before it, every face it detects is a person (it makes them)
    optional_inputs = ("persons.keypoints", "persons.track_ids")
    outputs = ("persons.faces",)
    stateless = False  # face ROI tracking: a stream's frames in order
    Params = FaceMeshParams

    def setup(self, context: StageContext) -> None:
        p = self.params
        unknown = [d for d in p.detectors if d not in SPECS]
        if unknown:
            raise ValueError(f"unknown face detector {unknown[0]!r}; choose from {', '.join(SPECS)}")
        self.detectors = [(load_stage_model(d, p.device, context.device), SPECS[d], anchors(SPECS[d]))
                          for d in p.detectors]
        self.mesh = load_stage_model(p.mesh_model, p.device, context.device)
        self.iris_model = load_stage_model(p.iris_model, p.device, context.device) if p.iris else None
        self.mirror = FaceModel.load(resolve_model(p.face_model)).mirror_index() if p.mirror_average else None
        self.worker = ThreadPoolExecutor(1, thread_name_prefix=f"{context.name}-search")

    def open_stream(self, stream: StreamContext) -> FaceTracks:
        return FaceTracks(live=stream.mode == modes.LIVE and self.params.async_search)

    def close_stream(self, state: FaceTracks | None) -> None:
        if state is not None and state.pending is not None:
            state.pending.cancel()

    def close(self) -> None:
        if getattr(self, "worker", None) is not None:
            self.worker.shutdown(wait=True, cancel_futures=True)

    # ----- face ROIs --------------------------------------------------------------------------------------------
    def tracked_rois(self, persons: Persons, state: FaceTracks | None) -> dict[int, Roi]:
        """Row -> the previous frame's mesh ROI, for the ``max_faces`` largest tracked people that still overlap
        where they were."""
        if state is None or not self.params.track_faces or not state.faces or persons.track_ids is None:
            return {}
        areas = (persons.boxes[:, 2] - persons.boxes[:, 0]) * (persons.boxes[:, 3] - persons.boxes[:, 1])
        out: dict[int, Roi] = {}
        for i in np.argsort(-areas)[:self.params.max_faces]:
            prev = state.faces.get(int(persons.track_ids[i]))
            if prev is not None and persons.track_ids[i] >= 0 and \
                    box_iou(prev.box, persons.boxes[i]) >= self.params.track_min_iou:
                out[int(i)] = prev.roi
        return out

    def due(self, persons: Persons, state: FaceTracks | None) -> np.ndarray:
        """Rows whose face may be looked for from scratch on this frame: people seen for the first time, and of the
        tracked people whose face was not found, the one that waited longest once it has waited ``retry_every``
        frames (one retry per frame: retries of several people spread over frames instead of piling up on one)."""
        if state is None or persons.track_ids is None:
            return np.ones(len(persons), bool)
        waited = np.array([state.not_found.get(int(t), -1) for t in persons.track_ids])
        due = waited < 0
        ready = waited >= np.array([self.retry_wait(state.misses.get(int(t), 1)) for t in persons.track_ids])
        if (ready & ~due).any():
            due[int(np.argmax(np.where(ready, waited, -1)))] = True
        return due

    def retry_wait(self, misses: int) -> int:
        """Frames to wait after ``misses`` searches in a row found no face: ``retry_every``, doubling with each
        miss up to ``retry_max`` (a back turned or a face too small stays so for a while)."""
        return min(self.params.retry_max, self.params.retry_every * 2 ** max(0, misses - 1))

    def remember(self, persons: Persons, faces: Faces, state: FaceTracks | None,
                 looked: np.ndarray | None = None) -> None:
        """Keep the final mesh ROI of every tracked face found with good presence; forget every other track.
        Tracked people whose face was looked for (``looked``) and not found wait before the next search
        (``retry_wait``)."""
        if state is None:
            return
        if persons.track_ids is not None:
            before, state.not_found = state.not_found, {}
            misses, state.misses = state.misses, {}
            for i, tid in enumerate(int(t) for t in persons.track_ids):
                if tid < 0 or faces.found[i]:
                    continue
                now = looked is not None and bool(looked[i])
                state.not_found[tid] = 0 if now else before.get(tid, 0) + 1
                state.misses[tid] = misses.get(tid, 0) + (1 if now else 0)
        if not self.params.track_faces:
            return
        state.faces = {}
        if persons.track_ids is None:
            return
        for i in np.flatnonzero(faces.found):
            tid = int(persons.track_ids[i])
            if tid >= 0 and faces.scores[i] >= self.params.track_min_presence:
                state.faces[tid] = TrackedFace(roi_from_mesh(faces.landmarks[i]), persons.boxes[i].copy())

    def detect(self, image: np.ndarray, region: Roi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Faces in a square region of the image: boxes (n,4) and keypoints (n,6,2) in image px, scores (n,)."""
        boxes, kps, scores = [], [], []
        for model, spec, anchor_xy in self.detectors:
            size = spec.input_size
            crop = crop_batch(image, [region], size) * 2.0 - 1.0
            reg, logits = model.run_input(crop)[:2]
            found = decode(reg, logits, anchor_xy, self.params.detector_threshold)
            boxes.append(region.to_image(found.boxes.reshape(-1, 2), size).reshape(-1, 4))
            kps.append(region.to_image(found.keypoints.reshape(-1, 2), size).reshape(-1, 6, 2))
            scores.append(found.scores)
        boxes, kps, scores = np.concatenate(boxes), np.concatenate(kps), np.concatenate(scores)
        keep = nms(boxes, scores, self.params.detector_threshold, 0.3)
        return boxes[keep], kps[keep], scores[keep]

    def person_rois(self, image: np.ndarray, persons: Persons, use_keypoints: bool = True,
                    only: np.ndarray | None = None) -> list[Roi | None]:
        """Each person's face ROI (None: no face to look at), the ``max_faces`` largest people (of ``only``)."""
        p = self.params
        areas = (persons.boxes[:, 2] - persons.boxes[:, 0]) * (persons.boxes[:, 3] - persons.boxes[:, 1])
        rois: list[Roi | None] = [None] * len(persons)
        for i in np.argsort(-areas)[:p.max_faces]:
            if only is not None and not only[i]:
                continue
            roi = None
            if use_keypoints and persons.keypoints is not None:
                roi = roi_from_keypoints(persons.keypoints[i], persons.keypoint_names, p.keypoint_threshold)
            if roi is None:
                roi = self.detector_roi(image, persons.boxes[i])
            if roi is not None and roi.size / 1.5 >= p.min_face_px:
                rois[i] = roi
        return rois

    def detector_roi(self, image: np.ndarray, box: np.ndarray) -> Roi | None:
        """The face ROI from the face detector run on the top of a person's box, or None where it finds none."""
        x1, y1, x2, y2 = box
        side = max(8.0, min(x2 - x1, y2 - y1))  # the head is in the top square of a standing person
        boxes, kps, scores = self.detect(image, Roi((x1 + x2) / 2, y1 + side * 0.45, side * 1.1))
        return roi_from_detection(boxes[0], kps[0]) if len(scores) else None

    # ----- models ---------------------------------------------------------------------------------------------
    def mesh_pass(self, image: np.ndarray, rois: list[Roi]) -> tuple[np.ndarray, np.ndarray]:
        """(N,468,3) image px (z in the same pixel scale) and presence (N,) for square face ROIs."""
        crops = crop_batch(image, rois, MESH_INPUT)
        n = len(rois)
        if self.mirror is not None:
            crops = np.concatenate([crops, crops[:, :, ::-1]])
        raw, presence = self.mesh.run_input(crops)[:2]
        lm = raw.reshape(len(crops), 468, 3)
        presence = presence.reshape(-1)
        if self.mirror is not None:  # the mirrored crop's mesh, mirrored back, its vertices renamed left<->right
            back = lm[n:, self.mirror].copy()
            back[:, :, 0] = MESH_INPUT - back[:, :, 0]
            lm, presence = (lm[:n] + back) / 2, (presence[:n] + presence[n:]) / 2  # logits
        out = np.empty_like(lm)
        for i, roi in enumerate(rois):
            out[i, :, :2] = roi.to_image(lm[i, :, :2], MESH_INPUT)
            out[i, :, 2] = lm[i, :, 2] * (roi.size / MESH_INPUT)
        return out, sigmoid(np.asarray(presence, np.float64))

    def iris_pass(self, image: np.ndarray, meshes: np.ndarray,
                  rotations: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N,2,2) iris centres px, (N,2) iris diameters px and (N,2,4,2) iris rim points px per eye (right,
        left). The model knows one eye:
        the person's left eye is mirrored in, and its result mirrored back, as MediaPipe does."""
        rois = [r for mesh, rot in zip(meshes, rotations) for r in eye_rois(mesh, rot)]
        crops = crop_batch(image, rois, IRIS_INPUT)
        crops[1::2] = crops[1::2, :, ::-1]
        model = self.iris_model
        outputs = model.outputs_of(crops)
        points = outputs["output_iris"].reshape(len(rois), 5, 3)[:, :, :2].copy()  # centre, then 4 on the rim
        points[1::2, :, 0] = IRIS_INPUT - points[1::2, :, 0]
        image_pts = np.stack([roi.to_image(points[k], IRIS_INPUT) for k, roi in enumerate(rois)])
        rim = np.linalg.norm(image_pts[:, 1:] - image_pts[:, :1], axis=2)
        # the horizontal rim points: eyelids cover the top and bottom of the iris more often than its sides
        diameter = np.sort(rim, axis=1)[:, 2:].sum(axis=1)
        return (image_pts[:, 0].reshape(len(meshes), 2, 2), diameter.reshape(len(meshes), 2),
                image_pts[:, 1:].reshape(len(meshes), 2, 4, 2))

    # ----- frame ----------------------------------------------------------------------------------------------
    def process(self, packet: FramePacket, state: FaceTracks | None = None) -> dict[str, Any]:
        """``state`` None (a caller without a stream): every face from scratch."""
        image = packet.color
        persons = packet.get("persons")
        if persons is None:  # no person stage in the graph: every detected face is a person
            h, w = image.shape[:2]
            boxes, kps, scores = self.detect(image, Roi(w / 2, h / 2, float(max(w, h))))
            boxes, kps, scores = boxes[:self.params.max_faces], kps[:self.params.max_faces], scores[:self.params.max_faces]
            persons = Persons(boxes, scores)
            rois: list[Roi | None] = [roi_from_detection(b, k) for b, k in zip(boxes, kps)]
            faces = self.faces_for(image, rois)
        else:
            n = len(persons)
            self.join_found(state)
            tracked = self.tracked_rois(persons, state)
            faces = Faces.none_found(n)
            if tracked:  # one pass from last frame's mesh ROI; kept only where the mesh is surely still there
                faces = self.faces_for(image, [tracked.get(i) for i in range(n)], refine_passes=0,
                                       min_presence=max(self.params.min_presence, self.params.track_min_presence))
                state.tracked_passes += len(tracked)
            untracked = np.array([i not in tracked or not faces.found[i] for i in range(n)], bool)
            untracked &= self.due(persons, state)
            behind = self.search_behind(image, persons, untracked, state)
            faces = faces.merged(self.search(image, persons, untracked & ~behind, state))
            self.remember(persons, faces, state, looked=untracked)
        return {"persons": replace(persons, faces=faces)}

    def search(self, image: np.ndarray, persons: Persons, rows: np.ndarray, state: FaceTracks | None) -> Faces:
        """Faces of ``rows`` from scratch: the keypoints' (or the detector's) ROI and 1 + refine_passes mesh
        passes."""
        faces = Faces.none_found(len(persons))
        first = self.person_rois(image, persons, only=rows)
        if any(r is not None for r in first):
            faces = faces.merged(self.faces_for(image, first))
            if state is not None:
                state.full_passes += sum(r is not None for r in first)
        # head keypoints can be a few pixels off on small faces (goggles, helmets): where their ROI was tried
        # and found no face, the face detector on the top of the box gets a second try
        again = np.array([r is not None and not f for r, f in zip(first, faces.found)], bool)
        if persons.keypoints is not None and again.any():
            retry = self.person_rois(image, persons, use_keypoints=False, only=again)
            if any(r is not None for r in retry):
                faces = faces.merged(self.faces_for(image, retry))
        return faces

    def search_behind(self, image: np.ndarray, persons: Persons, rows: np.ndarray,
                      state: FaceTracks | None) -> np.ndarray:
        """Live streams (``async_search``): the rows of tracked people among ``rows`` are searched on the worker,
        beside the frames that follow; a face it finds is followed from the first frame after (one tracked pass).
        Returns the rows it took (none where a search is still under way: they wait for the next due frame)."""
        taken = np.zeros(len(persons), bool)
        if state is None or not state.live or persons.track_ids is None:
            return taken
        taken = rows & (persons.track_ids >= 0)
        if not taken.any() or state.pending is not None:
            return taken if state.pending is None else np.zeros(len(persons), bool)
        ask = persons[np.flatnonzero(taken)]
        state.pending = self.worker.submit(self._found_rois, np.asarray(image), ask)
        return taken

    def _found_rois(self, image: np.ndarray, persons: Persons) -> dict[int, TrackedFace]:
        faces = self.search(image, persons, np.ones(len(persons), bool), None)
        return {int(persons.track_ids[i]): TrackedFace(roi_from_mesh(faces.landmarks[i]), persons.boxes[i].copy())
                for i in np.flatnonzero(faces.found) if faces.scores[i] >= self.params.track_min_presence}

    def join_found(self, state: FaceTracks | None) -> None:
        """A finished background search: its faces are followed from this frame on."""
        if state is None or state.pending is None or not state.pending.done():
            return
        found, state.pending = state.pending.result(), None
        for tid, face in found.items():
            state.faces.setdefault(tid, face)
            state.not_found.pop(tid, None)
            state.misses.pop(tid, None)

    def faces_for(self, image: np.ndarray, rois: list[Roi | None], refine_passes: int | None = None,
                  min_presence: float | None = None) -> Faces:
        """Faces for the rows with an ROI: 1 + ``refine_passes`` (default the parameter) mesh passes, kept where
        the last pass's presence >= ``min_presence`` (default the parameter)."""
        refine_passes = self.params.refine_passes if refine_passes is None else refine_passes
        min_presence = self.params.min_presence if min_presence is None else min_presence
        n = len(rois)
        rows = [i for i, r in enumerate(rois) if r is not None]
        faces = Faces.none_found(n)
        if not rows:
            return faces
        use = [rois[i] for i in rows]
        meshes, presence = self.mesh_pass(image, use)
        for _ in range(refine_passes):
            use = [roi_from_mesh(m) for m in meshes]
            meshes, presence = self.mesh_pass(image, use)
        found = np.zeros(n, bool)
        boxes, scores = faces.filled("boxes"), faces.filled("scores")
        landmarks, iris, diameter = faces.filled("landmarks"), faces.filled("iris"), faces.filled("iris_diameter_px")
        rim = faces.filled("iris_rim")
        ok = presence >= min_presence
        for k, i in enumerate(rows):
            if not ok[k]:
                continue
            found[i] = True
            lo, hi = meshes[k, :, :2].min(axis=0), meshes[k, :, :2].max(axis=0)
            boxes[i] = [lo[0], lo[1], hi[0], hi[1]]
            scores[i] = presence[k]
            landmarks[i] = meshes[k]
        if self.iris_model is not None and ok.any():
            keep = np.flatnonzero(ok)
            centres, diameters, rims = self.iris_pass(image, meshes[keep], [use[k].rotation for k in keep])
            for c, d, r, k in zip(centres, diameters, rims, keep):
                iris[rows[k]], diameter[rows[k]], rim[rows[k]] = c, d, r
        with_iris = self.iris_model is not None
        return replace(faces, found=found, boxes=boxes, scores=scores, landmarks=landmarks,
                       iris=iris if with_iris else None, iris_diameter_px=diameter if with_iris else None,
                       iris_rim=rim if with_iris else None)

    def describe(self) -> dict:
        models = {"mesh": self.mesh, "iris": self.iris_model}
        models.update({name: m for name, (m, _, _) in zip(self.params.detectors, self.detectors)})
        return {k: m.describe() for k, m in models.items() if m is not None}
