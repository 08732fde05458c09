"""ETH-XGaze labels: the dataset's normalised HDF5 files (``subjectXXXX.h5``), one row per sample: ``face_patch``
(N, S, S, 3) uint8 BGR face images seen by the normalised camera, ``face_gaze`` (N, 2) the gaze as (pitch, yaw)
radians in that camera's frame, and more (``face_head_pose``, ``face_mat_norm``, landmarks) that Percept does not
need. The test split's files have no ``face_gaze``: they are skipped (their labels are withheld by the benchmark).

Convention (the dataset's own normalisation code, ``normalization_example.py`` of xucong-zhang/ETH-XGaze): with g
the unit gaze vector from the face centre toward the target in the normalised camera frame (OpenCV's: x right,
y down, z forward), pitch = asin(-g_y) and yaw = atan2(-g_x, -g_z). So pitch > 0 is up, as Percept's, and yaw > 0
is toward the camera's -x: Percept's yaw is its negative (``ethxgaze_to_percept``).

The normalised camera: focal length 960 px for a 224 x 224 patch (the released size; the paper's normalisation,
600 mm virtual distance), principal point at the patch centre; other patch sizes scale the focal length with
them. Gaze labels are directions, so the virtual distance does not enter.

Head pose is not read: the files keep only the head's forward direction (2 angles), not its roll, and Percept
scores head pose as a full rotation.

The patches are written once as PNG files under the model cache (``$PERCEPT_CACHE/eth-xgaze``), because the
evaluation runs the graph on an images folder; a file is re-extracted when its size or time changes.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from models.eval.face_labels import FaceLabel
from models.registry import cache_dir
from models.vision.faces import direction_of
from pipeline.errors import PerceptError

NORMALISED_FOCAL_PX = 960.0
NORMALISED_PATCH_PX = 224


def ethxgaze_to_percept(pitch_rad: float, yaw_rad: float) -> np.ndarray:
    """The one place of ETH-XGaze's convention: its (pitch, yaw) radians -> unit gaze in Percept's camera frame."""
    return direction_of(-np.degrees(yaw_rad), np.degrees(pitch_rad))


def normalised_intrinsics(width: int, height: int) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) of the normalised camera for a patch of this size."""
    scale = width / NORMALISED_PATCH_PX
    return NORMALISED_FOCAL_PX * scale, NORMALISED_FOCAL_PX * scale, width / 2.0, height / 2.0


def looks_like(folder: Path) -> bool:
    return any(folder.rglob("*.h5"))


def _extract_folder(h5: Path) -> Path:
    stat = h5.stat()
    key = hashlib.sha1(f"{h5.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_dir() / "eth-xgaze" / f"{h5.stem}-{key}"


def read_file(h5: Path) -> list[FaceLabel]:
    """The labelled samples of one subject file ([] for a file without gaze labels)."""
    import h5py

    try:
        with h5py.File(h5, "r") as f:
            if "face_gaze" not in f:
                return []
            if "face_patch" not in f:
                raise PerceptError(f"{h5}: has face_gaze but no face_patch; not an ETH-XGaze normalised file")
            patches, gaze = f["face_patch"], np.asarray(f["face_gaze"], np.float64)
            if patches.ndim != 4 or patches.shape[3] != 3 or gaze.shape != (patches.shape[0], 2):
                raise PerceptError(f"{h5}: face_patch {patches.shape} and face_gaze {gaze.shape} do not match "
                                   f"(expected (N, S, S, 3) and (N, 2))")
            folder = _extract_folder(h5)
            folder.mkdir(parents=True, exist_ok=True)
            intr = normalised_intrinsics(patches.shape[2], patches.shape[1])
            labels = []
            for i in range(patches.shape[0]):
                image = folder / f"{h5.stem}_{i:06d}.png"
                if not image.is_file():
                    tmp = image.with_suffix(".part.png")
                    cv2.imwrite(str(tmp), np.asarray(patches[i]))  # stored BGR, as OpenCV writes
                    tmp.replace(image)
                labels.append(FaceLabel(image, gaze=ethxgaze_to_percept(*gaze[i]), intrinsics=intr))
            return labels
    except OSError as exc:
        raise PerceptError(f"{h5}: not a readable HDF5 file ({exc})") from exc


def read(folder: Path) -> list[FaceLabel]:
    files = sorted(folder.rglob("*.h5"))
    labels = [label for h5 in files for label in read_file(h5)]
    if files and not labels:
        raise PerceptError(f"the ETH-XGaze files in {folder} carry no gaze labels (face_gaze): the test split's "
                           f"labels are withheld by the benchmark; use the train split's files")
    return labels
