"""Datasets in the layout of the OadTR / LSTR code releases (THUMOS'14, TVSeries features):

DIR/features/<video>.npy  float32 [T, D]
DIR/targets/<video>.npy   [T, C] one-hot, background in column 0
DIR/classes.json          C names
DIR/split.json            {"train": [...], "test": [...]}
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import PerceptError


@dataclass
class Video:
    name: str
    features: np.ndarray  # (T, D) float32
    targets: np.ndarray  # (T, C) float32


@dataclass
class ActionDataset:
    root: Path
    classes: list[str]
    train: list[Video]
    test: list[Video]

    @property
    def feature_dim(self) -> int:
        return int((self.train or self.test)[0].features.shape[1])


def _load_video(root: Path, name: str, num_classes: int) -> Video:
    fpath, tpath = root / "features" / f"{name}.npy", root / "targets" / f"{name}.npy"
    for p in (fpath, tpath):
        if not p.is_file():
            raise PerceptError(f"{p} is missing (split.json lists video {name!r})")
    try:
        features = np.load(fpath, allow_pickle=False).astype(np.float32)
        targets = np.load(tpath, allow_pickle=False).astype(np.float32)
    except ValueError as exc:
        raise PerceptError(f"cannot read {name}: {exc}") from exc
    if features.ndim != 2 or targets.ndim != 2 or len(features) != len(targets):
        raise PerceptError(f"{name}: features {features.shape} and targets {targets.shape} must be [T,D] and [T,C] "
                           f"with the same T")
    if targets.shape[1] != num_classes:
        raise PerceptError(f"{name}: targets have {targets.shape[1]} columns, classes.json has {num_classes}")
    return Video(name, features, targets)


def load_dataset(root: str | Path, splits: tuple[str, ...] = ("train", "test")) -> ActionDataset:
    root = Path(root)
    for required in ("classes.json", "split.json"):
        if not (root / required).is_file():
            raise PerceptError(f"{root / required} not found; expected the THUMOS/TVSeries feature layout "
                               f"(features/, targets/, classes.json, split.json)")
    try:
        classes = json.loads((root / "classes.json").read_text())
        split = json.loads((root / "split.json").read_text())
    except json.JSONDecodeError as exc:
        raise PerceptError(f"{root}: classes.json / split.json is not valid JSON: {exc}") from exc
    videos = {s: [_load_video(root, n, len(classes)) for n in split.get(s, [])] if s in splits else []
              for s in ("train", "test")}
    if not any(videos.values()):
        raise PerceptError(f"{root}/split.json lists no videos for {', '.join(splits)}")
    dims = {v.features.shape[1] for vs in videos.values() for v in vs}
    if len(dims) > 1:
        raise PerceptError(f"{root}: videos have different feature sizes {sorted(dims)}")
    return ActionDataset(root, list(classes), videos["train"], videos["test"])


def save_dataset(root: str | Path, classes: list[str], videos: dict[str, list[Video]]) -> None:
    root = Path(root)
    (root / "features").mkdir(parents=True, exist_ok=True)
    (root / "targets").mkdir(exist_ok=True)
    for vs in videos.values():
        for v in vs:
            np.save(root / "features" / f"{v.name}.npy", v.features.astype(np.float32))
            np.save(root / "targets" / f"{v.name}.npy", v.targets.astype(np.float32))
    (root / "classes.json").write_text(json.dumps(classes))
    (root / "split.json").write_text(json.dumps({k: [v.name for v in vs] for k, vs in videos.items()}))


class WindowSampler:
    """Training windows gathered on the fly (no copy of every window in memory).

    Videos are concatenated with ``window - 1`` zero rows before each, so a window ending at any frame is padded
    like the start of a stream and never crosses into another video. Future target k of frame t is the target of
    frame t+k+1 (background past the end of the video).
    """

    def __init__(self, videos: list[Video], window: int, future_steps: int) -> None:
        if not videos:
            raise PerceptError("the dataset has no training videos")
        self.window, self.future_steps = window, future_steps
        c = videos[0].targets.shape[1]
        d = videos[0].features.shape[1]
        feats, targs, futs, ends = [], [], [], []
        offset = 0
        for v in videos:
            t = len(v.features)
            pad_t = np.zeros((window - 1, c), np.float32)
            pad_t[:, 0] = 1
            feats += [np.zeros((window - 1, d), np.float32), v.features]
            targs += [pad_t, v.targets]
            background = np.zeros((future_steps, c), np.float32)
            background[:, 0] = 1
            padded = np.concatenate([v.targets, background])
            future = (np.stack([padded[k + 1:k + 1 + t] for k in range(future_steps)], axis=1) if future_steps
                      else np.zeros((t, 0, c), np.float32))
            futs += [np.zeros((window - 1, future_steps, c), np.float32), future]
            ends.append(offset + window - 1 + np.arange(t))
            offset += window - 1 + t
        self.features = np.concatenate(feats)
        self.targets = np.concatenate(targs)
        self.future = np.concatenate(futs)
        self.ends = np.concatenate(ends)

    def __len__(self) -> int:
        return len(self.ends)

    def gather(self, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Windows ending at global positions ``ends``: features (B,W,D), targets (B,W,C), future (B,W,S,C)."""
        idx = ends[:, None] - self.window + 1 + np.arange(self.window)
        return self.features[idx], self.targets[idx], self.future[idx]
