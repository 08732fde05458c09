"""The Record button: sinks attached to the running stream (``Stream.attach_sink``) and detached again.

What is written: RealSense sources (cameras and .bag/.db3 recordings) to ``recording.db3`` through
``pipeline.recording`` (replayable with ``--source``, depth included); anything else to an images folder
``frames/`` (rgb/, depth/, associations.txt, intrinsics.yaml); always ``results.jsonl`` beside it. A failing
recorder (disk full) ends the recording, never the stream: ``RecordSink`` catches its own errors.
Stopping finalises the files at once (from the caller's thread), even while playback is paused and no frame
arrives to carry the detach to the delivery thread.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from models.results import results_sink
from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink
from pipeline.sinks.images_folder import ImagesFolderSink

log = logging.getLogger(__name__)
_END = object()


class RealSenseRecordingSink(Sink):
    """``pipeline.recording.write_recording`` fed from a queue on its own thread (it wants an iterable)."""

    def __init__(self, path: Path, fps: float | None = None) -> None:
        self.path, self.fps = path, fps
        self._queue: queue.Queue = queue.Queue(maxsize=64)
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.stats = None

    def open(self, source_info: dict[str, Any]) -> None:
        self.fps = self.fps or source_info.get("fps")
        self._thread = threading.Thread(target=self._write, name="record-db3", daemon=True)
        self._thread.start()

    def _packets(self):
        while (item := self._queue.get()) is not _END:
            yield item

    def _write(self) -> None:
        from pipeline.recording import write_recording

        try:
            self.stats = write_recording(self._packets(), self.path, fps=self.fps)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("recording %s failed: %s", self.path, exc)
            while self._queue.get() is not _END:  # let writers finish
                pass

    def write(self, packet: FramePacket) -> None:
        if self.error:
            raise RuntimeError(self.error)
        self._queue.put(packet)

    def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_END)
        self._thread.join(30.0)
        self._thread = None
        if self.error:
            raise RuntimeError(self.error)


class RecordSink(Sink):
    """The recording's sinks as one; errors end the recording (kept in ``error``), not the stream."""

    def __init__(self, folder: Path, realsense: bool) -> None:
        self.folder = folder
        self.realsense = realsense
        self.media = folder / ("recording.db3" if realsense else "frames")
        self.results = folder / "results.jsonl"
        self._sinks: list[Sink] = []
        self._lock = threading.Lock()
        self._active = False
        self._closed = False
        self.frames = 0
        self.error: str | None = None
        self.done = threading.Event()

    def open(self, source_info: dict[str, Any]) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                media: Sink = (RealSenseRecordingSink(self.media) if self.realsense
                               else ImagesFolderSink(self.media))
                for sink in (media, results_sink(self.results)):
                    sink.open(source_info)
                    self._sinks.append(sink)
                self._active = True
            except Exception as exc:
                self._fail(exc)

    def write(self, packet: FramePacket) -> None:
        with self._lock:
            if not self._active:
                return
            try:
                for sink in self._sinks:
                    sink.write(packet)
                self.frames += 1
            except Exception as exc:
                self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.error = f"recording failed: {type(exc).__name__}: {exc}"
        log.error("%s", self.error)
        self._active = False
        self._close_sinks()

    def _close_sinks(self) -> None:
        for sink in self._sinks:
            try:
                sink.close()
            except Exception as exc:
                self.error = self.error or f"finishing the recording failed: {exc}"
        self._sinks = []

    def close(self) -> None:
        """Idempotent; safe from any thread (the engine calls it too when the stream ends or detaches it)."""
        with self._lock:
            self._active = False
            self._closed = True
            self._close_sinks()
        self.done.set()


class Recorder:
    """Starts and stops one recording on a stream."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.sink: RecordSink | None = None
        self._stream = None

    @property
    def recording(self) -> bool:
        return self.sink is not None

    def start(self, stream, source_name: str, realsense: bool) -> RecordSink:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in source_name)[:40] or "source"
        folder = self.out_dir / f"rec-{safe}-{stamp}"
        n = 1
        while folder.exists():
            n += 1
            folder = self.out_dir / f"rec-{safe}-{stamp}-{n}"
        self.sink = RecordSink(folder, realsense)
        self._stream = stream
        stream.attach_sink(self.sink)
        return self.sink

    def stop(self) -> RecordSink | None:
        """Finalise the files now, then detach (the engine drops it on the next frame)."""
        sink, stream = self.sink, self._stream
        self.sink = self._stream = None
        if sink is None:
            return None
        sink.close()
        if stream is not None:
            stream.detach_sink(sink)
        return sink
