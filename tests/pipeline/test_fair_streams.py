"""Streams share the graph fairly: every node's inlet serves the streams in turn, so N equal offline streams
finish together however deep each one's window of frames in flight is, and a stalled or slow stream never
holds the others back."""
from __future__ import annotations

import threading

import pytest

from pipeline.engine import Engine, StreamOptions, _Inlet
from pipeline.graph import Graph, parse_graph_config
from pipeline.sinks import ListSink
from tests.pipeline.helpers import CountingSource, make_packet


def packet_of(stream: str, index: int):
    p = make_packet(index)
    p.stream_id, p.index = stream, index
    return p


@pytest.mark.parametrize("ordered", [True, False])
def test_an_inlet_serves_the_streams_in_turn_not_first_come(ordered):
    inlet = _Inlet(ordered)
    for stream in ("a", "b", "c"):  # a filled the queue first
        for i in range(4):
            inlet.put(packet_of(stream, i))
    got = [(p.stream_id, p.index) for p in (inlet.get(0) for _ in range(12))]
    assert [s for s, _ in got] == ["a", "b", "c"] * 4
    assert all([i for s, i in got if s == name] == [0, 1, 2, 3] for name in "abc")  # each stream in order
    assert inlet.size == 0 and inlet.get(0) is None


def test_a_stream_with_nothing_ready_is_skipped_and_a_forgotten_one_leaves_nothing_behind():
    inlet = _Inlet(ordered=False)
    inlet.put(packet_of("a", 0))
    inlet.put(packet_of("a", 1))
    inlet.put(packet_of("b", 0))
    assert [inlet.get(0).stream_id for _ in range(3)] == ["a", "b", "a"]
    inlet.put(packet_of("c", 0))
    inlet.put(packet_of("c", 1))
    inlet.forget("c")
    assert inlet.size == 0 and inlet.get(0) is None


class StallingSource(CountingSource):
    """Gives ``after`` frames, then blocks in ``read`` until released (a camera that stopped sending)."""

    def __init__(self, n: int, after: int) -> None:
        super().__init__(n)
        self.after = after
        self.release = threading.Event()

    def read(self):
        if self._i >= self.after:
            self.release.wait(30)
        return super().read()


class SlowSink(ListSink):
    def write(self, packet) -> None:
        threading.Event().wait(0.05)
        super().write(packet)


def graph(stage_type: str, workers: int) -> Graph:
    return Graph.from_config(parse_graph_config({"stages": [
        {"name": "work", "type": stage_type, "params": {"ms": 3}, "workers": workers}]}))


@pytest.mark.parametrize("stage_type, workers", [("test_sleep_stateless", 2), ("test_sleep", 1)])
def test_equal_offline_streams_finish_together_even_when_each_window_holds_every_frame(stage_type, workers):
    """Each stream may put all its frames in the graph at once (the first one opened fills the queues before the
    others start); when the first stream is done, every other is nearly done too."""
    frames, streams = 40, 4
    done = {f"s{i}": 0 for i in range(streams)}
    at_first_finish: dict[str, int] = {}
    lock = threading.Lock()

    def counter(sid: str):
        def on_result(packet) -> None:
            with lock:
                done[sid] += 1
                if done[sid] == frames and not at_first_finish:
                    at_first_finish.update(done)
        return on_result

    with Engine(graph(stage_type, workers)) as engine:
        running = [engine.open_stream(CountingSource(frames), [], StreamOptions("offline", max_in_flight=frames),
                                      on_result=counter(sid), stream_id=sid) for sid in done]
        reports = [s.run_to_end() for s in running]
    assert [r.frames_done for r in reports] == [frames] * streams
    assert min(at_first_finish.values()) >= frames - 6, at_first_finish  # first come, first served: ~0 here


def test_a_stalled_source_and_a_slow_sink_hold_no_other_stream_back():
    stalled = StallingSource(20, after=2)
    with Engine(graph("test_sleep_stateless", 2)) as engine:
        stuck = engine.open_stream(stalled, [], StreamOptions("offline"), stream_id="stalled")
        slow_sink = SlowSink()
        slow = engine.open_stream(CountingSource(20), [slow_sink], StreamOptions("offline"), stream_id="slow")
        fast = [engine.open_stream(CountingSource(30), [], StreamOptions("offline"), stream_id=f"fast{i}")
                for i in range(2)]
        reports = [s.wait(20) for s in fast]
        assert all(r is not None and r.frames_done == 30 for r in reports), "a fast stream was held back"
        assert len(slow_sink.packets) < 20, "the slow stream finished first: the test proves nothing"
        assert not stuck.finished.is_set() and stuck.report.frames_done == 2
        stalled.release.set()
        assert stuck.wait(20).frames_done == 20 and slow.wait(20).frames_done == 20
