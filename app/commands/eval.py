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
    typer.echo(f"keypoint AP {result['AP']:.4f} ({result['detections']} people on {result['images']} images)")
