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
