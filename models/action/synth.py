"""Procedurally generated, labelled skeleton motion for the demo action model.

A 3D stick figure with random body proportions performs a random sequence of actions (idle between them) at a
random speed, seen from a random viewpoint, projected to image pixels, with keypoint noise and missed keypoints:
the same COCO-17 keypoint space the pose stage outputs. Several labels can only be told apart over time:
``raise_hand`` and ``lower_hand`` pass through the same poses in opposite order, and ``wave`` / ``clap`` are
periodic movements around poses that also occur while idle or holding a hand up.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.action.data import Video
from models.action.features import sequence_features
from models.vision.keypoints import COCO17_NAMES

ACTIONS = ("idle", "wave", "raise_hand", "lower_hand", "clap", "squat", "walk_in_place")
_J = {n: i for i, n in enumerate(COCO17_NAMES)}


@dataclass
class Body:
    torso: float
    shoulder_half: float
    hip_half: float
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    head: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Body":
        s = rng.uniform(0.8, 1.15)
        r = lambda lo, hi: s * rng.uniform(lo, hi)  # noqa: E731
        return cls(r(0.45, 0.58), r(0.16, 0.22), r(0.09, 0.14), r(0.26, 0.33), r(0.23, 0.29), r(0.38, 0.48),
                   r(0.37, 0.46), r(0.2, 0.26))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _arm(shoulder, d1, d2, body: Body):
    elbow = shoulder + body.upper_arm * _unit(d1)
    return elbow, elbow + body.forearm * _unit(d2)


def _pose(action: str, phase: float, t: float, freq: float, body: Body, side: float) -> np.ndarray:
    """3D joints (17,3) in metres, body frame: x to the person's left, y up, z forward."""
    j = np.zeros((17, 3))
    leg = body.thigh + body.shin
    hip_y, knee_fwd = leg, 0.02
    lift_l = lift_r = 0.0
    sway = 0.015 * np.sin(2 * np.pi * 0.3 * t)
    down = np.array([0.0, -1.0, 0.04])
    arm_l = (down + [0.1, 0, 0], down + [0.05, 0, 0.1])
    arm_r = (down + [-0.1, 0, 0], down + [-0.05, 0, 0.1])
    w = 2 * np.pi * freq * t
    if action == "wave":
        theta = 0.55 * np.sin(w)
        raised = (np.array([-0.75, 0.65, 0.1]), np.array([-np.sin(theta), np.cos(theta), 0.05]))
        arm_r = raised if side > 0 else arm_r
        arm_l = (raised[0] * [-1, 1, 1], raised[1] * [-1, 1, 1]) if side < 0 else arm_l
    elif action in ("raise_hand", "lower_hand"):
        a = np.pi * 0.95 * (phase if action == "raise_hand" else 1 - phase)
        d = np.array([-0.35 * np.sin(a), -np.cos(a), 0.5 * np.sin(a)])
        if side > 0:
            arm_r = (d, d)
        else:
            arm_l = (d * [-1, 1, 1], d * [-1, 1, 1])
    elif action == "hold_up":  # between raise and lower: labelled idle
        d = np.array([-0.35 * np.sin(0.95 * np.pi), -np.cos(0.95 * np.pi), 0.5 * np.sin(0.95 * np.pi)])
        if side > 0:
            arm_r = (d, d)
        else:
            arm_l = (d * [-1, 1, 1], d * [-1, 1, 1])
    elif action == "clap":
        gap = 0.5 * (1 + np.cos(w))  # 1 apart, 0 together
        arm_l = (np.array([0.25, -0.6, 0.8]), np.array([-0.2 - 0.6 * (1 - gap), 0.25, 1.0]))
        arm_r = (np.array([-0.25, -0.6, 0.8]), np.array([0.2 + 0.6 * (1 - gap), 0.25, 1.0]))
        arm_l = (arm_l[0], arm_l[1] + [0.9 * gap, 0, 0])
        arm_r = (arm_r[0], arm_r[1] - [0.9 * gap, 0, 0])
    elif action == "squat":
        depth = np.sin(np.pi * phase)
        hip_y = leg * (1 - 0.42 * depth)
        knee_fwd = 0.02 + 0.3 * depth
        arm_l = (np.array([0.05, -1 + 1.2 * depth, 0.3 + 0.9 * depth]),) * 2
        arm_r = (np.array([-0.05, -1 + 1.2 * depth, 0.3 + 0.9 * depth]),) * 2
    elif action == "walk_in_place":
        s = np.sin(w)
        lift_l, lift_r = max(s, 0) * 0.35, max(-s, 0) * 0.35
        arm_l = (down + [0.05, 0, -0.45 * s], down + [0.05, 0, -0.3 * s + 0.2])
        arm_r = (down + [-0.05, 0, 0.45 * s], down + [-0.05, 0, 0.3 * s + 0.2])
    hip_c = np.array([sway, hip_y, 0.0])
    j[_J["left_hip"]] = hip_c + [body.hip_half, 0, 0]
    j[_J["right_hip"]] = hip_c - [body.hip_half, 0, 0]
    sh_c = hip_c + [0.0, body.torso, 0.0]
    j[_J["left_shoulder"]] = sh_c + [body.shoulder_half, 0, 0]
    j[_J["right_shoulder"]] = sh_c - [body.shoulder_half, 0, 0]
    head = sh_c + [0, body.head * 0.7, 0.03]
    j[_J["nose"]] = head + [0, 0.02, 0.1]
    j[_J["left_eye"]] = head + [0.03, 0.05, 0.08]
    j[_J["right_eye"]] = head + [-0.03, 0.05, 0.08]
    j[_J["left_ear"]] = head + [0.075, 0.03, 0.0]
    j[_J["right_ear"]] = head + [-0.075, 0.03, 0.0]
    for s_name, e_name, w_name, (d1, d2) in (("left_shoulder", "left_elbow", "left_wrist", arm_l),
                                              ("right_shoulder", "right_elbow", "right_wrist", arm_r)):
        j[_J[e_name]], j[_J[w_name]] = _arm(j[_J[s_name]], np.asarray(d1, float), np.asarray(d2, float), body)
    for hip, knee, ankle, lift in (("left_hip", "left_knee", "left_ankle", lift_l),
                                   ("right_hip", "right_knee", "right_ankle", lift_r)):
        h = j[_J[hip]]
        # knee placed so the foot stays on the floor (squat) or lifts (walking): two-bone solve in the y-z plane
        foot = np.array([h[0], lift, 0.0])
        dist = np.linalg.norm(foot - h)
        a, b = body.thigh, body.shin
        dist = min(dist, a + b - 1e-6)
        along = (a * a - b * b + dist * dist) / (2 * dist)
        off = np.sqrt(max(a * a - along * along, 0.0))
        axis = _unit(foot - h)
        fwd = np.array([0.0, 0.0, 1.0]) + 0 * knee_fwd
        perp = _unit(fwd - axis * (fwd @ axis))
        j[_J[knee]] = h + axis * along + perp * off
        j[_J[ankle]] = foot
    return j


def _schedule(rng: np.random.Generator, seconds: float, speed: float) -> list[tuple[str, str, float]]:
    """(label, motion, duration s) segments: actions with idle between; a raise is followed by a hold and a lower."""
    out, total = [], 0.0
    while total < seconds:
        idle = rng.uniform(0.8, 2.5) / speed
        out.append(("idle", "idle", idle))
        action = rng.choice(["wave", "raise_hand", "clap", "squat", "walk_in_place", "lower_hand"])
        if action in ("raise_hand", "lower_hand"):
            out += [("raise_hand", "raise_hand", rng.uniform(0.8, 1.6) / speed),
                    ("idle", "hold_up", rng.uniform(0.3, 1.5) / speed),
                    ("lower_hand", "lower_hand", rng.uniform(0.8, 1.6) / speed)]
        else:
            out.append((action, action, rng.uniform(1.5, 3.5) / speed))
        total = sum(d for _, _, d in out)
    return out


def generate_video(rng: np.random.Generator, name: str, seconds: float = 30.0, fps: float = 15.0,
                   classes: tuple[str, ...] = ACTIONS) -> tuple[Video, np.ndarray]:
    """One person's labelled sequence: (Video with skeleton features and one-hot targets, keypoints (T,17,3))."""
    body, speed = Body.random(rng), rng.uniform(0.7, 1.4)
    side = rng.choice([-1.0, 1.0])
    freq = rng.uniform(1.2, 2.4) * speed
    yaw = np.deg2rad(rng.uniform(-70, 70))
    rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    dist, f = rng.uniform(2.5, 6.0), rng.uniform(450, 900)
    cx, cy = rng.uniform(200, 440), rng.uniform(260, 380)
    noise_px, miss = rng.uniform(0.5, 3.0), rng.uniform(0.0, 0.12)
    frames, labels = [], []
    t = 0.0
    for label, motion, duration in _schedule(rng, seconds, speed):
        n = max(1, int(round(duration * fps)))
        for k in range(n):
            joints = _pose(motion, (k + 0.5) / n, t, freq, body, side) @ rot.T
            z = dist - joints[:, 2]
            uv = np.stack([cx - f * joints[:, 0] / z, cy - f * (joints[:, 1] - 0.9) / z], axis=1)
            frames.append(uv)
            labels.append(classes.index(label))
            t += 1 / fps
    uv = np.asarray(frames) + rng.normal(0, noise_px, (len(frames), 17, 2))
    scores = rng.uniform(0.55, 1.0, (len(frames), 17))
    missed = rng.random((len(frames), 17)) < miss
    # occasional spells where one wrist/elbow is lost for a while (occlusion)
    for _ in range(rng.integers(0, 4)):
        start, length = rng.integers(0, len(frames)), rng.integers(5, 30)
        missed[start:start + length, rng.choice([_J["left_wrist"], _J["right_wrist"], _J["left_elbow"]])] = True
    scores[missed] = rng.uniform(0.0, 0.2, missed.sum())
    uv[missed] += rng.normal(0, 20, (missed.sum(), 2))
    kp = np.concatenate([uv, scores[..., None]], axis=2).astype(np.float32)
    targets = np.eye(len(classes), dtype=np.float32)[labels]
    return Video(name, sequence_features(kp), targets), kp


def generate_dataset(n_train: int, n_test: int, seed: int = 0, seconds: float = 30.0, fps: float = 15.0,
                     positions_only: bool = False) -> tuple[list[str], dict[str, list[Video]]]:
    """Train/test splits of procedural videos. ``positions_only`` drops velocities from the features (used to
    show that temporal models recover direction of motion that a per-frame model cannot see)."""
    rng = np.random.default_rng(seed)
    videos = {"train": [], "test": []}
    for split, count in (("train", n_train), ("test", n_test)):
        for i in range(count):
            video, _ = generate_video(rng, f"{split}_{i:04d}", seconds, fps)
            if positions_only:
                video = Video(video.name, np.concatenate([video.features[:, :34], video.features[:, 68:]], 1),
                              video.targets)
            videos[split].append(video)
    return list(ACTIONS), videos
