"""A recording as a camera: in live mode a file is released at its own timestamps (pipeline.sources.pacing), the
graph drops what it cannot keep up with, and offline mode reads every frame as before. Timing is asserted on a fake
clock (what the pacer decided), not on the wall clock, except for lower bounds that no fast machine can break."""
from __future__ import annotations

import pytest

from app.graph_bench import MemorySource
from app.session import Session
from pipeline.errors import SourceError
from pipeline.graph import parse_graph_config
from pipeline.paths import asset
from pipeline.sinks import ListSink
from pipeline.sources.pacing import PacedSource, Pacer, paced_for_mode
from pipeline.sources.playback import PlaybackSource
from pipeline.sources.synthetic import SyntheticSource
from pipeline.sources.video import VideoSource
from tests.pipeline.helpers import CountingSource, make_packet

PEOPLE = asset("sample_people") / "people.mp4"


class FakeClock:
    """A clock that only moves when the code under test sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_pacer_releases_frames_at_their_own_timestamps():
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    released = []
    for ts in (5.0, 5.04, 5.08, 5.20, 5.24):  # a recording that does not start at 0, with a gap
        pacer.wait(ts)
        released.append(clock.now - 100.0)
    assert released == pytest.approx([0.0, 0.04, 0.08, 0.20, 0.24])
    assert pacer.late == 0


def test_pacer_rate_overrides_timestamps():
    clock = FakeClock()
    pacer = Pacer(rate_hz=10.0, clock=clock, sleep=clock.sleep)
    for ts in (0.0, 0.001, 0.002, 0.003):
        pacer.wait(ts)
    assert clock.now - 100.0 == pytest.approx(0.3)


def test_a_reader_that_falls_behind_resyncs_instead_of_bursting():
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    pacer.wait(0.0)
    clock.now += 2.0  # the decoder stalled for two seconds
    pacer.wait(0.04)
    assert pacer.late == 1 and clock.slept == []
    t = clock.now
    pacer.wait(0.08)  # paced again from the stall on, not released at once
    assert clock.now - t == pytest.approx(0.04)


def test_a_gap_in_the_recording_waits_at_most_max_wait():
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, max_wait_s=1.0)
    pacer.wait(0.0)
    pacer.wait(30.0)  # a recording paused for 30 s
    assert clock.slept == [pytest.approx(1.0)]
    pacer.wait(30.1)  # and the next frame keeps the recorded spacing after it
    assert clock.slept[-1] == pytest.approx(0.1)


def test_a_real_clip_played_live_takes_its_own_duration():
    """The bundled clip (7.7 s, 25 fps) through PacedSource on a fake clock: every frame is released at its
    timestamp, the whole clip takes its duration, arrival times are the release times."""
    clock = FakeClock()
    source = PacedSource(VideoSource(PEOPLE), clock=clock, sleep=clock.sleep)
    with source:
        packets = list(source)
    assert len(packets) > 150
    first = packets[0].timestamp
    for p in packets:
        assert p.arrival_time - 100.0 == pytest.approx(p.timestamp - first, abs=1e-9)
    duration = packets[-1].timestamp - first
    assert clock.now - 100.0 == pytest.approx(duration)
    assert 7.0 < duration < 8.0
    info = source.describe()
    assert info["live"] is True and info["paced"] == "by its timestamps" and info["late_frames"] == 0


def test_paced_for_mode_paces_recordings_in_live_mode_only():
    recording = CountingSource(5)
    assert paced_for_mode(recording, "offline") is recording  # offline: unchanged
    assert paced_for_mode(recording, "live", realtime=False) is recording
    paced = paced_for_mode(recording, "live")
    assert isinstance(paced, PacedSource) and paced.live and paced.inner is recording
    assert paced_for_mode(recording, "live", rate_hz=12.0).pacer.rate_hz == 12.0
    camera = CountingSource(5, live=True)
    assert paced_for_mode(camera, "live") is camera
    player = PlaybackSource(CountingSource(5))  # the UI's player paces itself (fps x speed)
    assert paced_for_mode(player, "live") is player
    assert paced_for_mode(SyntheticSource(32, 32, realtime=True), "live").paced
    with pytest.raises(SourceError, match="needs --mode live"):
        paced_for_mode(recording, "offline", rate_hz=10.0)
    with pytest.raises(SourceError, match="--no-realtime"):
        paced_for_mode(recording, "live", realtime=False, rate_hz=10.0)


def test_bench_memory_source_uses_the_same_pacer():
    frames = [make_packet(i) for i in range(4)]  # 30 fps timestamps
    source = MemorySource(frames, live=True, rate_hz=20.0, total=6)
    clock = FakeClock()
    source._pacer = Pacer(20.0, clock=clock, sleep=clock.sleep)
    with source:
        assert len(list(source)) == 6
    assert clock.now - 100.0 == pytest.approx(5 / 20.0)


def _session(ms: float) -> Session:
    return Session(parse_graph_config({"stages": [{"name": "slow", "type": "test_sleep", "params": {"ms": ms}}]}))


def test_live_file_slower_graph_drops_and_offline_is_unchanged():
    """30 frames at 30 fps through a 100 ms stage: live takes the clip's duration (a lower bound no machine beats)
    and drops most frames, counting every one; offline processes all 30 with no drop, as before."""
    with _session(100.0) as session:
        sink = ListSink()
        live = session.run(CountingSource(30), [sink], mode="live")
        assert live.source["paced"] == "by its timestamps"
        assert live.frames_read == 30 and live.frames_done + live.drops == 30
        assert 3 <= live.frames_done <= 15 and live.drops >= 15
        assert live.wall_s >= 29 / 30.0 - 0.05
        offline = session.run(CountingSource(30), [ListSink()], mode="offline")
        assert "paced" not in offline.source
        assert offline.frames_done == 30 and offline.drops == 0
        unpaced = session.run(CountingSource(30), [ListSink()], mode="live", realtime=False)
        assert "paced" not in unpaced.source


def test_pacing_flags_that_contradict_the_mode_are_one_line():
    from tests.pipeline.test_cli import assert_one_line_error, percept

    clip = "assets/sample_people/people.mp4"
    proc = percept("run", "--source", clip, "--headless", "--mode", "offline", "--rate", "5", "--no-video")
    assert proc.returncode == 2
    assert_one_line_error(proc, r"--rate")
    proc = percept("run", "--source", clip, "--headless", "--mode", "live", "--rate", "5", "--no-realtime")
    assert proc.returncode == 2
    assert_one_line_error(proc, r"--rate")
