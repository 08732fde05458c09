"""Columbia Gaze labels, from the file names: ``0001_2m_-15P_10V_-5H.jpg`` = subject 0001, 2 m away, head pose
P = -15 deg, vertical gaze V = 10 deg, horizontal gaze H = -5 deg.

Convention ASSUMED (from the dataset's description as recalled, not checked against its images): the head is held
still and the camera stands at P degrees around it, so P is the head's yaw as the camera sees it; V and H are the
gaze's angles in the head's frame (the targets on a wall in front of the face). Signs assumed: P > 0, H > 0 toward
the camera's +x side (the person's left), V > 0 up. Pitch and roll of the head are 0. I am NOT sure of the P and H
signs; ``columbia_to_percept`` holds them (HEAD_YAW_SIGN, GAZE_YAW_SIGN) so a wrong one is a one-line fix.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from models.eval.face_labels import FaceLabel
from models.vision.faces import direction_of, rotation_of

NAME = re.compile(r"^\d+_[\d.]+m_(-?\d+)P_(-?\d+)V_(-?\d+)H\.(jpg|jpeg|png)$", re.IGNORECASE)
HEAD_YAW_SIGN = 1.0
GAZE_YAW_SIGN = 1.0
GAZE_PITCH_SIGN = 1.0


def columbia_to_percept(p: float, v: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """The one place of Columbia Gaze's convention: (head rotation, unit gaze) in Percept's camera frame. The
    gaze (H, V) is in the face frame (x toward the person's left, forward -z), turned by the head."""
    head = rotation_of(HEAD_YAW_SIGN * p, 0.0, 0.0)
    in_face = direction_of(GAZE_YAW_SIGN * h, GAZE_PITCH_SIGN * v)
    return head, head @ in_face


def parse_name(name: str) -> tuple[float, float, float] | None:
    """(P, V, H) degrees of a Columbia file name, None for other files."""
    m = NAME.match(name)
    return (float(m.group(1)), float(m.group(2)), float(m.group(3))) if m else None


def looks_like(folder: Path) -> bool:
    return any(parse_name(p.name) for p in folder.rglob("*") if p.is_file())


def read(folder: Path) -> list[FaceLabel]:
    labels = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        angles = parse_name(path.name)
        if angles is not None:
            head, gaze = columbia_to_percept(*angles)
            labels.append(FaceLabel(path, head_rotation=head, gaze=gaze))
    return labels
