"""`percept bench`: throughput and latency of a graph, and its speed-up over a plain one-thread loop.

Frames are decoded once and replayed from memory, so the figures measure the graph (stages + scheduler), not the
source's decoding.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from app.session import Session
from pipeline.errors import PerceptError
from pipeline.metrics import RunReport, summarise_ms
from pipeline.packet import FramePacket
from pipeline.sources.base import Source
from pipeline.stage import StreamContext, takes_state


class MemorySource(Source):
    """Replays preloaded frames as fresh packets (new arrival times, empty results), cycling through them
    until ``total`` frames are given; ``rate_hz`` paces them like a camera."""

    def __init__(self, frames: list[FramePacket], name: str = "memory", live: bool = False,
                 rate_hz: float | None = None, total: int | None = None) -> None:
        self.frames = frames
        self.name = name
        self.live = live
        self.frame_count = total or len(frames)
        self.rate_hz = rate_hz
        self._i = 0
        self._t0 = 0.0

    def open(self) -> None:
        self._i = 0
        self._t0 = time.perf_counter()

    def read(self) -> FramePacket | None:
        if self._i >= self.frame_count:
            return None
        if self.rate_hz:
            delay = self._t0 + self._i / self.rate_hz - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        f = self.frames[self._i % len(self.frames)]
        period = len(self.frames) / max(f.timestamp - self.frames[0].timestamp, 1e-9) if len(self.frames) > 1 else 30
        packet = replace(f, seq=self._i, timestamp=self._i / period, arrival_time=time.perf_counter(), data={},
                         errors=[], latency_ms={}, index=-1)
        self._i += 1
        return packet


def preload(source: Source, n: int) -> list[FramePacket]:
    """Up to n frames (at most 300 distinct ones, to bound memory; the bench cycles through them)."""
    n = min(n, 300)
    frames = []
    with source:
        while len(frames) < n:
            packet = source.read()
            if packet is None:
                break
            frames.append(packet)
    if not frames:
        raise PerceptError("the source gave no frames to benchmark")
    return frames


def run_pipelined(session: Session, frames: list[FramePacket], total: int, mode: str = "offline",
                  max_in_flight: int | None = None, rate_hz: float | None = None) -> RunReport:
    source = MemorySource(frames, live=mode == "live", rate_hz=rate_hz, total=total)
    return session.run(source, mode=mode, max_in_flight=max_in_flight)


@dataclass
class SequentialResult:
    frames: int
    wall_s: float
    stage_ms: dict[str, list[float]]
    end_to_end_ms: list[float]

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {"frames": self.frames, "wall_s": round(self.wall_s, 4), "fps": round(self.fps, 3),
                "end_to_end_ms": summarise_ms(self.end_to_end_ms),
                "stages": {k: {"latency_ms": summarise_ms(v)} for k, v in self.stage_ms.items()}}


def run_sequential(session: Session, frames: list[FramePacket], total: int) -> SequentialResult:
    """The same stages (the session's, models already loaded), in topological order, in one thread, one frame
    at a time, with stream state of their own."""
    session.engine.start()
    graph = session.graph
    nodes = [graph.nodes[n] for n in graph.order]
    stream = StreamContext("sequential", "memory")
    states = {node.name: node.stage.open_stream(stream) for node in nodes}
    with_state = {node.name: takes_state(node.stage) for node in nodes}
    stage_ms: dict[str, list[float]] = {n.name: [] for n in nodes}
    e2e: list[float] = []
    source = MemorySource(frames, total=total)
    source.open()
    try:
        t0 = time.perf_counter()
        while (packet := source.read()) is not None:
            for node in nodes:
                if not all(packet.has(k) for k in node.stage.inputs):
                    continue
                s = time.perf_counter()
                if with_state[node.name]:
                    outputs = node.stage.process(packet, states[node.name])
                else:
                    outputs = node.stage.process(packet)
                packet.apply(outputs or {})
                stage_ms[node.name].append((time.perf_counter() - s) * 1000.0)
            e2e.append((time.perf_counter() - packet.arrival_time) * 1000.0)
        wall = time.perf_counter() - t0
    finally:
        for node in nodes:
            node.stage.close_stream(states[node.name])
    return SequentialResult(total, wall, stage_ms, e2e)


def bench(session: Session, frames: list[FramePacket], total: int, mode: str, compare_sequential: bool,
          max_in_flight: int | None, rate_hz: float | None = None, warmup: int = 10) -> dict:
    """Run the graph pipelined (and optionally sequentially) over ``total`` frames cycled from ``frames``."""
    if warmup:
        run_sequential(session, frames[:warmup], min(warmup, len(frames)))  # load models, fill caches
    report = run_pipelined(session, frames, total, mode, max_in_flight, rate_hz)
    result = {"frames": total, "distinct_frames": len(frames), "frame_size": [frames[0].width, frames[0].height],
              "rate_hz": rate_hz, "pipelined": report.to_dict()}
    if compare_sequential:
        seq = run_sequential(session, frames, total)
        result["sequential"] = seq.to_dict()
        result["speedup"] = round(report.fps / seq.fps, 3) if seq.fps else None
    stage_medians = [s["latency_ms"]["p50"] for s in result["pipelined"]["stages"].values()
                     if s["latency_ms"]["p50"] is not None]
    result["sum_stage_p50_ms"] = round(float(np.sum(stage_medians)), 3) if stage_medians else 0.0
    return result
