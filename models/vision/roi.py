"""Rotated square regions of interest: crop them to a model's input (batched), map points back.

MediaPipe runs its landmark models on a square ROI centred on the person and rotated so the body is upright;
the same transform, inverted, brings the landmarks back to image pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Roi:
    cx: float
    cy: float
    size: float  # side of the square, pixels
    rotation: float = 0.0  # radians, counter-clockwise rotation of the content to make it upright

    def crop_matrix(self, out: int) -> np.ndarray:
        """2x3 affine from image pixels to crop pixels (out x out)."""
        s = out / self.size
        c, si = np.cos(self.rotation), np.sin(self.rotation)
        # crop = S * R(rotation) * (p - centre) + out/2
        a = s * np.array([[c, -si], [si, c]])
        t = np.array([out / 2, out / 2]) - a @ np.array([self.cx, self.cy])
        return np.concatenate([a, t[:, None]], axis=1)

    def to_image(self, points: np.ndarray, out: int) -> np.ndarray:
        """(N,2) crop pixels -> image pixels."""
        inv = cv2.invertAffineTransform(self.crop_matrix(out))
        return points @ inv[:, :2].T + inv[:, 2]


def roi_from_box(box: np.ndarray, scale: float = 1.25) -> Roi:
    x1, y1, x2, y2 = (float(v) for v in box)
    return Roi((x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * scale, 0.0)


def roi_from_alignment(center: np.ndarray, scale_point: np.ndarray, scale: float = 1.25,
                       target_angle: float = np.pi / 2) -> Roi:
    """MediaPipe's alignment-points ROI: centre at the body centre, side 2x the distance to the scale point (then
    x ``scale``), rotated so the centre->scale-point direction points up."""
    dx, dy = float(scale_point[0] - center[0]), float(scale_point[1] - center[1])
    angle = target_angle - np.arctan2(-dy, dx)
    size = 2.0 * np.hypot(dx, dy) * scale
    return Roi(float(center[0]), float(center[1]), size, -angle)


def crop_batch(image: np.ndarray, rois: list[Roi], out: int, replicate_border: bool = False) -> np.ndarray:
    """(N, out, out, 3) float32 crops in [0, 1] (RGB in, RGB out). Outside the image is black (MediaPipe's
    detectors' BORDER_ZERO) or, with ``replicate_border``, the edge pixels repeated (MediaPipe's default, which its
    pose landmark model sees: with black there, a body cut by the image edge comes out squeezed)."""
    crops = np.empty((len(rois), out, out, 3), np.float32)
    border = cv2.BORDER_REPLICATE if replicate_border else cv2.BORDER_CONSTANT
    for i, roi in enumerate(rois):
        crop = cv2.warpAffine(image, roi.crop_matrix(out), (out, out), flags=cv2.INTER_LINEAR,
                              borderMode=border, borderValue=(0, 0, 0))
        crops[i] = crop.astype(np.float32) * (1.0 / 255.0)
    return crops


def nms(boxes: np.ndarray, scores: np.ndarray, score_threshold: float, iou_threshold: float) -> np.ndarray:
    """Indices kept by non-maximum suppression (OpenCV's), best first."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(float).tolist(), score_threshold, iou_threshold)
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep])]
