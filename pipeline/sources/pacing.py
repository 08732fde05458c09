"""Pacing a recording like a camera: one rule for every source that replays frames at their own time.

A frame with timestamp ``ts`` is due at ``t0 + (ts - ts0) / speed`` on the reader's clock (``t0``, ``ts0``: the
first frame's), or at ``t0 + k / rate`` when a rate overrides the recording's timestamps. The reader sleeps until
then, so in live mode a file, an image folder or a RealSense recording arrives at the pace it was recorded and the
graph drops what it cannot keep up with, as it would with a camera. A reader that falls behind by more than
``RESYNC_S`` (a slow decoder, a paused process) starts again from now rather than bursting the backlog. A gap in the
timestamps is waited out for at most ``MAX_WAIT_S``, so a stop is never held up for long.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from pipeline import modes
from pipeline.errors import SourceError
from pipeline.packet import FramePacket
from pipeline.sources.base import Source

RESYNC_S = 0.25
MAX_WAIT_S = 1.0


@dataclass
class Pacer:
    """When each frame is due, and the sleep until then. ``rate_hz`` None: by the frames' own timestamps."""

    rate_hz: float | None = None
    clock: Callable[[], float] = time.perf_counter
    sleep: Callable[[float], None] = time.sleep
    resync_s: float = RESYNC_S
    max_wait_s: float = MAX_WAIT_S
    late: int = 0  # frames that were due more than resync_s ago (the reader fell behind)
    _anchor: tuple[float, float] | None = field(default=None, repr=False)  # (clock, media time) of the anchor
    _k: int = 0

    def reset(self) -> None:
        self._anchor, self._k, self.late = None, 0, 0

    def due(self, timestamp: float) -> float:
        """The clock time at which the frame with ``timestamp`` (the k-th asked about) is due."""
        media = self._k / self.rate_hz if self.rate_hz else float(timestamp)
        if self._anchor is None:
            self._anchor = (self.clock(), media)
        t0, m0 = self._anchor
        return t0 + (media - m0)

    def wait(self, timestamp: float) -> float:
        """Sleep until the frame is due; returns the seconds slept."""
        due = self.due(timestamp)
        self._k += 1
        now = self.clock()
        if now > due + self.resync_s:
            self.late += 1
            media = (self._k - 1) / self.rate_hz if self.rate_hz else float(timestamp)
            self._anchor = (now, media)
            return 0.0
        delay = min(due - now, self.max_wait_s)
        if delay <= 0:
            return 0.0
        if due - now > self.max_wait_s:  # a gap in the recording: shift the schedule, do not sleep through it
            t0, m0 = self._anchor
            self._anchor = (t0 - (due - now - self.max_wait_s), m0)
        self.sleep(delay)
        return delay


class PacedSource(Source):
    """A recording read like a camera: each frame released when it is due (``Pacer``), its arrival time the moment
    it is released. ``live`` is True: the stream treats it as a camera (newest frame wins, drops counted)."""

    live = True
    paced = True

    def __init__(self, inner: Source, rate_hz: float | None = None,
                 clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate_hz is not None and rate_hz <= 0:
            raise SourceError(f"a pacing rate must be positive frames/s, got {rate_hz}")
        self.inner = inner
        self.pacer = Pacer(rate_hz, clock, sleep)
        self.clock = clock
        self._passthrough = False
        self._adopt()

    def _adopt(self) -> None:
        inner = self.inner
        self.name, self.frame_count = inner.name, inner.frame_count
        self.sequence = getattr(inner, "sequence", True)
        self.fps = self.pacer.rate_hz or inner.fps

    def open(self) -> None:
        self.inner.open()
        self.pacer.reset()
        self._adopt()
        # an auto source that turned out to be a camera (or a player with its own clock) is not paced twice
        self._passthrough = self.inner.live or getattr(self.inner, "paced", False)

    def read(self) -> FramePacket | None:
        packet = self.inner.read()
        if packet is None:
            self.frame_count = self.inner.frame_count
            return None
        if self._passthrough:
            return packet
        self.pacer.wait(packet.timestamp)
        packet.arrival_time = self.clock()
        return packet

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> dict:
        info = dict(self.inner.describe())
        info.update({"live": True, "paced": f"{self.pacer.rate_hz:g} frames/s" if self.pacer.rate_hz
                     else "by its timestamps", "late_frames": self.pacer.late})
        return info


def paced_for_mode(source: Source, mode: str, realtime: bool | None = None,
                   rate_hz: float | None = None) -> Source:
    """The source as a stream in ``mode`` reads it: a recording in live mode is paced like a camera unless
    ``realtime`` is False (None: on for recordings in live mode); ``rate_hz`` overrides its own frame rate.
    Cameras and sources that pace themselves (the UI's player, ``synthetic,realtime=1``) are returned as they are."""
    if rate_hz is not None and rate_hz <= 0:
        raise SourceError(f"--rate must be positive frames/s, got {rate_hz:g}")
    if realtime is None:
        realtime = mode == modes.LIVE or rate_hz is not None
    if rate_hz is not None and realtime is False:
        raise SourceError("--rate paces the source; it cannot go with --no-realtime")
    if not realtime or source.live or getattr(source, "paced", False):
        return source
    if mode != modes.LIVE:
        raise SourceError("pacing a recording like a camera (--realtime / --rate) needs --mode live; offline mode "
                          "reads every frame as fast as the graph takes them")
    return PacedSource(source, rate_hz)
