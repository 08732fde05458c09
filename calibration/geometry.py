"""Projection, deprojection, point clouds and undistortion maps for pinhole cameras with OpenCV distortion."""
from __future__ import annotations

import cv2
import numpy as np

from calibration.camera import Intrinsics


def _dist(intr: Intrinsics) -> np.ndarray:
    return np.asarray(intr.distortion, dtype=np.float64) if intr.distortion else np.zeros(5)


def project(points: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """(N,3) camera-frame points (metres) -> (N,2) pixels, with the camera's distortion."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if not intr.has_distortion:
        z = pts[:, 2]
        return np.stack([intr.fx * pts[:, 0] / z + intr.cx, intr.fy * pts[:, 1] / z + intr.cy], axis=1)
    uv, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), intr.matrix, _dist(intr))
    return uv.reshape(-1, 2)


def deproject(pixels: np.ndarray, depth_m: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """(N,2) pixels + (N,) depths in metres -> (N,3) camera-frame points (distortion removed first)."""
    px = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    if intr.has_distortion:
        norm = cv2.undistortPoints(px.reshape(-1, 1, 2), intr.matrix, _dist(intr)).reshape(-1, 2)
    else:
        norm = np.stack([(px[:, 0] - intr.cx) / intr.fx, (px[:, 1] - intr.cy) / intr.fy], axis=1)
    z = np.asarray(depth_m, dtype=np.float64).reshape(-1)
    return np.stack([norm[:, 0] * z, norm[:, 1] * z, z], axis=1)


def point_cloud(depth: np.ndarray, intr: Intrinsics, depth_scale: float = 0.001,
                colors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Depth image -> (N,3) points of its valid pixels (and their colours if a registered image is given)."""
    h, w = depth.shape
    if (w, h) != (intr.width, intr.height):
        raise ValueError(f"depth is {w}x{h} but the intrinsics are for {intr.width}x{intr.height}")
    valid = depth > 0
    v, u = np.nonzero(valid)
    z = depth[valid].astype(np.float64) * depth_scale
    pts = deproject(np.stack([u, v], axis=1), z, intr)
    return pts.astype(np.float32), (colors[valid] if colors is not None else None)


def undistortion_maps(intr: Intrinsics, alpha: float = 0.0) -> tuple[np.ndarray, np.ndarray, Intrinsics]:
    """Maps for cv2.remap that undistort, and the intrinsics of the undistorted image."""
    size = (intr.width, intr.height)
    new_k, _ = cv2.getOptimalNewCameraMatrix(intr.matrix, _dist(intr), size, alpha, size)
    m1, m2 = cv2.initUndistortRectifyMap(intr.matrix, _dist(intr), None, new_k, size, cv2.CV_16SC2)
    return m1, m2, Intrinsics.from_matrix(new_k, intr.width, intr.height)
