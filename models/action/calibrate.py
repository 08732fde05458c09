"""The abstention threshold of an action checkpoint: the probability from which the stage names the best action,
chosen on held-out data so that motion that is none of the model's classes is rarely given a label.

Background frames (held-out recordings of ordinary motion, or a dataset's test frames whose target is column 0)
give the false-label rate; action frames of a test split give the recall that the threshold leaves. The threshold
is the smallest value at which at most ``max_false_rate`` of the background frames would show a label, and never
below ``floor`` (an action must at least beat an even split with one other class).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Calibration:
    threshold: float
    background_frames: int
    false_rate: float  # share of background frames that show a label at the threshold
    action_frames: int
    recall: float  # share of action frames that show their own action at the threshold
    recall_without_threshold: float

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}


def best_action(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the most probable class and its probability, where that class is an action (-1/0 otherwise)."""
    best = probs.argmax(1)
    score = np.where(best > 0, probs[np.arange(len(probs)), best], 0.0)
    return np.where(best > 0, best, -1), score


def calibrate_threshold(background: np.ndarray, actions: np.ndarray, action_targets: np.ndarray,
                        max_false_rate: float = 0.01, floor: float = 0.5) -> Calibration:
    """``background`` (N,C) probabilities on frames that show none of the classes; ``actions`` (M,C) on frames
    whose (one-hot or multi-hot) ``action_targets`` (M,C) name an action."""
    _, bg_score = best_action(background)
    shown = np.sort(bg_score[bg_score > 0])[::-1]
    allowed = int(np.floor(max_false_rate * len(bg_score)))
    threshold = float(np.nextafter(shown[allowed], 1)) if allowed < len(shown) else 0.0
    threshold = max(threshold, floor)
    false_rate = float(np.mean(bg_score >= threshold)) if len(bg_score) else float("nan")
    is_action = action_targets[:, 1:].sum(1) > 0
    cls, score = best_action(actions[is_action])
    right = action_targets[is_action][np.arange(int(is_action.sum())), np.maximum(cls, 0)] > 0
    right &= cls > 0
    recall = float(np.mean(right & (score >= threshold))) if is_action.any() else float("nan")
    return Calibration(threshold, len(bg_score), false_rate, int(is_action.sum()), recall,
                       float(np.mean(right)) if is_action.any() else float("nan"))


def calibrate_model(model, cfg, background: list, actions: list, device, max_false_rate: float = 0.01) -> Calibration:
    """Run ``model`` online over held-out ``background`` videos (their column-0 frames count) and ``actions``
    videos (e.g. a test split), then choose the threshold as above. Videos are models.action.data.Video."""
    from models.action.inference import predict_videos

    bg = np.concatenate(predict_videos(model, cfg, [v.features for v in background], device))
    bg = bg[np.concatenate([v.targets[:, 0] > 0 for v in background])]
    act = np.concatenate(predict_videos(model, cfg, [v.features for v in actions], device))
    return calibrate_threshold(bg, act, np.concatenate([v.targets for v in actions]), max_false_rate)
