"""`percept action import penn-action`: Penn Action's 13 hand-annotated joints -> the THUMOS-layout dataset with the
skeleton features the online_action stage computes at run time. Fixtures are .mat files written here in Penn
Action's format (no data from the dataset); one test reads the real labels in ../shared/data when present."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.action.data import load_dataset
from models.action.features import keep_joints, sequence_features
from models.action.penn_action import PENN_JOINTS, PENN_TO_COCO, read_clip, resample
from models.stages.online_action import OnlineActionParams, OnlineActionStage
from models.vision.keypoints import COCO17_NAMES
from models.vision.persons import Persons
from pipeline.packet import FramePacket
from pipeline.stage import StageContext, StreamContext
from tests.pipeline.test_cli import assert_one_line_error, percept

REAL_LABELS = Path(__file__).resolve().parents[3] / "shared" / "data" / "penn_action" / "labels"
ACTIONS = ("jumping_jacks", "pushup", "squat")
CLIPS_PER_ACTION = 4


def _standing(t: int, rng: np.random.Generator, phase: float) -> tuple[np.ndarray, np.ndarray]:
    """(T,13) x, y of a front-facing person in Penn's stored order (right-first: the person's right is the
    image's left), arms swinging."""
    base = {"nose": (200, 60), "right_shoulder": (180, 100), "left_shoulder": (220, 100),
            "right_elbow": (170, 140), "left_elbow": (230, 140), "right_wrist": (165, 180),
            "left_wrist": (235, 180), "right_hip": (188, 200), "left_hip": (212, 200),
            "right_knee": (186, 260), "left_knee": (214, 260), "right_ankle": (185, 320),
            "left_ankle": (215, 320)}
    xy = np.array([base[n] for n in PENN_TO_COCO], float)[None].repeat(t, 0)
    swing = 30 * np.sin(np.linspace(0, 4 * np.pi, t) + phase)
    for j, n in enumerate(PENN_TO_COCO):
        if "wrist" in n or "elbow" in n:
            xy[:, j, 1] -= swing * (1.0 if "wrist" in n else 0.5)
    xy += rng.normal(0, 1, xy.shape)
    return xy[..., 0], xy[..., 1]


def write_mat(path: Path, action: str, frames: int, rng: np.random.Generator, hidden: tuple[int, int] | None = None,
              view: str = "front") -> None:
    from scipy.io import savemat

    x, y = _standing(frames, rng, rng.uniform(0, np.pi))
    vis = np.ones((frames, 13), np.uint8)
    if hidden is not None:
        vis[hidden] = 0
    savemat(str(path), {"action": action, "pose": view, "x": x, "y": y, "visibility": vis,
                        "bbox": np.tile([150.0, 40, 250, 330], (frames, 1)), "dimensions": np.array([[360, 480, frames]]),
                        "nframes": np.array([[frames]]), "train": np.array([[1]])})


@pytest.fixture(scope="module")
def labels_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("penn") / "labels"
    root.mkdir()
    rng = np.random.default_rng(0)
    n = 1
    for action in ACTIONS:
        for _ in range(CLIPS_PER_ACTION):
            write_mat(root / f"{n:04d}.mat", action, 40 + n, rng, hidden=(5, 1) if n == 1 else None)
            n += 1
    return root


@pytest.fixture(scope="module")
def dataset(labels_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("penn_data")
    proc = percept("action", "import", "penn-action", str(labels_dir), "--out", str(out), "--val-fraction", "0.25")
    assert proc.returncode == 0, proc.stderr
    assert "12 clips (9 train, 3 validation)" in proc.stdout, proc.stdout
    return out


def test_layout_classes_and_stratified_split(dataset):
    data = load_dataset(dataset)
    assert data.classes == ["background", *ACTIONS]
    assert len(data.train) == 9 and len(data.test) == 3
    assert sorted(int(v.targets[0].argmax()) for v in data.test) == [1, 2, 3]  # one clip of each class
    for v in data.train + data.test:
        assert (v.targets.argmax(1) == v.targets[0].argmax()).all() and v.targets[:, 0].sum() == 0
    feature = json.loads((dataset / "feature.json").read_text())
    assert feature["type"] == "skeleton" and feature["keypoints"] == "coco17" and feature["source"] == "penn_action"
    assert feature["joints"] == list(PENN_JOINTS) and len(PENN_JOINTS) == 13
    assert not {"left_eye", "right_eye", "left_ear", "right_ear"} & set(feature["joints"])


def test_features_are_the_stage_features_of_the_mapped_joints(labels_dir, dataset):
    data = load_dataset(dataset)
    videos = {v.name: v for v in data.train + data.test}
    clip = read_clip(labels_dir / "0001.mat")
    # right-first storage: Penn column 1 is the person's right shoulder, drawn on the image's left
    kp = clip.keypoints
    assert kp[0, COCO17_NAMES.index("right_shoulder"), 0] < kp[0, COCO17_NAMES.index("left_shoulder"), 0]
    assert kp[5, COCO17_NAMES.index("right_shoulder"), 2] == 0  # annotated hidden -> score 0
    assert kp[:, COCO17_NAMES.index("left_eye"), 2].max() == 0
    np.testing.assert_array_equal(videos["penn_0001"].features, sequence_features(keep_joints(kp, PENN_JOINTS)))
    vis = videos["penn_0001"].features[:, 68:]
    assert vis[5, COCO17_NAMES.index("right_shoulder")] == 0 and vis[4, COCO17_NAMES.index("right_shoulder")] == 1


def test_fps_resampling_keeps_the_stream_rate():
    kp = np.arange(30)[:, None, None] * np.ones((1, 17, 3))
    assert len(resample(kp, 30.0, None)) == 30
    half = resample(kp, 30.0, 15.0)
    np.testing.assert_array_equal(half[:, 0, 0], np.arange(0, 30, 2))
    assert len(resample(kp, 30.0, 10.0)) == 10


def test_not_penn_action_is_one_line(tmp_path):
    proc = percept("action", "import", "penn-action", str(tmp_path), "--out", str(tmp_path / "d"))
    assert proc.returncode == 2
    assert_one_line_error(proc, r"holds no Penn Action label files")
    (tmp_path / "0001.mat").write_bytes(b"not a mat file")
    proc = percept("action", "import", "penn-action", str(tmp_path), "--out", str(tmp_path / "d"))
    assert_one_line_error(proc, r"0001.mat is not a readable MATLAB file")
    from scipy.io import savemat

    savemat(str(tmp_path / "0001.mat"), {"something": np.zeros(3)})
    proc = percept("action", "import", "penn-action", str(tmp_path), "--out", str(tmp_path / "d"))
    assert_one_line_error(proc, r"0001.mat is not a Penn Action label file: it has no action, x, y, visibility")
    assert not (tmp_path / "d").exists()


def test_stage_drops_the_joints_the_checkpoint_never_saw(dataset, tmp_path):
    ck = tmp_path / "ck"
    proc = percept("action", "train", "--data", str(dataset), "--model", "oadtr", "--out", str(ck), "--epochs", "1",
                   "--no-progress", "--device", "cpu", "--augment", env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    proc = percept("action", "eval", "--data", str(dataset), "--ckpt", str(ck), "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result["early_accuracy"]) == {"10%", "25%", "50%", "100%"}
    stage = OnlineActionStage(OnlineActionParams(checkpoint=str(ck)))
    stage.setup(StageContext(name="action"))
    rng = np.random.default_rng(1)
    x, y = _standing(20, rng, 0.0)
    kp13 = np.stack([x, y, np.full_like(x, 0.9)], -1)
    kp17 = np.zeros((20, 17, 3), np.float32)
    for j, name in enumerate(PENN_TO_COCO):
        kp17[:, COCO17_NAMES.index(name)] = kp13[:, j]
    with_eyes = kp17.copy()
    for name, dx in (("left_eye", 8), ("right_eye", -8), ("left_ear", 16), ("right_ear", -16)):
        with_eyes[:, COCO17_NAMES.index(name)] = kp17[:, 0] + [dx, -6, 0]
    outputs = []
    for kps in (kp17, with_eyes):
        state = stage.open_stream(StreamContext("s"))
        for t in range(20):
            p = FramePacket(seq=t, timestamp=t / 30, color=np.zeros((8, 8, 3), np.uint8))
            p.data["persons"] = Persons(np.array([[150.0, 40, 250, 330]]), np.ones(1), np.array([1]),
                                        keypoints=kps[t:t + 1], keypoint_names=COCO17_NAMES)
            out = stage.process(p, state)["persons"]
        outputs.append(out.action_probs)
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6)


@pytest.mark.skipif(not REAL_LABELS.is_dir(), reason="../shared/data/penn_action is absent (real Penn Action labels)")
def test_real_labels_are_stored_right_first():
    """On front-view clips the person's right shoulder (as mapped) is on the image's left; on back views the
    reverse: the mapping follows the data, not the README's left-first list."""
    front = back = front_ok = back_ok = 0
    for path in sorted(REAL_LABELS.glob("*.mat"))[::5]:
        clip = read_clip(path)
        kp = clip.keypoints
        d = np.median(kp[:, COCO17_NAMES.index("left_shoulder"), 0] - kp[:, COCO17_NAMES.index("right_shoulder"), 0])
        if clip.view == "front":
            front, front_ok = front + 1, front_ok + int(d > 0)
        elif clip.view == "back":
            back, back_ok = back + 1, back_ok + int(d < 0)
    assert front > 20 and back > 20
    assert front_ok / front > 0.75 and back_ok / back > 0.6, (front_ok, front, back_ok, back)
