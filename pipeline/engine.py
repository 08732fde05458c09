"""The graph engine: stage lifecycle and dispatch, shared by any number of streams.

An ``Engine`` sets its stages up once (models load once) and keeps a worker thread per stage (several for
stateless stages) for its whole life. Each ``open_stream`` attaches a source and its sinks as a ``Stream``: a reader
thread admits frames through the stream's ``FlowLimiter``, workers pass them along the graph's edges (a node runs
when all its parents are done with the frame: branches run concurrently and join on the frame), and the stream's
delivery thread hands them to its sinks in frame order. Per-stream state (``Stage.open_stream``) is opened before the
first frame and closed after the last, so nothing leaks from one stream or file to the next.

Guarantees, per stream: offline is lossless and in order; live is flow-limited, newest frame wins; every ending
(end of stream, ``stop``, a source or stage error, a second Ctrl-C) closes the sinks, so outputs stay valid.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from pipeline import endings, keys
from pipeline.errors import ConfigError, PerceptError, SourceError, StageSetupError
from pipeline.flow import FlowLimiter, in_flight_for
from pipeline.graph import Graph, Node
from pipeline.modes import LIVE, OFFLINE, check_mode
from pipeline.metrics import RateMeter, RunReport, StageMetrics
from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink
from pipeline.sources.base import Source
from pipeline.stage import StageContext, StreamContext, takes_state

log = logging.getLogger(__name__)
_POLL_S = 0.05
ENDED_SNAPSHOTS_KEPT = 8
_SINK = "__sink__"


@dataclass
class StreamOptions:
    mode: str = OFFLINE  # LIVE | OFFLINE (pipeline/modes.py)
    max_in_flight: int | None = None
    max_frames: int | None = None
    drain_timeout_s: float = 10.0  # after a stop: how long frames already in the graph may take to finish


@dataclass
class _InFlight:
    """One frame's bookkeeping while it is in the graph (the engine's, not the frame's: the packet stays data)."""

    waiting: dict[str, int]  # stage (and the sinks) -> parents still to finish this frame
    queued_at: dict[str, float] = field(default_factory=dict)  # stage -> when the frame was handed to it
    disabled: set[str] = field(default_factory=set)  # stages switched off for this frame


class _Inlet:
    """A node's input, shared by all streams. Ordered inlets hand out each stream's packets strictly by index,
    unordered ones in arrival order per stream. Either way the streams take turns (round robin over those with a
    packet ready): a stream that filled the queue first cannot starve the others, and one with nothing ready (a
    stalled source) is skipped, never waited for."""

    def __init__(self, ordered: bool) -> None:
        self.ordered = ordered
        self.cond = threading.Condition()
        self.waiting: dict[str, dict[int, FramePacket]] = {}  # ordered: stream -> index -> packet
        self.next_index: dict[str, int] = {}
        self.fifo: dict[str, deque[FramePacket]] = {}  # unordered: stream -> packets in arrival order
        self.size = 0
        self.closed = False

    def put(self, packet: FramePacket) -> int:
        with self.cond:
            if self.ordered:
                self.waiting.setdefault(packet.stream_id, {})[packet.index] = packet
            else:
                self.fifo.setdefault(packet.stream_id, deque()).append(packet)
            self.size += 1
            self.cond.notify()
            return self.size

    def _take(self) -> FramePacket | None:
        if not self.ordered:
            for sid, queue in self.fifo.items():
                if queue:
                    self.fifo[sid] = self.fifo.pop(sid)  # round robin: this stream goes to the back
                    return queue.popleft()
            return None
        for sid, waiting in self.waiting.items():
            nxt = self.next_index.get(sid, 0)
            if nxt in waiting:
                self.next_index[sid] = nxt + 1
                self.waiting[sid] = self.waiting.pop(sid)  # round robin: this stream goes to the back
                return waiting.pop(nxt)
        return None

    def get(self, timeout: float | None = None) -> FramePacket | None:
        """Next packet; None when closed and empty, or on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            while True:
                packet = self._take()
                if packet is not None:
                    self.size -= 1
                    return packet
                if self.closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self.cond.wait(remaining)

    def forget(self, stream_id: str) -> None:
        """A stream ended: drop its ordering state (and any packet of it still waiting)."""
        with self.cond:
            self.size -= len(self.waiting.pop(stream_id, {}))
            self.next_index.pop(stream_id, None)
            self.size -= len(self.fifo.pop(stream_id, ()))

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class Stream:
    """One source flowing through the engine to its sinks. Made by ``Engine.open_stream``."""

    def __init__(self, engine: "Engine", stream_id: str, source: Source, sinks: list[Sink],
                 options: StreamOptions, on_result: Callable[[FramePacket], None] | None) -> None:
        self.engine, self.id, self.source, self.sinks = engine, stream_id, source, sinks
        self.options = options
        self.on_result = on_result
        graph = engine.graph
        self.metrics = {name: StageMetrics(name) for name in graph.order}
        self.report = RunReport(mode=options.mode, stages=self.metrics, stream_id=stream_id)
        fixed = options.max_in_flight or graph.max_in_flight
        live = options.mode == LIVE
        default = 1 if live else max(4, 2 * sum(n.workers for n in graph.nodes.values()))
        self.flow = FlowLimiter(live, fixed or default, adaptive=fixed is None and live)
        self.rate = RateMeter()
        self.states: dict[str, Any] = {}
        self._sink_lock = threading.Lock()
        self._sink_changes: list[tuple[str, Sink]] = []
        self._pending: dict[int, _InFlight] = {}  # packet index -> that frame's bookkeeping
        self._pending_lock = threading.Lock()
        self._done_inlet = _Inlet(ordered=True)
        self._stop = threading.Event()  # no more reading
        self._stop_requested = threading.Event()  # a caller asked to stop: the drain has a deadline
        self._stop_reason: tuple[str, str | None] | None = None
        self._eof = threading.Event()
        self._abandon = threading.Event()  # stop waiting for frames in the graph (second Ctrl-C, drain timeout)
        self._interrupts = 0  # Ctrl-Cs (or SIGTERMs) received: see interrupt()
        self.finished = threading.Event()
        self.closed = False  # finalised: late packets are ignored
        self.read = 0
        self._t0 = 0.0
        self._reader: threading.Thread | None = None
        self._delivery: threading.Thread | None = None

    # ----- control ------------------------------------------------------------------------------------------
    def stop(self, reason: str = endings.STOPPED, error: str | None = None) -> None:
        """Stop reading; frames already in the graph finish (up to ``drain_timeout_s``), then sinks close."""
        self.end_reading(reason, error)
        self._stop_requested.set()

    def end_reading(self, reason: str, error: str | None = None) -> None:
        """No more frames are read (a frame limit, a source or stage error, a stop); those in the graph finish."""
        if self._stop_reason is None:
            self._stop_reason = (reason, error)
        self._stop.set()
        self.flow.stop()

    def interrupt(self, ending: str = endings.INTERRUPTED, message: str = "interrupted by Ctrl-C",
                  drain_s: float | None = None) -> None:
        """The one Ctrl-C policy (``run_to_end`` and the CLI's signal handler both come here): the first call stops
        reading and lets the frames in the graph finish (for ``drain_s`` at most where given, else the stream's
        drain timeout), a second one stops at once. Outputs are closed and valid either way."""
        self._interrupts += 1
        if self._interrupts > 1:
            self.abandon()
            return
        self.stop(ending, message)
        if drain_s is not None:
            timer = threading.Timer(drain_s, self.abandon)
            timer.daemon = True
            timer.start()

    def abandon(self) -> None:
        """Stop now without waiting for frames in the graph (their results are lost; files written stay valid)."""
        self.stop(endings.INTERRUPTED, "interrupted by Ctrl-C")
        self._abandon.set()

    def wait(self, timeout: float | None = None) -> RunReport | None:
        """The report once the stream has ended and its outputs are closed; None on timeout."""
        if not self.finished.wait(timeout):
            return None
        return self.report

    def run_to_end(self) -> RunReport:
        """Block until the stream ends. Ctrl-C once: stop reading and let frames in the graph finish; twice: stop
        at once. Either way the outputs are closed and valid, and the report says ``interrupted``."""
        try:
            while self.wait(0.2) is None:
                pass
        except KeyboardInterrupt:
            self.interrupt()
            try:
                while self.wait(0.2) is None:
                    pass
            except KeyboardInterrupt:
                self.interrupt()
                self.wait(15.0)
        return self.report

    def snapshot(self) -> dict[str, Any]:
        report = self.report
        return {"stream": self.id, "source": self.source.name, "mode": self.options.mode,
                "fps": round(self.rate.rate(), 3), "frames_read": self.read, "frames_done": report.frames_done,
                "drops": self.flow.drops, "in_flight": self.flow.in_flight, "max_in_flight": self.flow.max_in_flight,
                "end_to_end_ms": report.end_to_end_ms.recent_percentiles(), "finished": self.finished.is_set(),
                "ended_by": report.ended_by if self.finished.is_set() else None,
                "stages": {n: m.live() for n, m in self.metrics.items()}}

    # ----- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        engine = self.engine
        opened: list[str] = []
        try:
            context = StreamContext(self.id, self.source.name, self.options.mode, self.source.live, self.source.fps,
                                    getattr(self.source, "sequence", True))
            for name in engine.graph.order:
                self.states[name] = engine.graph.nodes[name].stage.open_stream(context)
                opened.append(name)
            self.source.open()
            self.report.source = self.source.describe()
            for sink in self.sinks:
                sink.bind(self)
                sink.open(self.report.source)
        except BaseException:
            for sink in self.sinks:
                self._safe(sink.close, f"closing sink {type(sink).__name__}")
            self._close_states(opened)
            self._safe(self.source.close, "closing source")
            raise
        self.report.stage_info = {n: engine.graph.nodes[n].stage.describe() for n in engine.graph.order}
        self._t0 = time.perf_counter()
        self._reader = threading.Thread(target=self._read_loop, name=f"source-{self.id}", daemon=True)
        self._delivery = threading.Thread(target=self._deliver_loop, name=f"deliver-{self.id}", daemon=True)
        self._reader.start()
        self._delivery.start()

    def _read_loop(self) -> None:
        limit = self.options.max_frames
        try:
            while not self._stop.is_set():
                if limit is not None and self.read >= limit:
                    self.end_reading(endings.FRAME_LIMIT)
                    break
                if not self.flow.live and not self.flow.wait_for_room(self._stop):
                    break
                packet = self.source.read()
                if packet is None:
                    break
                packet.stream_id = self.id
                self.read += 1
                admit = self.flow.offer(packet)
                if admit is not None:
                    self._admit(admit)
        except SourceError as exc:
            self.end_reading(endings.SOURCE_ERROR, str(exc))
        except Exception as exc:  # a source bug: report it as a source failure, keep outputs valid
            log.exception("source failed")
            self.end_reading(endings.SOURCE_ERROR, f"source failed: {type(exc).__name__}: {exc}")
        finally:
            self._eof.set()

    def _admit(self, packet: FramePacket) -> None:
        graph = self.engine.graph
        counts = {name: len(node.parents) for name, node in graph.nodes.items()}
        counts[_SINK] = len(graph.leaves)
        with self._pending_lock:
            self._pending[packet.index] = _InFlight(counts)
        if not graph.roots:
            self._done_inlet.put(packet)
        for name in graph.roots:
            self.engine.enqueue(name, packet, self)

    def node_done(self, node: Node, packet: FramePacket) -> None:
        """Called by a worker when ``node`` has finished ``packet``: wake children whose parents are all done."""
        ready: list[str] = []
        to_sink = False
        with self._pending_lock:
            frame = self._pending.get(packet.index)
            if frame is None:  # the stream was finalised meanwhile
                return
            counts = frame.waiting
            for child in node.children:
                counts[child] -= 1
                if counts[child] == 0:
                    ready.append(child)
            if not node.children:
                counts[_SINK] -= 1
                to_sink = counts[_SINK] == 0
            if to_sink:
                del self._pending[packet.index]
        for child in ready:
            self.engine.enqueue(child, packet, self)
        if to_sink:
            self._done_inlet.put(packet)

    def in_flight(self, packet: FramePacket) -> "_InFlight | None":
        """The bookkeeping of one of this stream's frames while it is in the graph (None once delivered)."""
        with self._pending_lock:
            return self._pending.get(packet.index)

    def _deliver_loop(self) -> None:
        """Sinks get the frames in order; then the stream ends: drain, close outputs, close stream state."""
        delivered = 0
        drain_deadline: float | None = None
        try:
            while True:
                if self._abandon.is_set():
                    break
                if self._stop_requested.is_set() and drain_deadline is None:
                    drain_deadline = time.monotonic() + self.options.drain_timeout_s
                if drain_deadline is not None and time.monotonic() > drain_deadline:
                    log.warning("stream %s: %d frame(s) still in the graph %.0f s after the stop; closing outputs",
                                self.id, self.flow.admitted - delivered, self.options.drain_timeout_s)
                    break
                if self._eof.is_set() and delivered >= self.flow.admitted:
                    break
                packet = self._done_inlet.get(timeout=_POLL_S)
                if packet is None:
                    continue
                self._emit(packet)
                delivered += 1
                if self.flow.adaptive and (delivered in (8, 32) or delivered % 128 == 0):
                    target = in_flight_for(self.engine.graph, {n: m.median_ms(recent=True)
                                                               for n, m in self.metrics.items()},
                                           self.engine.enabled)
                    if target is not None:
                        self.flow.resize(target)
        except Exception as exc:  # a sink failed (disk full, ...): end the stream, keep what was written
            log.error("stream %s: writing results failed: %s", self.id, exc)
            self.end_reading(endings.SINK_ERROR, f"writing results failed: {type(exc).__name__}: {exc}")
        finally:
            self._finalise()

    def _emit(self, packet: FramePacket) -> None:
        self.report.end_to_end_ms.append((time.perf_counter() - packet.arrival_time) * 1000.0)
        self._apply_sink_changes()
        try:
            for sink in self.sinks:
                sink.write(packet)
        finally:
            self.report.frames_done += 1
            self.rate.tick()
            admit = self.flow.release()
            if admit is not None:
                self._admit(admit)
        if self.on_result is not None:
            self.on_result(packet)

    def attach_sink(self, sink: Sink) -> None:
        """Add a sink while the stream runs (e.g. the UI's Record button): it is opened on the delivery thread
        and gets every frame from the next one delivered on."""
        with self._sink_lock:
            self._sink_changes.append(("attach", sink))

    def detach_sink(self, sink: Sink) -> None:
        """Remove a sink while the stream runs; it is closed (its file finalised) on the delivery thread."""
        with self._sink_lock:
            self._sink_changes.append(("detach", sink))

    def _apply_sink_changes(self) -> None:
        with self._sink_lock:
            changes, self._sink_changes = self._sink_changes, []
        for action, sink in changes:
            if action == "attach" and sink not in self.sinks:
                sink.bind(self)
                sink.open(self.report.source)
                self.sinks.append(sink)
            elif action == "detach" and sink in self.sinks:
                self.sinks.remove(sink)
                self._safe(sink.close, f"closing sink {type(sink).__name__}")

    def _finalise(self) -> None:
        self.flow.stop()
        self._stop.set()
        self.report.wall_s = time.perf_counter() - self._t0
        with self._pending_lock:
            self._pending.clear()
        self.closed = True
        with self._sink_lock:  # a sink attached but never opened is dropped; one detached late is still closed
            self._sink_changes = []
        for sink in self.sinks:
            self._safe(sink.close, f"closing sink {type(sink).__name__}")
        reader = self._reader if self._reader is not threading.current_thread() else None
        if reader is not None:  # let a read in progress return first: a decoder freed under it can crash
            reader.join(1.0)
        self._safe(self.source.close, "closing source")
        if reader is not None:
            reader.join(4.0)  # a read that only returns once the source is closed
            if reader.is_alive():
                log.warning("stream %s: the source did not return within 5 s of the stop", self.id)
        self.engine.forget_stream(self)
        self._close_states(list(self.states))
        report = self.report
        report.frames_read = self.read
        report.frames_admitted = self.flow.admitted
        report.drops = self.flow.drops
        report.max_in_flight = self.flow.max_in_flight
        if self._stop_reason is not None and self._stop_reason[0] != endings.FRAME_LIMIT:
            report.ended_by, report.error = self._stop_reason
        elif self._stop_reason is not None:
            report.ended_by = endings.FRAME_LIMIT
        self.engine.keep_final_snapshot(self)  # before finished is set: whoever waits on it finds the readings
        self.finished.set()

    def _close_states(self, names: Iterable[str]) -> None:
        for name in names:
            stage = self.engine.graph.nodes[name].stage
            self._safe(lambda: stage.close_stream(self.states.get(name)), f"closing stage {name!r} stream state")
        self.states.clear()

    @staticmethod
    def _safe(fn: Callable[[], Any], what: str) -> None:
        try:
            fn()
        except Exception as exc:
            log.error("%s failed: %s", what, exc)


def _setup_error(name: str, stage: Any, exc: Exception) -> Exception:
    """One line naming the stage and the cause. A PerceptError (a missing model file: the user's to fix) keeps its
    kind, its message prefixed; anything else (a plugin's bug) becomes a StageSetupError (the CLI: exit 1, no
    traceback; ``-v`` logs the traceback)."""
    stage_type = type(stage).type_name or type(stage).__name__
    log.info("stage %r (%s) setup failed", name, stage_type, exc_info=exc)
    if not isinstance(exc, PerceptError):
        return StageSetupError(name, stage_type, exc)
    if f"{name!r}" not in str(exc):
        exc.args = (f"stage {name!r} ({stage_type}): {exc}", *exc.args[1:])
    return exc


class Engine:
    """Stages set up once, workers running, streams attached and detached. Thread-safe control methods."""

    def __init__(self, graph: Graph, device: str = "auto", mode: str = OFFLINE) -> None:
        self.graph = graph
        self.device = device
        self.mode = mode
        self.enabled: dict[str, bool] = {name: True for name in graph.order}
        self._inlets = {name: _Inlet(graph.nodes[name].ordered) for name in graph.order}
        self._streams: dict[str, Stream] = {}
        self._streams_lock = threading.Lock()
        # The last readings of streams that ended, newest last: a viewer keeps showing a finished file's figures.
        self._ended: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._threads: list[threading.Thread] = []
        self._set_up: list[str] = []
        self._takes_state = {name: takes_state(graph.nodes[name].stage) for name in graph.order}
        self._writes = {name: keys.writes(graph.nodes[name].stage.outputs) for name in graph.order}
        self._apply_lock = threading.Lock()  # stages on different fields of one value finish concurrently
        self._ids = itertools.count()
        self.started = False
        self.closed = False

    # ----- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Set every stage up (load models) and start the workers. Idempotent."""
        if self.started:
            return
        if self.closed:
            raise RuntimeError("engine is closed")
        name = None
        try:
            for name in self.graph.order:
                self.graph.nodes[name].stage.setup(StageContext(name=name, mode=self.mode, device=self.device))
                self._set_up.append(name)
        except BaseException as exc:
            self._close_stages()
            self.closed = True
            if name is None or not isinstance(exc, Exception):
                raise
            error = _setup_error(name, self.graph.nodes[name].stage, exc)
            if error is exc:
                raise
            raise error from exc
        for name in self.graph.order:
            node = self.graph.nodes[name]
            for w in range(node.workers):
                t = threading.Thread(target=self._worker, args=(node,), name=f"{name}-{w}", daemon=True)
                t.start()
                self._threads.append(t)
        self.started = True

    def open_stream(self, source: Source, sinks: Iterable[Sink] = (), options: StreamOptions | None = None,
                    on_result: Callable[[FramePacket], None] | None = None, stream_id: str | None = None) -> Stream:
        """Attach a source; frames start flowing at once. ``on_result`` runs on the stream's delivery thread
        after the sinks, for every frame, in order (a UI should hand it to a mailbox, not paint there)."""
        options = options or StreamOptions()
        check_mode(options.mode)
        self.start()
        sid = stream_id or f"s{next(self._ids)}"
        stream = Stream(self, sid, source, list(sinks), options, on_result)
        with self._streams_lock:
            if sid in self._streams:
                raise ValueError(f"stream id {sid!r} is already running")
            self._streams[sid] = stream
        try:
            stream.start()
        except BaseException:
            with self._streams_lock:
                self._streams.pop(sid, None)
            raise
        return stream

    def streams(self) -> list[Stream]:
        with self._streams_lock:
            return list(self._streams.values())

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Switch a stage on or off while frames flow: a disabled stage passes frames through, its outputs
        absent; stages that need them skip the frame quietly."""
        if name not in self.enabled:
            raise ConfigError(f"no stage named {name!r}; stages: {', '.join(self.graph.order)}")
        self.enabled[name] = bool(enabled)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop every stream, join the workers, close the stages (models unload). Idempotent."""
        if self.closed:
            return
        for stream in self.streams():
            stream.stop()
        for stream in self.streams():
            stream.wait(timeout_s + stream.options.drain_timeout_s)
        for inlet in self._inlets.values():
            inlet.close()
        # Workers finish the frame in hand before stages close; a thread still running native code while the
        # interpreter exits aborts the process.
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                log.warning("thread %s did not finish within %.0f s of the stop", t.name, timeout_s)
        self._close_stages()
        self.closed = True

    def _close_stages(self) -> None:
        for name in reversed(self._set_up):
            try:
                self.graph.nodes[name].stage.close()
            except Exception as exc:
                log.error("closing stage %s failed: %s", name, exc)
        self._set_up.clear()

    def forget_stream(self, stream: Stream) -> None:
        """A finishing stream: no more of its frames are dispatched."""
        with self._streams_lock:
            self._streams.pop(stream.id, None)
        for inlet in self._inlets.values():
            inlet.forget(stream.id)

    def keep_final_snapshot(self, stream: Stream) -> None:
        """A finished stream's last readings, for viewers that still show it."""
        final = {**stream.snapshot(), "finished": True, "ended_by": stream.report.ended_by}
        with self._streams_lock:
            self._ended[stream.id] = final
            self._ended.move_to_end(stream.id)
            while len(self._ended) > ENDED_SNAPSHOTS_KEPT:
                self._ended.popitem(last=False)

    def __enter__(self) -> "Engine":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- dispatch -----------------------------------------------------------------------------------------
    def enqueue(self, name: str, packet: FramePacket, stream: Stream) -> None:
        """A stream hands one of its frames to stage ``name`` (its parents are done with it)."""
        frame = stream.in_flight(packet)
        if frame is not None:
            frame.queued_at[name] = time.perf_counter()
        stream.metrics[name].record_depth(self._inlets[name].put(packet))

    def _worker(self, node: Node) -> None:
        inlet = self._inlets[node.name]
        while True:
            packet = inlet.get()
            if packet is None:
                return
            with self._streams_lock:
                stream = self._streams.get(packet.stream_id)
            if stream is None or stream.closed:
                continue
            self._run_node(node, packet, stream)
            stream.node_done(node, packet)

    def _run_node(self, node: Node, packet: FramePacket, stream: Stream) -> None:
        stage = node.stage
        metrics = stream.metrics[node.name]
        frame = stream.in_flight(packet) or _InFlight({})
        if not self.enabled[node.name]:
            frame.disabled.add(node.name)
            metrics.count("disabled")
            return
        queued_at = frame.queued_at.get(node.name, time.perf_counter())
        missing = node.missing_inputs(packet, frame.disabled)
        if missing:
            metrics.count("skipped")
            if not frame.disabled:  # a switched-off stage upstream explains it; anything else is an error
                packet.errors.append({"stage": node.name, "error": f"skipped: input {missing[0]!r} missing"})
            return
        start = time.perf_counter()
        ok = True
        try:
            if self._takes_state[node.name]:
                outputs = stage.process(packet, stream.states.get(node.name)) or {}
            else:
                outputs = stage.process(packet) or {}
            writes = self._writes[node.name]
            extra = set(outputs) - set(writes)
            if extra:
                raise RuntimeError(f"returned undeclared output(s) {sorted(extra)}")
            with self._apply_lock:
                packet.apply(outputs, writes, node.name)
        except Exception as exc:
            ok = False
            message = f"{type(exc).__name__}: {exc}"
            packet.errors.append({"stage": node.name, "error": message})
            if metrics.errors < 5 or metrics.errors % 100 == 0:
                log.warning("stage %s failed on frame %d: %s", node.name, packet.seq, message)
            if node.on_error == "stop":
                stream.end_reading(endings.STAGE_ERROR, f"stage {node.name!r} failed on frame {packet.seq}: {message}")
        elapsed = (time.perf_counter() - start) * 1000.0
        packet.latency_ms[node.name] = elapsed
        metrics.record(elapsed, (start - queued_at) * 1000.0, ok)

    # ----- live readings ------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Live metrics over bounded windows: per stream fps, drops, in-flight, end-to-end p50/p95; per stage
        enabled, p50/p95 of the newest frames, and the current queue depth. Streams that ended stay in it with
        their final readings (``finished`` true) until newer ones push them out."""
        with self._streams_lock:
            streams = dict(self._ended)
        streams.update({s.id: s.snapshot() for s in self.streams()})
        stages = {}
        for name in self.graph.order:
            stages[name] = {"enabled": self.enabled[name], "queue_depth": self._inlets[name].size,
                            "workers": self.graph.nodes[name].workers}
        return {"stages": stages, "streams": streams}
