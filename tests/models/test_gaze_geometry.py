"""Gaze geometry: the iris centre fitted to the rim the lids leave visible, the eyes weighted by how much of each
iris is seen, and One Euro smoothing of head pose and gaze per track."""
from __future__ import annotations

import numpy as np

from models.stages.head_gaze import HeadGazeParams, HeadGazeStage
from models.vision.eye_gaze import combine
from models.vision.face_smoother import FaceSmoother
from models.vision.faces import direction_of, euler_of, rotation_of
from models.vision.iris_fit import eye_weights, fit_iris
from pipeline.stage import StreamContext


def eye_opening(top: float, bottom: float, centre=(50.0, 50.0), half_width: float = 22.0) -> np.ndarray:
    """A lid contour: an upper arc at ``top`` and a lower arc at ``bottom`` (px), corners at the sides."""
    x = np.linspace(-1, 1, 9)[1:-1]
    cx, cy = centre
    upper = np.stack([cx + half_width * x, cy - (cy - top) * (1 - x ** 2)], axis=1)
    lower = np.stack([cx - half_width * x, cy + (bottom - cy) * (1 - x ** 2)], axis=1)
    corners = np.array([[cx + half_width, cy], [cx - half_width, cy]])
    return np.concatenate([corners[1:], upper, corners[:1], lower])


def test_iris_centre_from_the_seen_rim_when_the_lid_covers_the_top():
    # true iris: centre (50, 50), radius 10; the upper lid at y = 45 hides its top. The model (as it does under a
    # lid) puts the top rim point onto the lid and its centre 3 px low
    lids = eye_opening(top=45.0, bottom=64.0)
    rim = np.array([[40.0, 50.0], [60.0, 50.0], [50.0, 60.0], [50.0, 45.6]])
    fit = fit_iris(np.array([50.0, 53.0]), rim, lids)
    assert np.linalg.norm(fit.centre - [50, 50]) < 0.05, fit.centre
    assert fit.rim_used == 3 and abs(fit.radius - 10.0) < 1e-6
    assert 0.5 < fit.seen < 0.95  # part of the disc is under the lid


def test_fully_seen_iris_keeps_its_centre_and_too_few_seen_points_keep_the_models():
    lids = eye_opening(top=30.0, bottom=70.0)
    rim = np.array([[40.0, 50.0], [60.0, 50.0], [50.0, 60.0], [50.0, 40.0]])
    fit = fit_iris(np.array([50.0, 50.0]), rim, lids)
    assert np.allclose(fit.centre, [50, 50], atol=1e-6) and fit.seen == 1.0
    squint = eye_opening(top=49.5, bottom=50.5)  # only a slit open: no rim point well inside
    fit = fit_iris(np.array([50.0, 53.0]), rim, squint)
    assert np.allclose(fit.centre, [50, 53]) and fit.rim_used == 0 and fit.seen < 0.3


def test_eyes_weighted_by_seen_share_and_size():
    rim = np.array([[40.0, 50.0], [60.0, 50.0], [50.0, 60.0], [50.0, 40.0]])
    open_eye = fit_iris(np.array([50.0, 50.0]), rim, eye_opening(30.0, 70.0))
    half_closed = fit_iris(np.array([50.0, 50.0]), rim, eye_opening(49.0, 70.0))
    w = eye_weights([half_closed, open_eye])
    assert w[1] == 20.0 and 0 < w[0] < 0.65 * w[1]
    eyes = np.stack([direction_of(20.0, 0.0), direction_of(0.0, 0.0)])
    weighted, plain = combine(eyes, w), combine(eyes)
    assert np.degrees(np.arccos(weighted @ eyes[1])) < np.degrees(np.arccos(plain @ eyes[1])) - 2.0
    assert np.allclose(combine(eyes, np.array([0.0, 1.0])), eyes[1])  # an eye that weighs nothing is not used
    assert np.allclose(combine(eyes, np.array([0.0, 0.0])), plain)  # none known to be better: the mean
    assert np.allclose(combine(np.stack([np.full(3, np.nan), eyes[1]]), np.array([5.0, 0.0])), eyes[1])


def test_one_euro_smooths_head_and_gaze_per_track():
    rng = np.random.default_rng(0)
    smoother = FaceSmoother(min_cutoff=1.0, beta=0.5)
    raw_yaw, out_yaw, out_gaze, untracked = [], [], [], []
    for k in range(60):  # a still head at yaw 10, 30 fps, with 2 deg of landmark jitter
        yaw = 10.0 + rng.normal(0, 2.0)
        rot = np.stack([rotation_of(yaw, 0, 0), rotation_of(yaw, 0, 0)])
        gaze = np.stack([direction_of(yaw, 5.0), direction_of(yaw, 5.0)])
        r, g = smoother(np.array([4, -1]), rot, gaze, k / 30.0)
        raw_yaw.append(yaw)
        out_yaw.append(euler_of(r[0])[0])
        out_gaze.append(g[0])
        untracked.append(euler_of(r[1])[0])
        assert np.allclose(r[0] @ r[0].T, np.eye(3), atol=1e-9) and abs(np.linalg.norm(g[0]) - 1) < 1e-9
    assert np.std(out_yaw[20:]) < 0.5 * np.std(raw_yaw[20:])
    assert abs(np.mean(out_yaw[20:]) - 10.0) < 1.0
    assert np.allclose(untracked, raw_yaw, atol=1e-6)  # no track id: not filtered
    # a track unseen for longer than max_missing starts afresh (no pull toward its old pose)
    for k in range(16):
        smoother(np.array([9]), rotation_of(0, 0, 0)[None], direction_of(0, 0)[None], 2.0 + k / 30)
    assert 4 not in smoother.filters
    r, _ = smoother(np.array([4]), rotation_of(-30, 0, 0)[None], direction_of(-30, 0)[None], 3.0)
    assert abs(euler_of(r[0])[0] + 30.0) < 1e-6


def test_head_gaze_stage_keeps_a_smoother_per_stream():
    stage = HeadGazeStage(HeadGazeParams())
    a, b = stage.open_stream(StreamContext("a")), stage.open_stream(StreamContext("b"))
    assert isinstance(a, FaceSmoother) and a is not b and (a.min_cutoff, a.beta) == (1.0, 0.5)
    assert HeadGazeStage(HeadGazeParams(smooth=False)).open_stream(StreamContext("a")) is None
