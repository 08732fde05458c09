"""Small stages and sources for engine tests."""
from __future__ import annotations

import threading
import time

import numpy as np
from pydantic import Field

from pipeline.errors import SourceError
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from pipeline.sources.base import Source
from pipeline.stage import Stage, StageParams


ACTIVE = {"now": 0, "max": 0}  # stages running at this moment, across all test stages


def make_packet(seq: int, w: int = 32, h: int = 24) -> FramePacket:
    color = np.full((h, w, 3), seq % 256, np.uint8)
    return FramePacket(seq=seq, timestamp=seq / 30.0, color=color)


class CountingSource(Source):
    """n tiny frames; optional pacing; optional failure after k frames."""

    def __init__(self, n: int, rate_hz: float | None = None, fail_after: int | None = None,
                 live: bool = False) -> None:
        self.n, self.rate_hz, self.fail_after, self.live = n, rate_hz, fail_after, live
        self.frame_count = n
        self.name = "counting"
        self.closed = False
        self._i = 0
        self._t0 = 0.0

    def open(self) -> None:
        self._t0 = time.perf_counter()

    def read(self):
        if self.fail_after is not None and self._i >= self.fail_after:
            raise SourceError("camera unplugged")
        if self._i >= self.n:
            return None
        if self.rate_hz:
            delay = self._t0 + self._i / self.rate_hz - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        p = make_packet(self._i)
        self._i += 1
        return p

    def close(self) -> None:
        self.closed = True


class SleepParams(StageParams):
    ms: float = Field(default=1.0, ge=0)
    key: str = "a"
    needs: str | None = None
    fail_on: list[int] = Field(default_factory=list)


@register_stage
class SleepStage(Stage):
    """Sleeps (releases the GIL like real native work), records which frames it saw, in what order."""

    type_name = "test_sleep"
    Params = SleepParams
    stateless = False

    def __init__(self, params=None) -> None:
        super().__init__(params)
        self.inputs = ("color",) + ((self.params.needs,) if self.params.needs else ())
        self.outputs = (self.params.key,)
        self.seen: list[int] = []
        self.lock = threading.Lock()
        self.closed = False
        self.active = 0
        self.max_active = 0

    def process(self, packet: FramePacket):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            ACTIVE["now"] += 1
            ACTIVE["max"] = max(ACTIVE["max"], ACTIVE["now"])
        time.sleep(self.params.ms / 1000.0)
        with self.lock:
            self.active -= 1
            ACTIVE["now"] -= 1
        with self.lock:
            self.seen.append(packet.seq)
        if packet.seq in self.params.fail_on:
            raise ValueError(f"boom on {packet.seq}")
        upstream = packet.get(self.params.needs) if self.params.needs else []
        return {self.params.key: list(upstream) + [self.params.key]}

    def close(self) -> None:
        self.closed = True


@register_stage
class StatelessSleepStage(SleepStage):
    type_name = "test_sleep_stateless"
    stateless = True


@register_stage
class FrameCounterStage(Stage):
    """Counts the frames of its stream (per-stream state) and checks they come in order."""

    type_name = "test_frame_counter"
    outputs = ("count",)

    def open_stream(self, stream):
        return {"n": 0, "last_seq": -1, "stream": stream.stream_id}

    def process(self, packet: FramePacket, state):
        assert packet.stream_id == state["stream"], "a frame of another stream reached this stream's state"
        assert packet.seq > state["last_seq"], "frames out of order"
        state["n"] += 1
        state["last_seq"] = packet.seq
        return {"count": state["n"]}
