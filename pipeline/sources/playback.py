"""Player controls for recordings (pause, step, seek, speed, loop) as a source wrapper, so that the UI and any
other caller control playback without the engine knowing about it.

``PlaybackSource(inner)`` reads ``inner`` on the stream's reader thread; the controls (``pause``, ``resume``,
``step``, ``seek``, ``set_speed``, ``loop``) may be called from any thread and take effect on the next ``read``:

- ``read`` blocks while paused (a ``step`` lets exactly one frame through, a ``seek`` while paused shows the target
  frame), and paces frames at the recording's fps x speed (speed 0: as fast as the graph takes them);
- seeking backwards and looping reopen the inner source (a fresh one from ``reopen`` when given, else
  ``close`` + ``open`` of the same object) and skip forward to the frame;
- ``position`` is the recording's index of the next frame; ``seq`` of each packet is its index in the recording,
  and timestamps keep increasing across loops and seeks (trackers and filters downstream expect that);
- ``interrupt`` (or ``close``) wakes a blocked ``read``, which then returns None: a stream stopped while paused
  ends at once instead of waiting for a frame that never comes.

No Qt here: the wrapper is plain threads, usable from the CLI or tests.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from pipeline.errors import SourceError
from pipeline.packet import FramePacket
from pipeline.sources.base import Source

# When the graph holds the reader up (offline back-pressure) for longer than this, pacing restarts from now
# instead of catching up in a burst.
_RESYNC_S = 0.25


class PlaybackSource(Source):
    """A recording with player controls. Thread-safe controls; ``read`` runs on one thread."""

    paced = True  # by fps x speed, on its own clock

    def __init__(self, inner: Source, reopen: Callable[[], Source] | None = None, speed: float = 1.0,
                 loop: bool = False, paused: bool = False) -> None:
        self.inner = inner
        self._reopen = reopen
        self.name = inner.name
        self.live = inner.live
        self.frame_count = inner.frame_count
        self.fps = inner.fps
        self.sequence = getattr(inner, "sequence", True)
        self.loop = loop
        self.loops = 0  # how often the recording wrapped around
        self.position = 0  # index (in the recording) of the next frame read delivers
        self._speed = max(0.0, float(speed))
        self._paused = paused
        self._steps = 0
        self._seek_to: int | None = None
        self._stopped = False
        self._cond = threading.Condition()
        self._anchor: tuple[float, int] | None = None  # (perf_counter, position) pacing starts from
        self._ts_offset = 0.0
        self._last_ts: float | None = None
        self._held: FramePacket | None = None  # read from the inner source, not yet delivered
        self._inner_pos = 0  # index of the frame the inner source returns next

    # ----- controls (any thread) ----------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def speed(self) -> float:
        return self._speed

    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._steps = 0
            self._anchor = None
            self._cond.notify_all()

    def toggle(self) -> bool:
        """Pause when playing, resume when paused; returns whether it is paused now."""
        if self._paused:
            self.resume()
        else:
            self.pause()
        return self._paused

    def step(self, frames: int = 1) -> None:
        """Let ``frames`` more frames through while paused (pauses first when playing)."""
        with self._cond:
            self._paused = True
            self._steps += max(0, int(frames))
            self._cond.notify_all()

    def seek(self, frame: int) -> None:
        """Continue from recording frame ``frame`` (clamped); while paused, that frame is shown."""
        frame = max(0, int(frame))
        if self.frame_count:
            frame = min(frame, self.frame_count - 1)
        with self._cond:
            self._seek_to = frame
            if self._paused:
                self._steps = 1
            self._cond.notify_all()

    def set_speed(self, speed: float) -> None:
        """Frames per second = the recording's fps x ``speed``; 0 means as fast as the graph goes."""
        with self._cond:
            self._speed = max(0.0, float(speed))
            self._anchor = None
            self._cond.notify_all()

    def set_loop(self, loop: bool) -> None:
        self.loop = bool(loop)

    def fresh(self, paused: bool | None = None) -> "PlaybackSource":
        """A new player over the same recording with the same settings (to play again after its stream ended)."""
        inner = self._reopen() if self._reopen is not None else self.inner
        return PlaybackSource(inner, self._reopen, self._speed, self.loop, self._paused if paused is None else paused)

    def interrupt(self) -> None:
        """No more frames: a blocked ``read`` returns None now, and every later one too."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # ----- source contract (reader thread) ------------------------------------------------------------------
    def open(self) -> None:
        self.inner.open()
        self._adopt(self.inner)
        self.position = self._inner_pos = 0
        self._held = None
        self._anchor = None

    def _adopt(self, inner: Source) -> None:
        self.inner = inner
        self.name, self.live = inner.name, inner.live
        self.frame_count = inner.frame_count or self.frame_count
        self.fps = inner.fps or self.fps
        self.sequence = getattr(inner, "sequence", True)

    def read(self) -> FramePacket | None:
        while True:
            with self._cond:
                while not self._stopped and self._seek_to is None and self._paused and self._steps == 0:
                    self._cond.wait()
                if self._stopped:
                    return None
                target, self._seek_to = self._seek_to, None
                stepping = self._paused
            if target is not None:
                self._do_seek(target)
            if self._held is None:
                self._held = self._next()
                if self._held is None:
                    return None
            if not stepping and not self._wait_until_due():
                if self._stopped:
                    return None
                continue  # a pause or seek came first: the frame read stays held for later
            with self._cond:
                if self._seek_to is not None:
                    continue
                if stepping:
                    if self._steps == 0:
                        continue  # resumed (or the step was used up) meanwhile: decide again
                    self._steps -= 1
            packet, self._held = self._held, None
            return self._deliver(packet)

    def _next(self) -> FramePacket | None:
        """The next frame of the recording, wrapping around when looping."""
        packet = self.inner.read()
        if packet is None and self.loop and self._inner_pos > 0:
            self._restart()
            self.loops += 1
            packet = self.inner.read()
        if packet is not None:
            self._inner_pos += 1
        return packet

    def _deliver(self, packet: FramePacket) -> FramePacket:
        packet.seq = self.position
        ts = float(packet.timestamp) + self._ts_offset
        if self._last_ts is not None and ts <= self._last_ts:
            self._ts_offset += self._last_ts + self._frame_period() - ts
            ts = self._last_ts + self._frame_period()
        packet.timestamp = ts
        self._last_ts = ts
        self.position += 1
        return packet

    def _frame_period(self) -> float:
        return 1.0 / (self.fps or 30.0)

    def _wait_until_due(self) -> bool:
        """Pace by fps x speed. False when a seek, pause or stop came first."""
        with self._cond:
            if self._speed <= 0 or not self.fps:
                return True
            now = time.perf_counter()
            if self._anchor is None:
                self._anchor = (now, self.position)
            t0, p0 = self._anchor
            due = t0 + (self.position - p0) / (self.fps * self._speed)
            if now > due + _RESYNC_S:
                self._anchor = (now, self.position)
                return True
            while True:
                if self._stopped or self._seek_to is not None or (self._paused and self._steps == 0):
                    return False
                remaining = due - time.perf_counter()
                if remaining <= 0:
                    return True
                self._cond.wait(remaining)

    def _restart(self) -> None:
        """Back to frame 0: a fresh inner source, or the same one closed and opened again."""
        try:
            self.inner.close()
        except Exception:
            pass
        inner = self._reopen() if self._reopen is not None else self.inner
        inner.open()
        self._adopt(inner)
        self.position = self._inner_pos = 0
        self._anchor = None

    def _do_seek(self, target: int) -> None:
        if self._held is not None and target == self.position:
            return  # the frame already read is the one asked for
        self._held = None
        if target < self._inner_pos:
            self._restart()
        while self._inner_pos < target:
            if self.inner.read() is None:
                raise SourceError(f"{self.name}: cannot seek to frame {target}; the recording ends at "
                                  f"frame {self._inner_pos}")
            self._inner_pos += 1
        self.position = target
        self._anchor = None

    def close(self) -> None:
        self.interrupt()
        self.inner.close()

    def describe(self) -> dict:
        return {**self.inner.describe(), "playback": {"speed": self._speed, "loop": self.loop}}
