"""`percept bench` reports memory; the pose stage's output filter (``min_output_score``) keeps the result-line
contract: below the documented score a detection is not a person in the output."""
from __future__ import annotations

import json

import numpy as np
import pytest

from app.graph_bench import MemorySource, memory_line, packet_bytes, preload, replay_index
from app.command_setup import load_builtin_stages
from models.runtime.onnx import OnnxModel
from models.stages.pose import PoseParams, PoseStage
from models.vision.persons import Persons
from pipeline.errors import ConfigError
from pipeline.graph import Graph, parse_graph_config
from pipeline.packet import FramePacket
from tests.pipeline.helpers import CountingSource
from tests.pipeline.test_cli import percept


# ----- bench memory --------------------------------------------------------------------------------------------
def test_bench_json_reports_peak_rss():
    proc = percept("bench", "--source", "synthetic:160x120", "--graph", "empty", "--frames", "30", "--json")
    assert proc.returncode == 0, proc.stderr
    memory = json.loads(proc.stdout)["memory"]
    assert isinstance(memory["peak_rss_mb"], float) and memory["peak_rss_mb"] > 0
    assert memory["run_peak_rss_mb"] > 0 and memory["rss_before_mb"] > 0 and memory["rss_after_mb"] > 0
    assert memory["peak_rss_mb"] >= memory["run_peak_rss_mb"] - 1  # the process peak covers the run's
    assert memory["preloaded_mb"] > 0
    assert "peak RSS" in memory_line({"memory": memory, "distinct_frames": 30})


def test_preload_stays_within_its_byte_budget():
    source = CountingSource(50)  # 32x24 RGB frames: 2,304 bytes each
    frames = preload(source, 50, budget_mb=10 * 2304 / 2 ** 20)
    assert len(frames) == 10 and sum(packet_bytes(f) for f in frames) <= 10 * 2304
    assert len(preload(CountingSource(5), 50, budget_mb=1e-6)) == 1  # always at least one frame
    assert len(preload(CountingSource(500), 500)) == 300  # and at most 300 distinct ones


def test_replay_goes_forwards_then_backwards_sharing_the_images():
    assert [replay_index(i, 4) for i in range(10)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert [replay_index(i, 1) for i in range(3)] == [0, 0, 0]
    frames = [FramePacket(seq=i, timestamp=i / 10, color=np.full((4, 4, 3), i, np.uint8)) for i in range(3)]
    source = MemorySource(frames, total=6)
    source.open()
    out = [source.read() for _ in range(6)]
    assert source.read() is None
    assert [int(p.color[0, 0, 0]) for p in out] == [0, 1, 2, 1, 0, 1]
    assert out[3].color is frames[1].color  # packets hold the preloaded frame, not a copy
    assert np.all(np.diff([p.timestamp for p in out]) > 0)  # time goes on through the replay
    assert [p.seq for p in out] == list(range(6))


# ----- output filter -------------------------------------------------------------------------------------------
def _rest(n: int) -> list[np.ndarray]:
    """The landmark model's other outputs: a mask that covers the whole crop, flat heatmaps (no refinement)."""
    return [np.full((n, 256, 256, 1), 20.0, np.float32), np.full((n, 64, 64, 39), -20.0, np.float32),
            np.zeros((n, 117), np.float32)]


class _SureModel:
    """Stands in for the landmark model: every person certainly present, every keypoint certainly visible (so a
    person's score is its detector score), keypoints spread over the ROI."""

    def run_input(self, x):
        n = len(x)
        lm = np.zeros((n, 39, 5), np.float32)
        lm[:, :, 0] = np.linspace(60, 196, 39)
        lm[:, :, 1] = np.linspace(40, 216, 39)
        lm[:, :, 3] = 20.0  # visibility logit
        return [lm.reshape(n, 195), np.full((n, 1), 20.0, np.float32), *_rest(n)]

    # the real model's chunking, over this stand-in's run_input
    input_names = ["x"]
    run_chunked = OnnxModel.run_chunked
    run_input_chunked = OnnxModel.run_input_chunked

    def run(self, feeds):
        return self.run_input(feeds["x"])


def _pose(**params) -> PoseStage:
    stage = PoseStage(PoseParams(refine_passes=0, alignment="box", **params))
    stage.model = _SureModel()
    return stage


def _packet(scores) -> FramePacket:
    n = len(scores)
    boxes = np.array([[20 + 30 * i, 20, 60 + 30 * i, 120] for i in range(n)], np.float32)
    packet = FramePacket(seq=0, timestamp=0.0, color=np.zeros((160, 400, 3), np.uint8))
    packet.apply({"persons": Persons(boxes, np.asarray(scores, np.float32), track_ids=np.arange(n) + 1)})
    return packet


def test_people_below_min_output_score_are_not_in_the_output():
    scores = [0.9, 0.1, 0.5, 0.19, 0.21, 0.05]
    out = _pose(unaligned_weight=1.0).process(_packet(scores))["persons"]  # default threshold 0.2
    assert PoseParams().min_output_score == 0.2
    assert out.track_ids.tolist() == [1, 3, 5]  # the rows kept stay aligned with their tracks
    np.testing.assert_allclose(out.scores, [0.9, 0.5, 0.21], atol=1e-4)
    assert out.keypoints.shape == (3, 33, 3)
    assert all(p["score"] >= 0.2 for p in out.to_json())


def test_people_without_a_pose_detector_body_are_ranked_lower_not_dropped():
    """With a box ROI (no pose-detector body), the filter sees the same score, the output reports half of it."""
    scores = [0.9, 0.1, 0.5, 0.19, 0.21, 0.05]
    out = _pose().process(_packet(scores))["persons"]
    assert PoseParams().unaligned_weight == 0.5
    assert out.track_ids.tolist() == [1, 3, 5]
    np.testing.assert_allclose(out.scores, [0.45, 0.25, 0.105], atol=1e-4)


def test_min_output_score_is_configurable():
    scores = [0.9, 0.1, 0.5, 0.19, 0.21, 0.05]
    assert len(_pose(min_output_score=0.0).process(_packet(scores))["persons"]) == 6
    assert _pose(min_output_score=0.6).process(_packet(scores))["persons"].track_ids.tolist() == [1]
    assert len(_pose(min_output_score=0.95).process(_packet(scores))["persons"]) == 0


def test_min_output_score_set_in_a_graph_file():
    load_builtin_stages()
    graph = Graph.from_config(parse_graph_config({"stages": [
        {"name": "detector", "type": "person_detector"},
        {"name": "pose", "type": "pose", "params": {"min_output_score": 0.45}}]}))
    assert graph.nodes["pose"].stage.params.min_output_score == 0.45
    with pytest.raises(ConfigError, match="min_output_score"):
        Graph.from_config(parse_graph_config({"stages": [
            {"name": "detector", "type": "person_detector"},
            {"name": "pose", "type": "pose", "params": {"min_output_score": 1.5}}]}))


class _CountingModel(_SureModel):
    """Records the batch size of every call, and gives each person keypoints that depend on its own crop."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def run_input(self, crops):
        self.calls.append(len(crops))
        raw, presence, *rest = super().run_input(crops)
        raw = raw.reshape(len(crops), 39, 5)
        raw[:, :, 0] += crops.reshape(len(crops), -1).mean(axis=1)[:, None] * 10
        return [raw.reshape(len(crops), 195), presence, *rest]


def test_a_crowd_runs_in_calls_of_max_batch_with_the_same_result():
    rng = np.random.default_rng(0)
    packet = _packet([0.9] * 11)
    packet.color[:] = rng.integers(0, 255, packet.color.shape, dtype=np.uint8)
    results = {}
    for max_batch in (32, 4, 1):
        stage = PoseStage(PoseParams(refine_passes=0, alignment="box", max_batch=max_batch))
        stage.model = _CountingModel()
        results[max_batch] = stage.process(packet)["persons"]
        expected = [min(max_batch, 11 - i) for i in range(0, 11, max_batch)]
        assert stage.model.calls == expected
    assert PoseParams().max_batch == 4
    for other in (4, 1):
        np.testing.assert_allclose(results[other].keypoints, results[32].keypoints, atol=1e-4)
