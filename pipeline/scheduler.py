"""Runs a Graph over a Source: a worker thread per stage (several for stateless stages), joins on the frame,
in-order delivery to sinks, and flow limiting.

Modes:
- ``offline``: lossless with back-pressure. The reader waits while ``max_in_flight`` frames are in the graph;
  every source frame yields exactly one result, in order.
- ``live``: the camera is never blocked. At most ``max_in_flight`` frames are in the graph; while it is full the
  newest frame waits in a one-frame slot, replacing (dropping) the one there before (MediaPipe's FlowLimiter,
  newest wins). Unless fixed by config, ``max_in_flight`` adapts to the measured stage latencies: just enough
  frames to keep the slowest stage busy, so that no queue builds up and latency stays near the sum of the stages.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable

from pipeline.errors import SourceError
from pipeline.graph import Graph, Node
from pipeline.metrics import RunReport, StageMetrics
from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink
from pipeline.sources.base import Source
from pipeline.stage import StageContext

log = logging.getLogger(__name__)
_POLL_S = 0.05


class _Inlet:
    """A node's input. Ordered inlets hand out packets strictly by admission index."""

    def __init__(self, ordered: bool) -> None:
        self.ordered = ordered
        self.cond = threading.Condition()
        self.by_index: dict[int, FramePacket] = {}
        self.fifo: deque[FramePacket] = deque()
        self.next_index = 0
        self.closed = False

    def put(self, packet: FramePacket) -> int:
        with self.cond:
            if self.ordered:
                self.by_index[packet.index] = packet
            else:
                self.fifo.append(packet)
            self.cond.notify()
            return len(self.by_index) + len(self.fifo)

    def get(self, timeout: float | None = None) -> FramePacket | None:
        """Next packet; None when closed and empty, or on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            while True:
                if self.ordered and self.next_index in self.by_index:
                    self.next_index += 1
                    return self.by_index.pop(self.next_index - 1)
                if not self.ordered and self.fifo:
                    return self.fifo.popleft()
                if self.closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self.cond.wait(remaining)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


@dataclass
class RunOptions:
    mode: str = "offline"
    max_in_flight: int | None = None
    max_frames: int | None = None
    device: str = "auto"


class Scheduler:
    """Owns the threads of one run. Use ``run`` once."""

    def __init__(self, graph: Graph, options: RunOptions | None = None) -> None:
        self.graph = graph
        self.options = options or RunOptions()
        mode = self.options.mode
        if mode not in ("live", "offline"):
            raise ValueError(f"mode must be live or offline, got {mode!r}")
        self.metrics = {name: StageMetrics(name) for name in graph.order}
        self.inlets = {name: _Inlet(graph.nodes[name].ordered) for name in graph.order}
        self.sink_inlet = _Inlet(ordered=True)
        self._pending_lock = threading.Lock()
        self._pending: dict[int, dict[str, int]] = {}  # packet index -> remaining parents per node (+ "__sink__")
        fixed = self.options.max_in_flight or graph.max_in_flight
        self._adaptive = fixed is None and mode == "live"
        default = 1 if mode == "live" else max(4, 2 * sum(n.workers for n in graph.nodes.values()))
        self.max_in_flight = fixed or default
        self._in_flight = 0
        self._flow = threading.Condition()
        self._stop = threading.Event()
        self._stop_reason: tuple[str, str | None] | None = None
        self._eof = threading.Event()
        self._admitted = 0
        self._read = 0
        self._drops = 0
        self._slot: FramePacket | None = None
        self._threads: list[threading.Thread] = []  # stage workers
        self._reader_thread: threading.Thread | None = None

    # ----- flow control -------------------------------------------------------------------------------------
    def _request_stop(self, reason: str, error: str | None = None) -> None:
        if self._stop_reason is None:
            self._stop_reason = (reason, error)
        self._stop.set()
        with self._flow:
            self._flow.notify_all()

    def _admit(self, packet: FramePacket) -> None:
        """Send an admitted packet (index already assigned under the flow lock) to the root stages."""
        counts = {name: len(node.parents) for name, node in self.graph.nodes.items()}
        counts["__sink__"] = len(self.graph.leaves)
        with self._pending_lock:
            self._pending[packet.index] = counts
        roots = self.graph.roots
        if not roots:
            self._deliver_to_sink(packet)
        now = time.perf_counter()
        for name in roots:
            packet.__dict__.setdefault("_queued_at", {})[name] = now
            self.metrics[name].queue_depth.append(self.inlets[name].put(packet))

    def _take_index(self, packet: FramePacket) -> None:
        """Count a packet in flight and give it the next admission index. Caller holds ``self._flow``."""
        self._in_flight += 1
        packet.index = self._admitted
        self._admitted += 1

    def _adapt_in_flight(self) -> None:
        """Enough frames in flight to keep the bottleneck busy, no more (live mode)."""
        medians = {n: self.metrics[n].median_ms() for n in self.graph.order}
        if any(m is None for m in medians.values()) or not medians:
            return
        longest: dict[str, float] = {}
        for name in self.graph.order:
            node = self.graph.nodes[name]
            longest[name] = medians[name] + max((longest[p] for p in node.parents), default=0.0)
        critical = max(longest.values())
        bottleneck = max(medians[n] / self.graph.nodes[n].workers for n in self.graph.order)
        if bottleneck <= 0:
            return
        target = max(1, min(len(self.graph.order) * 2, math.ceil(critical / bottleneck - 1e-6)))
        with self._flow:
            self.max_in_flight = target
            self._flow.notify_all()

    def _reader(self, source: Source) -> None:
        live = self.options.mode == "live"
        limit = self.options.max_frames
        try:
            while not self._stop.is_set():
                if limit is not None and self._read >= limit:
                    self._request_stop("frame_limit")
                    break
                if not live:
                    with self._flow:
                        while self._in_flight >= self.max_in_flight and not self._stop.is_set():
                            self._flow.wait(_POLL_S)
                    if self._stop.is_set():
                        break
                packet = source.read()
                if packet is None:
                    break
                self._read += 1
                with self._flow:
                    if self._in_flight < self.max_in_flight:
                        self._take_index(packet)
                        admit = packet
                    else:  # live and full: newest wins the one-frame slot
                        if self._slot is not None:
                            self._drops += 1
                        self._slot, admit = packet, None
                if admit is not None:
                    self._admit(admit)
        except SourceError as exc:
            self._request_stop("source_error", str(exc))
        except Exception as exc:  # a source bug: report it as a source failure, keep outputs valid
            log.exception("source failed")
            self._request_stop("source_error", f"source failed: {type(exc).__name__}: {exc}")
        finally:
            self._eof.set()
            with self._flow:
                self._flow.notify_all()

    # ----- workers ------------------------------------------------------------------------------------------
    def _worker(self, node: Node) -> None:
        inlet = self.inlets[node.name]
        stage = node.stage
        metrics = self.metrics[node.name]
        while True:
            packet = inlet.get()
            if packet is None:
                return
            queued_at = getattr(packet, "_queued_at", {}).get(node.name, time.perf_counter())
            start = time.perf_counter()
            missing = [k for k in stage.inputs if not packet.has(k)]
            ok = True
            if missing:
                metrics.skipped += 1
                packet.errors.append({"stage": node.name, "error": f"skipped: input {missing[0]!r} missing"})
            else:
                try:
                    outputs = stage.process(packet) or {}
                    extra = set(outputs) - set(stage.outputs)
                    if extra:
                        raise RuntimeError(f"returned undeclared output(s) {sorted(extra)}")
                    packet.data.update(outputs)
                except Exception as exc:
                    ok = False
                    message = f"{type(exc).__name__}: {exc}"
                    packet.errors.append({"stage": node.name, "error": message})
                    if metrics.errors < 5 or metrics.errors % 100 == 0:
                        log.warning("stage %s failed on frame %d: %s", node.name, packet.seq, message)
                    if node.on_error == "stop":
                        self._request_stop("stage_error", f"stage {node.name!r} failed on frame {packet.seq}: "
                                                          f"{message}")
            elapsed = (time.perf_counter() - start) * 1000.0
            if not missing:
                packet.latency_ms[node.name] = elapsed
                metrics.record(elapsed, (start - queued_at) * 1000.0, ok)
            self._node_done(node, packet)

    def _node_done(self, node: Node, packet: FramePacket) -> None:
        ready: list[str] = []
        to_sink = False
        with self._pending_lock:
            counts = self._pending[packet.index]
            for child in node.children:
                counts[child] -= 1
                if counts[child] == 0:
                    ready.append(child)
            if not node.children:
                counts["__sink__"] -= 1
                to_sink = counts["__sink__"] == 0
            if to_sink:
                del self._pending[packet.index]
        now = time.perf_counter()
        for child in ready:
            packet.__dict__.setdefault("_queued_at", {})[child] = now
            self.metrics[child].queue_depth.append(self.inlets[child].put(packet))
        if to_sink:
            self._deliver_to_sink(packet)

    def _deliver_to_sink(self, packet: FramePacket) -> None:
        self.sink_inlet.put(packet)

    def _release(self) -> None:
        """A frame left the graph: free its slot, and in live mode admit the waiting newest frame."""
        slot = None
        with self._flow:
            self._in_flight -= 1
            if self._slot is not None and not self._stop.is_set() and self._in_flight < self.max_in_flight:
                slot, self._slot = self._slot, None
                self._take_index(slot)
            self._flow.notify_all()
        if slot is not None:
            self._admit(slot)

    # ----- run ----------------------------------------------------------------------------------------------
    def run(self, source: Source, sinks: Iterable[Sink] = (),
            on_result: Callable[[FramePacket], None] | None = None) -> RunReport:
        """Run to the end of the source, a stop, or Ctrl-C. Sinks are closed in every case."""
        sinks = list(sinks)
        report = RunReport(mode=self.options.mode, stages=self.metrics)
        started_nodes = []
        try:
            for name in self.graph.order:
                node = self.graph.nodes[name]
                node.stage.setup(StageContext(name=name, mode=self.options.mode, device=self.options.device))
                started_nodes.append(node)
                report.stage_info[name] = node.stage.describe()
            source.open()
            report.source = source.describe()
            for sink in sinks:
                sink.open(source.describe())
            for name in self.graph.order:
                node = self.graph.nodes[name]
                for w in range(node.workers):
                    t = threading.Thread(target=self._worker, args=(node,), name=f"{name}-{w}", daemon=True)
                    t.start()
                    self._threads.append(t)
            t0 = time.perf_counter()
            reader = threading.Thread(target=self._reader, args=(source,), name="source", daemon=True)
            reader.start()
            self._reader_thread = reader
            self._consume(sinks, report, on_result)
            report.wall_s = time.perf_counter() - t0
        except KeyboardInterrupt:
            self._request_stop("interrupted", "interrupted by Ctrl-C")
            try:
                self._drain(sinks, report, on_result, timeout=5.0)
            except KeyboardInterrupt:
                pass
        finally:
            self._stop.set()
            for inlet in self.inlets.values():
                inlet.close()
            # Workers finish the frame in hand before stages close; a thread still running native code while
            # the interpreter exits aborts the process.
            self._join(self._threads, timeout_s=10.0)
            for sink in sinks:
                try:
                    sink.close()
                except Exception as exc:
                    log.error("closing sink %s failed: %s", type(sink).__name__, exc)
            try:
                source.close()
            except Exception as exc:
                log.error("closing source failed: %s", exc)
            if self._reader_thread is not None:
                self._join([self._reader_thread], timeout_s=5.0)
            for node in started_nodes:
                try:
                    node.stage.close()
                except Exception as exc:
                    log.error("closing stage %s failed: %s", node.name, exc)
        report.frames_read = self._read
        report.frames_admitted = self._admitted
        report.drops = self._drops + (1 if self._slot is not None else 0)
        report.max_in_flight = self.max_in_flight
        if self._stop_reason is not None and self._stop_reason[0] != "frame_limit":
            report.ended_by, report.error = self._stop_reason
        elif self._stop_reason is not None:
            report.ended_by = "frame_limit"
        return report

    @staticmethod
    def _join(threads: list[threading.Thread], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                log.warning("thread %s did not finish within %.0f s of the stop", t.name, timeout_s)

    def _consume(self, sinks: list[Sink], report: RunReport, on_result) -> None:
        delivered = 0
        while True:
            packet = self.sink_inlet.get(timeout=_POLL_S)
            if packet is None:
                if self._eof.is_set() and delivered >= self._admitted:
                    return
                continue
            self._emit(packet, sinks, report, on_result)
            delivered += 1
            if self._adaptive and delivered in (8, 32) or (self._adaptive and delivered % 128 == 0):
                self._adapt_in_flight()

    def _drain(self, sinks, report, on_result, timeout: float) -> None:
        """After a stop: let frames already in the graph finish, so their results are written too."""
        deadline = time.monotonic() + timeout
        while report.frames_done < self._admitted and time.monotonic() < deadline:
            packet = self.sink_inlet.get(timeout=_POLL_S)
            if packet is not None:
                self._emit(packet, sinks, report, on_result)

    def _emit(self, packet: FramePacket, sinks: list[Sink], report: RunReport, on_result) -> None:
        report.end_to_end_ms.append((time.perf_counter() - packet.arrival_time) * 1000.0)
        packet.__dict__.pop("_queued_at", None)
        for sink in sinks:
            sink.write(packet)
        if on_result is not None:
            on_result(packet)
        report.frames_done += 1
        self._release()
