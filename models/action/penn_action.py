"""`percept action import penn-action`: Penn Action's hand-annotated joints as a THUMOS-layout action dataset whose
features are exactly what the `online_action` stage computes at run time.

Penn Action (Zhang, Zhu, Derpanis, ICCV 2013) gives 13 joints per frame (labels/NNNN.mat). They map onto the
stage's COCO-17 keypoints (head -> nose); eyes and ears are not annotated, so the dataset's ``feature.json`` lists
the 13 joints it has, and the stage, given a checkpoint trained on it, drops the other four keypoints before
building features (``models.action.features.keep_joints``), as here. A joint not annotated as visible gets score 0,
what the stage sees for a keypoint below its threshold.

Left and right: the dataset's README lists left before right, but the data is right-first (on front-view clips
joint 2 is on the image's left, i.e. the person's right, in 278 of 327 clips; on back views the reverse). The
mapping below follows the data; ``tests/action/test_penn_action.py`` checks it on the real labels.

Every clip is one video; every frame carries the clip's action (no background frames: Penn clips are trimmed).
The validation split is stratified by class and seeded; it is written as the "test" split, which `percept action
eval` scores. Research use only: never ship the data or weights trained on it (see ../shared/data/penn_action).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.action.data import Video, save_dataset
from models.action.features import keep_joints, sequence_features
from models.action.recordings import BACKGROUND, FEATURE_INFO
from models.vision.keypoints import COCO17_NAMES
from pipeline.errors import PerceptError

# Penn Action's joint order as stored in the .mat files (right-first; see the module docstring).
PENN_TO_COCO = ("nose", "right_shoulder", "left_shoulder", "right_elbow", "left_elbow", "right_wrist",
                "left_wrist", "right_hip", "left_hip", "right_knee", "left_knee", "right_ankle", "left_ankle")
PENN_JOINTS = tuple(n for n in COCO17_NAMES if n in PENN_TO_COCO)  # in COCO order
PENN_SOURCE_FPS = 30.0  # not stated by the authors; ordinary YouTube video
_REQUIRED_KEYS = ("action", "x", "y", "visibility")


@dataclass
class PennClip:
    name: str  # the file's stem, e.g. "0042"
    action: str
    view: str
    keypoints: np.ndarray  # (T, 17, 3) COCO order: x, y, score (1 visible, 0 hidden or not annotated)


def _text(value) -> str:
    return str(np.asarray(value).ravel()[0]) if np.asarray(value).size else ""


def read_clip(path: Path) -> PennClip:
    """One labels/NNNN.mat -> COCO-17 keypoints. One clear error for a file that is not a Penn Action label file."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a corrupt or foreign file
        raise PerceptError(f"{path} is not a readable MATLAB file ({exc})") from None
    missing = [k for k in _REQUIRED_KEYS if k not in mat]
    if missing:
        raise PerceptError(f"{path} is not a Penn Action label file: it has no {', '.join(missing)}")
    x, y, vis = (np.asarray(mat[k], np.float64) for k in ("x", "y", "visibility"))
    if x.ndim != 2 or x.shape[1] != len(PENN_TO_COCO) or y.shape != x.shape or vis.shape != x.shape:
        raise PerceptError(f"{path}: x, y and visibility must be (frames, 13), got {x.shape}, {y.shape}, "
                           f"{vis.shape}")
    kps = np.zeros((len(x), 17, 3), np.float32)
    for j, name in enumerate(PENN_TO_COCO):
        c = COCO17_NAMES.index(name)
        kps[:, c, 0], kps[:, c, 1] = x[:, j], y[:, j]
        kps[:, c, 2] = (vis[:, j] > 0) & np.isfinite(x[:, j]) & np.isfinite(y[:, j])
    kps[..., :2] = np.nan_to_num(kps[..., :2])
    action = _text(mat["action"])
    if not action:
        raise PerceptError(f"{path}: empty action")
    return PennClip(path.stem, action, _text(mat.get("pose", "")), kps)


def resample(keypoints: np.ndarray, source_fps: float, fps: float | None) -> np.ndarray:
    """Frames as a stream at ``fps`` would deliver them (nearest earlier frame); None keeps every frame."""
    if fps is None or fps >= source_fps:
        return keypoints
    n = int(np.floor((len(keypoints) - 1) * fps / source_fps)) + 1
    return keypoints[np.floor(np.arange(n) * source_fps / fps + 1e-9).astype(int)]


def stratified_split(labels: list[str], fraction: float, seed: int) -> set[int]:
    """Indices of the validation clips: ``fraction`` of each class (at least one where a class has two or more)."""
    rng = np.random.default_rng(seed)
    chosen: set[int] = set()
    for label in sorted(set(labels)):
        idx = np.array([i for i, lab in enumerate(labels) if lab == label])
        k = int(round(fraction * len(idx)))
        if fraction > 0 and len(idx) > 1:
            k = max(k, 1)
        chosen.update(rng.permutation(idx)[:min(k, len(idx) - 1)].tolist())
    return chosen


def find_label_files(labels_dir: Path) -> list[Path]:
    if not labels_dir.is_dir():
        raise PerceptError(f"{labels_dir} is not a folder; give Penn Action's labels/ folder (NNNN.mat files)")
    files = sorted(p for p in labels_dir.iterdir() if p.suffix == ".mat" and re.fullmatch(r"\d+", p.stem))
    if not files:
        raise PerceptError(f"{labels_dir} holds no Penn Action label files (NNNN.mat); give the dataset's labels/ "
                           f"folder")
    return files


def import_penn_action(labels_dir: Path, out: Path, val_fraction: float = 0.2, seed: int = 0,
                       fps: float | None = None, source_fps: float = PENN_SOURCE_FPS,
                       keypoint_threshold: float = 0.3) -> dict:
    """Write the dataset to ``out``; returns a summary (clips, frames per class, split sizes)."""
    if not 0 <= val_fraction < 1:
        raise PerceptError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if fps is not None and fps <= 0:
        raise PerceptError(f"--fps must be positive, got {fps}")
    if out.exists() and not out.is_dir():
        raise PerceptError(f"--out {out} exists and is not a folder")
    files = find_label_files(Path(labels_dir))
    clips = [read_clip(p) for p in files]
    classes = [BACKGROUND, *sorted({c.action for c in clips})]
    column = {n: i for i, n in enumerate(classes)}
    videos = []
    for clip in clips:
        kps = resample(clip.keypoints, source_fps, fps)
        kps = keep_joints(kps, PENN_JOINTS)  # as the stage does for a checkpoint trained on this
        targets = np.zeros((len(kps), len(classes)), np.float32)
        targets[:, column[clip.action]] = 1
        videos.append(Video(f"penn_{clip.name}", sequence_features(kps, keypoint_threshold), targets))
    val = stratified_split([c.action for c in clips], val_fraction, seed)
    split = {"train": [v for i, v in enumerate(videos) if i not in val],
             "test": [v for i, v in enumerate(videos) if i in val]}
    save_dataset(out, classes, split)
    feature = {**FEATURE_INFO, "joints": list(PENN_JOINTS), "keypoint_threshold": keypoint_threshold,
               "fps": fps or source_fps, "source": "penn_action"}
    (out / "feature.json").write_text(json.dumps(feature))
    (out / "videos.json").write_text(json.dumps({f"penn_{c.name}": {"file": str(p), "action": c.action,
                                                                    "view": c.view, "frames": len(c.keypoints)}
                                                 for p, c in zip(files, clips)}, indent=1))
    counts = {c: 0 for c in classes[1:]}
    for clip in clips:
        counts[clip.action] += 1
    return {"clips": len(clips), "train": len(split["train"]), "val": len(split["test"]),
            "frames": int(sum(len(v.features) for v in videos)), "classes": classes, "clips_per_class": counts}
