"""Head pose: the face mesh fitted to the metric face model by PnP, and the head's distance from what is known.

The face model (assets/models/face_model_468.npy, fitted by tools/fit_face_model.py) is in metres, origin
between the eye centres, x toward the person's left, y down, z into the head. PnP gives the rotation and a
translation whose scale rests on the model's mean eye distance (63 mm); a measured distance (depth, or the iris
diameter, 11.7 mm across in adults) rescales the translation along the viewing ray, which leaves the image fit
unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.camera import Intrinsics
from models.vision import face_mesh_topology as topo

IRIS_DIAMETER_M = 0.0117


@dataclass(frozen=True)
class FaceModel:
    points: np.ndarray  # (468,3) metres

    @classmethod
    def load(cls, path) -> "FaceModel":
        points = np.load(path).astype(np.float64)
        if points.shape != (468, 3):
            raise ValueError(f"{path}: a face model must be 468x3 points, got {points.shape}")
        return cls(points)

    def mirror_index(self) -> np.ndarray:
        """(468,) the vertex each vertex becomes in a mirror image (left and right swapped): the model is
        mirror-symmetric, so this is the nearest vertex to each vertex's mirror."""
        mirrored = self.points * [-1.0, 1.0, 1.0]
        return np.argmin(np.linalg.norm(self.points[:, None] - mirrored[None], axis=2), axis=1)

    def eye_centres(self) -> np.ndarray:
        """(2,3) centres of the eye openings (right, left), metres."""
        return np.stack([self.points[list(c)].mean(axis=0) for c in topo.EYE_CONTOURS])


def _dist(intr: Intrinsics) -> np.ndarray | None:
    return np.asarray(intr.distortion, np.float64) if intr.has_distortion else None


def solve_head_pose(image_points: np.ndarray, model: FaceModel, intr: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """(468,2) mesh landmarks in px -> rotation (3,3) camera-from-face and translation (3,) metres.

    SQPnP (globally optimal, no initial guess) refined by Levenberg-Marquardt; NaNs where it fails."""
    obj = model.points.reshape(-1, 1, 3)
    img = np.asarray(image_points, np.float64).reshape(-1, 1, 2)
    ok, rvec, tvec = cv2.solvePnP(obj, img, intr.matrix, _dist(intr), flags=cv2.SOLVEPNP_SQPNP)
    if not ok or tvec[2, 0] <= 0:
        return np.full((3, 3), np.nan), np.full(3, np.nan)
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, intr.matrix, _dist(intr), rvec, tvec)
    return cv2.Rodrigues(rvec)[0], tvec.reshape(3)


def iris_distance(diameters_px: np.ndarray, focal_px: float) -> float:
    """Distance (m) of the eyes from the larger iris (the one less foreshortened or covered), NaN if unknown."""
    d = np.asarray(diameters_px, np.float64)
    d = d[np.isfinite(d) & (d > 1.0)]
    return float(focal_px * IRIS_DIAMETER_M / d.max()) if len(d) else float("nan")


def depth_scale(rotation: np.ndarray, translation: np.ndarray, model: FaceModel, image_points: np.ndarray,
                depth_m: np.ndarray, max_depth_m: float = 10.0) -> float:
    """How far the head really is relative to the PnP estimate: the median ratio of measured depth to the
    model's depth over the mesh points that land on valid depth (NaN where too few do)."""
    h, w = depth_m.shape
    px = np.rint(image_points).astype(np.int64)
    inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
    measured = np.zeros(len(px))
    measured[inside] = depth_m[px[inside, 1], px[inside, 0]]
    predicted = (model.points @ rotation.T + translation)[:, 2]
    ok = inside & (measured > 0) & (measured < max_depth_m) & (predicted > 0)
    if ok.sum() < 30:
        return float("nan")
    return float(np.median(measured[ok] / predicted[ok]))
