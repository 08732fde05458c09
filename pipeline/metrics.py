"""Per-stage and end-to-end run metrics with bounded memory: a run of any length keeps a fixed-size uniform
sample of every latency for its summary (exact while the run is shorter than the sample) and a short window of
the newest values for live readings (``snapshot``)."""
from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline import endings

SAMPLE_SIZE = 20_000  # values kept per series for the whole-run percentiles
WINDOW = 240  # newest values kept per series for live readings


def summarise_ms(samples) -> dict[str, float | None]:
    samples = list(samples)
    if not samples:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    a = np.asarray(samples, dtype=np.float64)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3),
            "mean": round(float(a.mean()), 3), "max": round(float(a.max()), 3)}


class Series:
    """A latency series: a uniform reservoir sample (Algorithm R) for the run, the newest values for live use,
    and the exact count, mean and max. Not thread-safe on its own: owners lock."""

    def __init__(self, capacity: int = SAMPLE_SIZE, window: int = WINDOW, seed: int = 0) -> None:
        self.capacity = capacity
        self.sample: list[float] = []
        self.recent: deque[float] = deque(maxlen=window)
        self.count = 0
        self.total = 0.0
        self.max = float("-inf")
        self._rng = random.Random(seed)

    def append(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.max = max(self.max, value)
        self.recent.append(value)
        if len(self.sample) < self.capacity:
            self.sample.append(value)
        else:
            j = self._rng.randrange(self.count)
            if j < self.capacity:
                self.sample[j] = value

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return iter(self.sample)

    def summary(self) -> dict[str, float | None]:
        out = summarise_ms(self.sample)
        if self.count:  # exact, whatever the sample holds
            out["mean"] = round(self.total / self.count, 3)
            out["max"] = round(self.max, 3)
        return out

    def recent_percentiles(self) -> dict[str, float | None]:
        if not self.recent:
            return {"p50": None, "p95": None}
        p50, p95 = np.percentile(np.asarray(self.recent, np.float64), [50, 95])
        return {"p50": round(float(p50), 3), "p95": round(float(p95), 3)}


@dataclass
class StageMetrics:
    """Counters of one stage in one stream. Workers record under a lock (cheap: one per frame)."""

    name: str
    frames: int = 0
    errors: int = 0
    skipped: int = 0
    disabled: int = 0
    latency_ms: Series = field(default_factory=Series)
    queue_wait_ms: Series = field(default_factory=Series)
    queue_depth: Series = field(default_factory=Series)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, latency_ms: float, wait_ms: float, ok: bool) -> None:
        with self.lock:
            self.frames += 1
            self.latency_ms.append(latency_ms)
            self.queue_wait_ms.append(wait_ms)
            if not ok:
                self.errors += 1

    def record_depth(self, depth: int) -> None:
        with self.lock:
            self.queue_depth.append(float(depth))

    def count(self, what: str) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)

    def median_ms(self, recent: bool = False) -> float | None:
        with self.lock:
            values = self.latency_ms.recent if recent else self.latency_ms.sample
            return float(np.median(np.asarray(values))) if values else None

    def summary(self) -> dict[str, Any]:
        with self.lock:
            depth = self.queue_depth
            return {
                "frames": self.frames, "errors": self.errors, "skipped": self.skipped, "disabled": self.disabled,
                "latency_ms": self.latency_ms.summary(),
                "queue_wait_ms": self.queue_wait_ms.summary(),
                "queue_depth": {"mean": round(depth.total / depth.count, 3) if depth.count else 0.0,
                                "max": int(depth.max) if depth.count else 0},
            }

    def live(self) -> dict[str, Any]:
        with self.lock:
            return {"frames": self.frames, "errors": self.errors, "skipped": self.skipped,
                    "disabled": self.disabled, "latency_ms": self.latency_ms.recent_percentiles(),
                    "queue_depth": int(self.queue_depth.recent[-1]) if self.queue_depth.recent else 0}


class RateMeter:
    """Frames per second over the last few seconds (live readings)."""

    def __init__(self, horizon_s: float = 3.0) -> None:
        self.horizon_s = horizon_s
        self._times: deque[float] = deque(maxlen=4096)

    def tick(self, now: float | None = None) -> None:
        self._times.append(time.perf_counter() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        while self._times and now - self._times[0] > self.horizon_s:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0


@dataclass
class RunReport:
    """What one stream's run did: counts, rates, latencies, and how it ended."""

    mode: str
    frames_read: int = 0
    frames_admitted: int = 0
    frames_done: int = 0
    drops: int = 0
    wall_s: float = 0.0
    end_to_end_ms: Series = field(default_factory=Series)
    stages: dict[str, StageMetrics] = field(default_factory=dict)
    max_in_flight: int = 0
    # one of pipeline/endings.py's names
    ended_by: str = endings.END_OF_STREAM
    error: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    stage_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    stream_id: str = "main"

    @property
    def fps(self) -> float:
        return self.frames_done / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream_id, "mode": self.mode, "ended_by": self.ended_by, "error": self.error,
            "frames_read": self.frames_read, "frames_admitted": self.frames_admitted,
            "frames_done": self.frames_done, "drops": self.drops, "max_in_flight": self.max_in_flight,
            "wall_s": round(self.wall_s, 4), "fps": round(self.fps, 3),
            "end_to_end_ms": self.end_to_end_ms.summary(),
            "stages": {name: {**m.summary(), **({"info": self.stage_info[name]} if self.stage_info.get(name)
                                                else {})}
                       for name, m in self.stages.items()},
            "source": self.source,
        }
