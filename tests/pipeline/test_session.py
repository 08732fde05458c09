"""The session API: models loaded once across files, clean stop, live switches, live metrics, non-blocking
callbacks, per-stream state that never leaks, several streams at once."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from app.session import Session
from models.runtime.onnx import OnnxModel
from pipeline.engine import Engine, StreamOptions
from pipeline.graph import Graph, parse_graph_config
from pipeline.metrics import Series, StageMetrics
from pipeline.sinks import JsonlSink, ListSink
from tests.conftest import data_path
from tests.pipeline.helpers import CountingSource



def session_of(*stages, **kw) -> Session:
    return Session(parse_graph_config({"stages": list(stages)}), **kw)


def comparable(path: Path) -> list[dict]:
    """Result lines without what is timing, not result."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for line in lines:
        line.pop("latency_ms")
    return lines


def test_two_files_back_to_back_load_each_model_once_and_leak_no_state(tmp_path):
    """The default graph over a real clip twice in one session: its eight ONNX models load once, and the second run's
    results equal the first's (tracker ids restart, action memory starts empty)."""
    clip = str(data_path("action_clips", "tests_data_test.avi"))
    session = Session.from_options("default", device="cpu")
    before = OnnxModel.loads
    with session:
        first = session.run_to_folder(clip, tmp_path / "a", video=False, max_frames=12)
        loaded = OnnxModel.loads - before
        second = session.run_to_folder(clip, tmp_path / "b", video=False, max_frames=12)
        # person detector, MoveNet, pose detector, pose landmarks, two face detectors, face mesh, iris: once each
        assert OnnxModel.loads - before == loaded == 8
    assert first.ended_by == second.ended_by == "frame_limit" and first.frames_done == second.frames_done == 12
    a, b = comparable(tmp_path / "a" / "results.jsonl"), comparable(tmp_path / "b" / "results.jsonl")
    assert a == b
    ids = {p["track_id"] for line in a for p in line["persons"]}
    assert ids and min(ids) == 1
    assert any("action" in p for line in a for p in line["persons"])
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["ended_by"] == "frame_limit" and metrics["stages"]["pose"]["frames"] == 12


def test_stop_mid_run_leaves_valid_outputs(tmp_path):
    session = Session.from_options("bench", device="cpu")
    with session:
        runner = threading.Thread(target=lambda: holder.update(report=session.run_to_folder(
            "synthetic:320x240,frames=100000", tmp_path, video=True)))
        holder: dict = {}
        runner.start()
        deadline = time.monotonic() + 30
        while not (tmp_path / "results.jsonl").is_file() or \
                len((tmp_path / "results.jsonl").read_text().splitlines()) < 15:
            assert time.monotonic() < deadline, "no results within 30 s"
            time.sleep(0.05)
        reports = session.stop()
        runner.join(30)
    report = holder["report"]
    assert [r.ended_by for r in reports] == ["stopped"] and report.ended_by == "stopped"
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(len(lines))) and len(lines) == report.frames_done
    with av.open(str(tmp_path / "annotated.mp4")) as container:  # finalised: playable to the last frame
        assert sum(1 for _ in container.decode(video=0)) == len(lines)
    assert json.loads((tmp_path / "metrics.json").read_text())["ended_by"] == "stopped"


def test_set_enabled_takes_effect_within_a_few_frames():
    session = session_of({"name": "a", "type": "test_sleep", "params": {"ms": 2, "key": "a"}},
                         {"name": "b", "type": "test_sleep", "params": {"ms": 2, "key": "b", "needs": "a"}})
    sink = ListSink()
    with session:
        stream = session.start(CountingSource(400, rate_hz=200), [sink])
        while len(sink.packets) < 50:
            time.sleep(0.005)
        session.set_enabled("a", False)
        switched_off_at = len(sink.packets)
        while len(sink.packets) < switched_off_at + 60:
            time.sleep(0.005)
        session.set_enabled("a", True)
        switched_on_at = len(sink.packets)
        report = stream.run_to_end()
    packets = sink.packets
    off = [i for i, p in enumerate(packets) if not p.has("a")]
    assert off, "disabling a stage had no effect"
    assert off[0] - switched_off_at <= 10 and off[-1] - switched_on_at <= 10
    for i in off:  # a's outputs absent, b skipped quietly (its input comes from a disabled stage)
        assert not packets[i].has("b") and packets[i].errors == []
    assert packets[-1].get("b") == ["a", "b"]
    assert report.stages["a"].disabled == len(off) and report.stages["b"].skipped == len(off)


def test_on_result_never_blocks_the_graph():
    """A consumer 100x slower than the graph sees the newest results, and the graph runs at full speed."""
    seen: list[int] = []

    def slow(packet):
        seen.append(packet.seq)
        time.sleep(0.05)

    session = session_of({"name": "a", "type": "test_sleep", "params": {"ms": 0.5, "key": "a"}}, on_result=slow)
    with session:
        t0 = time.perf_counter()
        report = session.run(CountingSource(300))
        wall = time.perf_counter() - t0
        time.sleep(0.2)
        snapshot = session.snapshot()
    assert report.frames_done == 300 and wall < 0.05 * 300 / 3
    assert 1 <= len(seen) < 100 and seen == sorted(seen)
    assert seen[-1] == 299  # the newest result is delivered last
    assert snapshot["dropped_results"] == 300 - len(seen)


def test_snapshot_reads_live_metrics_while_running():
    session = session_of({"name": "a", "type": "test_sleep", "params": {"ms": 3, "key": "a"}},
                         {"name": "b", "type": "test_sleep_stateless", "workers": 2,
                          "params": {"ms": 6, "key": "b", "needs": "a"}})
    with session:
        stream = session.start(CountingSource(300, rate_hz=400, live=True))
        time.sleep(0.5)
        snap = session.snapshot()
        stream.run_to_end()
    live = snap["streams"][stream.id]
    assert live["fps"] > 20 and live["frames_done"] > 10 and live["mode"] == "live"
    assert live["end_to_end_ms"]["p50"] >= 9 * 0.8
    assert live["stages"]["a"]["latency_ms"]["p50"] >= 3 * 0.8 and live["stages"]["b"]["frames"] > 10
    assert snap["stages"]["b"] == {"enabled": True, "queue_depth": snap["stages"]["b"]["queue_depth"],
                                   "workers": 2}
    assert isinstance(snap["stages"]["b"]["queue_depth"], int)


def test_a_finished_stream_keeps_its_final_readings_in_the_snapshot():
    """A viewer polling after a short file ended still sees its figures, marked finished."""
    session = session_of({"name": "a", "type": "test_sleep", "params": {"ms": 1, "key": "a"}})
    with session:
        first = session.start(CountingSource(20))
        first.run_to_end()
        second = session.start(CountingSource(5))
        second.run_to_end()
        snap = session.snapshot()
    final = snap["streams"][first.id]
    assert final["finished"] and final["ended_by"] == "end_of_stream"
    assert final["frames_done"] == 20 and final["stages"]["a"]["frames"] == 20
    assert final["stages"]["a"]["latency_ms"]["p50"] is not None
    assert snap["streams"][second.id]["frames_done"] == 5


def test_two_streams_at_once_keep_order_and_state_apart():
    """One engine, two sources at once, a stateful stage: each stream's frames arrive in order, each stream's
    stage state sees only its own frames."""
    cfg = parse_graph_config({"stages": [
        {"name": "s", "type": "test_sleep_stateless", "workers": 3, "params": {"ms": 2, "key": "s"}},
        {"name": "count", "type": "test_frame_counter", "params": {}},
    ]})
    engine = Engine(Graph.from_config(cfg))
    sinks = {"x": ListSink(), "y": ListSink()}
    with engine:
        streams = [engine.open_stream(CountingSource(n), [sinks[sid]], StreamOptions("offline"), stream_id=sid)
                   for sid, n in (("x", 60), ("y", 45))]
        reports = [s.run_to_end() for s in streams]
    assert [r.frames_done for r in reports] == [60, 45]
    for sid, n in (("x", 60), ("y", 45)):
        packets = sinks[sid].packets
        assert [p.seq for p in packets] == list(range(n))
        assert [p.get("count") for p in packets] == list(range(1, n + 1))  # per-stream state, in order
        assert {p.stream_id for p in packets} == {sid}


def test_bad_stage_name_for_set_enabled_is_a_clear_error():
    from pipeline.errors import ConfigError

    session = session_of({"name": "a", "type": "test_sleep", "params": {"ms": 0}})
    with pytest.raises(ConfigError, match="no stage named 'nope'; stages: a"):
        session.set_enabled("nope", False)
    session.close()


def test_metrics_memory_is_bounded_on_long_runs():
    series = Series(capacity=1000, window=50)
    for i in range(100_000):
        series.append(float(i % 1000))
    assert len(series.sample) == 1000 and len(series.recent) == 50 and series.count == 100_000
    summary = series.summary()
    assert summary["max"] == 999.0 and abs(summary["mean"] - 499.5) < 1e-6
    assert abs(summary["p50"] - 500) < 60  # a uniform sample keeps the distribution
    m = StageMetrics("x")
    for _ in range(30_000):
        m.record(1.0, 0.1, True)
        m.record_depth(3)
    assert len(m.latency_ms.sample) <= 20_000 and m.summary()["frames"] == 30_000


def test_config_hash_changes_with_the_graph_and_not_otherwise():
    a = session_of({"name": "a", "type": "smooth", "params": {"kernel": 5}})
    b = session_of({"name": "a", "type": "smooth", "params": {"kernel": 5}})
    c = session_of({"name": "a", "type": "smooth", "params": {"kernel": 7}})
    assert a.config_hash() == b.config_hash() != c.config_hash()
    d = Session.from_options("default")
    assert len(d.config_hash()) == 16 and d.config_hash() != a.config_hash()


def test_run_uses_real_clip_and_writes_one_line_per_frame(tmp_path):
    clip = data_path("action_clips", "tests_data_test.avi")
    with av.open(str(clip)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with Session.from_options("bench", device="cpu") as session:
        report = session.run_to_folder(str(clip), tmp_path, video=False)
    assert report.ended_by == "end_of_stream"
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == frames == report.frames_done
    assert np.isfinite(report.fps)


def test_sinks_attach_and_detach_while_running(tmp_path):
    """What the UI's Record button does: a sink joins a running stream, gets consecutive frames, and is
    finalised when it leaves while the stream goes on."""
    session = session_of({"name": "a", "type": "test_sleep", "params": {"ms": 1, "key": "a"}})
    everything, recorded = ListSink(), JsonlSink(tmp_path / "rec.jsonl")
    with session:
        stream = session.start(CountingSource(300, rate_hz=300), [everything])
        while len(everything.packets) < 40:
            time.sleep(0.005)
        stream.attach_sink(recorded)
        while len(everything.packets) < 120:
            time.sleep(0.005)
        stream.detach_sink(recorded)
        report = stream.run_to_end()
    frames = [json.loads(line)["frame"] for line in (tmp_path / "rec.jsonl").read_text().splitlines()]
    assert report.frames_done == 300 and 40 <= frames[0] and frames[-1] < 140
    assert frames == list(range(frames[0], frames[0] + len(frames)))
