"""Pinhole camera intrinsics and rigid extrinsics shared by every part of Percept.

Kept small and dependency-free (numpy only) because packets carry these objects on every frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics with OpenCV's distortion coefficients (k1,k2,p1,p2[,k3[,k4,k5,k6]]...)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "cx", "cy"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        object.__setattr__(self, "distortion", tuple(float(d) for d in self.distortion))

    @property
    def matrix(self) -> np.ndarray:
        """3x3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def has_distortion(self) -> bool:
        return any(abs(d) > 0 for d in self.distortion)

    @classmethod
    def from_matrix(cls, k: np.ndarray, width: int, height: int, distortion=()) -> "Intrinsics":
        k = np.asarray(k, dtype=float)
        return cls(width, height, k[0, 0], k[1, 1], k[0, 2], k[1, 2], tuple(np.ravel(distortion)))

    def scaled(self, sx: float, sy: float | None = None) -> "Intrinsics":
        """Intrinsics of the same camera after resizing the image by (sx, sy)."""
        sy = sx if sy is None else sy
        return Intrinsics(
            round(self.width * sx), round(self.height * sy),
            self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
            self.distortion,
        )

    def to_dict(self) -> dict:
        return {
            "width": self.width, "height": self.height, "fx": self.fx, "fy": self.fy,
            "cx": self.cx, "cy": self.cy, "distortion": list(self.distortion),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Intrinsics":
        return cls(int(d["width"]), int(d["height"]), float(d["fx"]), float(d["fy"]),
                   float(d["cx"]), float(d["cy"]), tuple(d.get("distortion", ())))


@dataclass(frozen=True)
class Extrinsics:
    """Rigid transform p_to = R @ p_from + t (metres)."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        r = np.asarray(self.rotation, dtype=float).reshape(3, 3)
        t = np.asarray(self.translation, dtype=float).reshape(3)
        object.__setattr__(self, "rotation", r)
        object.__setattr__(self, "translation", t)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform (..., 3) points."""
        return points @ self.rotation.T + self.translation

    def inverse(self) -> "Extrinsics":
        return Extrinsics(self.rotation.T, -self.rotation.T @ self.translation)

    def to_dict(self) -> dict:
        return {"rotation": self.rotation.tolist(), "translation": self.translation.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Extrinsics":
        return cls(np.array(d["rotation"], dtype=float), np.array(d["translation"], dtype=float))
