"""ETH-XGaze labels: not supported. Its labels are HDF5 files (``*.h5``: face patches and gaze/head angles in the
dataset's normalised camera space), and reading HDF5 needs h5py, which is not a dependency of Percept. Adding the
reader means adding h5py (and undoing the data normalisation, whose rotation is stored per sample).
"""
from __future__ import annotations

from pathlib import Path

from models.eval.face_labels import FaceLabel
from pipeline.errors import PerceptError


def looks_like(folder: Path) -> bool:
    return any(folder.rglob("*.h5"))


def read(folder: Path) -> list[FaceLabel]:
    raise PerceptError("ETH-XGaze labels are HDF5 (.h5) and need h5py, which Percept does not depend on; "
                       "this format is not supported")
