"""Teach Percept a new action: labelled recordings (labels.csv + the results.jsonl of `percept run --headless`) ->
a dataset -> a trained, evaluated online action checkpoint that the `online_action` stage loads (or hot-loads).

The desktop UI calls `train_from_labels` from a worker thread (progress callbacks, cancellation); the CLI calls it
as `percept action train --from-labels`.

What the model learns from:
- every track (16 or more frames with keypoints) of the results files the labels name, with the stage's run-time
  skeleton features (models/action/recordings.py): labelled frames are their action, the rest background;
- ``background_videos`` procedural clips (models/action/synth.py): only their 'idle' runs, as background, so a
  model taught from one short recording does not call every ordinary movement an action.
The labelled training videos are repeated (up to 10x) to weigh about as much as the procedural background.

Validation, from best to weakest (the result's "validation" says which one was possible):
1. held-out segments: every action has 2 or more labelled runs; ``val_fraction`` of each action's runs (with the
   background around them) are held out;
2. held-out time: otherwise the last ``val_fraction`` of each labelled track is held out, if every action then has
   frames on both sides of the cut;
3. "train": otherwise the scores are on the training recordings (they only show that training fitted).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from models.action.data import ActionDataset, Video, load_dataset, save_dataset
from models.action.features import SKELETON_FEATURE_DIM, sequence_features
from models.action.recordings import BACKGROUND, FEATURE_INFO, LabelRow, _video_prefixes, labelled_videos, read_labels
from models.action.synth import ACTIONS, generate_video
from pipeline.errors import PerceptError

# The online_action stage's defaults: the features here must be the ones it computes at run time.
KEYPOINT_THRESHOLD = 0.3
MAX_GAP = 30  # the stage's max_missing_frames
MIN_FRAMES = 16
BACKGROUND_SECONDS = 12.0  # per procedural clip, of which about half is idle
MIN_BACKGROUND_RUN = 8  # idle runs shorter than this (frames) are left out: too little context to learn from
MAX_REPEAT = 10
SYNTH_PREFIX = "synth_idle"

Progress = Callable[[dict], None]


@dataclass
class TeachOptions:
    model: str = "oadtr"  # oadtr | trn
    size: str = "lite"
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    device: str = "cpu"
    augment: bool = True
    background_videos: int = 8  # procedural 'idle' background clips (models/action/synth.py) added to train
    val_fraction: float = 0.25


class TeachCancelled(Exception):
    """The caller's cancel event was set; nothing was written to the checkpoint folder."""


def _check_options(options: TeachOptions) -> None:
    if options.model not in ("oadtr", "trn"):
        raise PerceptError(f"--model must be oadtr or trn to teach an action, got {options.model!r}")
    if options.size not in ("lite", "paper"):
        raise PerceptError(f"--size must be lite or paper, got {options.size!r}")
    if options.epochs < 1 or options.batch_size < 1:
        raise PerceptError(f"epochs and batch size must be at least 1, got {options.epochs} and "
                           f"{options.batch_size}")
    if not 0 <= options.val_fraction < 1:
        raise PerceptError(f"the validation fraction must be in [0, 1), got {options.val_fraction}")
    if options.background_videos < 0:
        raise PerceptError(f"background videos must be 0 or more, got {options.background_videos}")


def _report(on_progress: Progress | None, stage: str, step: int, steps: int, epoch: int | None = None,
            epochs: int | None = None, loss: float | None = None) -> None:
    if on_progress is not None:
        on_progress({"stage": stage, "step": step, "steps": steps, "epoch": epoch, "epochs": epochs, "loss": loss})


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise TeachCancelled("teaching cancelled")


def _resolve_rows(labels: list[Path]) -> tuple[list[Path], list[LabelRow], list[int]]:
    """All label rows of all labels files, and the results file (deduplicated) that each names: a relative
    ``results`` is taken from its labels file's folder, as the UI writes it."""
    if not labels:
        raise PerceptError("give at least one labels file (labels.csv)")
    results: list[Path] = []
    rows: list[LabelRow] = []
    row_file: list[int] = []
    for label_path in labels:
        label_path = Path(label_path)
        for row in read_labels(label_path):
            path = Path(row.results).expanduser()
            path = (path if path.is_absolute() else label_path.parent / path).resolve()
            if not path.is_file():
                raise PerceptError(f"{row.where}: results file {path} not found (a relative 'results' is taken from "
                                   f"the labels file's folder); record it again or fix the row")
            if path not in results:
                results.append(path)
            rows.append(row)
            row_file.append(results.index(path))
    return results, rows, row_file


def _action_runs(targets: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end exclusive, class) of each contiguous stretch of action frames; its class is the action most of
    its frames carry."""
    action = targets[:, 1:].any(1)
    runs, t = [], 0
    while t < len(action):
        if not action[t]:
            t += 1
            continue
        end = t
        while end < len(action) and action[end]:
            end += 1
        runs.append((t, end, 1 + int(np.argmax(targets[t:end, 1:].sum(0)))))
        t = end
    return runs


def _piece(video: Video, start: int, end: int, tag: str) -> Video:
    return Video(f"{video.name}__{tag}", video.features[start:end], video.targets[start:end])


def _split_by_runs(labelled: list[Video], classes: list[str], val_fraction: float,
                   seed: int) -> tuple[list[Video], list[Video]] | None:
    """Strategy 1: each labelled run with the background around it (cut halfway between runs) is one piece;
    ``val_fraction`` of each action's pieces go to test. None unless every action has 2 or more pieces."""
    pieces: list[tuple[Video, int]] = []
    for video in labelled:
        runs = _action_runs(video.targets)
        cuts = [0] + [(a_end + b_start) // 2 for (_, a_end, _), (b_start, _, _) in zip(runs, runs[1:])] + \
               [len(video.targets)]
        pieces += [(_piece(video, cuts[k], cuts[k + 1], f"r{k}"), cls) for k, (_, _, cls) in enumerate(runs)]
    by_class = {c: [p for p, cls in pieces if cls == c] for c in range(1, len(classes))}
    if val_fraction <= 0 or any(len(ps) < 2 for ps in by_class.values()):
        return None
    rng = np.random.default_rng(seed)
    test_names: set[str] = set()
    for ps in by_class.values():
        n_test = min(len(ps) - 1, max(1, int(round(val_fraction * len(ps)))))
        test_names.update(ps[i].name for i in rng.permutation(len(ps))[:n_test].tolist())
    train = [p for p, _ in pieces if p.name not in test_names]
    test = [p for p, _ in pieces if p.name in test_names]
    return train, test


def _split_in_time(labelled: list[Video], classes: list[str],
                   val_fraction: float) -> tuple[list[Video], list[Video]] | None:
    """Strategy 2: the last ``val_fraction`` of each labelled track to test. None unless every action has frames
    on both sides."""
    if val_fraction <= 0:
        return None
    train, test = [], []
    for video in labelled:
        cut = int(round(len(video.targets) * (1 - val_fraction)))
        if 0 < cut < len(video.targets):
            train.append(_piece(video, 0, cut, "head"))
            test.append(_piece(video, cut, len(video.targets), "tail"))
        else:
            train.append(video)
    covered = lambda vs: np.sum([v.targets.sum(0) for v in vs], axis=0) if vs else np.zeros(len(classes))  # noqa: E731
    if not test or (covered(train)[1:] == 0).any() or (covered(test)[1:] == 0).any():
        return None
    return train, test


def background_videos(count: int, seed: int) -> list[Video]:
    """The 'idle' runs of ``count`` procedural clips, each one background video. Their features are computed
    afresh per run (first frame without velocity), as the stage does for a track that appears."""
    rng = np.random.default_rng([seed, 1])
    videos = []
    for i in range(count):
        clip, keypoints = generate_video(rng, f"{SYNTH_PREFIX}_{i:03d}", BACKGROUND_SECONDS)
        idle = clip.targets[:, ACTIONS.index("idle")] > 0
        for k, (start, end, _) in enumerate(_action_runs(np.stack([~idle, idle], 1).astype(np.float32))):
            if end - start >= MIN_BACKGROUND_RUN:
                features = sequence_features(keypoints[start:end], KEYPOINT_THRESHOLD)
                targets = np.zeros((end - start, 1), np.float32)
                videos.append(Video(f"{clip.name}_{k:02d}", features, targets))
    return videos


def _with_classes(videos: list[Video], num_classes: int) -> list[Video]:
    """Background videos with the dataset's class columns (all frames in column 0)."""
    out = []
    for v in videos:
        targets = np.zeros((len(v.features), num_classes), np.float32)
        targets[:, 0] = 1
        out.append(Video(v.name, v.features, targets))
    return out


def _teach_dataset(labels: list[Path], out: Path, options: TeachOptions, on_progress: Progress | None,
                   cancel: threading.Event | None) -> dict:
    _check_options(options)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PerceptError(f"{out} exists and is not a folder")
    steps = 3
    _report(on_progress, "dataset", 0, steps)
    results, rows, row_file = _resolve_rows([Path(p) for p in labels])
    classes = [BACKGROUND, *sorted({r.label for r in rows})]
    videos, provenance, _ = labelled_videos(results, _video_prefixes(results), rows, row_file, classes, MIN_FRAMES,
                                            MAX_GAP, KEYPOINT_THRESHOLD)
    _check_cancel(cancel)
    _report(on_progress, "dataset", 1, steps)
    frames = np.sum([v.targets.sum(0) for v in videos], axis=0) if videos else np.zeros(len(classes))
    empty = [c for c, n in zip(classes[1:], frames[1:]) if n == 0]
    if empty:
        raise PerceptError(f"no track of {MIN_FRAMES} or more frames with keypoints has a labelled frame of "
                           f"{', '.join(empty)}; check the rows' track ids and frame ranges")
    labelled = [v for v in videos if v.targets[:, 1:].any()]
    unlabelled = [v for v in videos if not v.targets[:, 1:].any()]  # real background: always trained on
    split, validation = _split_by_runs(labelled, classes, options.val_fraction, options.seed), "held-out"
    if split is None:
        split = _split_in_time(labelled, classes, options.val_fraction)
    if split is None:
        split, validation = (labelled, labelled), "train"
    synth = _with_classes(background_videos(options.background_videos, options.seed), len(classes))
    _check_cancel(cancel)
    _report(on_progress, "dataset", 2, steps)
    dims = {v.features.shape[1] for v in [*videos, *synth]}
    if dims != {SKELETON_FEATURE_DIM}:
        raise PerceptError(f"feature sizes {sorted(dims)} differ from the stage's skeleton features "
                           f"({SKELETON_FEATURE_DIM})")
    train, test = [*split[0], *unlabelled, *synth], split[1]
    save_dataset(out, classes, {"train": train, "test": test})
    (out / "feature.json").write_text(json.dumps({**FEATURE_INFO, "keypoint_threshold": KEYPOINT_THRESHOLD}))
    (out / "videos.json").write_text(json.dumps(provenance, indent=1))
    _report(on_progress, "dataset", 3, steps)
    warnings = [f"{r.where} ({r.results}, track {'*' if r.track_id is None else r.track_id}, frames "
                f"{r.start}..{r.end}, {r.label}) covers no frame of a track with {MIN_FRAMES}+ frames"
                for r in rows if not r.used]
    return {"classes": classes, "train_videos": len(train), "test_videos": len(test),
            "train_frames": int(sum(len(v.features) for v in train)),
            "test_frames": int(sum(len(v.features) for v in test)), "validation": validation, "warnings": warnings}


def teach_dataset(labels: list[Path], out: Path, options: TeachOptions) -> dict:
    """Writes a THUMOS-layout dataset folder `out` from the labelled recordings (each labels file's rows name their
    results.jsonl relative to the labels file), plus procedural background; returns {"classes": [...],
    "train_videos": n, "test_videos": n, "train_frames": n, "test_frames": n, "validation": "held-out" | "train",
    "warnings": [...]}."""
    return _teach_dataset(labels, out, options, None, None)


def _weighted(dataset: ActionDataset) -> ActionDataset:
    """The labelled training videos repeated (at most MAX_REPEAT times) to weigh about as much as the procedural
    background: with one short recording, the background would otherwise teach the model to never name it."""
    synth = [v for v in dataset.train if v.name.startswith(SYNTH_PREFIX)]
    real = [v for v in dataset.train if not v.name.startswith(SYNTH_PREFIX)]
    real_frames = sum(len(v.features) for v in real)
    synth_frames = sum(len(v.features) for v in synth)
    repeat = min(MAX_REPEAT, max(1, math.ceil(synth_frames / max(real_frames, 1))))
    return ActionDataset(dataset.root, dataset.classes, real * repeat + synth, dataset.test)


def _check_out(out: Path) -> None:
    """`out` is replaced at the end: refuse a file, or a folder with content that is not an action checkpoint."""
    if out.exists() and not out.is_dir():
        raise PerceptError(f"{out} exists and is not a folder; choose another checkpoint folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise PerceptError(f"{out} is a folder that is not an action checkpoint; choose an empty or new folder")


def _move_into_place(trained: Path, out: Path) -> None:
    """Replace `out` by the finished checkpoint `trained` with renames, so `out` is never half written."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}-{threading.get_ident()}")
    if out.exists():
        out.rename(old)
    try:
        trained.rename(out)
    except OSError:
        if old.exists():
            old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def train_from_labels(labels: list[Path], out: Path, options: TeachOptions,
                      on_progress: Callable[[dict], None] | None = None,
                      cancel: threading.Event | None = None) -> dict:
    """Dataset (in a temporary folder), training, evaluation. Writes the checkpoint folder `out` (config.json +
    model.safetensors + teach.json, loadable by models.action.checkpoint.load_model and by the online_action
    stage). Returns {"checkpoint": str(out), "classes": [...], "history": [{"epoch", "loss"}...], "mAP": float|None,
    "early_accuracy": {...}, "validation": "held-out"|"train", "seconds": float, "device": str}.

    on_progress is called from the calling thread with {"stage": "dataset"|"train"|"eval", "step", "steps", "epoch",
    "epochs", "loss"} (None where it does not apply). When `cancel` is set, it stops at the next step and raises
    TeachCancelled; `out` is then untouched (training goes to a temporary folder next to it, moved into place at
    the end)."""
    from models.action.evaluate import evaluate
    from models.action.train import TrainCancelled, TrainOptions, train

    start = time.perf_counter()
    _check_options(options)
    out = Path(out)
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.teach-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        with tempfile.TemporaryDirectory(prefix="percept-teach-") as tmp:
            data = Path(tmp) / "dataset"
            summary = _teach_dataset(labels, data, options, on_progress, cancel)
            dataset = _weighted(load_dataset(data))
            feature = json.loads((data / "feature.json").read_text())

            def on_step(info: dict) -> None:
                _report(on_progress, "train", info["step"], info["steps"], info["epoch"], info["epochs"], info["loss"])

            train_options = TrainOptions(model=options.model, size=options.size, epochs=options.epochs,
                                         batch_size=options.batch_size, lr=options.lr, seed=options.seed,
                                         device=options.device, progress=False, augment=options.augment)
            try:
                trained = train(dataset, work, train_options, feature=feature, on_step=on_step, cancel=cancel)
            except TrainCancelled:
                raise TeachCancelled("teaching cancelled") from None
            _report(on_progress, "eval", 0, 1)
            scores = evaluate(data, work, options.device)
            _report(on_progress, "eval", 1, 1)
        for extra in ("train_state.json", "optimizer.safetensors"):
            (work / extra).unlink(missing_ok=True)  # weights and config only: a taught model is not resumed
        result = {"classes": summary["classes"], "history": trained["history"], "mAP": _finite(scores["mAP"]),
                  "early_accuracy": {k: _finite(v) for k, v in scores["early_accuracy"].items()},
                  "validation": summary["validation"], "device": trained["device"]}
        (work / "teach.json").write_text(json.dumps({**result, "options": asdict(options),
                                                     "labels": [str(Path(p).resolve()) for p in labels],
                                                     "dataset": summary}, indent=2))
        _check_cancel(cancel)
        _move_into_place(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"checkpoint": str(out), **result, "seconds": round(time.perf_counter() - start, 2)}
