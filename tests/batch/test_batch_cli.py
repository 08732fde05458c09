"""`percept batch` end to end in real processes: outputs per recording, skip/redo, failures, killed workers."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.batch.helpers import (batch_lines, decoded_frames, make_images, make_recording, make_video, marker,
                                 percept, results_without_timing, tiny_graph)
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # each run spawns worker processes that import torch (seconds each)
PLUGIN = "tests.batch.plugins:KillOnce"


def _assert_outputs(out, rel, frames, video=True):
    folder = out / rel
    rows = results_without_timing(folder / "results.jsonl")
    assert [r["frame"] for r in rows] == list(range(frames)), rel
    assert all("persons" in r and "errors" in r for r in rows)
    if video:
        assert decoded_frames(folder / "annotated.mp4") == frames
    else:
        assert not (folder / "annotated.mp4").exists()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["frames_done"] == frames and metrics["ended_by"] == "end_of_stream"
    done = marker(out, rel)
    assert done["status"] == "done" and done["frames"] == frames and done["percept_version"]


def _no_scratch_left(out):
    return [p for p in out.rglob(".*") if ".percept-" in p.name]


def test_outputs_per_recording_then_skip_and_redo(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    files = {"a.mp4": make_video(src / "a.mp4", 30), "sub/b.mkv": make_video(src / "sub" / "b.mkv", 20),
             "frames": make_images(src / "frames", 5)}
    rec = make_recording(src / "cam" / "rec.db3", 6)
    graph = tiny_graph(tmp_path / "g.yaml", kernel=3)
    expected = {"a.mp4": decoded_frames(files["a.mp4"]), "sub/b.mkv": decoded_frames(files["sub/b.mkv"]),
                "frames": 5, rec.relative_to(src).as_posix(): 6}
    args = [str(src), "--out", str(out), "--graph", str(graph), "--workers", "2", "--threads-per-worker", "1"]

    first, _ = percept("batch", *args)
    assert first.returncode == 0, first.stderr
    lines = batch_lines(out)
    assert set(lines) == set(expected)
    for rel, n in expected.items():
        assert lines[rel]["status"] == "done" and lines[rel]["frames"] == n and lines[rel]["attempts"] == 1
        _assert_outputs(out, rel, n)
    assert "4 done, 0 skipped, 0 failed" in first.stderr
    assert not _no_scratch_left(out)
    stamps = {rel: (out / rel / "_DONE.json").stat().st_mtime_ns for rel in expected}
    first_hash = marker(out, "a.mp4")["config_hash"]

    second, _ = percept("batch", *args)
    assert second.returncode == 0, second.stderr
    assert {r["status"] for r in batch_lines(out).values()} == {"skipped"}
    assert "to run" not in second.stderr  # decided without starting a worker
    assert stamps == {rel: (out / rel / "_DONE.json").stat().st_mtime_ns for rel in expected}

    tiny_graph(graph, kernel=5)  # another config: another hash
    kept, _ = percept("batch", *args, "--redo", "failed")
    assert kept.returncode == 0 and {r["status"] for r in batch_lines(out).values()} == {"skipped"}, kept.stderr

    changed, _ = percept("batch", *args)
    assert changed.returncode == 0, changed.stderr
    assert {r["status"] for r in batch_lines(out).values()} == {"done"}
    hashes = {marker(out, rel)["config_hash"] for rel in expected}
    assert len(hashes) == 1 and first_hash not in hashes

    again, _ = percept("batch", *args, "--redo", "all", "--glob", "*.mp4")
    assert again.returncode == 0, again.stderr
    assert {rel: r["status"] for rel, r in batch_lines(out).items()} == {"a.mp4": "done"}
    _assert_outputs(out, "a.mp4", expected["a.mp4"])
    assert not _no_scratch_left(out)


def test_corrupt_file_is_recorded_failed_and_the_others_finish(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_video(src / "a.mp4", 12)
    make_video(src / "c.mp4", 15)
    (src / "bad.mp4").write_bytes(os.urandom(4096))
    graph = tiny_graph(tmp_path / "g.yaml")
    args = [str(src), "--out", str(out), "--graph", str(graph), "--no-video", "-j", "2", "--threads-per-worker", "1"]
    proc, _ = percept("batch", *args)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = batch_lines(out)
    assert lines["bad.mp4"]["status"] == "failed" and "bad.mp4" in lines["bad.mp4"]["error"]
    assert "\n" not in lines["bad.mp4"]["error"] and lines["bad.mp4"]["attempts"] == 1
    assert marker(out, "bad.mp4")["status"] == "failed"
    _assert_outputs(out, "a.mp4", 12, video=False)
    _assert_outputs(out, "c.mp4", 15, video=False)
    assert "2 done, 0 skipped, 1 failed" in proc.stderr and "failed: bad.mp4: " in proc.stderr

    retry, _ = percept("batch", *args, "--redo", "failed")
    assert retry.returncode == 1, retry.stderr
    assert {rel: r["status"] for rel, r in batch_lines(out).items()} == {
        "a.mp4": "skipped", "c.mp4": "skipped", "bad.mp4": "failed"}


def _kill_graph(tmp_path, **params):
    g = tmp_path / "kill.yaml"
    p = ", ".join(f"{k}: {json.dumps(v)}" for k, v in params.items())
    g.write_text("stages:\n  - {name: s, type: smooth, params: {kernel: 3}}\n"
                 f"  - {{name: k, type: kill_once, params: {{{p}}}}}\n")
    return g


def test_killed_worker_is_retried_on_a_fresh_worker(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    for name, n in (("a.mp4", 10), ("b.mp4", 14), ("c.mp4", 12)):
        make_video(src / name, n)
    kill_marker = tmp_path / "killed-once"
    graph = _kill_graph(tmp_path, source_name="b.mp4")
    proc, _ = percept("batch", str(src), "--out", str(out), "--graph", str(graph), "--plugin", PLUGIN,
                      "-j", "2", "--threads-per-worker", "1", "--no-video",
                      env={"PERCEPT_TEST_KILL_MARKER": str(kill_marker)})
    assert proc.returncode == 0, proc.stderr
    assert kill_marker.exists()  # the first attempt really was killed
    lines = batch_lines(out)
    assert lines["b.mp4"]["status"] == "done" and lines["b.mp4"]["attempts"] == 2
    assert lines["a.mp4"]["attempts"] == 1 and lines["c.mp4"]["attempts"] == 1
    assert marker(out, "b.mp4")["attempt"] == 2
    _assert_outputs(out, "b.mp4", 14, video=False)
    assert not _no_scratch_left(out)


def test_worker_that_always_dies_fails_after_the_retries(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_video(src / "a.mp4", 8)
    make_video(src / "b.mp4", 8)
    graph = _kill_graph(tmp_path, source_name="b.mp4", always=True, at_frame=2)
    proc, _ = percept("batch", str(src), "--out", str(out), "--graph", str(graph), "--plugin", PLUGIN,
                      "-j", "1", "--threads-per-worker", "1", "--retries", "1", "--no-video",
                      env={"PERCEPT_TEST_KILL_MARKER": str(tmp_path / "m")})
    assert proc.returncode == 1, proc.stderr
    lines = batch_lines(out)
    assert lines["b.mp4"] == {**lines["b.mp4"], "status": "failed", "attempts": 2,
                              "error": "worker died (signal 9) 2 times"}
    assert lines["a.mp4"]["status"] == "done"
    assert not (out / "b.mp4").exists() and not _no_scratch_left(out)  # killed mid-write: nothing half-valid kept


@pytest.mark.parametrize("args, pattern", [
    (["/no/such/folder", "--out", "{tmp}/o"], r"batch folder not found"),
    (["{tmp}/empty", "--out", "{tmp}/o"], r"no recordings under .*looked for videos"),
    (["{tmp}/in", "--out", "{tmp}/o", "--glob", "*.avi"], r"no recordings matching --glob '\*\.avi'"),
    (["{tmp}/in/a.mp4", "--out", "{tmp}/o"], r"is a file; give a folder"),
    (["{tmp}/in", "--out", "{tmp}/o", "--redo", "some"], r"--redo must be one of all, failed"),
    (["{tmp}/in", "--out", "{tmp}/o", "--gpus-per-worker", "0.5"], r"--gpus-per-worker applies to --ray"),
    (["{tmp}/in", "--out", "{tmp}/o", "--graph", "/no/graph.yaml"], r"graph file not found"),
    (["{tmp}/in", "--out", "{tmp}/in/a.mp4"], r"exists and is not a folder"),
])
def test_user_mistakes_get_one_line_and_exit_2(tmp_path, args, pattern):
    import re

    make_video(tmp_path / "in" / "a.mp4", 3)
    (tmp_path / "empty").mkdir()
    proc, _ = percept("batch", *[a.format(tmp=tmp_path) for a in args])
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(pattern, errors[0]), proc.stderr


def test_ray_missing_says_how_to_install(tmp_path):
    make_video(tmp_path / "in" / "a.mp4", 3)
    code = ("import sys; sys.modules['ray'] = None\n"  # as if Ray were not installed
            "from app.cli import main\n"
            f"sys.exit(main(['batch', {str(tmp_path / 'in')!r}, '--out', {str(tmp_path / 'o')!r}, '--ray']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == ("error: --ray needs Ray: pip install -e '.[ray]' "
                                                    "(or pip install 'ray>=2.30')")


def test_workers_get_their_thread_budget(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_video(src / "a.mp4", 3)
    graph = tmp_path / "threads.yaml"
    graph.write_text("stages:\n  - {name: t, type: thread_report}\n")
    proc, _ = percept("batch", str(src), "--out", str(out), "--graph", str(graph), "--no-video",
                      "--plugin", "tests.batch.plugins:ThreadReport", "--threads-per-worker", "1")
    assert proc.returncode == 0, proc.stderr
    rows = results_without_timing(out / "a.mp4" / "results.jsonl")
    assert [r["budget"] for r in rows] == [{"omp": "1", "torch": 1, "cv2": 1, "onnx": 1}] * 3
