"""The default graph over a real clip: one result line per decoded frame, and a rerun that skips it."""
from __future__ import annotations

import os

import pytest

from tests.batch.helpers import batch_lines, decoded_frames, marker, percept, results_without_timing
from tests.conftest import data_path

pytestmark = pytest.mark.slow


def test_default_graph_on_a_real_clip(tmp_path):
    clip = data_path("action_clips", "tests_data_test.avi")
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    os.symlink(clip, src / clip.name)
    (src / "corrupt.mp4").write_bytes(os.urandom(20000))
    proc, t_first = percept("batch", str(src), "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    n = decoded_frames(clip)
    rows = results_without_timing(out / clip.name / "results.jsonl")
    assert [r["frame"] for r in rows] == list(range(n))
    assert sum(len(r["persons"]) for r in rows) > 0  # the default graph found the person
    assert decoded_frames(out / clip.name / "annotated.mp4") == n
    lines = batch_lines(out)
    assert lines[clip.name]["status"] == "done" and lines[clip.name]["frames"] == n
    assert lines["corrupt.mp4"]["status"] == "failed"
    assert marker(out, clip.name)["config_hash"]

    again, t_again = percept("batch", str(src), "--out", str(out), "--glob", "*.avi")
    assert again.returncode == 0 and batch_lines(out)[clip.name]["status"] == "skipped", again.stderr
    assert t_again < 0.5 * t_first, (t_first, t_again)
