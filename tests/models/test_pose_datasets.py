"""`percept eval pose-datasets`: several pose datasets, each scored on the joints it shares with Percept."""
from __future__ import annotations

import json

from models.eval.pose_datasets import DATASETS, joint_name, prepare
from models.vision.keypoints import MEDIAPIPE_POSE_NAMES
from tests.conftest import data_path
from tests.pipeline.test_cli import percept


def test_joint_names_are_matched_and_unknown_joints_left_out():
    assert joint_name("Right Shoulder") == "right_shoulder"
    crowdpose = next(d for d in DATASETS if d.name == "crowdpose")
    prepared = prepare(data_path("pose"), crowdpose, MEDIAPIPE_POSE_NAMES)
    assert "head" not in prepared.joints and "neck" not in prepared.joints and len(prepared.joints) == 12
    for a in prepared.ground_truth["annotations"]:
        assert len(a["keypoints"]) == 3 * 12 and a["area"] > 0


def test_pose_datasets_command_agrees_with_coco_keypoints_on_coco(tmp_path):
    """The multi-dataset command and `eval coco-keypoints` score the same COCO photos alike (all 17 joints), and
    CrowdPose, with its 12 shared joints, gets a real score."""
    folder = data_path("pose", "coco")
    proc = percept("eval", "pose-datasets", "--only", "coco", "--only", "crowdpose", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["dataset"]: r for r in json.loads(proc.stdout)["datasets"]}
    assert set(rows) == {"coco", "crowdpose"} and len(rows["crowdpose"]["joints"]) == 12
    assert rows["crowdpose"]["detections"] > 0 and 0 < rows["crowdpose"]["AP"] <= 1
    out = tmp_path / "o"
    assert percept("run", "--source", str(folder), "--headless", "--out", str(out), "--no-progress",
                   "--no-video").returncode == 0
    proc = percept("eval", "coco-keypoints", "--results", str(out / "results.jsonl"), "--annotations",
                   str(folder / "test_coco.json"), "--json")
    assert abs(json.loads(proc.stdout)["AP"] - rows["coco"]["AP"]) < 0.01


def test_unknown_dataset_is_one_clear_line():
    proc = percept("eval", "pose-datasets", "--only", "nosuch")
    assert proc.returncode != 0 and "unknown dataset nosuch" in proc.stderr and "Traceback" not in proc.stderr
