"""`head_gaze`: head pose (PnP of the face mesh on the metric face model) and geometric gaze (iris on an eyeball
sphere) for every face, in the colour camera frame.

Gaze: each iris centre from the iris model, or with ``iris_fit`` from its rim points that the lids leave visible
(models/vision/iris_fit.py), the eyeball centre from the head pose, the two eyes weighted by how much of each iris is seen times its size in pixels. Head
pose and gaze are One Euro filtered per track (models/vision/face_smoother.py) when the graph runs a stream.

Distance, best first: aligned depth over the face, the iris diameter (11.7 mm), the face model's mean size. The
intrinsics are the camera's when the source knows them, else a focal-length guess (models/vision/camera_guess.py);
angles depend on the guess only weakly.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import Field

from models.registry import resolve_model
from models.vision.camera_guess import intrinsics_of
from models.vision import face_mesh_topology as topo
from models.vision.eye_gaze import EYE_CENTRE_DEPTH_M, IRIS_RADIUS_M, combine, eye_gaze, pixel_rays
from models.vision.faces import ORIGIN_SOURCES, Faces
from models.vision.face_smoother import FaceSmoother
from models.vision.head_pose import FaceModel, depth_scale, iris_distance, solve_head_pose
from models.vision.iris_fit import eye_weights, fit_iris
from models.vision.persons import Persons
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from pipeline.stage import Stage, StageContext, StageParams, StreamContext


class HeadGazeParams(StageParams):
    face_model: str = "face_model_468"
    gaze: bool = Field(default=True, description="geometric gaze from the irises (off: head pose only, e.g. when "
                                                 "a learned_gaze stage follows)")
    iris_radius_m: float = Field(default=IRIS_RADIUS_M, gt=0.005, lt=0.02,
                                 description="eyeball centre to iris centre")
    eye_centre_depth_m: float = Field(default=EYE_CENTRE_DEPTH_M, ge=0, lt=0.03,
                                      description="eyeball centre behind the centre of the eye opening")
    use_depth: bool = True
    use_iris_distance: bool = True
    iris_fit: bool = Field(default=False, description="iris centre fitted to the rim points inside the eye opening "
                                                      "(off: the iris model's centre). Off by default: on the "
                                                      "rendered-eye check it did not help (README)")
    weigh_eyes: bool = Field(default=True, description="combine the eyes by seen iris share x iris size px (off: "
                                                       "their mean)")
    smooth: bool = Field(default=True, description="One Euro filter of head rotation and gaze per track")
    smooth_min_cutoff: float = Field(default=1.0, gt=0, description="Hz; lower = smoother when still")
    smooth_beta: float = Field(default=0.5, ge=0, description="speed coefficient (per second of change of the "
                                                              "unit vectors); higher = less lag when moving")
    smooth_max_missing: int = Field(default=15, ge=1, description="frames a track's filter outlives its face")


@register_stage
class HeadGazeStage(Stage):
    type_name = "head_gaze"
    inputs = ("persons.faces",)
    optional_inputs = ("depth", "persons.track_ids")  # track ids: the per-track smoothing
    outputs = ("persons.faces", "persons.faces.head_rotation", "persons.faces.gaze")
    Params = HeadGazeParams

    def setup(self, context: StageContext) -> None:
        self.model = FaceModel.load(resolve_model(self.params.face_model))
        self.eye_openings = self.model.eye_centres()

    def open_stream(self, stream: StreamContext) -> FaceSmoother | None:
        p = self.params
        return FaceSmoother(p.smooth_min_cutoff, p.smooth_beta, p.smooth_max_missing) if p.smooth else None

    def process(self, packet: FramePacket, state: FaceSmoother | None = None) -> dict[str, Any]:
        persons: Persons = packet.get("persons")
        faces = persons.faces
        if faces is None or faces.landmarks is None or not faces.found.any():
            return {"persons": persons}
        intr, _ = intrinsics_of(packet)
        depth_m = packet.aligned_depth_metres(self.type_name) if self.params.use_depth else None
        rot, trans = faces.filled("head_rotation"), faces.filled("head_translation")
        eye, gaze, origin = faces.filled("eye_gaze"), faces.filled("gaze"), faces.filled("gaze_origin_3d")
        source, iris = faces.filled("origin_source"), faces.filled("iris")
        for i in np.flatnonzero(faces.found):
            points = faces.landmarks[i, :, :2].astype(np.float64)
            r, t = solve_head_pose(points, self.model, intr)
            if not np.all(np.isfinite(r)):
                continue
            scale, how = self.distance_scale(faces, i, r, t, points, depth_m, intr.fx)
            t = t * scale
            rot[i], trans[i], source[i] = r, t, ORIGIN_SOURCES.index(how)
            origin[i] = t  # the face model's origin: between the eye centres
            if self.params.gaze and faces.iris is not None and np.all(np.isfinite(faces.iris[i])):
                centres = self.eyeball_centres(points, r, t, scale, intr)
                iris[i], weights = self.iris_centres(faces, i, points)
                eye[i] = eye_gaze(iris[i], centres, intr, self.params.iris_radius_m * scale)
                gaze[i] = combine(eye[i], weights if self.params.weigh_eyes else None)
        if state is not None:
            rot, gaze = state(persons.track_ids, rot, gaze, packet.timestamp)
        out = replace(faces, head_rotation=rot, head_translation=trans, origin_source=source,
                      iris=iris if faces.iris is not None else None,
                      eye_gaze=eye if self.params.gaze else faces.eye_gaze,
                      gaze=gaze if self.params.gaze else faces.gaze, gaze_origin_3d=origin)
        return {"persons": replace(persons, faces=out)}

    def iris_centres(self, faces: Faces, i: int, points: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(2,2) iris centres px (fitted to the seen rim where ``iris_fit``) and (2,) eye weights (None without
        rim points)."""
        if faces.iris_rim is None or not np.all(np.isfinite(faces.iris_rim[i])):
            return faces.iris[i].astype(np.float64), None
        fits = [fit_iris(faces.iris[i, e], faces.iris_rim[i, e], points[list(topo.EYE_CONTOURS[e])])
                for e in range(2)]
        centres = (np.stack([f.centre for f in fits]) if self.params.iris_fit
                   else faces.iris[i].astype(np.float64))
        return centres, eye_weights(fits)

    def eyeball_centres(self, points: np.ndarray, r: np.ndarray, t: np.ndarray, scale: float, intr) -> np.ndarray:
        """(2,3) eyeball centres in the camera frame: behind the centres of the eye openings the mesh shows (not
        the face model's, whose fit leaves pixels of residual at the eyes, and a pixel there is degrees of gaze), at
        the depth the head pose gives them. A head farther than the model says is larger: offsets scale with it.
        (The corners' midpoint, which does not move with the lids, read the 6 test faces ~8 deg more upward.)"""
        seen = np.stack([points[list(c)].mean(axis=0) for c in topo.EYE_CONTOURS])
        depth = ((self.eye_openings * scale) @ r.T + t)[:, 2]
        rays = pixel_rays(seen, intr)
        openings = rays * (depth / rays[:, 2])[:, None]
        return openings + r @ np.array([0.0, 0.0, self.params.eye_centre_depth_m * scale])

    def distance_scale(self, faces: Faces, i: int, r: np.ndarray, t: np.ndarray, points: np.ndarray,
                       depth_m: np.ndarray | None, focal: float) -> tuple[float, str]:
        """How much farther the head is than the mean-size face model says, and from what."""
        if depth_m is not None:
            s = depth_scale(r, t, self.model, points, depth_m)
            if np.isfinite(s):
                return s, "depth"
        if self.params.use_iris_distance and faces.iris_diameter_px is not None:
            z = iris_distance(faces.iris_diameter_px[i], focal)
            if np.isfinite(z) and t[2] > 0:
                return z / t[2], "iris"
        return 1.0, "face_model"

    def describe(self) -> dict:
        return {"face_model": self.params.face_model, "points": len(self.model.points)}
