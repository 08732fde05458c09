"""The session: one validated graph with its models loaded once, serving streams one after another (files of a
batch) or at once. The CLI (`run`, `bench`, `batch`) and the desktop UI all go through it.

    session = Session.from_options(graph="default", device="auto")
    with session:
        report = session.run_to_folder("clip.mp4", Path("out/clip"))     # results.jsonl, annotated.mp4, metrics.json
        stream = session.start("webcam:0", sinks=[...])                     # returns at once
        session.set_enabled("pose", False)                                  # takes effect on the next frames
        session.snapshot()                                                  # live fps, p50/p95, queues, drops
        session.stop()                                                      # clean: outputs closed and valid

``on_result`` is called with the newest result from a thread of its own: a slow consumer (a UI painting) skips
to the newest frame and never holds the graph up.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from app.command_setup import check_out_dir, load_builtin_stages, write_metrics
from pipeline import endings
from pipeline.engine import Engine, Stream, StreamOptions
from pipeline.errors import SourceError
from pipeline.graph import Graph, GraphConfig, load_graph_config
from pipeline.metrics import RunReport
from pipeline.modes import check_mode
from pipeline.paths import resolve_graph_path
from pipeline.packet import FramePacket
from pipeline.registry import load_plugin
from pipeline.sinks.base import Sink, is_disk_full
from pipeline.sources import open_source
from pipeline.sources.base import Source
from pipeline.sources.pacing import paced_for_mode

log = logging.getLogger(__name__)
# Keys every result line carries even when no stage wrote them (the documented results.jsonl contract).
RESULT_DEFAULTS = {"persons": [], "objects": []}


class LatestMailbox:
    """Hands the newest packet of each stream to ``callback`` on its own thread; older unread ones are replaced."""

    def __init__(self, callback: Callable[[FramePacket], None]) -> None:
        self.callback = callback
        self._latest: dict[str, FramePacket] = {}
        self._cond = threading.Condition()
        self._closed = False
        self.replaced = 0  # results a slow consumer never saw
        self._thread = threading.Thread(target=self._loop, name="on-result", daemon=True)
        self._thread.start()

    def put(self, packet: FramePacket) -> None:
        with self._cond:
            if packet.stream_id in self._latest:
                self.replaced += 1
            self._latest[packet.stream_id] = packet
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._latest and not self._closed:
                    self._cond.wait()
                if not self._latest and self._closed:
                    return
                sid = next(iter(self._latest))
                packet = self._latest.pop(sid)
            try:
                self.callback(packet)
            except Exception:
                log.exception("on_result callback failed")

    def close(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)


class ProgressSink(Sink):
    """A tqdm bar over a stream's frames (a sink, so it counts every frame, in order)."""

    def __init__(self, total: int | None, desc: str) -> None:
        self.total, self.desc, self.bar = total, desc, None

    def open(self, source_info: dict[str, Any]) -> None:
        import sys

        from tqdm import tqdm

        self.bar = tqdm(total=self.total, unit="frame", desc=self.desc[:30], dynamic_ncols=True, file=sys.stderr,
                        disable=None)

    def write(self, packet: FramePacket) -> None:
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class MetricsCheckpointSink(Sink):
    """Rewrites metrics.json (atomically) when the outputs open and every few seconds while a stream runs, saying
    ``ended_by: running``: a run killed outright (SIGKILL, power) leaves metrics that say it did not end by itself.
    ``final`` writes the last one (how the run ended); no checkpoint comes after it."""

    def __init__(self, path: Path, stream: Callable[[], Stream | None], extra: dict, every_s: float = 2.0) -> None:
        self.path, self.stream, self.extra, self.every_s = path, stream, extra, every_s
        self._last = 0.0
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._final = False
        self.error: OSError | None = None  # the last write that failed (a full disk); the run goes on

    def open(self, source_info: dict[str, Any]) -> None:
        self._t0 = time.monotonic()
        self._write({"ended_by": "running", "frames_done": 0, "wall_s": 0.0, "source": source_info})

    def write(self, packet: FramePacket) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        stream = self.stream()
        if stream is not None:  # ended_by after the snapshot's (None while running)
            self._write({**stream.snapshot(), "ended_by": "running", "wall_s": round(now - self._t0, 3)})

    def final(self, data: dict) -> bool:
        with self._lock:
            self._final = True
            return self._write_locked(data)

    def _write(self, data: dict) -> bool:
        with self._lock:
            return False if self._final else self._write_locked(data)

    def _write_locked(self, data: dict) -> bool:
        try:
            write_metrics(self.path, data, self.extra)
            self.error = None
            return True
        except OSError as exc:
            self.error = exc
            with contextlib.suppress(OSError):
                self.path.with_suffix(".json.tmp").unlink()
            return False


class FolderSinks(Sink):
    """results.jsonl, annotated.mp4 and the metrics checkpoints as one sink. The first write that fails (a full
    disk, ...) ends the stream at once, saying why (``disk_full`` or ``sink_error``) without a cascade of errors;
    every file keeps what was written, whole (JSON lines whole, the video up to its last whole fragment)."""

    def __init__(self, files: list[Sink], checkpoint: MetricsCheckpointSink,
                 stream: Callable[[], Stream | None]) -> None:
        self.files, self.checkpoint, self.stream = files, checkpoint, stream
        self.failed: BaseException | None = None  # the write failure that ended the stream
        self.failure: str | None = None  # ... in words
        self.close_error: BaseException | None = None  # finishing a file failed (e.g. the video's last fragment)
        self.close_failure: str | None = None

    def open(self, source_info: dict[str, Any]) -> None:
        for sink in self.files:
            try:
                sink.open(source_info)
            except Exception as exc:
                self.failed, self.failure = exc, _write_failure(sink, exc, "creating")
                raise
        self.checkpoint.open(source_info)

    def write(self, packet: FramePacket) -> None:
        if self.failed is not None:
            return
        for sink in self.files:
            try:
                sink.write(packet)
            except Exception as exc:
                self.failed, self.failure = exc, _write_failure(sink, exc)
                stream = self.stream()
                if stream is None:  # the very first frames, before the session holds the stream: the engine ends it
                    raise
                stream.stop(_failure_ending(exc), self.failure)
                stream.abandon()  # frames still in the graph could not be written anyway
                return
        self.checkpoint.write(packet)

    def close(self) -> None:
        for sink in self.files:
            try:
                sink.close()
            except Exception as exc:
                if self.close_error is None:
                    self.close_error, self.close_failure = exc, _write_failure(sink, exc, "finishing")


def _write_failure(sink: Sink, exc: BaseException, doing: str = "writing") -> str:
    name = getattr(getattr(sink, "path", None), "name", type(sink).__name__)
    return f"{doing} {name} failed: {exc}" if isinstance(exc, OSError) else \
        f"{doing} {name} failed: {type(exc).__name__}: {exc}"


def _failure_ending(exc: BaseException) -> str:
    return endings.DISK_FULL if is_disk_full(exc) else endings.SINK_ERROR


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be (before a stream runs): the run ends like an interrupt, recorded as
    ``terminated``."""


def _setup_ending(exc: BaseException, folder: "FolderSinks") -> str:
    """``ended_by`` for a run that failed before its first frame."""
    if isinstance(exc, Terminated):
        return endings.TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        return endings.INTERRUPTED
    if folder.failed is not None:
        return _failure_ending(folder.failed)
    if isinstance(exc, SourceError):
        return endings.SOURCE_ERROR
    return endings.STAGE_ERROR


@dataclass
class FolderOutputs:
    """What `percept run` writes into a folder."""

    folder: Path
    video: bool = True
    results: Path = field(init=False)
    annotated: Path = field(init=False)
    metrics: Path = field(init=False)

    def __post_init__(self) -> None:
        self.results = self.folder / "results.jsonl"
        self.annotated = self.folder / "annotated.mp4"
        self.metrics = self.folder / "metrics.json"


class Session:
    """A graph built and validated once; stages set up (models loaded) on first use, shared by every stream."""

    def __init__(self, config: GraphConfig, graph_path: Path | None = None, device: str = "auto",
                 on_result: Callable[[FramePacket], None] | None = None) -> None:
        self.config = config
        self.graph_path = graph_path
        self.device = device
        self.graph = Graph.from_config(config)  # validated here, once: types, params, inputs, cycles
        self.engine = Engine(self.graph, device=device, mode=config.mode or "offline")
        self._mailbox = LatestMailbox(on_result) if on_result is not None else None
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, graph: str | None = None, device: str = "auto", plugins: Iterable[str] = (),
                     on_result: Callable[[FramePacket], None] | None = None) -> "Session":
        """Plugins, graph file and stage parameters checked before anything loads (one error line each)."""
        load_builtin_stages()
        for spec in plugins:
            load_plugin(spec)
        path = resolve_graph_path(graph)
        return cls(load_graph_config(path), path, device, on_result)

    # ----- streams ------------------------------------------------------------------------------------------
    def load(self) -> None:
        """Set the stages up (load models) now rather than at the first ``start``. Idempotent."""
        self.engine.start()

    def mode_for(self, source: Source, mode: str | None = None) -> str:
        chosen = mode or self.config.mode or ("live" if source.live else "offline")
        return check_mode(chosen)

    def start(self, source: Source | str | None, sinks: Iterable[Sink] = (), mode: str | None = None,
              max_frames: int | None = None, max_in_flight: int | None = None,
              stream_id: str | None = None, realtime: bool | None = None,
              rate_hz: float | None = None) -> Stream:
        """Attach a source (a Source or a spec string) and return at once; frames flow until it ends or stops.
        In live mode a recording is paced by its own timestamps like a camera (``realtime`` None or True; False:
        as fast as it decodes), or at ``rate_hz`` frames/s (pipeline.sources.pacing)."""
        src = source if isinstance(source, Source) else open_source(source)
        chosen = self.mode_for(src, mode)
        src = paced_for_mode(src, chosen, realtime, rate_hz)
        options = StreamOptions(chosen, max_in_flight, max_frames)
        on_result = self._mailbox.put if self._mailbox is not None else None
        return self.engine.open_stream(src, sinks, options, on_result, stream_id)

    def run(self, source: Source | str | None, sinks: Iterable[Sink] = (), **options: Any) -> RunReport:
        """Start a stream and block until it ends (Ctrl-C once: finish the frames in flight; twice: at once)."""
        return self.start(source, sinks, **options).run_to_end()

    def exports_for(self, exports: Iterable[str] | str | None = None) -> list[str]:
        """The exports of a run: those asked for (``--export``) and the graph's ``exports:``, packages checked."""
        from models.export import check_packages, parse_exports

        names = parse_exports([*parse_exports(exports), *self.config.exports])
        check_packages(names)
        return names

    def run_to_folder(self, source: Source | str | None, out: Path, video: bool = True, progress: bool = False,
                      mode: str | None = None, max_frames: int | None = None,
                      max_in_flight: int | None = None,
                      on_stream: Callable[[Stream], None] | None = None,
                      exports: Iterable[str] | str | None = None, realtime: bool | None = None,
                      rate_hz: float | None = None) -> RunReport:
        """What `percept run --headless` writes: results.jsonl (line by line), annotated.mp4 (fragmented),
        metrics.json (checkpoints while it runs, then how it ended, on every ending), and the ``exports`` (with the
        graph's: rerun, mcap, coco, mot; see models/export). ``on_stream`` gets the stream once it runs (the CLI
        stops it on a signal)."""
        from app.overlay import OverlayRenderer
        from models.export import make_exporters
        from pipeline.sinks import JsonlSink, VideoSink

        src = source if isinstance(source, Source) else open_source(source)
        outputs = FolderOutputs(Path(out), video)
        check_out_dir(outputs.folder)
        exporters = make_exporters(self.exports_for(exports), outputs.folder)
        extra = {"graph": str(self.graph_path) if self.graph_path else None, "device": self.device,
                 "config_hash": self.config_hash(),
                 "outputs": {"results": str(outputs.results), "video": str(outputs.annotated) if video else None,
                             **({"exports": [str(e.path) for e in exporters]} if exporters else {})}}
        holder: dict[str, Stream] = {}
        results = JsonlSink(outputs.results, RESULT_DEFAULTS)
        files: list[Sink] = [results]
        if video:
            files.append(VideoSink(outputs.annotated, OverlayRenderer()))
        files.extend(exporters)  # after results.jsonl: an export never holds a frame the JSONL lacks
        checkpoint = MetricsCheckpointSink(outputs.metrics, lambda: holder.get("stream"), extra)
        folder = FolderSinks(files, checkpoint, lambda: holder.get("stream"))
        sinks: list[Sink] = [folder]
        if progress:
            total = src.frame_count
            if max_frames:
                total = min(total, max_frames) if total else max_frames
            sinks.append(ProgressSink(total, src.name))
        try:
            stream = self.start(src, sinks, mode=mode, max_frames=max_frames, max_in_flight=max_in_flight,
                                realtime=realtime, rate_hz=rate_hz)
        except BaseException as exc:  # nothing ran (a model, the source or a file failed, Ctrl-C while loading)
            error = folder.failure or (str(exc) if not isinstance(exc, KeyboardInterrupt) else None)
            checkpoint.final({"ended_by": _setup_ending(exc, folder), "error": error, "frames_done": 0,
                              "wall_s": 0.0, "fps": 0.0})
            raise
        holder["stream"] = stream
        report = stream.report
        try:
            if on_stream is not None:
                on_stream(stream)
            report = stream.run_to_end()
        finally:
            if not stream.finished.is_set():  # an exception out of the wait: stop now, outputs closed and valid
                stream.abandon()
                stream.wait(15.0)
            self._settle_folder_report(report, folder, results)
            data = {**report.to_dict(), "frames_written": results.lines,
                    "frames_unfinished": max(0, report.frames_admitted - report.frames_done)}
            if not checkpoint.final(data):
                log.warning("%s could not be written: %s", outputs.metrics, checkpoint.error)
        return report

    @staticmethod
    def _settle_folder_report(report: RunReport, folder: FolderSinks, results: Any) -> None:
        """The report says how the files fared: a write failure that ended the stream, or one while finishing."""
        if folder.failed is not None:
            # the engine ended it (a failure before the session held it), or the reading had already ended (the
            # frame limit, the end of the file) when a file failed on a frame still in the graph
            if report.ended_by == endings.SINK_ERROR or report.ended_by in endings.FINISHED:
                report.ended_by = _failure_ending(folder.failed)
                report.error = folder.failure
            report.frames_done = min(report.frames_done, results.lines)  # frames after the failure were not kept
        elif folder.close_error is not None:
            if report.ended_by in endings.FINISHED:
                report.ended_by, report.error = _failure_ending(folder.close_error), folder.close_failure
            else:
                report.error = f"{report.error}; {folder.close_failure}" if report.error else folder.close_failure

    # ----- control ------------------------------------------------------------------------------------------
    def set_enabled(self, stage: str, enabled: bool) -> None:
        self.engine.set_enabled(stage, enabled)

    def snapshot(self) -> dict[str, Any]:
        snap = self.engine.snapshot()
        snap["dropped_results"] = self._mailbox.replaced if self._mailbox is not None else 0
        return snap

    def stop(self, timeout_s: float = 15.0) -> list[RunReport]:
        """Stop every stream cleanly (frames in flight finish, outputs close); the models stay loaded."""
        streams = self.engine.streams()
        for stream in streams:
            stream.stop()
        return [r for r in (s.wait(timeout_s) for s in streams) if r is not None]

    def close(self) -> None:
        """Stop the streams, close the stages (models unload), end the on_result thread."""
        self.engine.close()
        if self._mailbox is not None:
            self._mailbox.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- identity -----------------------------------------------------------------------------------------
    def config_hash(self) -> str:
        """What decides the results: the graph (validated, defaults filled in), the bytes of every model and
        checkpoint it names, the device asked for, and Percept's version. Batch reruns skip files done with the
        same hash."""
        with self._lock:
            cached = getattr(self, "_config_hash", None)
            if cached is None:
                cached = self._config_hash = _config_hash(self.graph, self.device)
            return cached


def _config_hash(graph: Graph, device: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        percept_version = version("percept")
    except PackageNotFoundError:
        percept_version = "unknown"
    stages = []
    files: dict[str, str] = {}
    for name in graph.order:
        node = graph.nodes[name]
        params = node.stage.params.model_dump(mode="json")
        stages.append({"name": name, "type": type(node.stage).type_name, "params": params,
                       "after": list(node.after)})
        for value in params.values():
            if isinstance(value, str):
                digest = _referenced_file_digest(value)
                if digest:
                    files[value] = digest
    blob = json.dumps({"stages": stages, "files": files, "device": device, "version": percept_version},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# What counts as weights when a parameter points at a file or a checkpoint folder (other files are not hashed).
MODEL_SUFFIXES = {".onnx", ".safetensors", ".pt", ".pth", ".tflite", ".engine", ".bin"}


def _referenced_file_digest(value: str) -> str | None:
    """sha256 of a model named in the manifest, of a weights file a parameter points to, or of the weights and
    config of a checkpoint folder (one that holds a weights file)."""
    from models.registry import Registry, sha256_of
    from pipeline.paths import asset

    try:
        return Registry().entry(value).sha256
    except Exception:
        pass
    for path in (Path(value), asset(value)):
        try:
            if path.is_file() and path.suffix.lower() in MODEL_SUFFIXES:
                return sha256_of(path)
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.is_file())
                if not any(f.suffix.lower() in MODEL_SUFFIXES for f in files):
                    continue
                h = hashlib.sha256()
                for f in files:
                    h.update(f.name.encode())
                    h.update(sha256_of(f).encode())
                return h.hexdigest()
        except OSError:
            return None
    return None

