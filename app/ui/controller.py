"""The one part of the UI that talks to the session: starts, switches and stops streams, records, reads metrics.

Slow calls (model loading on the first start, a source opening, a stop that lets frames in flight finish) run on
a control thread of their own, so the window never freezes; results come back as Qt signals. Every result the
stream delivers reaches ``FrameRenderer`` through the session's newest-wins delivery (``Session.deliver_newest``,
app/mailbox.py: its own thread, older unpainted results skipped); the UI thread is told by a coalesced signal and
paints only the newest frame.
Switching sources stops the stream and starts the next on the SAME session: models stay loaded.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PyQt6.QtCore import QObject, pyqtSignal

from app.session import Session
from app.ui.recorder import Recorder, RecordSink
from app.ui.render import FrameRenderer, FrameView
from app.ui.sources import PreparedSource, prepare
from pipeline.engine import Stream
from pipeline.errors import PerceptError
from pipeline.metrics import RunReport
from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink
from pipeline.sources.base import Source
from pipeline.sources.playback import PlaybackSource
from pipeline.modes import OFFLINE

log = logging.getLogger(__name__)
# Offline frames in the graph at once in the UI: enough to keep two cores busy, few enough that pause, seek
# and source switches take effect within a few frames (the CLI's default is 2x the stage workers).
UI_OFFLINE_IN_FLIGHT = 4
# Results drawn per second at most: a screen shows no more, and each drawing costs the graph CPU and GIL time
# (measured: drawing all 55 frames/s of the sample cost the default graph a quarter of its throughput on 2 cores).
MAX_DRAW_FPS = 30.0


@dataclass
class StreamInfo:
    """What the window shows about the running stream."""

    stream_id: str
    label: str
    spec: str | None
    live: bool
    mode: str
    realsense: bool
    playback: PlaybackSource | None
    frame_count: int | None
    fps: float | None


class _DeliveryCounter(Sink):
    """Counts the current stream's delivered results (the results themselves reach the window through the
    session's newest-wins delivery)."""

    def __init__(self) -> None:
        self.frames = 0

    def write(self, packet: FramePacket) -> None:
        self.frames += 1


class SessionController(QObject):
    frame_ready = pyqtSignal()  # a new FrameView waits in take_frame()
    started = pyqtSignal(object)  # StreamInfo
    ended = pyqtSignal(object, object)  # StreamInfo, RunReport
    failed = pyqtSignal(str, str)  # title, message
    busy_changed = pyqtSignal(bool)

    def __init__(self, session: Session, renderer: FrameRenderer | None = None, out_dir: Path | None = None,
                 owns_session: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.renderer = renderer or FrameRenderer()
        self.recorder = Recorder(out_dir or Path("runs") / "ui")
        self.owns_session = owns_session
        self.stream: Stream | None = None
        self.info: StreamInfo | None = None
        self.last_info: StreamInfo | None = None
        self.last_report: RunReport | None = None
        self.delivered = 0  # results delivered by the current stream
        self.rendered = 0
        self._sink: _DeliveryCounter | None = None
        self._latest: FrameView | None = None
        self._last_packet: FramePacket | None = None
        self._pending = False
        self._next_draw = 0.0
        self._lock = threading.Lock()
        self._ended_reported: set[str] = set()
        session.deliver_newest(self._render)  # every stream's newest result, painted on a thread of its own
        self._jobs: queue.Queue = queue.Queue()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run_jobs, name="ui-control", daemon=True)
        self._thread.start()

    # ----- control thread -----------------------------------------------------------------------------------
    def _run_jobs(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._set_busy(True)
            try:
                job()
            except Exception as exc:  # never let a job kill the control thread
                log.exception("UI job failed")
                self.failed.emit("Error", f"{type(exc).__name__}: {exc}")
            finally:
                self._set_busy(self._jobs.qsize() > 0)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    @property
    def busy(self) -> bool:
        return self._busy or self._jobs.qsize() > 0

    def submit(self, job: Callable[[], None]) -> None:
        if not self._closed:
            self._jobs.put(job)

    # ----- streams ------------------------------------------------------------------------------------------
    def open(self, source: Source | str | None, mode: str | None = None, speed: float = 1.0, loop: bool = False,
             paused: bool = False, seek: int | None = None, max_frames: int | None = None) -> None:
        """Stop the current stream (if any) and start ``source`` on the same session, on the control thread."""
        self.submit(lambda: self._open(source, mode, speed, loop, paused, seek, max_frames))

    def stop(self) -> None:
        self.submit(self._stop_current)

    def _open(self, source, mode, speed, loop, paused, seek, max_frames) -> None:
        self._stop_current()
        try:
            prepared = prepare(source, speed=speed, loop=loop, paused=paused)
            if seek and prepared.playback is not None:
                prepared.playback.seek(seek)
            chosen = self.session.mode_for(prepared.source, mode)
            self._sink = sink = _DeliveryCounter()
            in_flight = UI_OFFLINE_IN_FLIGHT if chosen == OFFLINE else None
            with self._lock:
                self.delivered = 0
            stream = self.session.start(prepared.source, sinks=[sink], mode=chosen, max_frames=max_frames,
                                        max_in_flight=in_flight)
        except PerceptError as exc:
            self.failed.emit("Cannot open the source", str(exc))
            return
        except Exception as exc:
            log.exception("starting the stream failed")
            self.failed.emit("Cannot start", f"{type(exc).__name__}: {exc}")
            return
        self.stream = stream
        self.info = self._info(stream, prepared, chosen)
        self.last_info = self.info
        self.started.emit(self.info)

    def _info(self, stream: Stream, prepared: PreparedSource, mode: str) -> StreamInfo:
        src = prepared.source
        return StreamInfo(stream.id, prepared.label, prepared.spec, prepared.live, mode, prepared.realsense,
                          prepared.playback, src.frame_count, src.fps)

    def _stop_current(self) -> None:
        """Stop reading, let frames in flight finish, close outputs; a paused playback is woken so it ends now."""
        stream, info = self.stream, self.info
        self.stop_recording()
        if stream is None:
            return
        stream.stop()
        if info is not None and info.playback is not None:
            info.playback.interrupt()
        self.session.stop()
        report = stream.wait(15.0)
        self.stream = None
        if report is not None and info is not None:
            self._report_end(info, report)

    def _report_end(self, info: StreamInfo, report: RunReport) -> None:
        with self._lock:
            if info.stream_id in self._ended_reported:
                return
            self._ended_reported.add(info.stream_id)
        self.last_report = report
        self.ended.emit(info, report)

    def poll(self) -> dict[str, Any]:
        """Live metrics (``Session.snapshot``); also notices a stream that ended by itself (end, error)."""
        snap = self.session.snapshot()
        snap["ui_skipped"] = self.session.results_skipped
        stream, info = self.stream, self.info
        if stream is not None and info is not None and stream.finished.is_set():
            report = stream.wait(0)
            if report is not None:
                if self.recorder.recording:
                    self.submit(self.stop_recording)
                self._report_end(info, report)
        return snap

    @property
    def running(self) -> bool:
        return self.stream is not None and not self.stream.finished.is_set()

    def set_stage_enabled(self, name: str, enabled: bool) -> None:
        self.session.set_enabled(name, enabled)

    # ----- results (mailbox thread) -------------------------------------------------------------------------
    def _render(self, packet: FramePacket) -> None:
        stream = self.stream
        if stream is not None and packet.stream_id != stream.id:
            return  # a late result of the stream before a switch
        wait = self._next_draw - time.perf_counter()
        if wait > 0:  # at most MAX_DRAW_FPS: sleep (no GIL held), then draw the newest result there is
            time.sleep(wait)
            if self.session.newer_result_waits(packet):
                return  # a newer result already waits in the mailbox (counted there as skipped)
        self._next_draw = time.perf_counter() + 1.0 / MAX_DRAW_FPS
        view = self.renderer.render(packet)
        with self._lock:
            self._latest = view
            self._last_packet = packet
            self.rendered += 1
            notify = not self._pending
            self._pending = True
        if notify and not self._closed:
            self.frame_ready.emit()

    def take_frame(self) -> FrameView | None:
        """The newest rendered frame (UI thread)."""
        with self._lock:
            self._pending = False
            return self._latest

    @property
    def latest(self) -> FrameView | None:
        return self._latest

    def rerender(self) -> None:
        """Draw the last result again (a layer switched while paused)."""
        packet = self._last_packet
        if packet is not None:
            self.session.redeliver(packet)

    @property
    def frames_delivered(self) -> int:
        sink = self._sink
        return sink.frames if sink is not None else 0

    # ----- recording ----------------------------------------------------------------------------------------
    def start_recording(self) -> RecordSink | None:
        stream, info = self.stream, self.info
        if stream is None or info is None or not self.running:
            return None
        return self.recorder.start(stream, info.label, info.realsense)

    def stop_recording(self) -> RecordSink | None:
        return self.recorder.stop()

    # ----- shutdown -----------------------------------------------------------------------------------------
    def shutdown(self, timeout_s: float = 20.0) -> None:
        """Finish queued jobs, stop the stream cleanly, close the session (models unload), end every thread."""
        if self._closed:
            return
        self._jobs.put(self._stop_current)
        self._jobs.put(None)
        self._thread.join(timeout_s)
        self._closed = True
        if self.owns_session:
            self.session.close()
        else:
            self.session.stop()
            self.session.deliver_newest(None)  # the session lives on; this window no longer paints
