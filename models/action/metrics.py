"""Frame-level metrics as the benchmarks score them.

- per-frame mAP (THUMOS'14 protocol of online action detection papers): for each action class (background
  excluded), the average precision of that class's scores over all test frames; then the mean.
- mcAP (TVSeries, De Geest et al. ECCV 2016): AP with precision calibrated for the class's ratio of negatives to
  positives w: cPrec = TP / (TP + FP / w), so that classes of different frequency compare.
"""
from __future__ import annotations

import numpy as np


def average_precision(scores: np.ndarray, labels: np.ndarray, calibrated: bool = False) -> float:
    """AP of binary ``labels`` ranked by ``scores`` (mean precision at each positive, in rank order)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels) > 0.5
    positives = int(labels.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    hits = labels[order]
    tp = np.cumsum(hits)
    fp = np.cumsum(~hits)
    if calibrated:
        w = (len(labels) - positives) / positives
        precision = tp / np.maximum(tp + fp / max(w, 1e-12), 1e-12)
    else:
        precision = tp / (tp + fp)
    return float(precision[hits].sum() / positives)


def frame_map(scores: np.ndarray, targets: np.ndarray, classes: list[str], calibrated: bool = False,
              ignore_background: bool = True) -> tuple[float, dict[str, float]]:
    """Mean AP over classes with positives; returns (mean, per-class)."""
    per_class = {}
    for c in range(1 if ignore_background else 0, targets.shape[1]):
        ap = average_precision(scores[:, c], targets[:, c], calibrated)
        if not np.isnan(ap):
            per_class[classes[c]] = ap
    mean = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    return mean, per_class


EARLY_FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def early_accuracy(probs: list[np.ndarray], targets: list[np.ndarray],
                   fractions: tuple[float, ...] = EARLY_FRACTIONS) -> dict[str, float]:
    """Early recognition: for each video whose frames carry an action, is the online prediction right once a
    fraction f of it has been seen? The prediction is the best action class (background excluded: the clip is
    known to hold an action) at frame ceil(f*T)-1, which an online model computes from frames up to there only.
    The video's action is its most frequent non-background class. Videos with no action frame are left out."""
    right = {f: [] for f in fractions}
    for p, t in zip(probs, targets):
        counts = t[:, 1:].sum(0)
        if len(t) == 0 or counts.max() <= 0:
            continue
        truth = int(np.argmax(counts))
        for f in fractions:
            frame = max(0, int(np.ceil(f * len(p))) - 1)
            right[f].append(int(np.argmax(p[frame, 1:])) == truth)
    return {f"{int(round(f * 100))}%": (float(np.mean(v)) if v else float("nan")) for f, v in right.items()}
