"""`percept action features`: labelled results.jsonl recordings -> a THUMOS-layout dataset whose features are
exactly what the online_action stage computes at run time, and that `percept action train` turns into a checkpoint
the stage accepts."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from models.action.data import load_dataset
from models.action.features import SKELETON_FEATURE_DIM
from models.action.synth import generate_video
from models.stages.online_action import OnlineActionParams, OnlineActionStage
from pipeline.packet import FramePacket
from pipeline.paths import asset
from models.vision.keypoints import COCO17_NAMES, MEDIAPIPE_POSE_NAMES
from models.vision.persons import Persons
from pipeline.stage import StageContext, StreamContext
from tests.pipeline.test_cli import assert_one_line_error, percept

MAX_GAP = 5  # --max-gap, and the stage's max_missing_frames in the parity check
COCO_IN_MP = [MEDIAPIPE_POSE_NAMES.index(n) for n in COCO17_NAMES]

# presence of each track, by frame (file "a": 80 lines, file "b": 40 lines)
A_FRAMES = 80
A_TRACKS = {
    1: [f for f in range(A_FRAMES)],  # frame 45 is a line whose persons have no keypoints (does not count)
    2: [f for f in range(A_FRAMES) if not (25 <= f <= 27 or 40 <= f <= 49)],  # gap 3: bridged; gap 10: split
}
A_NO_KEYPOINTS = 45
A_UNTRACKED = range(60, 70)  # an extra person with track_id null
B_FRAMES = 40
B_TRACKS = {
    5: [f for f in range(B_FRAMES) if not 20 <= f <= 25],  # gap 6 (= MAX_GAP + 1) of empty frames: split
    6: list(range(10)),  # 10 frames: under --min-frames 12
}
LABELS = """results,track_id,start_frame,end_frame,label
a/results.jsonl,1,10,29,wave
a/results.jsonl,1,25,34,clap
a/results.jsonl,2,30,59,squat
b/results.jsonl,*,5,9,wave
"""


def _mediapipe_keypoints(kp17: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    kp = np.concatenate([rng.uniform(100, 500, (33, 2)), rng.uniform(0, 1, (33, 1))], axis=1)
    kp[COCO_IN_MP] = kp17
    return kp


def _write_results(path: Path, n_frames: int, tracks: dict[int, list[int]], seed: int,
                   no_keypoints: int | None = None, untracked=range(0)) -> None:
    rng = np.random.default_rng(seed)
    motion = {tid: generate_video(rng, str(tid), seconds=8)[1] for tid in [*tracks, -1]}  # (T,17,3) moving
    lines = []
    for f in range(n_frames):
        ids = [tid for tid, frames in tracks.items() if f in frames] + ([-1] if f in untracked else [])
        if ids:
            kps = np.stack([_mediapipe_keypoints(motion[tid][f], rng) for tid in ids])
            boxes = np.concatenate([kps[:, :, :2].min(1), kps[:, :, :2].max(1)], axis=1)
            persons = Persons(boxes, np.full(len(ids), 0.9), np.array(ids),
                              keypoints=None if f == no_keypoints else kps,
                              keypoint_names=() if f == no_keypoints else MEDIAPIPE_POSE_NAMES)
        else:
            persons = Persons.empty()
        lines.append({"frame": f, "timestamp": f / 15, "source_name": "clip.mp4", "width": 640, "height": 480,
                      "persons": persons.to_json(), "objects": [], "latency_ms": {}, "errors": []})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))


def _persons_from_json(persons: list[dict]) -> Persons:
    """The Persons the stage gets for a result line's persons (what the pose stage wrote)."""
    if not persons:
        return Persons.empty()
    tids = np.array([p["track_id"] if p["track_id"] is not None else -1 for p in persons])
    boxes, scores = np.array([p["bbox"] for p in persons]), np.array([p["score"] for p in persons])
    if persons[0]["keypoints"] is None:
        return Persons(boxes, scores, tids)
    names = tuple(persons[0]["keypoints"])
    kps = np.array([[p["keypoints"][n] for n in names] for p in persons], np.float32)
    return Persons(boxes, scores, tids, keypoints=kps, keypoint_names=names)


def _stage_features(results: Path) -> dict[tuple[int, int], np.ndarray]:
    """Run the online_action stage over a results file; the features it computed, by (track id, frame)."""
    stage = OnlineActionStage(OnlineActionParams(max_missing_frames=MAX_GAP))
    stage.setup(StageContext(name="action"))
    state = stage.open_stream(StreamContext("results"))
    seen: dict[tuple[int, int], np.ndarray] = {}
    compute = stage._skeleton_features
    for line in results.read_text().splitlines():
        record = json.loads(line)
        persons = _persons_from_json(record["persons"])

        def capture(p: Persons, state, frame=record["frame"]) -> np.ndarray:
            feats = compute(p, state)
            for tid, row in zip(p.track_ids.tolist(), feats):
                if tid >= 0:
                    seen[(tid, frame)] = row
            return feats

        stage._skeleton_features = capture
        packet = FramePacket(seq=record["frame"], timestamp=record["timestamp"], color=np.zeros((4, 4, 3), np.uint8))
        packet.data["persons"] = persons
        stage.process(packet, state)
    return seen


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models: one thread is faster, and far faster on a busy machine (two threads spin against each other)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("recordings")
    _write_results(root / "a" / "results.jsonl", A_FRAMES, A_TRACKS, 1, A_NO_KEYPOINTS, A_UNTRACKED)
    _write_results(root / "b" / "results.jsonl", B_FRAMES, B_TRACKS, 2)
    (root / "labels.csv").write_text(LABELS)
    return root


@pytest.fixture(scope="module")
def dataset(recordings) -> Path:
    out = recordings / "data"
    proc = percept("action", "features", "--results", str(recordings / "a" / "results.jsonl"),
                   "--results", str(recordings / "b" / "results.jsonl"), "--labels", str(recordings / "labels.csv"),
                   "--out", str(out), "--min-frames", "12", "--max-gap", str(MAX_GAP), "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    # every label row lands on a written video (only a warning about which classes the 1 test video lacks)
    assert all(line.startswith("warning: the test split") for line in proc.stderr.splitlines()), proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and "5 videos (4 train, 1 test)" in lines[0], proc.stdout
    assert "left out 1 segments" in lines[0] and "background" in lines[0], proc.stdout
    return out


def test_dataset_layout_and_labels(dataset):
    data = load_dataset(dataset)
    assert data.classes == ["background", "clap", "squat", "wave"]
    videos = {v.name: v for v in data.train + data.test}
    frames = {"a_results__t1": [f for f in A_TRACKS[1] if f != A_NO_KEYPOINTS],
              "a_results__t2__s0": [f for f in A_TRACKS[2] if f < 40],
              "a_results__t2__s1": [f for f in A_TRACKS[2] if f >= 50],
              "b_results__t5__s0": list(range(20)), "b_results__t5__s1": list(range(26, 40))}
    assert set(videos) == set(frames) and len(data.test) == 1
    assert json.loads((dataset / "feature.json").read_text())["type"] == "skeleton"
    provenance = json.loads((dataset / "videos.json").read_text())
    for name, fr in frames.items():
        v = videos[name]
        assert v.features.shape == (len(fr), SKELETON_FEATURE_DIM) and v.targets.shape == (len(fr), 4)
        assert (provenance[name]["first_frame"], provenance[name]["last_frame"]) == (fr[0], fr[-1])
        assert np.all(v.targets.sum(1) >= 1)
    fr = np.array(frames["a_results__t1"])
    t1 = videos["a_results__t1"].targets
    np.testing.assert_array_equal(t1[:, 3], (fr >= 10) & (fr <= 29))  # wave
    np.testing.assert_array_equal(t1[:, 1], (fr >= 25) & (fr <= 34))  # clap, overlapping wave: multi-hot
    np.testing.assert_array_equal(t1[:, 0], (fr < 10) | (fr > 34))
    for name in ("a_results__t2__s0", "a_results__t2__s1"):
        fr = np.array(frames[name])
        np.testing.assert_array_equal(videos[name].targets[:, 2], (fr >= 30) & (fr <= 59))  # squat
        assert videos[name].targets[:, [1, 3]].sum() == 0
    np.testing.assert_array_equal(videos["b_results__t5__s0"].targets.argmax(1),
                                  np.where((np.arange(20) >= 5) & (np.arange(20) <= 9), 3, 0))
    assert videos["b_results__t5__s1"].targets[:, 0].all()


def test_features_equal_what_the_stage_computes(recordings, dataset):
    if not (asset("models", "action", "skeleton_oadtr_lite") / "model.safetensors").is_file():
        pytest.fail("the shipped demo action model is missing (run tools/train_demo_action.py)")
    data = load_dataset(dataset)
    videos = {v.name: v for v in data.train + data.test}
    provenance = json.loads((dataset / "videos.json").read_text())
    for prefix in ("a", "b"):
        stage = _stage_features(recordings / prefix / "results.jsonl")
        for name, info in provenance.items():
            if not name.startswith(f"{prefix}_results"):
                continue
            tid = info["track_id"]
            keys = sorted(k for k in stage if k[0] == tid and info["first_frame"] <= k[1] <= info["last_frame"])
            expected = np.stack([stage[k] for k in keys])
            np.testing.assert_array_equal(videos[name].features, expected, err_msg=name)
            # a segment after a split starts with zero velocity, as the stage's fresh track state does
            assert not videos[name].features[0, 34:68].any(), name
    # the bridged gap keeps the velocity across it (frame 28 against frame 24)
    s0 = videos["a_results__t2__s0"].features
    assert s0[25, 34:68].any()


def test_train_on_recordings_gives_a_checkpoint_the_stage_accepts(dataset, tmp_path):
    ck = tmp_path / "ck"
    proc = percept("action", "train", "--data", str(dataset), "--model", "oadtr", "--out", str(ck), "--epochs", "1",
                   "--no-progress", "--device", "cpu", env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads((ck / "config.json").read_text())
    assert cfg["feature"]["type"] == "skeleton" and cfg["feature"]["keypoints"] == "coco17"
    assert cfg["feature_dim"] == SKELETON_FEATURE_DIM and cfg["classes"] == ["background", "clap", "squat", "wave"]
    stage = OnlineActionStage(OnlineActionParams(checkpoint=str(ck)))
    stage.setup(StageContext(name="action"))  # a checkpoint without the skeleton feature type is refused here
    assert stage.cfg.classes[0] == "background"


def test_bad_labels_file_is_one_line(recordings, tmp_path):
    results = str(recordings / "a" / "results.jsonl")
    bad = tmp_path / "labels.csv"
    bad.write_text("results,track,start_frame,end_frame,label\nx,1,0,3,wave\n")
    proc = percept("action", "features", "--results", results, "--labels", str(bad), "--out", str(tmp_path / "d"))
    assert proc.returncode == 2
    assert_one_line_error(proc, r"missing track_id")
    bad.write_text("results,track_id,start_frame,end_frame,label\nother.jsonl,1,0,3,wave\n")
    proc = percept("action", "features", "--results", results, "--labels", str(bad), "--out", str(tmp_path / "d"))
    assert proc.returncode == 2
    assert_one_line_error(proc, r"'other.jsonl' is none of the --results files")
    assert not (tmp_path / "d").exists()


def test_calibrate_writes_a_threshold_from_held_out_recordings(recordings, dataset, tmp_path):
    ck = tmp_path / "ck"
    proc = percept("action", "train", "--data", str(dataset), "--model", "oadtr", "--out", str(ck), "--epochs", "1",
                   "--no-progress", "--device", "cpu", env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    proc = percept("action", "calibrate", "--ckpt", str(ck), "--background", str(recordings / "b" / "results.jsonl"),
                   "--data", str(dataset), "--max-false-rate", "0.1", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    threshold = json.loads((ck / "config.json").read_text())["label_threshold"]
    assert 0.5 <= threshold <= 1 and f"label_threshold {threshold:.4f}" in proc.stdout, proc.stdout
    match = re.search(r"([\d.]+)% of (\d+) background frames labelled", proc.stdout)
    assert match and float(match.group(1)) <= 10 and int(match.group(2)) >= 16, proc.stdout
    stage = OnlineActionStage(OnlineActionParams(checkpoint=str(ck)))
    stage.setup(StageContext(name="action"))
    assert stage.label_threshold == threshold
    proc = percept("action", "calibrate", "--ckpt", str(ck), "--background", str(tmp_path / "none.jsonl"),
                   "--data", str(dataset))
    assert_one_line_error(proc, r"none.jsonl not found")
