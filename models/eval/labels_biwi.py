"""BIWI Kinect Head Pose labels: ``frame_XXXXX_rgb.png`` with ``frame_XXXXX_pose.txt`` in each subject folder and
that folder's ``rgb.cal``.

Format (BIWI's readme, as recalled, not checked against the files): the pose file holds the head rotation as
three rows of a 3x3 matrix, then the head centre's translation in mm, both in the depth camera's frame. ``rgb.cal``
holds the colour camera's 3x3 intrinsics, a line of distortion coefficients, then the extrinsics from the depth to
the colour camera: a 3x3 rotation and a translation (mm).

Convention ASSUMED (not verified against a BIWI frame): the depth camera frame has Percept's axes (x right, y
down, z forward), the head frame's identity is a face squarely facing the camera, with x toward the person's left,
y down, z into the head, and the matrix maps head to camera (p_cam = R p_head + t). Then the rotation in the
colour camera is R_extr @ R. If BIWI's frames are y-up (OpenGL-like), ``biwi_to_percept`` must conjugate with
diag(1, -1, -1); the pitch and roll signs would flip and the yaw would not. Distortion is ignored.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from models.eval.face_labels import FaceLabel
from pipeline.errors import PerceptError

POSE = re.compile(r"frame_(\d+)_pose\.txt$")


def _numbers(path: Path) -> list[list[float]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                rows.append([float(v) for v in line.split()])
            except ValueError as exc:
                raise PerceptError(f"{path}: not a number in line {line.strip()!r}") from exc
    return rows


def read_calibration(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``rgb.cal`` -> (intrinsics 3x3, depth-to-colour rotation 3x3). Rows: 3 of K, 1 of distortion, 3 of R, 1
    of t."""
    rows = _numbers(path)
    if len(rows) < 7 or any(len(r) != 3 for r in rows[:3] + rows[4:7]):
        raise PerceptError(f"{path}: expected 3 rows of intrinsics, a distortion row, 3 rows of rotation")
    return np.array(rows[:3]), np.array(rows[4:7])


def read_pose(path: Path) -> np.ndarray:
    """``frame_XXXXX_pose.txt`` -> the 3x3 rotation (the translation row is not needed for angles)."""
    rows = _numbers(path)
    if len(rows) < 3 or any(len(r) != 3 for r in rows[:3]):
        raise PerceptError(f"{path}: expected 3 rows of a 3x3 rotation, then the translation")
    return np.array(rows[:3])


def biwi_to_percept(rotation: np.ndarray, depth_to_rgb: np.ndarray) -> np.ndarray:
    """The one place of BIWI's convention (see the module docstring): the head rotation in the colour camera."""
    return depth_to_rgb @ rotation


def looks_like(folder: Path) -> bool:
    return any(POSE.search(p.name) for p in folder.rglob("frame_*_pose.txt"))


def read(folder: Path) -> list[FaceLabel]:
    labels = []
    for pose in sorted(folder.rglob("frame_*_pose.txt")):
        m = POSE.search(pose.name)
        image = pose.with_name(f"frame_{m.group(1)}_rgb.png") if m else None
        if image is None or not image.is_file():
            continue
        cal = pose.parent / "rgb.cal"
        k, extr = read_calibration(cal) if cal.is_file() else (None, np.eye(3))
        intr = (k[0, 0], k[1, 1], k[0, 2], k[1, 2]) if k is not None else None
        labels.append(FaceLabel(image, head_rotation=biwi_to_percept(read_pose(pose), extr), intrinsics=intr))
    return labels
