"""Labelled faces for `percept eval head-pose` / `percept eval gaze`: one record per labelled image, already in
Percept's camera frame (x right, y down, z forward; models/vision/faces.py), whatever the dataset's own convention.
Which reader reads a folder: models/eval/label_formats.py.

Each dataset's reader (labels_*.py) owns its sign convention in one named conversion function, so a convention
found wrong is fixed in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np



@dataclass(frozen=True)
class FaceLabel:
    """One image's ground truth. head_rotation (3,3) camera-from-face as Faces.head_rotation, or None; gaze (3,)
    unit direction in the camera frame, or None; intrinsics (fx, fy, cx, cy) px where the dataset gives them."""

    image: Path
    head_rotation: np.ndarray | None = None
    gaze: np.ndarray | None = None
    intrinsics: tuple[float, float, float, float] | None = None
