"""COCO keypoint AP (OKS) of a results.jsonl, with pycocotools, matching lines to images by ``source_name``."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

from models.export.coco import coco_entries
from models.results import read_results
from pipeline.errors import PerceptError


def results_to_coco(results_path: Path, image_ids: dict[str, int]) -> list[dict]:
    """COCO keypoint detections (category 1) of the persons of the lines whose source_name is an image of
    ``image_ids``. A keypoint the line lacks or has null coordinates for is (0, 0, 0)."""
    dets = []
    for result in read_results(results_path):
        image_id = image_ids.get(result.source_name)
        if image_id is not None:
            dets.extend(coco_entries(result, image_id))
    return dets


def evaluate_coco_keypoints(results_path: str | Path, annotations_path: str | Path) -> dict:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    results_path, annotations_path = Path(results_path), Path(annotations_path)
    for p in (results_path, annotations_path):
        if not p.is_file():
            raise PerceptError(f"file not found: {p}")
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(annotations_path))
    image_ids = {img["file_name"]: img["id"] for img in gt.dataset["images"]}
    dets = results_to_coco(results_path, image_ids)
    if not dets:
        raise PerceptError(f"no person in {results_path} belongs to an image of {annotations_path.name} "
                           f"(lines are matched by source_name = image file name)")
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    names = ["AP", "AP50", "AP75", "AP_medium", "AP_large", "AR", "AR50", "AR75", "AR_medium", "AR_large"]
    return {**{n: round(float(v), 4) for n, v in zip(names, ev.stats)}, "detections": len(dets),
            "images": len({d["image_id"] for d in dets}), "summary": log.getvalue()}
