"""Pose-noise augmentation, early recognition, and abstention (calibrated threshold, the one decision rule)."""
from __future__ import annotations

import numpy as np

from models.action.augment import PoseNoise, augment_windows
from models.action.calibrate import calibrate_threshold
from models.action.features import sequence_features
from models.action.metrics import early_accuracy
from models.action.synth import generate_video
from models.vision.keypoints import COCO17_NAMES
from models.vision.persons import Persons

NO_NOISE = PoseNoise(jitter=0, outlier=0, drop=0, occlude=0, late_start=0, mirror=0, rotate_deg=0, scale=0)


def _windows(rng: np.random.Generator, n: int = 6, w: int = 24) -> np.ndarray:
    _, kp = generate_video(rng, "v", seconds=10)
    feats = sequence_features(kp)
    starts = rng.integers(1, len(feats) - w, n)
    return np.stack([feats[s:s + w] for s in starts])


def test_no_noise_gives_back_the_same_features():
    """Re-normalising and recomputing velocities is the identity on clean windows: the augmentation goes through
    the stage's own feature functions."""
    x = _windows(np.random.default_rng(0))
    np.testing.assert_allclose(augment_windows(x, np.random.default_rng(1), NO_NOISE), x, atol=1e-5)


def test_mirror_swaps_sides_and_negates_x():
    x = _windows(np.random.default_rng(2))
    mirrored = augment_windows(x, np.random.default_rng(3), PoseNoise(**{**vars(NO_NOISE), "mirror": 1.0}))
    ls, rs = COCO17_NAMES.index("left_shoulder"), COCO17_NAMES.index("right_shoulder")
    np.testing.assert_allclose(mirrored[..., 2 * ls], -x[..., 2 * rs], atol=1e-5)
    np.testing.assert_allclose(mirrored[..., 2 * ls + 1], x[..., 2 * rs + 1], atol=1e-5)
    np.testing.assert_array_equal(mirrored[..., 68 + ls], x[..., 68 + rs])


def test_dropped_keypoints_and_late_starts_look_like_the_stage_output():
    x = _windows(np.random.default_rng(4), n=64)
    y = augment_windows(x, np.random.default_rng(5), PoseNoise(drop=0.3, late_start=1.0, mirror=0))
    vis = y[..., 68:]
    assert vis.mean() < x[..., 68:].mean() - 0.1
    pos, vel = y[..., :34].reshape(*y.shape[:2], 17, 2), y[..., 34:68].reshape(*y.shape[:2], 17, 2)
    assert not pos[vis == 0].any() and not vel[vis == 0].any()  # a missed keypoint is 0, as in the stage
    for window in y:  # the track starts inside the window: empty rows, then a first row without velocity
        first = int(np.flatnonzero(window[:, 68:].any(1))[0])
        assert first > 0 and not window[:first].any() and not window[first, 34:68].any()
    assert np.isfinite(y).all() and np.abs(y[..., :34]).max() <= 5


def test_single_frame_windows_of_the_per_frame_mlp():
    x = _windows(np.random.default_rng(6), n=32, w=1)
    y = augment_windows(x, np.random.default_rng(7), PoseNoise(late_start=1.0))
    assert y.shape == x.shape and np.isfinite(y).all()


def test_early_accuracy_reads_the_online_prediction_at_each_fraction():
    t = 20
    targets = np.zeros((t, 3), np.float32)
    targets[:, 2] = 1
    probs = np.zeros((t, 3), np.float32)
    probs[:, 0] = 0.9  # background is never the answer for a clip known to hold an action
    probs[:4, 1], probs[4:, 2] = 0.1, 0.1  # wrong for the first 4 frames, right from frame 4 on
    acc = early_accuracy([probs], [targets])
    assert acc == {"10%": 0.0, "25%": 1.0, "50%": 1.0, "100%": 1.0}  # 10% -> frame 1; 25% -> frame 4
    background_only = np.eye(3, dtype=np.float32)[np.zeros(t, int)]
    assert early_accuracy([probs, probs], [targets, background_only])["10%"] == 0.0  # the second is left out


def test_calibrated_threshold_bounds_false_labels():
    rng = np.random.default_rng(0)
    bg = rng.dirichlet([4, 1, 1], 1000).astype(np.float32)  # background frames, sometimes an action on top
    pos_t = np.eye(3, dtype=np.float32)[rng.integers(1, 3, 500)]
    pos = np.clip(pos_t * 0.8 + rng.uniform(0, 0.3, pos_t.shape), 0, None)
    pos /= pos.sum(1, keepdims=True)
    cal = calibrate_threshold(bg, pos, pos_t, max_false_rate=0.01)
    best = bg.argmax(1)
    shown = (best > 0) & (bg.max(1) >= cal.threshold)
    assert shown.mean() <= 0.01 and abs(shown.mean() - cal.false_rate) < 1e-9
    assert 0.5 <= cal.threshold < 1 and cal.recall <= cal.recall_without_threshold
    assert calibrate_threshold(bg[:0], pos, pos_t).threshold == 0.5  # no background: the floor


def test_one_decision_rule_for_json_overlay_and_panel():
    probs = np.array([[0.2, 0.7, 0.1], [0.1, 0.45, 0.45], [0.6, 0.3, 0.1]], np.float32)
    p = Persons(np.zeros((3, 4)), np.ones(3), np.array([1, 2, 3]), action_probs=probs,
                action_labels=("idle", "wave", "clap"), action_threshold=0.5)
    assert [p.action_decision(i)[::2] for i in range(3)] == [("wave", True), ("idle", False), ("idle", False)]
    rec = p.to_json()
    assert rec[0]["action"]["label"] == "wave" and rec[1]["action"]["label"] == "idle"
    assert rec[1]["action"]["score"] == 0.1 and rec[0]["action"]["threshold"] == 0.5
    back = Persons.from_json(rec)
    assert back.action_threshold == 0.5 and back.action_decision(1)[0] == "idle"
    legacy = Persons(np.zeros((3, 4)), np.ones(3), action_probs=probs, action_labels=("idle", "wave", "clap"))
    assert legacy.action_decision(1)[0] == "wave" and "threshold" not in legacy.to_json()[0]["action"]
