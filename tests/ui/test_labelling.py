"""Teaching an action from the UI on a real clip: analyse, label two ranges on the timeline, save and reload the
labels.csv, train a tiny model, see it in the running action stage and the people panel, restore the old one;
a corrupt labels file is one line in the status bar."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CLIP = REPO / "assets" / "sample_people" / "people.mp4"


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "rec" / "people.mp4"
    path.parent.mkdir()
    shutil.copy(CLIP, path)
    return path


def analysed(open_window, qtbot, clip):
    window = open_window("default", str(clip), speed=1.0, wait=1)
    window.show_labelling()
    window.playback.playback.pause()
    panel = window.labelling
    assert panel.files is not None and panel.files.labels == clip.parent / "people.labels.csv"
    panel.analyse()
    qtbot.waitUntil(lambda: panel.job is None and bool(panel.timeline.tracks), timeout=120_000)
    assert panel.files.results.is_file()
    return window, panel


def test_label_two_ranges_save_reload_train_and_use(open_window, qtbot, clip):
    window, panel = analysed(open_window, qtbot, clip)
    track = panel.timeline.tracks[0]
    first, last = track.spans[0]
    assert last - first > 100
    # a range by dragging (select), one by the [ and ] keys at the playhead
    panel.timeline.select(track.track_id, first + 5, first + 40)
    panel.name.setText("stand_tall")
    assert panel.add_label()
    panel.show_position(first + 60)
    panel.mark_start()
    panel.show_position(first + 95)
    panel.mark_end()
    panel.name.setText("arms_up")
    assert panel.add_label()
    assert panel.save() == clip.parent / "people.labels.csv"
    text = panel.files.labels.read_text().splitlines()
    assert text[0] == "results,track_id,start_frame,end_frame,label"
    assert text[2] == f"people.results.jsonl,{track.track_id},{first + 60},{first + 95},arms_up"
    panel.rows = []
    assert panel.load() and [(r.start, r.end, r.label) for r in panel.rows] == [
        (first + 5, first + 40, "stand_tall"), (first + 60, first + 95, "arms_up")]

    stage = panel.action_stage()
    demo = stage.describe()["checkpoint"]
    panel.train(epochs=1)
    qtbot.waitUntil(lambda: panel.job is None, timeout=300_000)
    assert panel.result is not None, window.statusBar().currentMessage()
    assert panel.result["classes"] == ["background", "arms_up", "stand_tall"]
    assert stage.describe()["checkpoint"] == panel.result["checkpoint"]
    # the CLI on the same labels and seed writes the same weights
    cli = clip.parent / "cli_ck"
    proc = subprocess.run([sys.executable, "-m", "app.cli", "action", "train", "--from-labels", str(panel.files.labels),
                           "--epochs", "1", "--out", str(cli), "--no-progress"], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    ui_weights = Path(panel.result["checkpoint"]) / "model.safetensors"
    assert (cli / "model.safetensors").read_bytes() == ui_weights.read_bytes()
    window.playback.playback.resume()
    # the people panel lists the new classes (the demo model's are idle, wave, ...)
    qtbot.waitUntil(lambda: any({"arms_up", "stand_tall"} <= {label for label, _ in row.scores}
                                for row in window.people.rows), timeout=60_000)
    assert panel.restore_button.isEnabled()
    panel.restore()
    assert stage.describe()["checkpoint"] == demo


def test_a_corrupt_labels_file_is_one_line_in_the_status_bar(open_window, qtbot, clip):
    (clip.parent / "people.labels.csv").write_bytes(b"\x00\xff not, a labels file\n")
    window = open_window("default", str(clip), speed=1.0, wait=1)
    panel = window.labelling
    assert not panel.rows
    message = window.statusBar().currentMessage()
    assert message.startswith("labels not loaded:") and "\n" not in message
    assert not panel.load()
