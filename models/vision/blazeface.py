"""Decoding MediaPipe's BlazeFace detectors (``face_detection_short_range`` 128 px, ``face_detection_full_range``
192 px): SSD anchors on a fixed grid, per anchor a box and six keypoints as offsets from the anchor centre.

Keypoints in order: the person's right eye, left eye, nose tip, mouth centre, right ear tragion, left ear
tragion (image left to right for a face looking at the camera: right eye first).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.vision.roi import nms


@dataclass(frozen=True)
class FaceDetectorSpec:
    input_size: int
    strides: tuple[int, ...]
    anchors_per_cell: tuple[int, ...]


SPECS = {
    "face_detection_short_range": FaceDetectorSpec(128, (8, 16), (2, 6)),  # 16x16x2 + 8x8x6 = 896
    "face_detection_full_range": FaceDetectorSpec(192, (4,), (1,)),  # 48x48 = 2304
}


def anchors(spec: FaceDetectorSpec) -> np.ndarray:
    """(A, 2) anchor centres in input pixels, in the models' output order (row-major per stride)."""
    out = []
    for stride, per_cell in zip(spec.strides, spec.anchors_per_cell):
        n = spec.input_size // stride
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        centres = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class FaceBoxes:
    boxes: np.ndarray  # (n,4) xyxy, input pixels
    keypoints: np.ndarray  # (n,6,2)
    scores: np.ndarray  # (n,)


def decode_anchors(regressors: np.ndarray, logits: np.ndarray, anchor_xy: np.ndarray, keypoints: int,
                   score_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe SSD rows (A, 4 + 2K) and logits (A, 1) -> boxes (n,4) xyxy, keypoints (n,K,2), scores (n,) of
    the anchors above ``score_threshold``, in input pixels (offsets from the anchor centres), not yet suppressed."""
    reg = np.asarray(regressors, np.float32).reshape(-1, 4 + 2 * keypoints)
    scores = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, np.float32).reshape(-1)))
    keep = scores >= score_threshold
    reg, scores, centres = reg[keep], scores[keep], anchor_xy[keep]
    cx, cy = centres[:, 0] + reg[:, 0], centres[:, 1] + reg[:, 1]
    w, h = reg[:, 2], reg[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, reg[:, 4:].reshape(-1, keypoints, 2) + centres[:, None, :], scores


def decode(regressors: np.ndarray, logits: np.ndarray, anchor_xy: np.ndarray, score_threshold: float = 0.5,
           iou_threshold: float = 0.3) -> FaceBoxes:
    """Raw outputs (1, A, 16) and (1, A, 1) -> faces above ``score_threshold`` after NMS, best first."""
    boxes, kps, scores = decode_anchors(regressors, logits, anchor_xy, 6, score_threshold)
    order = nms(boxes, scores, score_threshold, iou_threshold)
    return FaceBoxes(boxes[order], kps[order], scores[order])
