"""Pose-noise augmentation of skeleton feature windows, so a model trained on clean (hand-annotated or generated)
joints holds up on the pose stage's output: jitter, missed keypoints, occluded limbs, tracks that start late,
mirror images, small turns and scale errors.

It works on the features themselves (models/action/features.py layout: 34 positions, 34 velocities, 17
visibilities): the positions of each window are perturbed as keypoints, then normalised again and their
velocities recomputed by the same functions the stage uses (``normalise_pose``, ``skeleton_features``), so a
dropped hip re-centres the pose exactly as it does at run time. The first row of a window keeps its stored
velocity (its previous frame is outside the window), turned and mirrored like the positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.action.features import SKELETON_FEATURE_DIM, normalise_pose, skeleton_features
from models.vision.keypoints import COCO17_NAMES

_MIRROR = np.array([COCO17_NAMES.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_"))
                    for n in COCO17_NAMES])
_LIMBS = [[COCO17_NAMES.index(f"{side}_{part}") for part in parts]
          for side in ("left", "right")
          for parts in (("elbow", "wrist"), ("knee", "ankle"), ("hip", "knee", "ankle"))]


@dataclass
class PoseNoise:
    """Strengths; each window draws its own amounts up to these."""

    jitter: float = 0.06  # Gaussian keypoint noise, in torso lengths (std, drawn per window from [0, jitter])
    outlier: float = 0.03  # chance that a keypoint lands far off on a frame (drawn per window from [0, outlier])
    outlier_size: float = 0.5  # std of such a jump, in torso lengths
    drop: float = 0.1  # chance that a keypoint is missed on a frame (drawn per window from [0, drop])
    occlude: float = 0.25  # chance that a window has a limb hidden over a stretch of frames
    late_start: float = 0.2  # chance that the track starts inside the window (earlier rows empty)
    mirror: float = 0.5
    rotate_deg: float = 10.0
    scale: float = 0.1  # torso-length error: positions scaled by 1 +- scale


def augment_windows(x: np.ndarray, rng: np.random.Generator, noise: PoseNoise = PoseNoise(),
                    threshold: float = 0.3) -> np.ndarray:
    """(B, W, 85) skeleton feature windows -> perturbed windows of the same layout (new array)."""
    b, w, d = x.shape
    if d != SKELETON_FEATURE_DIM:
        raise ValueError(f"pose-noise augmentation needs {SKELETON_FEATURE_DIM}-d skeleton features, got {d}")
    pos = x[..., :34].reshape(b, w, 17, 2).astype(np.float32)
    vel0 = x[:, 0, 34:68].reshape(b, 17, 2).astype(np.float32)
    vis = x[..., 68:].astype(np.float32) > 0.5

    flip = rng.random(b) < noise.mirror
    pos[flip] = pos[flip][:, :, _MIRROR] * np.float32([-1, 1])
    vel0[flip] = vel0[flip][:, _MIRROR] * np.float32([-1, 1])
    vis[flip] = vis[flip][:, :, _MIRROR]
    vis0 = vis[:, 0].copy()  # row 0's own visibility before drops: its stored velocity's mask

    angle = np.deg2rad(rng.uniform(-noise.rotate_deg, noise.rotate_deg, b))
    scale = rng.uniform(1 - noise.scale, 1 + noise.scale, b)
    rot = (np.stack([np.cos(angle), -np.sin(angle), np.sin(angle), np.cos(angle)], -1).reshape(b, 2, 2)
           * scale[:, None, None]).astype(np.float32)
    pos = np.einsum("bij,bwkj->bwki", rot, pos)
    vel0 = np.einsum("bij,bkj->bki", rot, vel0)
    pos += rng.normal(size=pos.shape).astype(np.float32) * rng.uniform(0, noise.jitter, (b, 1, 1, 1))
    jump = rng.random(pos.shape[:3]) < rng.uniform(0, noise.outlier, (b, 1, 1))
    pos[jump] += rng.normal(0, noise.outlier_size, (int(jump.sum()), 2)).astype(np.float32)

    keep = rng.random(vis.shape) >= rng.uniform(0, noise.drop, (b, 1, 1))
    for i in np.flatnonzero(rng.random(b) < noise.occlude):
        start = rng.integers(0, w)
        keep[i, start:start + rng.integers(1, w + 1), _LIMBS[rng.integers(len(_LIMBS))]] = False
    for i in np.flatnonzero(rng.random(b) < (noise.late_start if w > 1 else 0.0)):  # a 1-frame window has no start
        keep[i, :rng.integers(1, w)] = False
    vis &= keep

    kp = np.concatenate([pos, vis[..., None].astype(np.float32)], -1).reshape(b * w, 17, 3)
    npos, nvis = normalise_pose(kp, threshold)
    npos, nvis = npos.reshape(b, w, 17, 2), nvis.reshape(b, w, 17)
    prev_pos = np.concatenate([npos[:, :1], npos[:, :-1]], 1)
    prev_vis = np.concatenate([np.zeros_like(nvis[:, :1]), nvis[:, :-1]], 1)
    out = skeleton_features(npos.reshape(-1, 17, 2), nvis.reshape(-1, 17), prev_pos.reshape(-1, 17, 2),
                            prev_vis.reshape(-1, 17)).reshape(b, w, d)
    first_vel = vel0 * (nvis[:, 0] * vis0)[..., None]  # the stored velocity, where row 0 still sees the keypoint
    out[:, 0, 34:68] = first_vel.reshape(b, 34)
    return out
