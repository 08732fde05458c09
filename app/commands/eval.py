"""`percept eval ...`: score results files against benchmarks' ground truth."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

NAME = "eval"
app = typer.Typer(help="Evaluate results against ground truth.", no_args_is_help=True)


@app.command("coco-keypoints")
def coco_keypoints(
    results: Path = typer.Option(..., "--results", help="results.jsonl from `percept run`"),
    annotations: Path = typer.Option(..., "--annotations", help="COCO person_keypoints json"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """COCO keypoint AP (OKS, pycocotools); lines are matched to images by source_name."""
    from models.eval.coco_keypoints import evaluate_coco_keypoints

    result = evaluate_coco_keypoints(results, annotations)
    if as_json:
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "summary"}, indent=2))
        return
    typer.echo(result["summary"].rstrip())
    typer.echo(f"keypoint AP {result['AP']:.4f} ({result['detections']} people detected on {result['images']} "
               f"images; ground truth: {_annotated_people(annotations)} annotated people with keypoints)")


@app.command("pose-datasets")
def pose_datasets(
    graph: str = typer.Option("default", "--graph", "-g", help="graph YAML or shipped graph name"),
    data: Path = typer.Option(None, "--data", help="folder with coco/, crowdpose/, ... (default ../shared/data/pose)"),
    only: list[str] = typer.Option(None, "--only", help="dataset names (repeatable); default all found"),
    device: str = typer.Option("auto", "--device"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Keypoint AP of a graph on several pose datasets (COCO, CrowdPose, OCHuman, AI Challenger, PoseTrack18,
    Halpe), each scored on the joints it shares with Percept's keypoints."""
    import subprocess
    import sys
    import tempfile

    from models.eval.pose_datasets import DATASETS, link_images, prepare, score
    from models.vision.keypoints import MEDIAPIPE_POSE_NAMES
    from pipeline.errors import PerceptError

    unknown = set(only or ()) - {d.name for d in DATASETS}
    if unknown:  # a mistyped name is said first, wherever the data is
        known = ", ".join(d.name for d in DATASETS)
        raise PerceptError(f"unknown dataset {', '.join(sorted(unknown))}; known: {known}")
    repo = Path(__file__).resolve().parents[2]
    data = data or repo.parent / "shared" / "data" / "pose"
    if not data.is_dir():
        raise PerceptError(f"pose data folder not found: {data} (give --data)")
    chosen = [d for d in DATASETS if not only or d.name in only]
    rows = []
    for dataset in chosen:
        try:
            prepared = prepare(data, dataset, MEDIAPIPE_POSE_NAMES)
        except FileNotFoundError as exc:
            rows.append({"dataset": dataset.name, "skipped": f"missing {exc}"})
            continue
        with tempfile.TemporaryDirectory(prefix=f"percept-eval-{dataset.name}-") as tmp:
            images, out = Path(tmp) / "images", Path(tmp) / "out"
            link_images(prepared, images)
            proc = subprocess.run([sys.executable, "-m", "app.cli", "run", "--graph", graph, "--source", str(images),
                                   "--headless", "--out", str(out), "--no-progress", "--no-video",
                                   "--device", device], capture_output=True, text=True, cwd=repo)
            if proc.returncode != 0:
                raise PerceptError(f"percept run failed on {dataset.name}: {proc.stderr.strip().splitlines()[-1:]}")
            rows.append(score(prepared, out / "results.jsonl"))
    if as_json:
        typer.echo(json.dumps({"graph": graph, "datasets": rows}, indent=2))
        return
    typer.echo(f"{'dataset':<12} {'images':>6} {'people':>6} {'found':>6} {'AP':>6} {'AP50':>6} {'AR':>6}  joints")
    for r in rows:
        if "skipped" in r:
            typer.echo(f"{r['dataset']:<12} skipped: {r['skipped']}")
            continue
        typer.echo(f"{r['dataset']:<12} {r['images']:>6} {r['annotated_people']:>6} {r['detections']:>6} "
                   f"{r['AP']:>6.3f} {r['AP50']:>6.3f} {r['AR']:>6.3f}  {len(r['joints'])}")
    scored = [r for r in rows if "AP" in r]
    if scored:
        typer.echo(f"{'mean':<12} {'':>6} {'':>6} {'':>6} {np.mean([r['AP'] for r in scored]):>6.3f}")


def _face_eval(what: str, data: Path, fmt: str | None, results: Path | None, graph: str | None, device: str,
               as_json: bool) -> None:
    """Shared body of `eval head-pose` and `eval gaze`."""
    from models.eval.face_angles import read_results, run_graph, score
    from models.eval.label_formats import graph_for, read_labels

    fmt, labels = read_labels(data, fmt)
    graph = graph or graph_for(fmt)
    records = read_results(results, labels) if results is not None else run_graph(labels, graph, device)
    result = {"format": fmt, "graph": None if results is not None else graph, **score(labels, records, what)}
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    axes = ", ".join(f"{a} {v:.2f}" for a, v in result["mae"].items() if v is not None)
    typer.echo(f"{what} on {result['labelled']} labelled images ({fmt}"
               f"{', graph ' + graph if results is None else ''}): {result['scored']} scored, "
               f"{result['missed']} without a face")
    if result["mean_angular_error"] is not None:
        typer.echo(f"mean angular error {result['mean_angular_error']:.2f} deg; MAE {axes} deg")


_FORMAT_HELP = "biwi | aflw2000 | mpiifacegaze | columbia | eth-xgaze (default: detected from the files)"
_GRAPH_HELP = ("graph YAML or shipped graph name (default: `face` for eth-xgaze, whose images are face crops with "
               "no body for the person detector; `default` for the others)")


def _face_command(what: str, doc: str):
    """`eval head-pose` and `eval gaze`: one set of options, two commands."""

    def command(
        data: Path = typer.Option(..., "--data", help="labelled dataset folder"),
        fmt: str = typer.Option(None, "--format", help=_FORMAT_HELP),
        results: Path = typer.Option(None, "--results", help="score this results.jsonl (matched by image file "
                                                             "name) instead of running the graph"),
        graph: str = typer.Option(None, "--graph", "-g", help=_GRAPH_HELP),
        device: str = typer.Option("auto", "--device"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        _face_eval(what, data, fmt, results, graph, device, as_json)

    command.__doc__ = doc
    return command


app.command("head-pose")(_face_command("head", "Head-pose error against labels: mean angular error and MAE of yaw, "
                                               "pitch, roll (Percept's convention)."))
app.command("gaze")(_face_command("gaze", "Gaze error against labels: mean angular error and MAE of gaze yaw and "
                                          "pitch (Percept's convention)."))


def _annotated_people(annotations: Path) -> int:
    """Ground-truth people that OKS scores: person annotations with at least one labelled keypoint."""
    data = json.loads(annotations.read_text())
    return sum(1 for a in data.get("annotations", []) if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd"))
