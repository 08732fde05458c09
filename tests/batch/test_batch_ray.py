"""The same batch on a local Ray and on the local pool gives the same results; a killed actor is retried."""
from __future__ import annotations

import pytest

from app.batch import BatchOptions, run_batch
from tests.batch.helpers import batch_lines, make_images, make_video, percept, results_without_timing, tiny_graph

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_local_ray_and_local_pool_give_identical_results(tmp_path, local_ray):
    src = tmp_path / "in"
    make_video(src / "a.mp4", 24)
    make_video(src / "sub" / "b.mkv", 18, size=(80, 60))
    make_video(src / "c.mp4", 9)
    make_images(src / "frames", 4)
    graph = tiny_graph(tmp_path / "g.yaml")
    local_out, ray_out = tmp_path / "local", tmp_path / "ray"
    proc, _ = percept("batch", str(src), "--out", str(local_out), "--graph", str(graph), "-j", "2",
                      "--threads-per-worker", "1")
    assert proc.returncode == 0, proc.stderr
    summary = run_batch(BatchOptions(dir=src, out=ray_out, graph=str(graph), ray=True, threads_per_worker=1,
                                     progress=False))  # 2 actors: the 2 CPUs of this Ray / 1 thread each
    assert (summary.done, summary.failed, summary.skipped) == (4, 0, 0)
    assert ray.is_initialized()  # a Ray the caller started is left running
    for rel in ("a.mp4", "sub/b.mkv", "c.mp4", "frames"):
        local_rows = results_without_timing(local_out / rel / "results.jsonl")
        assert local_rows and local_rows == results_without_timing(ray_out / rel / "results.jsonl"), rel
    assert {r["status"] for r in batch_lines(ray_out).values()} == {"done"}
    again = run_batch(BatchOptions(dir=src, out=ray_out, graph=str(graph), ray=True, progress=False))
    assert (again.done, again.skipped) == (0, 4)


def test_killed_ray_actor_is_retried_on_a_new_actor(tmp_path, local_ray, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    make_video(src / "a.mp4", 10)
    make_video(src / "b.mp4", 12)
    kill_marker = tmp_path / "killed-once"
    graph = tmp_path / "kill.yaml"
    graph.write_text("stages:\n  - {name: k, type: kill_once, params: {source_name: b.mp4}}\n")
    monkeypatch.setenv("PERCEPT_TEST_KILL_MARKER", str(kill_marker))  # actors get it via the runtime env
    summary = run_batch(BatchOptions(dir=src, out=out, graph=str(graph), ray=True, workers=2, threads_per_worker=1,
                                     plugins=("tests.batch.plugins:KillOnce",), video=False, progress=False))
    assert kill_marker.exists()
    assert (summary.done, summary.failed) == (2, 0), summary.failures
    lines = batch_lines(out)
    assert lines["b.mp4"]["attempts"] == 2 and lines["a.mp4"]["attempts"] == 1
    assert len(results_without_timing(out / "b.mp4" / "results.jsonl")) == 12


def test_an_actor_no_node_can_hold_is_a_clear_error(tmp_path, local_ray):
    from pipeline.errors import PerceptError

    make_video(tmp_path / "in" / "a.mp4", 3)
    with pytest.raises(PerceptError, match=r"no Ray node has 4 CPU\(s\) for one worker \(largest: 2 CPU"):
        run_batch(BatchOptions(dir=tmp_path / "in", out=tmp_path / "out", graph=str(tiny_graph(tmp_path / "g.yaml")),
                               ray=True, threads_per_worker=4, progress=False))
