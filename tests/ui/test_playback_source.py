"""The player wrapper for recordings (no Qt): pause blocks, step lets one frame through, seek and loop reopen,
speed paces, interrupt wakes a blocked read, timestamps keep increasing."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pipeline.packet import FramePacket
from pipeline.sources.base import Source
from pipeline.sources.playback import PlaybackSource


class Recording(Source):
    """n numbered frames at ``fps``; counts how often it was opened."""

    def __init__(self, n: int = 10, fps: float = 100.0) -> None:
        self.n, self.fps, self.frame_count, self.name = n, fps, n, "rec"
        self.opens = 0
        self._i = 0

    def open(self) -> None:
        self.opens += 1
        self._i = 0

    def read(self):
        if self._i >= self.n:
            return None
        color = np.full((4, 4, 3), self._i, np.uint8)
        packet = FramePacket(seq=self._i, timestamp=self._i / self.fps, color=color)
        self._i += 1
        return packet


def value(packet: FramePacket) -> int:
    return int(packet.color[0, 0, 0])


def reader(pb: PlaybackSource, out: list, stop_after: int | None = None) -> threading.Thread:
    def run():
        while (p := pb.read()) is not None:
            out.append(p)
            if stop_after is not None and len(out) >= stop_after:
                return
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_plays_all_frames_then_ends_with_positions():
    pb = PlaybackSource(Recording(5), speed=0)
    pb.open()
    got = list(pb)
    assert [value(p) for p in got] == [p.seq for p in got] == [0, 1, 2, 3, 4]
    assert pb.position == 5


def test_pause_blocks_step_lets_one_through_and_resume_continues():
    pb = PlaybackSource(Recording(10), speed=0, paused=True)
    pb.open()
    out: list = []
    t = reader(pb, out)
    time.sleep(0.1)
    assert out == []  # paused: read blocks
    pb.step()
    wait_for(lambda: len(out) == 1)
    time.sleep(0.05)
    assert len(out) == 1 and pb.position == 1
    pb.step(2)
    wait_for(lambda: len(out) == 3)
    pb.resume()
    t.join(5)
    assert [value(p) for p in out] == list(range(10))


def test_seek_back_reopens_and_seek_while_paused_shows_that_frame():
    rec = Recording(10)
    pb = PlaybackSource(rec, speed=0, paused=True)
    pb.open()
    out: list = []
    t = reader(pb, out)
    pb.seek(6)
    wait_for(lambda: len(out) == 1)
    assert value(out[0]) == 6 and out[0].seq == 6 and pb.position == 7
    pb.seek(2)
    wait_for(lambda: len(out) == 2)
    assert value(out[1]) == 2 and rec.opens == 2  # backwards: reopened, skipped to the frame
    assert out[1].timestamp > out[0].timestamp  # time keeps going forward for trackers
    pb.interrupt()
    t.join(5)
    assert not t.is_alive()


def test_loop_wraps_around_with_increasing_timestamps():
    pb = PlaybackSource(Recording(3), speed=0, loop=True)
    pb.open()
    out: list = []
    reader(pb, out, stop_after=8).join(5)
    assert [value(p) for p in out] == [0, 1, 2, 0, 1, 2, 0, 1] and pb.loops == 2
    ts = [p.timestamp for p in out]
    assert all(b > a for a, b in zip(ts, ts[1:]))


def test_speed_paces_by_fps():
    pb = PlaybackSource(Recording(11, fps=100.0), speed=1.0)
    pb.open()
    t0 = time.perf_counter()
    assert len(list(pb)) == 11
    elapsed = time.perf_counter() - t0
    assert 0.08 <= elapsed < 1.5  # 10 intervals of 10 ms: paced, not free-running (slack for loaded CI)
    pb2 = PlaybackSource(Recording(11, fps=100.0), speed=4.0)
    pb2.open()
    t0 = time.perf_counter()
    list(pb2)
    assert time.perf_counter() - t0 < elapsed


def test_interrupt_wakes_a_paused_read():
    pb = PlaybackSource(Recording(5), paused=True)
    pb.open()
    out: list = []
    t = reader(pb, out)
    time.sleep(0.05)
    pb.interrupt()
    t.join(2)
    assert not t.is_alive() and out == []


def test_seek_past_the_end_is_clamped():
    pb = PlaybackSource(Recording(5), speed=0, paused=True)
    pb.open()
    pb.seek(99)
    assert value(pb.read()) == 4


@pytest.mark.parametrize("paused", [False, True])
def test_fresh_player_restarts_the_recording(paused):
    rec = Recording(3)
    pb = PlaybackSource(rec, speed=0)
    pb.open()
    list(pb)
    pb.close()
    again = pb.fresh(paused=paused)
    again.open()
    assert again.paused is paused
    if paused:
        again.step()
    assert value(again.read()) == 0
