"""Per-frame skeleton features for action models: COCO-17 keypoints normalised for position and scale, their
velocities, and visibility flags. The pose stage's output and the procedural training data go through this same
code, so the shipped model sees at run time exactly what it was trained on."""
from __future__ import annotations

import numpy as np

from models.vision.keypoints import COCO17_NAMES

SKELETON_FEATURE_DIM = 17 * 2 * 2 + 17  # positions, velocities, visibility
_LS, _RS, _LH, _RH = (COCO17_NAMES.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))


def coco17_subset(keypoints: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """(..., K, 3) keypoints named ``names`` -> (..., 17, 3) in COCO order (missing names: score 0)."""
    index = {n: i for i, n in enumerate(names)}
    out = np.zeros(keypoints.shape[:-2] + (17, 3), np.float32)
    for j, name in enumerate(COCO17_NAMES):
        if name in index:
            out[..., j, :] = keypoints[..., index[name], :]
    return out


def keep_joints(kp17: np.ndarray, joints: list[str] | tuple[str, ...] | None) -> np.ndarray:
    """Score 0 for the COCO-17 keypoints outside ``joints`` (a checkpoint's ``feature.joints``: the keypoints its
    training data had, e.g. no eyes or ears for Penn Action); None keeps all."""
    if not joints:
        return kp17
    unknown = sorted(set(joints) - set(COCO17_NAMES))
    if unknown:
        raise ValueError(f"unknown COCO-17 keypoint names {unknown}")
    out = np.array(kp17, np.float32, copy=True)
    out[..., ~np.isin(COCO17_NAMES, joints), 2] = 0
    return out


def normalise_pose(kp17: np.ndarray, threshold: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """(N,17,3) -> positions (N,17,2) centred on the hips in torso lengths, visibility (N,17).

    Hips missing: centre on the shoulders. Torso missing: scale by the spread of what is visible.
    """
    xy = kp17[..., :2].astype(np.float32)
    vis = (kp17[..., 2] >= threshold).astype(np.float32)

    def mid(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        both = vis[:, a] * vis[:, b]
        return (xy[:, a] + xy[:, b]) / 2, both > 0

    hips, hips_ok = mid(_LH, _RH)
    shoulders, sh_ok = mid(_LS, _RS)
    any_vis = vis.sum(1) > 0
    fallback = np.where(any_vis[:, None], (xy * vis[..., None]).sum(1) / np.maximum(vis.sum(1), 1)[:, None], 0)
    centre = np.where(hips_ok[:, None], hips, np.where(sh_ok[:, None], shoulders, fallback))
    torso = np.linalg.norm(shoulders - hips, axis=1)
    spread = np.sqrt((((xy - centre[:, None]) ** 2).sum(-1) * vis).sum(1) / np.maximum(vis.sum(1), 1))
    scale = np.where(hips_ok & sh_ok & (torso > 1e-3), torso, np.maximum(spread, 1e-3))
    pos = (xy - centre[:, None]) / scale[:, None, None]
    return np.clip(pos * vis[..., None], -5, 5), vis


def skeleton_features(pos: np.ndarray, vis: np.ndarray, prev_pos: np.ndarray | None,
                      prev_vis: np.ndarray | None) -> np.ndarray:
    """Positions, velocities (0 where either frame misses the keypoint, or no previous frame), visibility."""
    n = len(pos)
    if prev_pos is None:
        vel = np.zeros_like(pos)
    else:
        both = (vis * prev_vis)[..., None]
        vel = (pos - prev_pos) * both
    return np.concatenate([pos.reshape(n, -1), vel.reshape(n, -1), vis], axis=1).astype(np.float32)


def sequence_features(kp17: np.ndarray, threshold: float = 0.3) -> np.ndarray:
    """Features of one person's keypoint sequence (T,17,3) -> (T, SKELETON_FEATURE_DIM)."""
    pos, vis = normalise_pose(kp17, threshold)
    prev_pos = np.concatenate([pos[:1], pos[:-1]])
    prev_vis = np.concatenate([np.zeros_like(vis[:1]), vis[:-1]])
    return skeleton_features(pos, vis, prev_pos, prev_vis)
