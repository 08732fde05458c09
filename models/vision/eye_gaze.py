"""Geometric gaze: each eye is a sphere fixed in the head, and the iris centre seen in the image lies on it.

The eyeball centre sits ``EYE_CENTRE_DEPTH_M`` behind the centre of the eye opening (in the face model's frame,
so it turns with the head), and the iris centre is ``IRIS_RADIUS_M`` from it (eyeball radius 12 mm less the
~1.5 mm from the iris plane to the sphere surface). The camera ray through the iris centre meets that sphere; the
gaze of the eye is the unit vector from the eyeball centre to the meeting point. Looking straight at the camera,
the iris centre, the eyeball centre and the camera are on one line: gaze = -centre/|centre|.
"""
from __future__ import annotations

import cv2
import numpy as np

from calibration.camera import Intrinsics

IRIS_RADIUS_M = 0.0105
EYE_CENTRE_DEPTH_M = 0.0105  # the iris in primary gaze is then at the depth of the eye opening's centre


def pixel_rays(pixels: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """(N,2) px -> (N,3) unit rays from the camera centre."""
    px = np.asarray(pixels, np.float64).reshape(-1, 1, 2)
    if intr.has_distortion:
        norm = cv2.undistortPoints(px, intr.matrix, np.asarray(intr.distortion, np.float64)).reshape(-1, 2)
    else:
        norm = np.stack([(px[:, 0, 0] - intr.cx) / intr.fx, (px[:, 0, 1] - intr.cy) / intr.fy], axis=1)
    rays = np.concatenate([norm, np.ones((len(norm), 1))], axis=1)
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def eye_gaze(iris_px: np.ndarray, eyeball_centres: np.ndarray, intr: Intrinsics,
             radius_m: float = IRIS_RADIUS_M) -> np.ndarray:
    """(E,2) iris centres px and (E,3) eyeball centres in the camera frame (metres) -> (E,3) unit gaze vectors.

    Where the ray misses the sphere (the iris was seen outside the eyeball's outline: noise), the closest point
    of the ray is pushed onto the sphere, which gives the most sideways gaze the image allows."""
    u = pixel_rays(iris_px, intr)
    c = np.asarray(eyeball_centres, np.float64)
    uc = np.sum(u * c, axis=1)
    disc = uc ** 2 - np.sum(c * c, axis=1) + radius_m ** 2
    lam = uc - np.sqrt(np.maximum(disc, 0.0))
    point = u * lam[:, None]
    off = point - c
    return off / np.linalg.norm(off, axis=1, keepdims=True)


def combine(eye_dirs: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(2,3) per-eye gaze (NaN rows allowed) -> one unit vector: the mean of the eyes that are known, weighted by
    ``weights`` (E,) (e.g. models/vision/iris_fit.eye_weights); equal weights where all known eyes weigh 0."""
    ok = np.all(np.isfinite(eye_dirs), axis=1)
    if not ok.any():
        return np.full(3, np.nan)
    w = np.ones(len(eye_dirs)) if weights is None else np.nan_to_num(np.asarray(weights, np.float64))
    w = np.where(ok, np.maximum(w, 0.0), 0.0)
    if w.sum() <= 0:
        w = ok.astype(np.float64)
    mean = (eye_dirs[ok] * w[ok, None]).sum(axis=0)
    return mean / np.linalg.norm(mean)
