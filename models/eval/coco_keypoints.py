"""COCO keypoint AP (OKS) of a results.jsonl, with pycocotools, matching lines to images by ``source_name``."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from pipeline.errors import PerceptError
from pipeline.results import COCO17_NAMES


def results_to_coco(results_path: Path, image_ids: dict[str, int]) -> list[dict]:
    dets = []
    with results_path.open() as f:
        for lineno, line in enumerate(f, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PerceptError(f"{results_path}:{lineno} is not a JSON line: {exc}") from exc
            image_id = image_ids.get(record.get("source_name"))
            if image_id is None:
                continue
            for person in record.get("persons", []):
                kps = person.get("keypoints") or {}
                flat = []
                for name in COCO17_NAMES:
                    x, y, s = kps.get(name) or (0.0, 0.0, 0.0)
                    flat += [float(x), float(y), float(s)]
                dets.append({"image_id": image_id, "category_id": 1, "keypoints": flat,
                             "score": float(person.get("score", 0.0))})
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
