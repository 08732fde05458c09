"""MPIIFaceGaze labels: ``pXX/pXX.txt``, one line per image: the image path (relative to ``pXX/``), [the gaze
point on the screen (2 numbers, px): the dataset's readme lists it, as I recall it; lines with and without it are
read], 6 facial landmarks (12 numbers, px), the head rotation (Rodrigues, 3) and translation (3), the face centre
fc (3, mm), the 3D gaze target gt (3, mm) and the evaluation eye (``left``/``right``). fc and gt are thus always
the last six numbers. Intrinsics from ``pXX/Calibration/Camera.mat`` (``cameraMatrix``) where present.

Convention: the gaze direction is gt - fc in the camera frame (the dataset's documentation: both points in the
camera's coordinates, mm). That camera frame is OpenCV's (x right, y down, z forward), as Percept's, so
``mpiifacegaze_to_percept`` only normalises. This is the one format here whose convention is unambiguous. The head
rotation is not used: its head frame (the dataset's 6-point face model) is not Percept's face frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from models.eval.face_labels import FaceLabel
from pipeline.errors import PerceptError

FIELDS = (1 + 12 + 3 + 3 + 3 + 3 + 1, 1 + 2 + 12 + 3 + 3 + 3 + 3 + 1)  # without / with the screen point


def mpiifacegaze_to_percept(face_centre: np.ndarray, gaze_target: np.ndarray) -> np.ndarray:
    """The one place of MPIIFaceGaze's convention: the unit gaze direction in Percept's camera frame."""
    d = np.asarray(gaze_target, np.float64) - np.asarray(face_centre, np.float64)
    return d / np.linalg.norm(d)


def read_camera(subject: Path) -> tuple[float, float, float, float] | None:
    path = subject / "Calibration" / "Camera.mat"
    if not path.is_file():
        return None
    from scipy.io import loadmat

    try:
        k = np.asarray(loadmat(str(path))["cameraMatrix"], np.float64)
    except (KeyError, ValueError, OSError) as exc:
        raise PerceptError(f"{path}: no readable cameraMatrix ({exc})") from exc
    return float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])


def parse_line(line: str, where: str) -> tuple[str, np.ndarray, np.ndarray]:
    """(image path, face centre, gaze target) of one annotation line."""
    parts = line.split()
    if len(parts) not in FIELDS:
        raise PerceptError(f"{where}: expected {' or '.join(map(str, FIELDS))} fields (path, [screen x y], 12 "
                           f"landmark numbers, rvec, tvec, fc, gt, eye), got {len(parts)}")
    try:
        values = np.array(parts[1:-1], np.float64)
    except ValueError as exc:
        raise PerceptError(f"{where}: {exc}") from exc
    return parts[0], values[-6:-3], values[-3:]


def looks_like(folder: Path) -> bool:
    return any(p.stem == p.parent.name for p in folder.rglob("p*.txt"))


def read(folder: Path) -> list[FaceLabel]:
    labels = []
    for txt in sorted(p for p in folder.rglob("p*.txt") if p.stem == p.parent.name):
        intr = read_camera(txt.parent)
        for n, line in enumerate(txt.read_text().splitlines(), 1):
            if not line.strip():
                continue
            name, fc, gt = parse_line(line, f"{txt}:{n}")
            image = txt.parent / name
            if image.is_file():
                labels.append(FaceLabel(image, gaze=mpiifacegaze_to_percept(fc, gt), intrinsics=intr))
    return labels
