"""Letterboxing: fit an image into a model's square input keeping its aspect ratio, and map boxes back."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    scale: float
    pad_x: float
    pad_y: float

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """Model-input pixels -> image pixels for (..., 2) points or (..., 4) xyxy boxes."""
        out = np.array(xy, dtype=np.float32, copy=True)
        out[..., 0::2] = (out[..., 0::2] - self.pad_x) / self.scale
        out[..., 1::2] = (out[..., 1::2] - self.pad_y) / self.scale
        return out


def letterbox(image: np.ndarray, size: int, pad_value: int = 114) -> tuple[np.ndarray, Letterbox]:
    h, w = image.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = int(round(w * scale)), int(round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    px, py = (size - nw) / 2, (size - nh) / 2
    out = np.full((size, size, 3), pad_value, np.uint8)
    out[int(py):int(py) + nh, int(px):int(px) + nw] = resized
    return out, Letterbox(scale, float(int(px)), float(int(py)))
