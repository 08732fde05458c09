"""`percept bench`: throughput, latency and memory of a graph, and its speed-up over a plain one-thread loop.

Frames are decoded once and replayed from memory, so the figures measure the graph (stages + scheduler), not the
source's decoding. What is preloaded is bounded (``PRELOAD_BUDGET_MB``, at most 300 distinct frames): beyond it the
bench replays the preloaded frames forwards, then backwards, and so on, so that motion stays continuous for the
tracker and the per-track stages (a jump back to the first frame would end every track at once).

Memory (``result["memory"]``): the process's peak resident set size (``getrusage`` ``ru_maxrss``: models, preloaded
frames and the run together), the resident size before and after the pipelined run and the highest one sampled
during it, and the bytes of the preloaded frames.
"""
from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from app.session import Session
from models.results import record_of, results_sink
from pipeline import keys
from pipeline.errors import PerceptError
from pipeline.metrics import RunReport, summarise_ms
from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink
from pipeline.sources.base import Source
from pipeline.sources.pacing import Pacer
from pipeline.stage import StreamContext, takes_state
from pipeline.modes import LIVE, OFFLINE

# Preloaded frames are held for the whole bench: 300 frames of 1280x720 RGB alone are 830 MB. The budget keeps a
# crowd video to ~48 distinct frames and a 640x480 RGB-D one to ~85 (``PERCEPT_BENCH_PRELOAD_MB`` overrides it).
PRELOAD_BUDGET_MB = 128.0
MAX_DISTINCT_FRAMES = 300


def replay_index(i: int, n: int) -> int:
    """Frame ``i`` of a replay of ``n`` frames going forwards, then backwards (0 1 2 3 2 1 0 1 ...)."""
    if n <= 1:
        return 0
    period = 2 * (n - 1)
    j = i % period
    return j if j < n else period - j


def packet_bytes(packet: FramePacket) -> int:
    """Bytes of a packet's images (colour, depth, the right image of a stereo pair)."""
    return sum(a.nbytes for a in (packet.color, packet.depth, packet.right) if a is not None)


def rss_mb() -> float | None:
    """This process's resident set size now (VmRSS), in MiB; None where /proc is not there."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (``ru_maxrss``: KiB on Linux, bytes on macOS), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if os.uname().sysname == "Darwin" else peak / 1024.0


class RssSampler:
    """The highest resident set size seen while it runs (sampled every ``every_s`` on a thread of its own)."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.every_s = every_s
        self.before = rss_mb()
        self.max = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def _sample(self) -> None:
        now = rss_mb()
        if now is not None and (self.max is None or now > self.max):
            self.max = now

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.after = rss_mb()


def _mb(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def recorded_fps(frames: list[FramePacket]) -> float:
    """The frame rate the preloaded frames were recorded at, from their timestamps (30 where they do not say)."""
    span = frames[-1].timestamp - frames[0].timestamp if frames else 0.0
    return (len(frames) - 1) / span if len(frames) > 1 and span > 0 else 30.0


class PreloadedFrames(list):
    """Preloaded frames, and whether their source's frames follow each other in time (``Source.sequence``)."""

    sequence: bool = True


class MemorySource(Source):
    """Replays preloaded frames as fresh packets (new arrival times, empty results; the images are shared, not
    copied), forwards then backwards (``replay_index``) until ``total`` frames are given; ``rate_hz`` paces them
    like a camera."""

    def __init__(self, frames: list[FramePacket], name: str = "memory", live: bool = False,
                 rate_hz: float | None = None, total: int | None = None) -> None:
        self.frames = frames
        self.name = name
        self.live = live
        self.frame_count = total or len(frames)
        self.rate_hz = rate_hz
        self.fps = recorded_fps(frames)  # the source's frame rate: timestamps go on increasing through the replay
        self.sequence = getattr(frames, "sequence", True)
        self._i = 0
        self._pacer = Pacer(rate_hz)

    def open(self) -> None:
        self._i = 0
        self._pacer.reset()

    def read(self) -> FramePacket | None:
        if self._i >= self.frame_count:
            return None
        if self.rate_hz:
            self._pacer.wait(self._i / self.fps)
        f = self.frames[replay_index(self._i, len(self.frames))]
        packet = replace(f, seq=self._i, timestamp=self._i / self.fps, arrival_time=time.perf_counter(), data={},
                         errors=[], latency_ms={}, index=-1)
        self._i += 1
        return packet


def preload_budget_mb() -> float:
    value = os.environ.get("PERCEPT_BENCH_PRELOAD_MB")
    if not value:
        return PRELOAD_BUDGET_MB
    try:
        budget = float(value)
    except ValueError:
        raise PerceptError(f"PERCEPT_BENCH_PRELOAD_MB must be a number of MiB, got {value!r}") from None
    if budget <= 0:
        raise PerceptError(f"PERCEPT_BENCH_PRELOAD_MB must be positive, got {value!r}")
    return budget


def preload(source: Source, n: int, budget_mb: float | None = None) -> PreloadedFrames:
    """Up to n frames, at most 300 distinct ones and at most ``budget_mb`` MiB of images (default
    ``PRELOAD_BUDGET_MB`` or ``$PERCEPT_BENCH_PRELOAD_MB``; always at least one frame): the bench replays them
    forwards and backwards to make up n."""
    n = min(n, MAX_DISTINCT_FRAMES)
    budget = (preload_budget_mb() if budget_mb is None else budget_mb) * 1024 * 1024
    frames = PreloadedFrames()
    held = 0
    with source:
        frames.sequence = getattr(source, "sequence", True)
        while len(frames) < n:
            packet = source.read()
            if packet is None:
                break
            size = packet_bytes(packet)
            if frames and held + size > budget:
                break
            frames.append(packet)
            held += size
    if not frames:
        raise PerceptError("the source gave no frames to benchmark")
    return frames


def run_pipelined(session: Session, frames: list[FramePacket], total: int, mode: str = OFFLINE,
                  max_in_flight: int | None = None, rate_hz: float | None = None) -> RunReport:
    source = MemorySource(frames, live=mode == LIVE, rate_hz=rate_hz, total=total)
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
    stream = StreamContext("sequential", "memory", sequence=getattr(frames, "sequence", True))
    states = {node.name: node.stage.open_stream(stream) for node in nodes}
    with_state = {node.name: takes_state(node.stage) for node in nodes}
    writes = {node.name: keys.writes(node.stage.outputs) for node in nodes}
    stage_ms: dict[str, list[float]] = {n.name: [] for n in nodes}
    e2e: list[float] = []
    source = MemorySource(frames, total=total)
    source.open()
    try:
        t0 = time.perf_counter()
        while (packet := source.read()) is not None:
            for node in nodes:
                if node.missing_inputs(packet):  # the engine's rule: skipped on this frame
                    continue
                s = time.perf_counter()
                try:
                    if with_state[node.name]:
                        outputs = node.stage.process(packet, states[node.name])
                    else:
                        outputs = node.stage.process(packet)
                    packet.apply(outputs or {}, writes[node.name], node.name)
                except Exception as exc:  # as the engine does with on_error: skip (recorded on the frame)
                    packet.errors.append({"stage": node.name, "error": f"{type(exc).__name__}: {exc}"})
                stage_ms[node.name].append((time.perf_counter() - s) * 1000.0)
            e2e.append((time.perf_counter() - packet.arrival_time) * 1000.0)
        wall = time.perf_counter() - t0
    finally:
        for node in nodes:
            node.stage.close_stream(states[node.name])
    return SequentialResult(total, wall, stage_ms, e2e)


def bench(session: Session, frames: list[FramePacket], total: int, mode: str, compare_sequential: bool,
          max_in_flight: int | None, rate_hz: float | None = None, warmup: int = 10) -> dict:
    """Run the graph pipelined (and optionally sequentially) over ``total`` frames replayed from ``frames``."""
    if warmup:
        run_sequential(session, frames[:warmup], min(warmup, len(frames)))  # load models, fill caches
    with RssSampler() as rss:
        report = run_pipelined(session, frames, total, mode, max_in_flight, rate_hz)
    result = {"frames": total, "distinct_frames": len(frames), "frame_size": [frames[0].width, frames[0].height],
              "rate_hz": rate_hz, "pipelined": report.to_dict()}
    if compare_sequential:
        seq = run_sequential(session, frames, total)
        result["sequential"] = seq.to_dict()
        result["speedup"] = round(report.fps / seq.fps, 3) if seq.fps else None
    result["memory"] = memory_report(frames, rss)
    stage_medians = [s["latency_ms"]["p50"] for s in result["pipelined"]["stages"].values()
                     if s["latency_ms"]["p50"] is not None]
    result["sum_stage_p50_ms"] = round(float(np.sum(stage_medians)), 3) if stage_medians else 0.0
    return result


def memory_report(frames: list[FramePacket], rss: RssSampler | None = None) -> dict:
    """MiB (2**20 bytes): ``peak_rss_mb`` the process's peak so far (ru_maxrss: model loading, the preloaded
    frames, every run of the bench); ``rss_before_mb`` / ``rss_after_mb`` /
    ``run_peak_rss_mb`` the resident size before, after and at its highest during the pipelined run;
    ``rss_growth_mb`` after - before; ``preloaded_mb`` the images held by the bench itself."""
    out = {"peak_rss_mb": _mb(peak_rss_mb()), "preloaded_mb": _mb(sum(packet_bytes(f) for f in frames) / 2 ** 20)}
    if rss is not None:
        before, after = rss.before, getattr(rss, "after", None)
        out.update({"rss_before_mb": _mb(before), "rss_after_mb": _mb(after), "run_peak_rss_mb": _mb(rss.max),
                    "rss_growth_mb": _mb(after - before) if before is not None and after is not None else None})
    return out


def memory_line(result: dict) -> str:
    """The text summary's memory line."""
    m = result.get("memory") or {}
    line = f"memory: peak RSS {m.get('peak_rss_mb')} MiB (whole process)"
    if m.get("run_peak_rss_mb") is not None:
        line += (f"; pipelined run: RSS {m['rss_before_mb']} -> {m['rss_after_mb']} MiB (growth "
                 f"{m['rss_growth_mb']}, highest {m['run_peak_rss_mb']})")
    return line + f"; preloaded frames {m.get('preloaded_mb')} MiB ({result.get('distinct_frames')} distinct)"


# ----- many streams ---------------------------------------------------------------------------------------------
class RecordSink(Sink):
    """Each frame's result record (what results.jsonl would hold, without the timing fields), in order."""

    VOLATILE = ("latency_ms", "arrival_time", "stream_id")

    def __init__(self) -> None:
        self.records: list[dict] = []

    def write(self, packet: FramePacket) -> None:
        record = record_of(packet)
        self.records.append({k: v for k, v in record.items() if k not in self.VOLATILE})


def _stream_summary(report: RunReport) -> dict:
    d = report.to_dict()
    return {"stream": d["stream"], "frames_done": d["frames_done"], "wall_s": d["wall_s"], "fps": d["fps"],
            "end_to_end_ms": d["end_to_end_ms"], "ended_by": d["ended_by"]}


def bench_streams(session: Session, frames: list[FramePacket], total: int, streams: int,
                  max_in_flight: int | None = None, warmup: int = 10) -> dict:
    """``streams`` copies of the source as one stream each, at once in this session, against the same streams run
    one after another (same session, same machine): total and per-stream frames/s, end-to-end latency, and
    whether every stream's results equal its single run's."""
    if warmup:
        run_sequential(session, frames[:warmup], min(warmup, len(frames)))
    singles, single_records = [], []
    for i in range(streams):
        sink = RecordSink()
        source = MemorySource(frames, name=f"single-{i}", total=total)
        singles.append(session.run(source, [sink], mode=OFFLINE, max_in_flight=max_in_flight))
        single_records.append(sink.records)
    single_wall = sum(r.wall_s for r in singles)
    sinks = [RecordSink() for _ in range(streams)]
    with RssSampler() as rss:
        t0 = time.perf_counter()
        running = [session.start(MemorySource(frames, name=f"stream-{i}", total=total), [sinks[i]],
                                 mode="offline", max_in_flight=max_in_flight, stream_id=f"stream-{i}")
                   for i in range(streams)]
        reports = [s.run_to_end() for s in running]
        wall = time.perf_counter() - t0
    identical = [s.records == r for s, r in zip(sinks, single_records)]
    done = sum(r.frames_done for r in reports)
    single_fps = sum(r.frames_done for r in singles) / single_wall if single_wall > 0 else 0.0
    total_fps = done / wall if wall > 0 else 0.0
    return {"frames_per_stream": total, "streams": streams, "distinct_frames": len(frames),
            "frame_size": [frames[0].width, frames[0].height],
            "together": {"wall_s": round(wall, 3), "total_fps": round(total_fps, 3),
                         "per_stream": [_stream_summary(r) for r in reports]},
            "one_after_another": {"wall_s": round(single_wall, 3), "total_fps": round(single_fps, 3),
                                  "per_stream": [_stream_summary(r) for r in singles]},
            "speedup": round(total_fps / single_fps, 3) if single_fps else None,
            "identical_results": all(identical), "identical_per_stream": identical,
            "memory": memory_report(frames, rss)}


# ----- export costs -----------------------------------------------------------------------------------------
def bench_exports(session: Session, frames: list[FramePacket], total: int, exports: list[str],
                  max_in_flight: int | None = None, warmup: int = 10) -> dict:
    """Frames/s of the pipelined graph writing results.jsonl alone, then with each export, then with all of them,
    one after another in this session over the same frames (files in a temporary folder)."""
    import tempfile
    from pathlib import Path

    from models.export import make_exporters

    if warmup:
        run_sequential(session, frames[:warmup], min(warmup, len(frames)))
    configs = [("results.jsonl only", [])] + [(f"+ {name}", [name]) for name in exports]
    if len(exports) > 1:
        configs.append((f"+ {','.join(exports)}", list(exports)))
    runs = []
    with tempfile.TemporaryDirectory(prefix="percept-bench-export-") as tmp:
        for i, (label, names) in enumerate(configs):
            folder = Path(tmp) / str(i)
            sinks: list[Sink] = [results_sink(folder / "results.jsonl"), *make_exporters(names, folder)]
            report = session.run(MemorySource(frames, total=total), sinks, mode=OFFLINE,
                                 max_in_flight=max_in_flight)
            sizes = {p.name: p.stat().st_size for p in folder.iterdir() if p.name != "results.jsonl"}
            runs.append({"label": label, "exports": names, "fps": round(report.fps, 3),
                         "frames_done": report.frames_done, "bytes": sizes})
    base = runs[0]["fps"]
    for run in runs:
        run["relative"] = round(run["fps"] / base, 3) if base else None
    return {"frames": total, "distinct_frames": len(frames), "frame_size": [frames[0].width, frames[0].height],
            "runs": runs}
