"""The `online_action` stage with the shipped demo model, fed frame by frame like the pose stage would."""
from __future__ import annotations

import numpy as np
import pytest

from models.action.synth import ACTIONS, generate_video
from models.stages.online_action import OnlineActionParams, OnlineActionStage
from pipeline.packet import FramePacket
from pipeline.paths import asset
from models.vision.keypoints import COCO17_NAMES
from models.vision.persons import Persons
from pipeline.stage import StageContext, StreamContext

CKPT = asset("models", "action", "skeleton_oadtr_lite")


def packet_with(kps: np.ndarray, track_ids: list[int], seq: int) -> FramePacket:
    boxes = np.concatenate([kps[:, :, :2].min(1), kps[:, :, :2].max(1)], axis=1)
    persons = Persons(boxes, np.ones(len(kps)), np.array(track_ids), keypoints=kps, keypoint_names=COCO17_NAMES)
    p = FramePacket(seq=seq, timestamp=seq / 15, color=np.zeros((480, 640, 3), np.uint8))
    p.data["persons"] = persons
    return p


@pytest.fixture
def stage():
    if not (CKPT / "model.safetensors").is_file():
        pytest.fail(f"the shipped demo action model is missing: {CKPT} (run tools/train_demo_action.py)")
    s = OnlineActionStage(OnlineActionParams(max_missing_frames=5))
    s.setup(StageContext(name="action"))
    return s


@pytest.fixture
def state(stage):
    return stage.open_stream(StreamContext("test"))


def test_demo_model_recognises_procedural_actions_per_track(stage, state):
    rng = np.random.default_rng(123)  # not a seed used for training
    (va, ka), (vb, kb) = generate_video(rng, "a", 25), generate_video(rng, "b", 25)
    t = min(len(ka), len(kb))
    correct = total = 0
    for i in range(t):
        out = stage.process(packet_with(np.stack([ka[i], kb[i]]), [7, 9], i), state)["persons"]
        assert out.action_labels == ACTIONS and out.action_probs.shape == (2, len(ACTIONS))
        assert out.action_future.shape[:2] == (2, stage.cfg.future_steps)
        pred = out.action_probs.argmax(1)
        truth = np.array([va.targets[i].argmax(), vb.targets[i].argmax()])
        correct += int((pred == truth).sum())
        total += 2
    record = out.to_json()[0]["action"]
    assert record["label"] in ACTIONS and abs(sum(record["scores"].values()) - 1) < 1e-2
    assert len(record["anticipated"]) == stage.cfg.future_steps
    assert correct / total > 0.6, correct / total


def test_track_state_is_freed_when_a_person_leaves(stage, state):
    rng = np.random.default_rng(5)
    _, kp = generate_video(rng, "x", 5)
    stage.process(packet_with(np.stack([kp[0], kp[0]]), [1, 2], 0), state)
    assert set(state.streamer.tracks) == {1, 2}
    for i in range(1, 8):
        stage.process(packet_with(kp[i:i + 1], [2], i), state)
    assert set(state.streamer.tracks) == {2} and 1 not in state.previous


def test_streams_do_not_share_action_state(stage):
    """The same track id in two streams is two people: their memories stay apart, and a fresh stream starts
    from nothing (as a new file must)."""
    rng = np.random.default_rng(9)
    _, kw = generate_video(rng, "w", 20)
    a, b = stage.open_stream(StreamContext("a")), stage.open_stream(StreamContext("b"))
    for i in range(15):
        stage.process(packet_with(kw[i:i + 1], [1], i), a)
    assert set(a.streamer.tracks) == {1} and not b.streamer.tracks and not b.previous
    fresh = stage.open_stream(StreamContext("c"))
    first_a = stage.process(packet_with(kw[15:16], [1], 15), a)["persons"].action_probs
    first_c = stage.process(packet_with(kw[15:16], [1], 15), fresh)["persons"].action_probs
    assert not np.allclose(first_a, first_c)  # a's answer uses its history; c has none


def test_persons_without_keypoints_pass_through(stage, state):
    p = FramePacket(seq=0, timestamp=0, color=np.zeros((4, 4, 3), np.uint8))
    p.data["persons"] = Persons(np.zeros((1, 4)), np.ones(1))
    assert stage.process(p, state)["persons"].action_probs is None
