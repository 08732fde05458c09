"""`percept eval ...`: score results files against benchmarks' ground truth."""
from __future__ import annotations

import json
from pathlib import Path

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


def _annotated_people(annotations: Path) -> int:
    """Ground-truth people that OKS scores: person annotations with at least one labelled keypoint."""
    data = json.loads(annotations.read_text())
    return sum(1 for a in data.get("annotations", []) if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd"))
