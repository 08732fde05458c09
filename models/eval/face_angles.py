"""Head-pose and gaze accuracy of Percept's results against labelled faces (models/eval/face_labels.py).

Per image the largest face found is the labelled one (the datasets show one subject per image). Errors: the mean
angular error (head: the angle of the rotation between predicted and true head rotation; gaze: the angle between
the directions) and the mean absolute error per axis (yaw, pitch, roll for the head; yaw, pitch for gaze), in
degrees, over the images with a prediction; images without one are counted as missed, not scored.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from models.eval.face_labels import FaceLabel
from models.results import FrameResult, read_results as read_result_lines
from models.vision.faces import angles_of, euler_of
from pipeline.errors import PerceptError
from pipeline.paths import resolve_graph_path

REPO = Path(__file__).resolve().parents[2]


def largest_face(result: FrameResult) -> int | None:
    """The row in ``result.persons`` of the person with the largest face box (the first on a tie), None when no
    face was found."""
    faces = result.persons.faces
    if faces is None or not faces.found.any():
        return None
    rows = np.flatnonzero(faces.found)
    boxes = faces.boxes[rows].astype(np.float64)
    return int(rows[np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))])


def read_results(results: Path, labels: list[FaceLabel]) -> dict[int, FrameResult]:
    """Label index -> results line (models.results.read_results), matched by image file name (``source_name``)."""
    lines = read_result_lines(results)  # a missing file raises here
    by_name: dict[str, int] = {}
    for k, label in enumerate(labels):
        if label.image.name in by_name:
            raise PerceptError(f"two labelled images are named {label.image.name}; results are matched by file "
                               f"name, so run the graph through `percept eval` instead of --results")
        by_name[label.image.name] = k
    matched = {}
    for result in lines:
        k = by_name.get(result.source_name)
        if k is not None:
            matched[k] = result
    return matched


def unsmoothed_graph(graph: str, folder: Path) -> Path:
    """A copy of ``graph`` with the head_gaze smoothing off: labelled images are separate photos, and the tracker
    would tie the faces of neighbouring images into one track whose filter blends them."""
    raw = yaml.safe_load(resolve_graph_path(graph).read_text()) or {}
    for stage in raw.get("stages") or []:
        if isinstance(stage, dict) and stage.get("type") == "head_gaze":
            stage["params"] = {**(stage.get("params") or {}), "smooth": False}
    path = folder / "graph.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run_graph(labels: list[FaceLabel], graph: str, device: str) -> dict[int, FrameResult]:
    """Label index -> results line of ``percept run`` on the labelled images (head_gaze unsmoothed): one run per
    set of intrinsics (written as intrinsics.yaml), the images linked in under unique names."""
    groups: dict[tuple | None, list[int]] = {}
    for k, label in enumerate(labels):
        groups.setdefault(label.intrinsics, []).append(k)
    matched: dict[int, FrameResult] = {}
    with tempfile.TemporaryDirectory(prefix="percept-eval-faces-") as tmp:
        graph_file = str(unsmoothed_graph(graph, Path(tmp)))
        for g, (intr, members) in enumerate(groups.items()):
            images, out = Path(tmp) / f"images{g}", Path(tmp) / f"out{g}"
            images.mkdir()
            names = {}
            for k in members:
                name = f"{k:07d}{labels[k].image.suffix.lower()}"
                (images / name).symlink_to(labels[k].image.resolve())
                names[name] = k
            if intr is not None:
                fx, fy, cx, cy = (float(v) for v in intr)
                (images / "intrinsics.yaml").write_text(yaml.safe_dump({"fx": fx, "fy": fy, "cx": cx, "cy": cy}))
            proc = subprocess.run([sys.executable, "-m", "app.cli", "run", "--graph", graph_file, "--source",
                                   str(images), "--headless", "--out", str(out), "--no-progress", "--no-video",
                                   "--device", device], capture_output=True, text=True, cwd=REPO)
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
                raise PerceptError(f"percept run failed: {tail}")
            for result in read_result_lines(out / "results.jsonl"):
                if result.source_name in names:
                    matched[names[result.source_name]] = result
    return matched


def _wrap(deg: np.ndarray) -> np.ndarray:
    return (np.asarray(deg) + 180.0) % 360.0 - 180.0


def rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees of the rotation taking ``b`` to ``a``."""
    c = (np.trace(np.asarray(a, np.float64).T @ np.asarray(b, np.float64)) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def direction_angle(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def score(labels: list[FaceLabel], records: dict[int, FrameResult], what: str) -> dict:
    """``what`` "head" or "gaze": labelled, scored and missed counts, mean angular error, per-axis MAE, and
    per-image rows (image, true and predicted angles, error)."""
    axes = ("yaw", "pitch", "roll") if what == "head" else ("yaw", "pitch")
    rows, errors, missed = [], [], 0
    labelled = [k for k, lab in enumerate(labels) if (lab.head_rotation if what == "head" else lab.gaze) is not None]
    if not labelled:
        raise PerceptError(f"these labels have no {'head pose' if what == 'head' else 'gaze'}")
    for k in labelled:
        result = records.get(k)
        row = largest_face(result) if result is not None else None
        faces = result.persons.faces if row is not None else None
        values = None if faces is None else faces.head_rotation if what == "head" else faces.gaze
        if values is None or not np.all(np.isfinite(values[row])):  # no face, or no head pose / gaze for it
            missed += 1
            continue
        pred = np.array(values[row], np.float64)
        if what == "head":
            truth = labels[k].head_rotation
            true_axes, pred_axes, angle = euler_of(truth), euler_of(pred), rotation_angle(pred, truth)
        else:
            truth = labels[k].gaze
            true_axes, pred_axes, angle = angles_of(truth), angles_of(pred), direction_angle(pred, truth)
        diff = np.abs(_wrap(pred_axes - true_axes))
        errors.append([angle, *diff])
        rows.append({"image": str(labels[k].image), "true": dict(zip(axes, np.round(true_axes, 2).tolist())),
                     "predicted": dict(zip(axes, np.round(pred_axes, 2).tolist())), "error": round(angle, 2)})
    e = np.array(errors).reshape(-1, 1 + len(axes))
    summary = {"labelled": len(labelled), "scored": len(rows), "missed": missed,
               "mean_angular_error": round(float(e[:, 0].mean()), 3) if len(e) else None,
               "mae": {a: (round(float(e[:, 1 + i].mean()), 3) if len(e) else None) for i, a in enumerate(axes)}}
    return {**summary, "images": rows}
