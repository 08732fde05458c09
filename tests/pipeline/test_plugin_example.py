"""The plugin example of docs/graphs.md, run as written: its Python block becomes a module, its YAML block the
graph, and `percept run --plugin` plays the bundled clip through them."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "graphs.md"


def blocks_after(heading: str) -> dict[str, str]:
    """The first fenced block of each language after ``heading`` in docs/graphs.md."""
    text = DOC.read_text()
    text = text[text.index(heading):]
    found: dict[str, str] = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", text, re.S):
        found.setdefault(lang, body)
    return found


def percept(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_documented_plugin_runs(tmp_path):
    blocks = blocks_after("### A complete plugin stage")
    (tmp_path / "raised_hands.py").write_text(blocks["python"])
    (tmp_path / "hands.yaml").write_text(blocks["yaml"])
    assert "percept run --plugin raised_hands:RaisedHands --graph hands.yaml" in blocks["bash"]
    clip = REPO / "assets" / "sample_people" / "people.mp4"
    proc = percept("run", "--plugin", "raised_hands:RaisedHands", "--graph", "hands.yaml", "--source", str(clip),
                   "--headless", "--max-frames", "40", "--out", "out", "--no-video", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 40 and not any(r.get("errors") for r in lines)
    ids = {p["track_id"] for r in lines for p in r["persons"]}
    for r in lines:  # one entry per person, keyed by the same track ids the persons carry
        assert sorted(h["track_id"] for h in r["raised_hands"]) == sorted(p["track_id"] for p in r["persons"])
    counts = [h["frames_up"] for r in lines for h in r["raised_hands"]]
    assert ids and all(c >= 0 for c in counts)


def test_the_documented_plugin_without_a_pose_stage_is_one_clear_error(tmp_path):
    blocks = blocks_after("### A complete plugin stage")
    (tmp_path / "raised_hands.py").write_text(blocks["python"])
    (tmp_path / "alone.yaml").write_text("stages:\n  - name: hands\n    type: raised_hands\n")
    proc = percept("run", "--plugin", "raised_hands:RaisedHands", "--graph", "alone.yaml", "--source",
                   "synthetic:64x48", "--headless", "--max-frames", "2", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "stage 'hands' needs input 'persons.keypoints' which no earlier stage produces" in line
    assert "tracked_pose" in line  # the stage types that would produce it
