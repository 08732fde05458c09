"""The head's frontal frame: what "yaw 0, pitch 0, roll 0" means for a face.

Percept uses the head coordinate system of the gaze benchmarks' data normalisation (Zhang et al., MPIIGaze, CVPR
2015 and TPAMI 2017; Sugano et al. 2014; ETH-XGaze, ECCV 2020): the plane through the centres of the two eyes (each
the midpoint of its two corners) and the centre of the mouth (the midpoint of its corners) is the face plane;
x runs from the right eye centre to the left, y lies in the face plane perpendicular to x, from the eyes toward
the mouth, z = x cross y points into the head. A head is frontal when that plane faces the camera squarely.

Why this rule and not a photo median or the Frankfurt line: the six points are visible, sharply defined skin
landmarks that the mesh localises well on every face (porion and orbitale, which define the Frankfurt horizontal,
lie under skin and hair and the mesh only guesses at them); it is defined per face, so a synthetic face can be
placed exactly at zero and checked; and it is the frame in which MPIIFaceGaze and ETH-XGaze give their head and
gaze labels, so ``percept eval`` compares like with like.
"""
from __future__ import annotations

import numpy as np

from models.vision import face_mesh_topology as topo


def plane_points(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(468,3) mesh -> right eye centre, left eye centre, mouth centre (each a corner midpoint)."""
    p = np.asarray(points, np.float64)
    right, left = (p[list(c)].mean(axis=0) for c in topo.EYE_CORNERS)
    return right, left, p[list(topo.MOUTH_CORNERS)].mean(axis=0)


def frontal_axes(points: np.ndarray) -> np.ndarray:
    """(468,3) mesh in any right-handed frame -> (3,3) rows: the face's x, y, z axes in that frame."""
    right, left, mouth = plane_points(points)
    x = left - right
    x /= np.linalg.norm(x)
    down = mouth - (left + right) / 2
    y = down - (down @ x) * x
    y /= np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)])


def plane_tilt_deg(points: np.ndarray) -> float:
    """How far (deg) the face plane of a mesh given in a face frame leans from that frame's x-y plane, positive
    when the mouth is deeper (+z) than the eyes: 0 for a shape in its own frontal frame."""
    right, left, mouth = plane_points(points)
    d = mouth - (left + right) / 2
    return float(np.degrees(np.arctan2(d[2], d[1])))
