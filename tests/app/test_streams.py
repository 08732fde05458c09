"""Several streams in one `percept run` and `percept bench --streams`."""
from __future__ import annotations

import json

from app.streams import parse_stream_sources
from tests.conftest import data_path
from tests.pipeline.test_cli import percept


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _comparable(lines):
    return [{k: v for k, v in rec.items() if k not in ("latency_ms",)} for rec in lines]


def test_stream_names_come_from_the_sources_and_stay_unique(tmp_path):
    (tmp_path / "s.yaml").write_text("sources:\n  - a/lobby.mp4\n  - {source: synthetic, name: gen, mode: live}\n")
    specs = parse_stream_sources(["x/lobby.mp4", str(tmp_path / "s.yaml"), "video:y/door.avi"])
    assert [s.name for s in specs] == ["lobby", "lobby-2", "gen", "door"]
    assert specs[2].mode == "live" and specs[2].source == "synthetic"


def test_two_sources_write_their_own_folders_with_the_single_run_results(tmp_path):
    folder = data_path("pose", "coco")
    out = tmp_path / "multi"
    proc = percept("run", "--graph", "pose2d", "--source", str(folder), "--source", "synthetic:160x120,frames=6",
                   "--headless", "--out", str(out), "--no-video")
    assert proc.returncode == 0, proc.stderr
    assert "coco: 4 frames" in proc.stderr and "synthetic" in proc.stderr
    single = tmp_path / "single"
    assert percept("run", "--graph", "pose2d", "--source", str(folder), "--headless", "--out", str(single),
                   "--no-video", "--no-progress").returncode == 0
    assert _comparable(_lines(out / "coco" / "results.jsonl")) == _comparable(_lines(single / "results.jsonl"))
    synthetic = next(p for p in out.iterdir() if p.name.startswith("synthetic"))
    assert len(_lines(synthetic / "results.jsonl")) == 6
    assert json.loads((out / "coco" / "metrics.json").read_text())["ended_by"] == "end_of_stream"


def test_a_failing_stream_ends_alone(tmp_path):
    """A video cut in the middle ends as source_error; the other stream finishes; exit 1 names the stream."""
    clip = data_path("action_clips", "tests_data_test.mp4")
    broken = tmp_path / "broken.mp4"
    data = clip.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    out = tmp_path / "o"
    proc = percept("run", "--graph", "bench", "--source", str(broken), "--source", "synthetic:160x120,frames=5",
                   "--headless", "--out", str(out), "--no-video")
    metrics = {p.name: json.loads((p / "metrics.json").read_text()) for p in out.iterdir()}
    good = next(m for name, m in metrics.items() if name.startswith("synthetic"))
    assert good["ended_by"] == "end_of_stream" and good["frames_done"] == 5
    if metrics["broken"]["ended_by"] == "source_error":
        assert proc.returncode == 1 and "broken: error:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_source_stops_before_anything_runs(tmp_path):
    proc = percept("run", "--graph", "bench", "--source", "synthetic:64x48,frames=3", "--source",
                   str(tmp_path / "nope.mp4"), "--headless", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "nope.mp4" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "synthetic").exists()


def test_bench_streams_reports_per_stream_and_total_with_identical_results():
    proc = percept("bench", "--graph", "pose2d", "--source", str(data_path("pose", "coco")), "--frames", "8",
                   "--streams", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["streams"] == 2 and len(result["together"]["per_stream"]) == 2
    assert all(s["frames_done"] == 8 for s in result["together"]["per_stream"])
    assert result["identical_results"] is True
    assert result["together"]["total_fps"] > 0 and result["one_after_another"]["total_fps"] > 0
