"""OKS pose NMS: one pose per person, two close people both kept."""
from __future__ import annotations

import numpy as np

from models.vision.pose_nms import oks_matrix, oks_nms


def _pose(x0: float, y0: float, scale: float = 1.0, vis: float = 0.9) -> np.ndarray:
    rng = np.random.default_rng(1)
    layout = rng.uniform(0, 1, (17, 2)) * np.array([40, 100])
    kps = np.concatenate([layout * scale + [x0, y0], np.full((17, 1), vis)], axis=1)
    return kps.astype(np.float32)


def _box(kps: np.ndarray) -> np.ndarray:
    return np.array([*kps[:, :2].min(0), *kps[:, :2].max(0)], np.float32)


def test_a_pose_is_its_own_perfect_match():
    kps = np.stack([_pose(10, 10)])
    np.testing.assert_allclose(oks_matrix(kps, _box(kps[0])[None]), [[1.0]])


def test_a_near_copy_of_a_pose_is_dropped_and_the_better_one_kept():
    a, b = _pose(100, 50), _pose(101.5, 51)  # the same person seen twice (whole frame and a tile), 1.5 px apart
    kps = np.stack([a, b])
    boxes = np.stack([_box(a), _box(b)])
    assert oks_nms(kps, boxes, np.array([0.6, 0.8]), 0.9).tolist() == [1]


def test_two_people_side_by_side_are_both_kept():
    a, b = _pose(100, 50), _pose(125, 50)  # overlapping boxes, joints 25 px apart
    kps = np.stack([a, b])
    boxes = np.stack([_box(a), _box(b)])
    assert oks_matrix(kps, boxes)[0, 1] < 0.5
    assert sorted(oks_nms(kps, boxes, np.array([0.9, 0.5]), 0.9).tolist()) == [0, 1]


def test_hidden_keypoints_do_not_count():
    a = _pose(100, 50)
    b = a.copy()
    b[:, 2] = 0.05  # the model does not see any joint of b
    kps = np.stack([a, b])
    boxes = np.stack([_box(a), _box(b)])
    assert oks_matrix(kps, boxes)[0, 1] == 0.0
    assert len(oks_nms(kps, boxes, np.array([0.9, 0.5]), 0.9)) == 2
