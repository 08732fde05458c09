"""Labelled faces for `percept eval head-pose` / `percept eval gaze`: one record per labelled image, already in
Percept's camera frame (x right, y down, z forward; models/vision/faces.py), whatever the dataset's own convention.

Each dataset's reader (labels_*.py) owns its sign convention in one named conversion function, so a convention
found wrong is fixed in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import PerceptError


@dataclass(frozen=True)
class FaceLabel:
    """One image's ground truth. head_rotation (3,3) camera-from-face as Faces.head_rotation, or None; gaze (3,)
    unit direction in the camera frame, or None; intrinsics (fx, fy, cx, cy) px where the dataset gives them."""

    image: Path
    head_rotation: np.ndarray | None = None
    gaze: np.ndarray | None = None
    intrinsics: tuple[float, float, float, float] | None = None


def _readers() -> dict:
    from models.eval import labels_aflw2000, labels_biwi, labels_columbia, labels_ethxgaze, labels_mpiifacegaze
    return {"biwi": labels_biwi, "aflw2000": labels_aflw2000, "mpiifacegaze": labels_mpiifacegaze,
            "columbia": labels_columbia, "eth-xgaze": labels_ethxgaze}


FORMATS = ("biwi", "aflw2000", "mpiifacegaze", "columbia", "eth-xgaze")
# the graph a format is run through unless the user names one: ETH-XGaze's images are normalised face crops (the
# face fills the image, no body), which the person detector of `default` does not see as a person
FACE_CROP_FORMATS = ("eth-xgaze",)


def graph_for(fmt: str) -> str:
    return "face" if fmt in FACE_CROP_FORMATS else "default"


def detect_format(folder: Path) -> str:
    """The one format whose files are in ``folder``; a PerceptError naming the candidates otherwise."""
    found = [name for name, reader in _readers().items() if reader.looks_like(folder)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise PerceptError(f"no known face label files in {folder} (formats: {', '.join(FORMATS)}); "
                           f"give --format")
    raise PerceptError(f"{folder} looks like several label formats ({', '.join(found)}); give --format")


def read_labels(folder: Path, fmt: str | None = None) -> tuple[str, list[FaceLabel]]:
    """(format, labels) of a dataset folder; ``fmt`` None detects it."""
    if not folder.is_dir():
        raise PerceptError(f"label folder not found: {folder}")
    fmt = fmt or detect_format(folder)
    if fmt not in FORMATS:
        raise PerceptError(f"unknown label format {fmt!r}; known: {', '.join(FORMATS)}")
    labels = _readers()[fmt].read(folder)
    if not labels:
        raise PerceptError(f"no labelled images found in {folder} as {fmt}")
    return fmt, labels
