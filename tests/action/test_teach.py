"""Teaching Percept a new action (models/action/teach.py): labels.csv + a real recording -> a checkpoint the
online_action stage hot-loads; reproducible, cancellable, and one-line errors from `percept action train
--from-labels`."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from models.action.checkpoint import load_model
from models.action.data import Video, load_dataset
from models.action.recordings import LabelRow, read_labels, write_labels
from models.action.synth import generate_video
from models.action.teach import (TeachCancelled, TeachOptions, _split_by_runs, _split_in_time, teach_dataset,
                                 train_from_labels)
from models.stages.online_action import OnlineActionParams, OnlineActionStage
from pipeline.stage import StageContext, StreamContext
from tests.action.test_online_action_stage import CKPT, packet_with
from tests.conftest import data_path
from tests.pipeline.test_cli import assert_one_line_error, percept

TINY = TeachOptions(epochs=1, background_videos=2)


def _labels(root: Path, ranges: list[tuple[int, int, str]]) -> Path:
    path = root / "labels.csv"
    write_labels(path, [LabelRow("", "clip/results.jsonl", 1, a, b, name) for a, b, name in ranges])
    return path


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A real clip through Percept's tracked pose graph: 60 result lines, one tracked person with keypoints."""
    clip = data_path("action_clips", "tests_data_test.avi")
    root = tmp_path_factory.mktemp("recording")
    proc = percept("run", "--source", str(clip), "--graph", "pose2d", "--headless", "--out", str(root / "clip"),
                   "--no-video", "--no-progress", "--max-frames", "60")
    assert proc.returncode == 0, proc.stderr
    assert '"track_id":1' in (root / "clip" / "results.jsonl").read_text().replace(" ", "")
    return root


@pytest.fixture(scope="module")
def taught(recording, tmp_path_factory) -> tuple[Path, dict]:
    labels = _labels(recording, [(5, 25, "wave"), (35, 55, "bow")])
    out = tmp_path_factory.mktemp("taught") / "ck"
    return labels, train_from_labels([labels], out, TINY)


def test_write_labels_round_trips(tmp_path):
    rows = [LabelRow("", "people.results.jsonl", 3, 10, 40, "wave"),
            LabelRow("", "sub dir/b.jsonl", None, 0, 5, "hand, raised")]
    path = tmp_path / "labels.csv"
    write_labels(path, rows)
    back = read_labels(path)
    assert [(r.results, r.track_id, r.start, r.end, r.label) for r in back] == \
           [(r.results, r.track_id, r.start, r.end, r.label) for r in rows]
    assert path.read_text().splitlines()[0] == "results,track_id,start_frame,end_frame,label"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.csv"]  # no temp file left behind


def test_teach_end_to_end_on_a_real_recording_is_reproducible(taught, tmp_path):
    labels, result = taught
    cfg, _ = load_model(result["checkpoint"])
    assert cfg.classes == result["classes"] == ["background", "bow", "wave"]
    assert cfg.feature["type"] == "skeleton" and cfg.kind == "oadtr"
    assert [h["epoch"] for h in result["history"]] == [1]
    assert result["validation"] in ("held-out", "train") and result["device"] == "cpu"
    assert result["mAP"] is None or 0 <= result["mAP"] <= 1
    again = train_from_labels([labels], tmp_path / "again", TINY)
    assert (Path(again["checkpoint"]) / "model.safetensors").read_bytes() == \
           (Path(result["checkpoint"]) / "model.safetensors").read_bytes()


def test_teach_dataset_holds_out_segments_when_each_action_has_two(recording, tmp_path):
    labels = _labels(recording, [(3, 12, "wave"), (17, 27, "bow"), (33, 42, "wave"), (48, 57, "bow")])
    summary = teach_dataset([labels], tmp_path / "data", TINY)
    assert summary["classes"] == ["background", "bow", "wave"] and summary["validation"] == "held-out"
    data = load_dataset(tmp_path / "data")
    for split in (data.train, data.test):
        counts = np.sum([v.targets.sum(0) for v in split], axis=0)
        assert (counts > 0).all()  # every class in both splits
    assert summary["test_videos"] == 2 and summary["test_frames"] == sum(len(v.features) for v in data.test)
    assert any(v.name.startswith("synth_idle") and (v.targets[:, 0] == 1).all() for v in data.train)


def test_split_falls_back_when_an_action_has_one_segment():
    targets = np.zeros((40, 3), np.float32)
    targets[:, 0] = 1
    targets[5:15], targets[25:35] = [0, 1, 0], [0, 0, 1]
    video = Video("v", np.zeros((40, 4), np.float32), targets)
    assert _split_by_runs([video], ["background", "a", "b"], 0.25, 0) is None
    assert _split_in_time([video], ["background", "a", "b"], 0.25) is None  # the last 10 frames have no "a"
    targets[36:40] = [0, 1, 0]
    train, test = _split_in_time([video], ["background", "a", "b"], 0.25)
    assert [len(v.targets) for v in train] == [30] and [len(v.targets) for v in test] == [10]


def test_cancel_leaves_no_checkpoint(recording, tmp_path):
    labels = _labels(recording, [(5, 25, "wave"), (35, 55, "bow")])
    cancel, seen = threading.Event(), []

    def on_progress(info: dict) -> None:
        seen.append(info["stage"])
        if info["stage"] == "train":
            cancel.set()

    with pytest.raises(TeachCancelled):
        train_from_labels([labels], tmp_path / "ck", TINY, on_progress=on_progress, cancel=cancel)
    assert seen.count("train") == 1 and "eval" not in seen
    assert not (tmp_path / "ck").exists() and list(tmp_path.iterdir()) == []


def test_cli_from_labels_errors_are_one_line(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_bytes(b"\x00\xff\xfe garbage,\n")
    proc = percept("action", "train", "--from-labels", str(bad), "--out", str(tmp_path / "ck"))
    assert proc.returncode == 2
    assert_one_line_error(proc, "labels")
    proc = percept("action", "train", "--from-labels", str(bad), "--data", str(tmp_path), "--out",
                   str(tmp_path / "ck"))
    assert proc.returncode == 2
    assert_one_line_error(proc, "exactly one of --data")
    assert not (tmp_path / "ck").exists()


def test_online_action_stage_hot_loads_a_taught_checkpoint(taught):
    _, result = taught
    stage = OnlineActionStage(OnlineActionParams())
    stage.setup(StageContext("action", device="cpu"))
    demo_classes = tuple(stage.cfg.classes)
    state = stage.open_stream(StreamContext("live"))
    _, kp = generate_video(np.random.default_rng(4), "p", 3)
    out = stage.process(packet_with(kp[0:1], [1], 0), state)["persons"]
    assert out.action_labels == demo_classes and 1 in state.streamer.tracks
    previous = stage.load_checkpoint(result["checkpoint"])
    assert previous == CKPT and stage.describe()["checkpoint"] == result["checkpoint"]
    out = stage.process(packet_with(kp[1:2], [1], 1), state)["persons"]
    assert out.action_labels == ("background", "bow", "wave") and out.action_probs.shape == (1, 3)
    assert stage.load_checkpoint(previous) == Path(result["checkpoint"])
    out = stage.process(packet_with(kp[2:3], [1], 2), state)["persons"]
    assert out.action_labels == demo_classes and out.action_threshold == stage.cfg.label_threshold
