"""Per-stage and end-to-end run metrics, summarised as percentiles for metrics.json and `percept bench`."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def summarise_ms(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    a = np.asarray(samples, dtype=np.float64)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3),
            "mean": round(float(a.mean()), 3), "max": round(float(a.max()), 3)}


@dataclass
class StageMetrics:
    """Counters of one stage. Workers append under a lock (cheap: one per frame)."""

    name: str
    frames: int = 0
    errors: int = 0
    skipped: int = 0
    latency_ms: list[float] = field(default_factory=list)
    queue_wait_ms: list[float] = field(default_factory=list)
    queue_depth: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, latency_ms: float, wait_ms: float, ok: bool) -> None:
        with self.lock:
            self.frames += 1
            self.latency_ms.append(latency_ms)
            self.queue_wait_ms.append(wait_ms)
            if not ok:
                self.errors += 1

    def median_ms(self) -> float | None:
        with self.lock:
            return float(np.median(self.latency_ms)) if self.latency_ms else None

    def summary(self) -> dict[str, Any]:
        depth = np.asarray(self.queue_depth or [0])
        return {
            "frames": self.frames, "errors": self.errors, "skipped": self.skipped,
            "latency_ms": summarise_ms(self.latency_ms),
            "queue_wait_ms": summarise_ms(self.queue_wait_ms),
            "queue_depth": {"mean": round(float(depth.mean()), 3), "max": int(depth.max())},
        }


@dataclass
class RunReport:
    """What a graph run did: counts, rates, latencies, and how it ended."""

    mode: str
    frames_read: int = 0
    frames_admitted: int = 0
    frames_done: int = 0
    drops: int = 0
    wall_s: float = 0.0
    end_to_end_ms: list[float] = field(default_factory=list)
    stages: dict[str, StageMetrics] = field(default_factory=dict)
    max_in_flight: int = 0
    ended_by: str = "end_of_stream"  # end_of_stream | source_error | stage_error | interrupted | frame_limit
    error: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    stage_info: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames_done / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "ended_by": self.ended_by, "error": self.error,
            "frames_read": self.frames_read, "frames_admitted": self.frames_admitted,
            "frames_done": self.frames_done, "drops": self.drops, "max_in_flight": self.max_in_flight,
            "wall_s": round(self.wall_s, 4), "fps": round(self.fps, 3),
            "end_to_end_ms": summarise_ms(self.end_to_end_ms),
            "stages": {name: {**m.summary(), **({"info": self.stage_info[name]} if self.stage_info.get(name)
                                                else {})}
                       for name, m in self.stages.items()},
            "source": self.source,
        }
