"""Engine behaviour: ordering, losslessness, joins, dropping, errors, shutdown."""
from __future__ import annotations

import _thread
import json
import threading
import time

import numpy as np
import pytest

from pipeline.graph import Graph, parse_graph_config
from pipeline.one_stream import OneStreamRun, RunOptions
from pipeline.sinks import JsonlSink
from tests.pipeline import helpers
from tests.pipeline.helpers import CountingSource, SleepParams, SleepStage, StatelessSleepStage


def graph_of(*stages, mode=None):
    cfg = parse_graph_config({"stages": list(stages)})
    return Graph.from_config(cfg)


def run(graph, source, mode="offline", **kw):
    results = []
    report = OneStreamRun(graph, RunOptions(mode=mode, **kw)).run(source, on_result=results.append)
    return report, results


def test_offline_is_lossless_and_in_order_through_a_chain():
    graph = graph_of({"name": "a", "type": "test_sleep", "params": {"ms": 1, "key": "a"}},
                     {"name": "b", "type": "test_sleep", "params": {"ms": 2, "key": "b", "needs": "a"}})
    report, results = run(graph, CountingSource(60))
    assert [p.seq for p in results] == list(range(60))
    assert all(p.get("b") == ["a", "b"] for p in results)
    assert report.frames_done == report.frames_read == 60 and report.drops == 0
    assert report.ended_by == "end_of_stream"


def test_stateless_workers_run_concurrently_but_results_stay_ordered():
    graph = graph_of({"name": "s", "type": "test_sleep_stateless", "workers": 4,
                      "params": {"ms": 5, "key": "s"}},
                     {"name": "t", "type": "test_sleep", "params": {"ms": 0, "key": "t", "needs": "s"}})
    report, results = run(graph, CountingSource(40))
    assert [p.seq for p in results] == list(range(40))
    # the stateful stage after the pool must see frames strictly in order
    assert graph.nodes["t"].stage.seen == list(range(40))
    assert graph.nodes["s"].stage.max_active >= 2  # the pool's workers overlapped


def test_branches_run_concurrently_and_join_on_the_frame():
    graph = graph_of({"name": "left", "type": "test_sleep", "params": {"ms": 20, "key": "l"}},
                     {"name": "right", "type": "test_sleep", "params": {"ms": 20, "key": "r"}},
                     {"name": "join", "type": "test_sleep", "params": {"ms": 0, "key": "j", "needs": "l"},
                      "after": ["right"]})
    assert graph.nodes["join"].parents == ["left", "right"]
    helpers.ACTIVE.update(now=0, max=0)
    _, results = run(graph, CountingSource(10), max_in_flight=1)
    # one frame in flight at a time, yet two stages ran at once: the branches overlapped on that frame
    assert helpers.ACTIVE["max"] >= 2
    for p in results:
        assert p.has("l") and p.has("r") and p.has("j")


def test_live_mode_drops_old_frames_and_keeps_latency_low():
    graph = graph_of({"name": "slow", "type": "test_sleep", "params": {"ms": 20, "key": "a"}})
    report, results = run(graph, CountingSource(150, rate_hz=500, live=True), mode="live")
    assert report.drops > 0
    assert report.frames_read == 150
    assert report.frames_done + report.drops == report.frames_read
    seqs = [p.seq for p in results]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # no queue build-up: at most one frame waits behind the one in the stage (a queue would hold ~100)
    assert max(report.stages["slow"].queue_depth) <= 2
    assert report.max_in_flight <= 2


def test_stage_error_is_recorded_and_graph_goes_on():
    graph = graph_of({"name": "a", "type": "test_sleep", "params": {"ms": 0, "key": "a", "fail_on": [3, 7]}},
                     {"name": "b", "type": "test_sleep", "params": {"ms": 0, "key": "b", "needs": "a"}})
    report, results = run(graph, CountingSource(10))
    assert len(results) == 10
    assert results[3].errors[0]["stage"] == "a" and "boom on 3" in results[3].errors[0]["error"]
    assert results[3].errors[1]["stage"] == "b" and "skipped" in results[3].errors[1]["error"]
    assert not results[4].errors
    assert report.stages["a"].errors == 2 and report.stages["b"].skipped == 2


def test_on_error_stop_ends_the_run_cleanly(tmp_path):
    graph = graph_of({"name": "a", "type": "test_sleep", "on_error": "stop",
                      "params": {"ms": 1, "key": "a", "fail_on": [5]}})
    sink = JsonlSink(tmp_path / "r.jsonl")
    report = OneStreamRun(graph, RunOptions()).run(CountingSource(1000), [sink])
    assert report.ended_by == "stage_error" and "boom on 5" in report.error
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert 6 <= len(lines) < 1000
    records = [json.loads(line) for line in lines]  # every line is complete JSON
    assert [r["frame"] for r in records] == list(range(len(records)))
    assert graph.nodes["a"].stage.closed


def test_failing_source_stops_cleanly_with_results_kept(tmp_path):
    graph = graph_of({"name": "a", "type": "test_sleep", "params": {"ms": 0, "key": "a"}})
    source = CountingSource(100, fail_after=12)
    sink = JsonlSink(tmp_path / "r.jsonl")
    report = OneStreamRun(graph, RunOptions()).run(source, [sink])
    assert report.ended_by == "source_error" and "unplugged" in report.error
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 12
    assert source.closed


def _ctrl_c_after(*delays_s: float) -> None:
    """A real Ctrl-C (SIGINT delivered to the main thread) after each delay."""
    for delay in delays_s:
        threading.Timer(delay, _thread.interrupt_main).start()


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_cleanly(tmp_path, presses):
    """Once: frames in the graph finish. Twice (the second while a slow stage drains): stop at once."""
    ms = 2 if presses == 1 else 150
    graph = graph_of({"name": "a", "type": "test_sleep", "params": {"ms": ms, "key": "a"}})
    sink = JsonlSink(tmp_path / "r.jsonl")
    _ctrl_c_after(*[(0.1 if presses == 1 else 3.2) + 0.2 * i for i in range(presses)])
    report = OneStreamRun(graph, RunOptions()).run(CountingSource(10_000), [sink])
    assert report.ended_by == "interrupted"
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert 20 <= len(lines) < 10_000
    if presses == 2:
        assert report.frames_done < report.frames_admitted  # the second press did not wait for the drain
    records = [json.loads(line) for line in lines]  # whole lines only
    assert [r["frame"] for r in records] == list(range(len(records)))
    assert graph.nodes["a"].stage.closed
    time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name.startswith("a-") and t.is_alive()]


def test_max_frames_limits_the_run():
    graph = graph_of({"name": "a", "type": "test_sleep", "params": {"ms": 0}})
    report, results = run(graph, CountingSource(100), max_frames=7)
    assert len(results) == 7 and report.ended_by == "frame_limit"


def test_graph_from_python_objects():
    a = SleepStage(SleepParams(ms=0, key="a"))
    b = StatelessSleepStage(SleepParams(ms=0, key="b", needs="a"))
    graph = Graph.from_stages([("a", a), ("b", b)])
    _, results = run(graph, CountingSource(5))
    assert [p.get("b") for p in results] == [["a", "b"]] * 5


def test_empty_graph_passes_frames_through():
    report, results = run(Graph([]), CountingSource(5))
    assert [p.seq for p in results] == list(range(5))


def test_interrupt_drains_for_at_most_drain_s_then_stops(tmp_path):
    """The CLI's signal handler path: the first interrupt with a drain limit stops reading and, the drain limit
    later, stops waiting for the frames still in a slow graph; the ending names the signal."""
    from pipeline.engine import Engine, StreamOptions

    graph = graph_of({"name": "a", "type": "test_sleep", "params": {"ms": 200, "key": "a"}})
    engine = Engine(graph)
    try:
        stream = engine.open_stream(CountingSource(10_000), [JsonlSink(tmp_path / "r.jsonl")],
                                    StreamOptions("offline", max_in_flight=20))
        time.sleep(0.5)
        t0 = time.monotonic()
        stream.interrupt("terminated", "terminated by SIGTERM", drain_s=0.3)
        report = stream.wait(10.0)
        assert report is not None and time.monotonic() - t0 < 1.5  # draining 20 frames x 200 ms would take 4 s
        assert report.ended_by == "terminated" and report.frames_done < report.frames_admitted
    finally:
        engine.close()
