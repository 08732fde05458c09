"""`percept action features`: a labelled action dataset (THUMOS feature layout, see models/action/data.py) from
the results.jsonl files of `percept run --headless` and a labels.csv.

Every (results file, track) becomes one or more "videos" named ``<results-stem>__t<track_id>[__s<k>]`` whose
per-frame features are the skeleton features the `online_action` stage computes at run time for that track
(models/action/features.py, same keypoint threshold, velocity from the track's previous frame), so a checkpoint
trained on them can be used by the stage unchanged.

Gaps: the stage keeps a track's state (its OadTR window / TRN state and its last pose for the velocity) while the
track is missing for at most ``max_missing_frames`` processed frames (default 30), and starts the track afresh
after a longer absence. A track's frames here follow the same rule with ``max_gap``: a gap of at most ``max_gap``
result lines is bridged (the frames on either side stay consecutive in one video, the velocity of the first frame
after the gap is taken against the last frame before it, exactly as at run time), a longer gap starts a new
segment ``__s<k>``. Result lines where the stage would not run (persons without keypoints) do not count towards a
gap, as they do not age the stage's state. Untracked persons (track_id null) are left out: the stage gives them no
temporal context.

labels.csv: ``results,track_id,start_frame,end_frame,label``. ``results`` names one of the results files (the
path as given, a path relative to the labels file, its file name or its stem); ``track_id`` empty or ``*`` means
every track of that file; frames are inclusive and match the results' ``frame`` field. Frames no row covers are
background (column 0); a frame that two rows with different labels cover has both (multi-hot).
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.action.data import Video, save_dataset
from models.action.features import SKELETON_FEATURE_DIM, coco17_subset, keep_joints, sequence_features
from models.results import read_results
from models.vision.persons import Persons
from pipeline.errors import PerceptError

BACKGROUND = "background"
LABEL_COLUMNS = ("results", "track_id", "start_frame", "end_frame", "label")
FEATURE_INFO = {"type": "skeleton", "keypoints": "coco17"}  # what the online_action stage builds at run time


@dataclass
class LabelRow:
    where: str  # labels.csv:line (for messages)
    results: str
    track_id: int | None  # None: every track of the file
    start: int
    end: int
    label: str
    used: bool = False


@dataclass
class Segment:
    """Consecutive presence of one track in one results file (gaps up to ``max_gap`` bridged)."""

    track_id: int
    frames: list[int] = field(default_factory=list)  # the results' "frame" numbers
    keypoints: list[np.ndarray] = field(default_factory=list)  # (17, 3) per frame, COCO order
    last_tick: int = -1


def read_labels(path: Path) -> list[LabelRow]:
    if not path.is_file():
        raise PerceptError(f"labels file {path} not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PerceptError(f"cannot read labels file {path}: {exc}") from exc
    reader = csv.reader(io.StringIO(text))
    skip = lambda r: not any(c.strip() for c in r) or r[0].lstrip().startswith("#")  # noqa: E731
    header = next((r for r in reader if not skip(r)), [])
    header = [h.strip() for h in header]
    missing = [c for c in LABEL_COLUMNS if c not in header]
    if missing:
        raise PerceptError(f"{path}: the header must name the columns {','.join(LABEL_COLUMNS)}; missing "
                           f"{', '.join(missing)} (header: {','.join(header) or 'none'})")
    rows = []
    for row in reader:
        if skip(row):
            continue
        where = f"{path}:{reader.line_num}"
        if len(row) > len(header):
            raise PerceptError(f"{where}: {len(row)} fields, the header has {len(header)} columns")
        values = {k: (row[header.index(k)] if header.index(k) < len(row) else "").strip() for k in LABEL_COLUMNS}
        if not values["results"]:
            raise PerceptError(f"{where}: empty 'results' (the results file this row labels)")
        tid: int | None = None
        if values["track_id"] not in ("", "*"):
            try:
                tid = int(values["track_id"])
            except ValueError:
                raise PerceptError(f"{where}: track_id must be an integer, empty or '*', got "
                                   f"{values['track_id']!r}") from None
        try:
            start, end = int(values["start_frame"]), int(values["end_frame"])
        except ValueError:
            raise PerceptError(f"{where}: start_frame and end_frame must be integers, got "
                               f"{values['start_frame']!r}, {values['end_frame']!r}") from None
        if start < 0 or end < start:
            raise PerceptError(f"{where}: frames must satisfy 0 <= start_frame <= end_frame (inclusive), got "
                               f"{start}..{end}")
        label = values["label"]
        if not label:
            raise PerceptError(f"{where}: empty label")
        if label == BACKGROUND:
            raise PerceptError(f"{where}: 'background' is what no row covers; leave such frames unlabelled")
        rows.append(LabelRow(where, values["results"], tid, start, end, label))
    if not rows:
        raise PerceptError(f"{path} has no label rows")
    return rows


def write_labels(path: Path, rows: list[LabelRow]) -> None:
    """Write a labels.csv that `read_labels` reads back as the same rows (track_id None -> empty: every track).
    Atomic (a temp file in the same folder, then replace), so an editor saving while a training reads the file
    never leaves it half written. ``results`` is written as given (normally relative to the labels file)."""
    path = Path(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LABEL_COLUMNS)
    for row in rows:
        writer.writerow([row.results, "" if row.track_id is None else row.track_id, row.start, row.end, row.label])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _keypoints17(persons: Persons) -> np.ndarray | None:
    """(n, 17, 3) COCO-order keypoints of a line's persons, float32 as the stage's Persons.keypoints; None where
    the line has no keypoints. A keypoint with a null (not finite when written) coordinate is a miss: score 0."""
    if persons.keypoints is None:
        return None
    kps = np.where(np.isfinite(persons.keypoints).all(-1, keepdims=True), persons.keypoints, np.float32(0))
    return coco17_subset(kps, persons.keypoint_names)


def read_segments(path: Path, max_gap: int) -> list[Segment]:
    """Tracks of one results.jsonl, cut into segments at gaps longer than ``max_gap`` ticking lines."""
    open_segments: dict[int, Segment] = {}
    done: list[Segment] = []
    tick = -1
    for result in read_results(path):
        persons = result.persons
        kp17 = _keypoints17(persons)
        if len(persons) and kp17 is None:
            continue  # the stage passes such frames through without updating (or ageing) any track
        tick += 1
        seen = set()
        for i, tid in enumerate(persons.track_ids.tolist()):
            if tid < 0 or tid in seen:
                continue
            seen.add(tid)
            seg = open_segments.get(tid)
            if seg is None or tick - seg.last_tick - 1 > max_gap:
                if seg is not None:
                    done.append(seg)
                seg = open_segments[tid] = Segment(tid)
            seg.frames.append(result.frame)
            seg.keypoints.append(kp17[i])
            seg.last_tick = tick
    if tick < 0:
        raise PerceptError(f"{path} has no result lines")
    done.extend(open_segments.values())
    return sorted(done, key=lambda s: (s.track_id, s.frames[0]))


def unlabelled_videos(results: list[Path], feature: dict, max_gap: int = 30, min_frames: int = 16) -> list[Video]:
    """Every track segment (``min_frames`` or longer) of these results files as one video whose targets are a single
    background column, with the features that a checkpoint of this ``feature`` description (its config's
    "feature": joints, keypoint threshold) sees at run time. For held-out ordinary motion (calibration) and real
    background (training)."""
    videos = []
    for path in results:
        if not Path(path).is_file():
            raise PerceptError(f"results file {path} not found (the results.jsonl of `percept run --headless`)")
        for seg in read_segments(Path(path), max_gap):
            if len(seg.frames) >= min_frames:
                kps = keep_joints(np.stack(seg.keypoints), feature.get("joints"))
                features = sequence_features(kps, feature.get("keypoint_threshold", 0.3))
                videos.append(Video(f"{Path(path).parent.name}__t{seg.track_id}_{seg.frames[0]}", features,
                                    np.ones((len(features), 1), np.float32)))
    return videos


def _video_prefixes(results: list[Path]) -> list[str]:
    resolved = [p.resolve() for p in results]
    for i, r in enumerate(resolved):
        if r in resolved[:i]:
            raise PerceptError(f"--results {results[i]} is given twice")
    clean = lambda s: re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "results"  # noqa: E731
    stems = [clean(p.stem) for p in results]
    prefixes = [clean(f"{p.parent.name}_{p.stem}") if stems.count(s) > 1 else s for p, s in zip(resolved, stems)]
    for i, prefix in enumerate(prefixes):
        if prefix in prefixes[:i]:
            raise PerceptError(f"--results {results[prefixes.index(prefix)]} and {results[i]} would both name "
                               f"their videos {prefix!r}; rename or move one of them")
    return prefixes


def _match_results(row: LabelRow, results: list[Path], labels_dir: Path) -> int:
    """Index of the results file a label row names (path as given, relative to labels.csv, name or stem)."""
    given = [str(p) for p in results]
    if row.results in given:
        return given.index(row.results)
    resolved = [p.resolve() for p in results]
    for base in (Path.cwd(), labels_dir):
        candidate = (base / row.results).resolve()
        if candidate in resolved:
            return resolved.index(candidate)
    for key in (lambda p: p.name, lambda p: p.stem):
        hits = [i for i, p in enumerate(results) if key(p) == row.results]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise PerceptError(f"{row.where}: results {row.results!r} matches several --results files "
                               f"({', '.join(str(results[i]) for i in hits)}); give its path instead")
    raise PerceptError(f"{row.where}: results {row.results!r} is none of the --results files "
                       f"({', '.join(given)})")


def labelled_videos(results: list[Path], prefixes: list[str], rows: list[LabelRow], row_file: list[int],
                    all_classes: list[str], min_frames: int = 16, max_gap: int = 30,
                    keypoint_threshold: float = 0.3) -> tuple[list[Video], dict[str, dict], int]:
    """Every track segment of ``results`` (``min_frames`` or longer) as one video with per-frame targets from the
    label ``rows`` (``row_file[i]``: the index in ``results`` that row i labels; sets ``row.used``). Shared by
    `percept action features` and teaching (models/action/teach.py), so both see the stage's run-time features.
    Returns (videos, provenance by video name, segments left out as too short)."""
    column = {n: i for i, n in enumerate(all_classes)}
    videos: list[Video] = []
    provenance: dict[str, dict] = {}
    short = 0
    for index, (path, prefix) in enumerate(zip(results, prefixes)):
        segments = read_segments(path, max_gap)
        per_track: dict[int, int] = {}
        for seg in segments:
            per_track[seg.track_id] = per_track.get(seg.track_id, 0) + 1
        k_of: dict[int, int] = {}
        file_rows = [r for r, f in zip(rows, row_file) if f == index]
        for seg in segments:
            k = k_of[seg.track_id] = k_of.get(seg.track_id, -1) + 1
            name = f"{prefix}__t{seg.track_id}" + (f"__s{k}" if per_track[seg.track_id] > 1 else "")
            if len(seg.frames) < min_frames:
                short += 1
                continue
            frames = np.asarray(seg.frames, np.int64)
            targets = np.zeros((len(frames), len(all_classes)), np.float32)
            for row in file_rows:
                if row.track_id is not None and row.track_id != seg.track_id:
                    continue
                covered = (frames >= row.start) & (frames <= row.end)
                if covered.any():
                    targets[covered, column[row.label]] = 1
                    row.used = True
            targets[targets.sum(1) == 0, 0] = 1
            features = sequence_features(np.stack(seg.keypoints), keypoint_threshold)
            assert features.shape[1] == SKELETON_FEATURE_DIM
            videos.append(Video(name, features, targets))
            provenance[name] = {"results": str(path), "track_id": seg.track_id, "first_frame": int(frames[0]),
                                "last_frame": int(frames[-1]), "frames": int(len(frames))}
    return videos, provenance, short


def build_dataset(results: list[Path], labels: Path, out: Path, classes: list[str] | None = None,
                  test_fraction: float = 0.25, seed: int = 0, min_frames: int = 16, max_gap: int = 30,
                  keypoint_threshold: float = 0.3) -> dict:
    """Write the dataset to ``out``; returns a summary (videos, frames, per-class frame counts, warnings)."""
    if not results:
        raise PerceptError("give at least one --results file")
    if not 0 <= test_fraction < 1:
        raise PerceptError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    results = [Path(p) for p in results]
    for p in results:
        if not p.is_file():
            raise PerceptError(f"results file {p} not found (the results.jsonl of `percept run --headless`)")
    if out.exists() and not out.is_dir():
        raise PerceptError(f"--out {out} exists and is not a folder")
    rows = read_labels(labels)
    row_file = [_match_results(r, results, labels.parent) for r in rows]
    names = sorted({r.label for r in rows})
    if classes is not None:
        classes = [c.strip() for c in classes if c.strip()]
        if BACKGROUND in classes:
            raise PerceptError("--classes: 'background' is always class 0; list only the actions")
        if len(set(classes)) != len(classes):
            raise PerceptError(f"--classes lists a name twice: {','.join(classes)}")
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise PerceptError(f"labels {', '.join(unknown)} are not in --classes ({','.join(classes)})")
        names = classes
    all_classes = [BACKGROUND, *names]
    videos, provenance, short = labelled_videos(results, _video_prefixes(results), rows, row_file, all_classes,
                                                min_frames, max_gap, keypoint_threshold)
    if not videos:
        raise PerceptError(f"no track has {min_frames} or more frames with keypoints in the --results files "
                           f"(tracked persons need the tracker and pose stages; see --min-frames)")

    n_test = int(round(test_fraction * len(videos)))
    if test_fraction > 0 and len(videos) > 1:
        n_test = max(n_test, 1)
    n_test = min(n_test, len(videos) - 1)
    test_ids = set(np.random.default_rng(seed).permutation(len(videos))[:n_test].tolist())
    split = {"train": [v for i, v in enumerate(videos) if i not in test_ids],
             "test": [v for i, v in enumerate(videos) if i in test_ids]}
    save_dataset(out, all_classes, split)
    (out / "feature.json").write_text(json.dumps({**FEATURE_INFO, "keypoint_threshold": keypoint_threshold}))
    (out / "videos.json").write_text(json.dumps(provenance, indent=1))

    counts = np.sum([v.targets.sum(0) for v in videos], axis=0)
    warnings = [f"{r.where} ({r.results}, track {'*' if r.track_id is None else r.track_id}, frames "
                f"{r.start}..{r.end}, {r.label}) covers no frame of any written video" for r in rows if not r.used]
    if split["test"]:
        test_counts = np.sum([v.targets.sum(0) for v in split["test"]], axis=0)
        absent = [c for c, n, m in zip(all_classes[1:], test_counts[1:], counts[1:]) if n == 0 and m > 0]
        if absent:
            warnings.append(f"the test split has no frame of {', '.join(absent)} (eval leaves such classes out); "
                            f"try another --seed or label more recordings")
    return {"videos": len(videos), "train": len(split["train"]), "test": len(split["test"]),
            "frames": int(sum(len(v.features) for v in videos)), "classes": all_classes,
            "class_frames": {c: int(n) for c, n in zip(all_classes, counts)}, "skipped_short": short,
            "warnings": warnings}
