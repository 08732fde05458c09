"""MoveNet MultiPose Lightning: a bottom-up network that finds up to six people and their 17 COCO keypoints in
one call on the whole frame.

Input: uint8 RGB (1, H, W, 3) with H and W multiples of 32 (the long side ~256 in Google's examples); the image is
resized keeping its aspect ratio and padded at the right and bottom. Output (1, 6, 56) per person: 17 x (y, x,
score), then ymin, xmin, ymax, xmax, score, all coordinates normalised to the padded input.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_PEOPLE = 6
COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
          "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
          "left_ankle", "right_ankle")


@dataclass(frozen=True)
class MoveNetInput:
    """The padded network input and how it maps back: image px = input px / scale."""

    tensor: np.ndarray  # (1, H, W, 3) uint8
    scale: float


def prepare(image: np.ndarray, long_side: int) -> MoveNetInput:
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    ph, pw = -(-nh // 32) * 32, -(-nw // 32) * 32
    padded = np.zeros((1, ph, pw, 3), np.uint8)
    padded[0, :nh, :nw] = resized
    return MoveNetInput(padded, scale)


@dataclass(frozen=True)
class MoveNetPeople:
    boxes: np.ndarray  # (n,4) xyxy image px
    scores: np.ndarray  # (n,)
    keypoints: np.ndarray  # (n,17,3) x, y, score in image px, COCO-17 order


def decode(output: np.ndarray, prepared: MoveNetInput, score_threshold: float) -> MoveNetPeople:
    rows = np.asarray(output, np.float32).reshape(MAX_PEOPLE, 56)
    rows = rows[rows[:, 55] >= score_threshold]
    _, ph, pw, _ = prepared.tensor.shape
    to_px = np.array([pw, ph], np.float32) / prepared.scale
    kps = rows[:, :51].reshape(-1, 17, 3)
    keypoints = np.concatenate([kps[:, :, [1, 0]] * to_px, kps[:, :, 2:]], axis=2)
    b = rows[:, 51:55]
    boxes = np.stack([b[:, 1], b[:, 0], b[:, 3], b[:, 2]], axis=1) * np.tile(to_px, 2)
    order = np.argsort(-rows[:, 55])
    return MoveNetPeople(boxes[order], rows[order, 55], keypoints[order])
