"""What `percept run --headless` writes into its folder, as sinks: results.jsonl, annotated.mp4 and the metrics
checkpoints behind one sink whose first failed write ends the stream saying why and which writes metrics.json's
final record (how the run ended, also before its first frame), and a progress bar. ``Session.run_to_folder`` runs a
stream into them."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from app.command_setup import write_metrics
from app.overlay import OverlayRenderer
from models.results import results_sink
from pipeline import endings
from pipeline.engine import Stream
from pipeline.errors import SourceError
from pipeline.metrics import RunReport
from pipeline.packet import FramePacket
from pipeline.sinks import VideoSink
from pipeline.sinks.base import Sink, is_disk_full

log = logging.getLogger(__name__)


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

    def __init__(self, path: Path, extra: dict, every_s: float = 2.0) -> None:
        self.path, self.extra, self.every_s = path, extra, every_s
        self.stream: Stream | None = None  # handed over by the engine (bind)
        self._last = 0.0
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._final = False
        self.error: OSError | None = None  # the last write that failed (a full disk); the run goes on

    def bind(self, stream: Stream) -> None:
        self.stream = stream

    def open(self, source_info: dict[str, Any]) -> None:
        self._t0 = time.monotonic()
        self._write({"ended_by": "running", "frames_done": 0, "wall_s": 0.0, "source": source_info})

    def write(self, packet: FramePacket) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        if self.stream is not None:  # ended_by after the snapshot's (None while running)
            self._write({**self.stream.snapshot(), "ended_by": "running", "wall_s": round(now - self._t0, 3)})

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
    """results.jsonl, annotated.mp4, the exports and the metrics checkpoints as one sink. The first write that
    fails (a full disk, ...) ends the stream at once, saying why (``disk_full`` or ``sink_error``) without a
    cascade of errors; every file keeps what was written, whole (JSON lines whole, the video up to its last whole
    fragment). ``setup_failed`` / ``finish`` write metrics.json's last word on how the run ended."""

    def __init__(self, outputs: FolderOutputs, extra: dict, exporters: Iterable[Sink] = ()) -> None:
        self.outputs = outputs
        self.results = results_sink(outputs.results)
        self.files: list[Sink] = [self.results]
        if outputs.video:
            self.files.append(VideoSink(outputs.annotated, OverlayRenderer()))
        self.files.extend(exporters)  # after results.jsonl: an export never holds a frame the JSONL lacks
        self.checkpoint = MetricsCheckpointSink(outputs.metrics, extra)
        self.stream: Stream | None = None  # handed over by the engine (bind): a failed write ends it
        self.failed: BaseException | None = None  # the write failure that ended the stream
        self.failure: str | None = None  # ... in words
        self.close_error: BaseException | None = None  # finishing a file failed (e.g. the video's last fragment)
        self.close_failure: str | None = None

    def bind(self, stream: Stream) -> None:
        self.stream = stream
        for sink in (*self.files, self.checkpoint):
            sink.bind(stream)

    def open(self, source_info: dict[str, Any]) -> None:
        for sink in self.files:
            try:
                sink.open(source_info)
            except Exception as exc:
                self.failed, self.failure = exc, write_failure(sink, exc, "creating")
                raise
        self.checkpoint.open(source_info)

    def write(self, packet: FramePacket) -> None:
        if self.failed is not None:
            return
        for sink in self.files:
            try:
                sink.write(packet)
            except Exception as exc:
                self.failed, self.failure = exc, write_failure(sink, exc)
                if self.stream is None:  # used outside an engine stream: the caller ends it
                    raise
                self.stream.stop(failure_ending(exc), self.failure)
                self.stream.abandon()  # frames still in the graph could not be written anyway
                return
        self.checkpoint.write(packet)

    def close(self) -> None:
        for sink in self.files:
            try:
                sink.close()
            except Exception as exc:
                if self.close_error is None:
                    self.close_error, self.close_failure = exc, write_failure(sink, exc, "finishing")

    def setup_failed(self, exc: BaseException) -> None:
        """metrics.json for a run that failed before its first frame (a model, the source or a file failed,
        Ctrl-C while loading)."""
        error = self.failure or (str(exc) if not isinstance(exc, KeyboardInterrupt) else None)
        self.checkpoint.final({"ended_by": setup_ending(exc, self), "error": error, "frames_done": 0,
                               "wall_s": 0.0, "fps": 0.0})

    def finish(self, report: RunReport) -> None:
        """Settle ``report`` with how the files fared (a write failure that ended the stream, or one while
        finishing), then write metrics.json's final record from it."""
        if self.failed is not None:
            # the engine ended it (a failure before the session held it), or the reading had already ended (the
            # frame limit, the end of the file) when a file failed on a frame still in the graph
            if report.ended_by == endings.SINK_ERROR or report.ended_by in endings.FINISHED:
                report.ended_by = failure_ending(self.failed)
                report.error = self.failure
            report.frames_done = min(report.frames_done, self.results.lines)  # frames after the failure: not kept
        elif self.close_error is not None:
            if report.ended_by in endings.FINISHED:
                report.ended_by, report.error = failure_ending(self.close_error), self.close_failure
            else:
                report.error = f"{report.error}; {self.close_failure}" if report.error else self.close_failure
        data = {**report.to_dict(), "frames_written": self.results.lines,
                "frames_unfinished": max(0, report.frames_admitted - report.frames_done)}
        if not self.checkpoint.final(data):
            log.warning("%s could not be written: %s", self.outputs.metrics, self.checkpoint.error)


def write_failure(sink: Sink, exc: BaseException, doing: str = "writing") -> str:
    name = getattr(getattr(sink, "path", None), "name", type(sink).__name__)
    return f"{doing} {name} failed: {exc}" if isinstance(exc, OSError) else \
        f"{doing} {name} failed: {type(exc).__name__}: {exc}"


def failure_ending(exc: BaseException) -> str:
    return endings.DISK_FULL if is_disk_full(exc) else endings.SINK_ERROR


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be (before a stream runs): the run ends like an interrupt, recorded as
    ``terminated``."""


def setup_ending(exc: BaseException, folder: FolderSinks) -> str:
    """``ended_by`` for a run that failed before its first frame."""
    if isinstance(exc, Terminated):
        return endings.TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        return endings.INTERRUPTED
    if folder.failed is not None:
        return failure_ending(folder.failed)
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
