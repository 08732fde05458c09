"""Output decoders of popular model families, so users can bring better models through config:

- Ultralytics YOLO (v8 and later) ONNX exports: detect ``(1, 4 + C, N)`` rows cx, cy, w, h, class scores;
  pose ``(1, 4 + 1 + 3K, N)`` rows cx, cy, w, h, person score, then x, y, visibility per keypoint.
- RTMPose (SimCC): ``simcc_x (B, K, W * r)`` and ``simcc_y (B, K, H * r)`` 1-D classification over sub-pixel
  bins (r = split ratio, 2.0 in the released models); a keypoint is the arg-max bin / r.
- RTMDet (MMDeploy end2end): ``dets (1, N, 5)`` x1, y1, x2, y2, score and ``labels (1, N)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.vision.roi import nms


@dataclass
class Decoded:
    boxes: np.ndarray  # (n,4) xyxy, model-input pixels
    scores: np.ndarray  # (n,)
    class_ids: np.ndarray  # (n,)
    keypoints: np.ndarray | None = None  # (n,K,3) model-input pixels + score


def decode_yolo(output: np.ndarray, task: str, score_threshold: float, iou_threshold: float,
                num_keypoints: int = 17, max_det: int = 300) -> Decoded:
    pred = np.asarray(output)[0].T  # (N, rows)
    cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    if task == "pose":
        scores = pred[:, 4]
        class_ids = np.zeros(len(pred), np.int64)
        kps = pred[:, 5:5 + 3 * num_keypoints].reshape(-1, num_keypoints, 3)
    elif task == "detect":
        cls = pred[:, 4:]
        class_ids = cls.argmax(axis=1)
        scores = cls[np.arange(len(cls)), class_ids]
        kps = None
    else:
        raise ValueError(f"task must be detect or pose, got {task!r}")
    keep = scores >= score_threshold
    boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep]
    kps = kps[keep] if kps is not None else None
    # class-aware NMS: offset boxes per class so different classes never suppress each other
    offset = class_ids[:, None] * (boxes.max() + 1 if len(boxes) else 0)
    order = nms(boxes + offset, scores, score_threshold, iou_threshold)[:max_det]
    return Decoded(boxes[order], scores[order], class_ids[order], kps[order] if kps is not None else None)


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float = 2.0) -> np.ndarray:
    """(B,K,Wr), (B,K,Hr) -> (B,K,3) keypoints in model-input pixels with a score (the smaller of the two peaks)."""
    x_idx, y_idx = simcc_x.argmax(axis=2), simcc_y.argmax(axis=2)
    x_val, y_val = simcc_x.max(axis=2), simcc_y.max(axis=2)
    score = np.minimum(x_val, y_val)
    kps = np.stack([x_idx / split_ratio, y_idx / split_ratio, score], axis=2).astype(np.float32)
    kps[score <= 0, :2] = 0
    return kps


def decode_rtmdet(dets: np.ndarray, labels: np.ndarray, score_threshold: float) -> Decoded:
    d, lab = np.asarray(dets)[0], np.asarray(labels)[0].astype(np.int64)
    keep = d[:, 4] >= score_threshold
    return Decoded(d[keep, :4].astype(np.float32), d[keep, 4].astype(np.float32), lab[keep])
