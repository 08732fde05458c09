"""The frame packet: one captured RGB-D frame plus the results that stages add to it."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calibration.camera import Extrinsics, Intrinsics
from pipeline import keys


log = logging.getLogger(__name__)
_UNALIGNED_WARNED: set[str] = set()  # stage names already told that the depth is not registered


@dataclass(frozen=True)
class DepthMap:
    """What a stage that writes "depth" returns (stereo matching, depth registration): uint16 depth in units of
    ``scale`` metres, and the camera it is now in (registered to colour when ``aligned``)."""

    depth: np.ndarray
    scale: float = 0.001
    aligned: bool = True
    intrinsics: Intrinsics | None = None

    def __post_init__(self) -> None:
        if self.depth.ndim != 2 or self.depth.dtype != np.uint16:
            raise ValueError(f"depth must be uint16 (H,W), got {self.depth.dtype} {self.depth.shape}")


@dataclass
class FramePacket:
    """One frame travelling through the graph.

    ``color`` is RGB uint8 (H,W,3). ``depth`` is uint16 (H,W) in units of ``depth_scale`` metres; when
    ``depth_aligned`` is true it is registered to the colour image (same size, ``color_intrinsics`` apply).
    ``right`` is the rectified right image of a stereo pair (RGB, same size as ``color``) with ``baseline_m``;
    a stereo stage turns it into depth. ``data`` holds stage outputs by key ("persons", "objects", ...); only
    the engine writes to it. ``stream_id`` names the stream the frame belongs to (one session may serve several).
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
    right: np.ndarray | None = None
    baseline_m: float | None = None
    stream_id: str = "main"
    arrival_time: float = field(default_factory=time.perf_counter)
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    index: int = -1  # admission order inside its stream (contiguous even when live mode drops frames)

    def __post_init__(self) -> None:
        if self.color.ndim != 3 or self.color.shape[2] != 3 or self.color.dtype != np.uint8:
            raise ValueError(f"color must be uint8 (H,W,3) RGB, got {self.color.dtype} {self.color.shape}")
        if self.depth is not None and (self.depth.ndim != 2 or self.depth.dtype != np.uint16):
            raise ValueError(f"depth must be uint16 (H,W), got {self.depth.dtype} {self.depth.shape}")
        if self.right is not None and self.right.shape != self.color.shape:
            raise ValueError(f"right must match color {self.color.shape}, got {self.right.shape}")

    @property
    def width(self) -> int:
        return int(self.color.shape[1])

    @property
    def height(self) -> int:
        return int(self.color.shape[0])

    def has(self, key: str) -> bool:
        """Whether an input key is available: built-in frame fields, a stage output, or one field of a stage
        output ("persons.faces": pipeline/keys.py)."""
        base, part = keys.split(key)
        if part is not None:
            return keys.has_part(self.data.get(base), part)
        if key == "color":
            return True
        if key == "depth":
            return self.depth is not None
        if key == "right":
            return self.right is not None
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        if key == "color":
            return self.color
        if key == "depth":
            return self.depth
        if key == "right":
            return self.right
        return self.data.get(key, default)

    def apply(self, outputs: dict[str, Any], writes: dict[str, tuple[str, ...] | None] | None = None,
              stage: str = "stage") -> None:
        """Store a stage's outputs: "depth" (a DepthMap) replaces the frame's depth, the rest go to ``data``.
        ``writes`` (pipeline.keys.writes of the stage's declared outputs): where a stage declared only fields of a
        key, just those fields are taken from its value (the caller serialises concurrent applies)."""
        if writes:
            outputs = {k: (keys.merged(self.data.get(k), v, writes[k], stage) if writes.get(k) else v)
                       for k, v in outputs.items()}
        depth = outputs.get("depth")
        if depth is not None:
            if not isinstance(depth, DepthMap):
                raise TypeError(f"a stage's 'depth' output must be a DepthMap, got {type(depth).__name__}")
            self.depth, self.depth_scale, self.depth_aligned = depth.depth, depth.scale, depth.aligned
            if depth.intrinsics is not None:
                self.depth_intrinsics = depth.intrinsics
            if depth.aligned:
                self.depth_to_color = None
        self.data.update((k, v) for k, v in outputs.items() if k != "depth")

    def depth_metres(self) -> np.ndarray | None:
        """Depth as float32 metres with 0 where invalid."""
        if self.depth is None:
            return None
        return self.depth.astype(np.float32) * np.float32(self.depth_scale)

    @property
    def depth_camera(self) -> Intrinsics | None:
        """The intrinsics the depth image's pixels follow: the colour camera's where the depth is registered to
        it, the depth camera's otherwise."""
        return self.color_intrinsics if self.depth_aligned else self.depth_intrinsics

    def aligned_depth_metres(self, reader: str) -> np.ndarray | None:
        """Depth in metres registered to the colour image, for stages that look up depth at colour pixels; None
        without depth, and None with a warning (once per reader) where the depth is still in the depth camera:
        that is a graph without a ``register_depth`` stage, not something to pass over in silence."""
        if self.depth is None:
            return None
        if not self.depth_aligned:
            if reader not in _UNALIGNED_WARNED:
                _UNALIGNED_WARNED.add(reader)
                log.warning("%s: the depth is not registered to the colour image, so it is not used; add a "
                            "register_depth stage before %s (the source gives depth in its own camera)",
                            reader, reader)
            return None
        return self.depth_metres()

    def to_record(self, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
        """The result line: a fixed core, ``defaults`` for keys the product always writes (e.g. an empty
        "persons" list), then every stage output that is plain JSON or knows how to write itself (``to_json``).
        The schema: docs/results.md; Percept's writer and reader: models/results.py."""
        record: dict[str, Any] = {
            "frame": self.seq,
            "timestamp": round(float(self.timestamp), 6),
            "source_name": self.source_name,
            "width": self.width,
            "height": self.height,
        }
        record.update(defaults or {})
        for key, value in self.data.items():
            if key.startswith("_"):
                continue
            to_json = getattr(value, "to_json", None)
            if callable(to_json):
                record[key] = to_json()
            elif isinstance(value, (str, int, float, bool, list, dict)) or value is None:
                record[key] = value
        record["latency_ms"] = {k: round(v, 3) for k, v in self.latency_ms.items()}
        record["errors"] = list(self.errors)
        return record
