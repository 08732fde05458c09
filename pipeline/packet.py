"""The frame packet: one captured RGB-D frame plus the results that stages add to it."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calibration.camera import Extrinsics, Intrinsics


@dataclass
class FramePacket:
    """One frame travelling through the graph.

    ``color`` is RGB uint8 (H,W,3). ``depth`` is uint16 (H,W) in units of ``depth_scale`` metres; when
    ``depth_aligned`` is true it is registered to the colour image (same size, ``color_intrinsics`` apply).
    ``data`` holds stage outputs by key ("persons", "objects", ...); only the scheduler writes to it.
    """

    seq: int
    timestamp: float
    color: np.ndarray
    depth: np.ndarray | None = None
    depth_scale: float = 0.001
    depth_aligned: bool = True
    color_intrinsics: Intrinsics | None = None
    depth_intrinsics: Intrinsics | None = None
    depth_to_color: Extrinsics | None = None
    source_name: str | None = None
    arrival_time: float = field(default_factory=time.perf_counter)
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    index: int = -1  # admission order inside one graph run (contiguous even when live mode drops frames)

    def __post_init__(self) -> None:
        if self.color.ndim != 3 or self.color.shape[2] != 3 or self.color.dtype != np.uint8:
            raise ValueError(f"color must be uint8 (H,W,3) RGB, got {self.color.dtype} {self.color.shape}")
        if self.depth is not None and (self.depth.ndim != 2 or self.depth.dtype != np.uint16):
            raise ValueError(f"depth must be uint16 (H,W), got {self.depth.dtype} {self.depth.shape}")

    @property
    def width(self) -> int:
        return int(self.color.shape[1])

    @property
    def height(self) -> int:
        return int(self.color.shape[0])

    def has(self, key: str) -> bool:
        """Whether an input key is available: built-in frame fields or a stage output."""
        if key == "color":
            return True
        if key == "depth":
            return self.depth is not None
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        if key == "color":
            return self.color
        if key == "depth":
            return self.depth
        return self.data.get(key, default)

    def depth_metres(self) -> np.ndarray | None:
        """Depth as float32 metres with 0 where invalid."""
        if self.depth is None:
            return None
        return self.depth.astype(np.float32) * np.float32(self.depth_scale)

    def to_record(self) -> dict[str, Any]:
        """The result line: a fixed core, plus any stage output that knows how to write itself as JSON."""
        persons = self.data.get("persons")
        objects = self.data.get("objects")
        record: dict[str, Any] = {
            "frame": self.seq,
            "timestamp": round(float(self.timestamp), 6),
            "source_name": self.source_name,
            "width": self.width,
            "height": self.height,
            "persons": persons.to_json() if persons is not None else [],
            "objects": objects.to_json() if objects is not None else [],
        }
        for key, value in self.data.items():
            if key in ("persons", "objects") or key.startswith("_"):
                continue
            to_json = getattr(value, "to_json", None)
            if callable(to_json):
                record[key] = to_json()
            elif isinstance(value, (str, int, float, bool, list, dict)) or value is None:
                record[key] = value
        record["latency_ms"] = {k: round(v, 3) for k, v in self.latency_ms.items()}
        record["errors"] = list(self.errors)
        return record
