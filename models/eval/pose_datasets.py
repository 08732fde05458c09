"""Keypoint AP (OKS, pycocotools) of a graph on several pose datasets at once: COCO, CrowdPose, OCHuman, AI Challenger,
PoseTrack18, Halpe (the small real subsets in ../shared/data/pose).

Each dataset names its joints differently and has some that Percept's 33 MediaPipe keypoints lack (CrowdPose's
"head" and "neck", PoseTrack's "head_top"): every dataset is scored on the joints both have, with COCO's per-joint
OKS constants, so the numbers compare across datasets but not with published full-skeleton figures.
MPII is left out: its annotations are single-person centre/scale records scored by PCKh, not boxes for OKS.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.results import read_results
from models.vision.keypoints import COCO17_NAMES
from models.vision.pose_nms import COCO_SIGMAS
from pipeline.errors import PerceptError

SIGMA = dict(zip(COCO17_NAMES, COCO_SIGMAS))


@dataclass(frozen=True)
class PoseDataset:
    name: str
    annotations: str  # relative to the data folder
    images: str  # folder the annotation's file_name is relative to
    joints: tuple[str, ...] | None = None  # None: the annotation file's category keypoint names


HALPE_BODY = COCO17_NAMES  # Halpe's first 17 joints are COCO's (then head, neck, hip, feet, face, hands: unnamed)
DATASETS = (
    PoseDataset("coco", "coco/test_coco.json", "coco"),
    PoseDataset("crowdpose", "crowdpose/test_crowdpose.json", "crowdpose"),
    PoseDataset("ochuman", "ochuman/test_ochuman.json", "ochuman"),
    PoseDataset("aic", "aic/test_aic.json", "aic"),
    PoseDataset("posetrack18", "posetrack18/annotations/test_posetrack18_val.json", "posetrack18"),
    PoseDataset("halpe", "halpe/test_halpe.json", "coco", HALPE_BODY),
)


def joint_name(label: str) -> str:
    """'Right Shoulder' -> 'right_shoulder'."""
    return label.strip().lower().replace(" ", "_")


@dataclass(frozen=True)
class PreparedDataset:
    """A dataset reduced to the joints Percept has: ground truth for pycocotools, and its images under names that
    are unique (PoseTrack's frames are all called 000000.jpg in their own folders)."""

    name: str
    ground_truth: dict
    joints: tuple[str, ...]  # Percept keypoint names, in the order of the reduced annotations
    images: dict[str, Path]  # unique name -> image file
    image_ids: dict[str, int]  # unique name -> image id


def prepare(data: Path, dataset: PoseDataset, percept_names: tuple[str, ...]) -> PreparedDataset:
    ann_path = data / dataset.annotations
    if not ann_path.is_file():
        raise FileNotFoundError(ann_path)
    gt = json.loads(ann_path.read_text())
    labels = dataset.joints or tuple(gt["categories"][0].get("keypoints") or ())
    wanted = set(percept_names) & set(SIGMA)
    pairs = [(i, joint_name(lab)) for i, lab in enumerate(labels) if joint_name(lab) in wanted]
    if not pairs:
        raise PerceptError(f"{dataset.name}: none of its joints ({', '.join(labels)}) is a Percept keypoint")
    rows = [i for i, _ in pairs]
    annotations = []
    for a in gt["annotations"]:
        k = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)[rows]
        k[:, 2] = np.where(k[:, 2] > 0, 2, 0)  # labelled or not: OKS ignores the visible/occluded split
        x, y, w, h = a["bbox"]
        annotations.append({**{f: a[f] for f in ("id", "image_id", "bbox")}, "category_id": 1,
                            "iscrowd": int(a.get("iscrowd", 0)), "area": float(a.get("area") or w * h),
                            "keypoints": k.reshape(-1).tolist(), "num_keypoints": int((k[:, 2] > 0).sum())})
    images, image_ids = {}, {}
    for img in gt["images"]:
        unique = img["file_name"].replace("/", "__")
        images[unique] = data / dataset.images / img["file_name"]
        image_ids[unique] = img["id"]
    truth = {"images": [{"id": i["id"], "file_name": i["file_name"], "width": i.get("width"),
                         "height": i.get("height")} for i in gt["images"]],
             "annotations": annotations,
             "categories": [{"id": 1, "name": "person", "keypoints": [n for _, n in pairs], "skeleton": []}]}
    return PreparedDataset(dataset.name, truth, tuple(n for _, n in pairs), images, image_ids)


def link_images(prepared: PreparedDataset, folder: Path) -> None:
    """The dataset's images under their unique names in ``folder`` (symlinks; copies where links are refused)."""
    folder.mkdir(parents=True, exist_ok=True)
    for unique, src in prepared.images.items():
        if not src.is_file():
            raise FileNotFoundError(src)
        dst = folder / unique
        try:
            os.symlink(src.resolve(), dst)
        except OSError:
            dst.write_bytes(src.read_bytes())


def score(prepared: PreparedDataset, results_path: Path) -> dict:
    """Keypoint AP of a results.jsonl made on ``link_images``'s folder."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dets = []
    for result in read_results(results_path):
        image_id = prepared.image_ids.get(result.source_name)
        persons = result.persons
        if image_id is None or persons.keypoints is None:
            continue
        index = [persons.keypoint_names.index(n) for n in prepared.joints]
        for i in range(len(persons)):
            kp = np.nan_to_num(persons.keypoints[i, index].astype(np.float64), nan=0.0)
            dets.append({"image_id": image_id, "category_id": 1, "score": float(persons.scores[i]),
                         "keypoints": np.round(kp, 3).reshape(-1).tolist()})
    people = sum(1 for a in prepared.ground_truth["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"])
    out = {"dataset": prepared.name, "images": len(prepared.images), "annotated_people": people,
           "detections": len(dets), "joints": list(prepared.joints)}
    if not dets:
        return {**out, "AP": 0.0, "AP50": 0.0, "AR": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = prepared.ground_truth
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "keypoints")
        ev.params.kpt_oks_sigmas = np.array([SIGMA[n] for n in prepared.joints])
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {**out, "AP": round(float(ev.stats[0]), 4), "AP50": round(float(ev.stats[1]), 4),
            "AR": round(float(ev.stats[5]), 4)}
