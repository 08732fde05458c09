"""The face label formats `percept eval head-pose` / `gaze` read, and which one a folder holds. Each reader
(labels_*.py) turns its dataset's files into FaceLabel records (models/eval/face_labels.py)."""
from __future__ import annotations

from pathlib import Path

from models.eval import labels_aflw2000, labels_biwi, labels_columbia, labels_ethxgaze, labels_mpiifacegaze
from models.eval.face_labels import FaceLabel
from pipeline.errors import PerceptError

READERS = {"biwi": labels_biwi, "aflw2000": labels_aflw2000, "mpiifacegaze": labels_mpiifacegaze,
           "columbia": labels_columbia, "eth-xgaze": labels_ethxgaze}
FORMATS = tuple(READERS)
# the graph a format is run through unless the user names one: ETH-XGaze's images are normalised face crops (the
# face fills the image, no body), which the person detector of `default` does not see as a person
FACE_CROP_FORMATS = ("eth-xgaze",)


def graph_for(fmt: str) -> str:
    return "face" if fmt in FACE_CROP_FORMATS else "default"


def detect_format(folder: Path) -> str:
    """The one format whose files are in ``folder``; a PerceptError naming the candidates otherwise."""
    found = [name for name, reader in READERS.items() if reader.looks_like(folder)]
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
    labels = READERS[fmt].read(folder)
    if not labels:
        raise PerceptError(f"no labelled images found in {folder} as {fmt}")
    return fmt, labels
