"""AFLW2000-3D labels: ``imageXXXXX.jpg`` with ``imageXXXXX.mat`` whose ``Pose_Para`` is [pitch, yaw, roll, tx,
ty, tz, scale], angles in radians.

Convention ASSUMED (from memory of the face3d / 3DDFA code that made these labels, not checked against the data):
the face model frame is x toward the image's right, y up, z out of the face toward the camera; the rotation is
R = Rz(roll) Ry(yaw) Rx(pitch) with right-handed axis rotations and applied as R @ p; the camera looks along -z
with y up. face3d documents it as "pitch positive for looking down, yaw positive for looking left, roll positive
for tilting the head right" (the person's left and right). Percept's frames are those with y and z flipped, so
the rotation is conjugated by diag(1, -1, -1): yaw keeps its sign, pitch and roll change theirs. Many head-pose
papers compare AFLW2000 angles with their own without a stated convention; if the Euler order here is wrong,
``aflw2000_to_percept`` is the one function to fix.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from models.eval.face_labels import FaceLabel
from pipeline.errors import PerceptError

FLIP = np.diag([1.0, -1.0, -1.0])


def _axis(axis: int, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def aflw2000_to_percept(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """The one place of AFLW2000-3D's convention (module docstring): Pose_Para angles (rad) -> Percept's
    camera-from-face rotation."""
    r = _axis(2, roll) @ _axis(1, yaw) @ _axis(0, pitch)
    return FLIP @ r @ FLIP


def read_pose_para(path: Path) -> np.ndarray:
    from scipy.io import loadmat

    try:
        para = np.asarray(loadmat(str(path))["Pose_Para"], np.float64).ravel()
    except (KeyError, ValueError, OSError) as exc:
        raise PerceptError(f"{path}: no readable Pose_Para ({exc})") from exc
    if len(para) < 3:
        raise PerceptError(f"{path}: Pose_Para has {len(para)} values, expected 7")
    return para


def looks_like(folder: Path) -> bool:
    return any(p.with_suffix(".jpg").is_file() for p in folder.glob("image*.mat"))


def read(folder: Path) -> list[FaceLabel]:
    labels = []
    for mat in sorted(folder.glob("*.mat")):
        image = mat.with_suffix(".jpg")
        if image.is_file():
            pitch, yaw, roll = read_pose_para(mat)[:3]
            labels.append(FaceLabel(image, head_rotation=aflw2000_to_percept(pitch, yaw, roll)))
    return labels
