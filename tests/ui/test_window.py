"""The desktop window on the bundled sample and on a real clip: overlays drawn, layers and stages switched live,
depth read-out, snapshot, record and read back, source switches on one session, errors shown while the app stays
usable, keys, settings remembered, and a clean close (no thread left)."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt

from app.overlay import OverlayStyle
from app.session import Session
from models.runtime.onnx import OnnxModel
from models.vision.persons import Persons
from pipeline.graph import parse_graph_config
from tests.conftest import REPO, data_path
from app.ui.sources import SAMPLE_SPEC
from tests.ui.conftest import wait_frames, wait_started

CLIP = ("action_clips", "demo_demo.mp4")  # people at a table, 340x256


def percept(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def persons_of(window) -> Persons | None:
    frame = window.controller.latest
    persons = frame.packet.get("persons") if frame is not None and frame.packet is not None else None
    return persons if isinstance(persons, Persons) else None


def test_window_opens_on_the_bundled_sample_with_depth_and_stages(open_window, qtbot):
    window = open_window("bench", wait=5, loop=True)  # 45 frames at full speed: may end before 5 are painted
    c = window.controller
    assert c.info.playback is not None and not c.info.live and c.info.mode == "offline"
    frame = window.last_frame
    assert frame.size == (320, 240) and frame.depth is not None
    assert window.video.view.image is not None and window.depth.view.image is not None
    # hover over the middle of the depth view: the read-out says metres, and agrees with the depth map
    view = window.depth.view
    rect = view.image_rect()
    window.depth.hover(QPointF(rect.center()))
    x, y = view.to_image_point(QPointF(rect.center()), (320, 240))
    expected = float(frame.depth_m[y, x])
    assert f"{expected:.3f} m" in window.depth.readout.text()
    qtbot.waitUntil(lambda: all(label.text() not in ("-", "") for label in window.stages.p50.values()), timeout=10000)
    assert set(window.stages.checks) == set(window.session.graph.order)


def test_real_clip_overlays_layers_and_stage_switch(open_window, qtbot):
    """pose2d on a real clip: boxes and skeletons differ from the raw frame where people are; all layers off
    gives the raw frame; switching the pose stage off removes the people within a few frames."""
    clip = str(data_path(*CLIP))
    window = open_window("pose2d", clip, speed=0.0, wait=2)
    qtbot.waitUntil(lambda: persons_of(window) is not None and len(persons_of(window)) > 0, timeout=60000)
    frame = window.controller.latest
    persons = persons_of(window)
    assert persons.keypoints is not None
    raw, drawn = frame.packet.color, frame.overlay
    x1, y1, x2, y2 = (int(v) for v in persons.boxes[int(np.argmax(persons.scores))])
    inside = np.abs(drawn[y1:y2 + 1, x1:x2 + 1].astype(int) - raw[y1:y2 + 1, x1:x2 + 1]).sum(axis=2) > 30
    assert inside.mean() > 0.01  # the box outline, labels and the skeleton
    assert window.people.rows and window.people.rows[0].scores == []  # no action stage in pose2d
    window.playback.playback.pause()
    for name in OverlayStyle.LAYERS:
        window.video.actions_by_layer[name].setChecked(False)
    qtbot.waitUntil(lambda: np.array_equal(window.controller.latest.overlay, window.controller.latest.packet.color),
                    timeout=5000)
    window.video.actions_by_layer["boxes"].setChecked(True)
    qtbot.waitUntil(lambda: not np.array_equal(window.controller.latest.overlay,
                                               window.controller.latest.packet.color), timeout=5000)
    window.video.actions_by_layer["skeletons"].setChecked(True)
    # the pose stage (people found, followed and posed) off: the next frames have nobody
    window.stages.checks["pose"].setChecked(False)
    assert window.session.engine.enabled["pose"] is False
    window.playback.playback.resume()
    qtbot.waitUntil(lambda: persons_of(window) is None and window.controller.latest.packet is not None
                    and "pose" not in window.controller.latest.packet.latency_ms, timeout=30000)
    window.stages.checks["pose"].setChecked(True)
    qtbot.waitUntil(lambda: persons_of(window) is not None and persons_of(window).keypoints is not None,
                    timeout=30000)


def test_switching_source_keeps_models_loaded(open_window, qtbot):
    clip = str(data_path(*CLIP))
    window = open_window("pose2d", wait=2)  # the bundled sample
    loads = OnnxModel.loads
    c = window.controller
    first = window.current_info
    window.open_source(clip)
    wait_started(qtbot, window, first)
    qtbot.waitUntil(lambda: window.last_frame.source_name == "demo_demo.mp4", timeout=60000)
    second = window.current_info
    window.open_source(SAMPLE_SPEC)  # and back
    wait_started(qtbot, window, second)
    wait_frames(qtbot, window, 2)
    assert OnnxModel.loads == loads  # the same session: no model loaded again
    assert len(window.session.engine.streams()) == 1
    assert c.last_report is not None and c.last_report.ended_by == "stopped"


def test_record_writes_what_percept_run_reads_back(open_window, qtbot, tmp_path):
    window = open_window("bench", speed=1.0, wait=2)
    window.playback.loop.setChecked(True)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.record_action.isChecked()
    sink = window.controller.recorder.sink
    qtbot.waitUntil(lambda: sink.frames >= 12, timeout=30000)
    qtbot.keyClick(window, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: sink.done.is_set(), timeout=10000)
    assert sink.error is None and not window.record_action.isChecked()
    recorded = sink.frames
    assert len((sink.media / "associations.txt").read_text().splitlines()) == recorded
    assert len(sink.results.read_text().splitlines()) == recorded
    out = tmp_path / "readback"
    proc = percept("run", "--source", str(sink.media), "--graph", "empty", "--headless", "--out", str(out),
                   "--no-progress", "--no-video")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == recorded
    assert json.loads((out / "metrics.json").read_text())["source"]["frames"] == recorded


def test_record_realsense_recording_to_db3(open_window, qtbot, tmp_path):
    pytest.importorskip("pyrealsense2")
    rec = tmp_path / "in.db3"
    made = percept("record", "--source", "assets/sample", "--frames", "8", "--out", str(rec))
    if made.returncode != 0:
        pytest.skip(f"cannot write a RealSense recording here: {made.stderr.strip()[-200:]}")
    window = open_window("bench", None)
    window.open_source(str(rec), paused=True)
    wait_started(qtbot, window)
    assert window.controller.info.realsense and window.playback.playback.paused
    window.record_action.setChecked(True)
    sink = window.controller.recorder.sink
    window.playback.toggle()  # play
    qtbot.waitUntil(lambda: window.controller.last_report is not None, timeout=30000)  # played to the end
    qtbot.waitUntil(lambda: sink.done.is_set(), timeout=10000)
    assert sink.error is None and sink.media.suffix == ".db3" and sink.frames >= 1
    out = tmp_path / "readback"
    proc = percept("run", "--source", str(sink.media), "--graph", "empty", "--headless", "--out", str(out),
                   "--no-progress", "--no-video")
    assert proc.returncode == 0, proc.stderr
    assert len((out / "results.jsonl").read_text().splitlines()) == sink.frames


def test_snapshot_key_writes_a_png_of_the_overlay(open_window, qtbot, tmp_path):
    import cv2

    window = open_window("bench", wait=2)
    qtbot.keyClick(window, Qt.Key.Key_S)
    pngs = list((tmp_path / "out").glob("snapshot-*.png"))
    assert len(pngs) == 1
    image = cv2.imread(str(pngs[0]))
    assert image is not None and image.shape == (240, 320, 3) and image.std() > 5


def test_keys_pause_step_and_step_back(open_window, qtbot):
    window = open_window("bench", speed=0.25, wait=1)
    pb = window.controller.info.playback
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert pb.paused
    time.sleep(0.3)
    shown = window.last_frame.seq
    qtbot.waitUntil(lambda: window.controller.latest.seq == pb.position - 1, timeout=5000)
    shown = window.controller.latest.seq
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.controller.latest.seq == shown + 1, timeout=10000)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: window.controller.latest.seq == shown, timeout=10000)
    time.sleep(0.2)
    assert pb.paused and window.controller.latest.seq == shown  # still paused: nothing else came
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not pb.paused


def test_corrupt_file_shows_an_error_and_the_app_stays_usable(open_window, qtbot, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    window = open_window("bench", str(bad), wait=0)
    qtbot.waitUntil(lambda: window.error_dialog is not None and window.error_dialog.isVisible(), timeout=30000)
    assert "broken.mp4" in window.last_error and "broken.mp4" in window.statusBar().currentMessage()
    window.open_source(None)  # auto: the bundled sample here (no camera)
    wait_frames(qtbot, window, 3)
    assert window.controller.running or window.controller.last_report.ended_by == "end_of_stream"


def test_a_failing_stage_is_reported_and_the_window_goes_on(open_window, qtbot):
    import tests.pipeline.helpers  # noqa: F401  (registers test_sleep)

    config = parse_graph_config({"stages": [{"name": "boom", "type": "test_sleep", "on_error": "stop",
                                             "params": {"ms": 1, "fail_on": [5]}}]})
    window = open_window(session=Session(config, device="cpu"), wait=0)
    qtbot.waitUntil(lambda: window.error_dialog is not None and window.error_dialog.isVisible(), timeout=30000)
    assert "boom" in window.last_error and window.controller.last_report.ended_by == "stage_error"
    window.restart(0, False)  # play again: the window still works
    wait_frames(qtbot, window, 1)


def test_close_stops_the_graph_and_leaves_no_thread(open_window, qtbot):
    before = {t.ident for t in threading.enumerate()}
    window = open_window("bench", wait=3)
    window.playback.playback.pause()  # a paused playback must not hold the close up
    session = window.session
    t0 = time.monotonic()
    window.close()
    assert time.monotonic() - t0 < 10
    assert session.engine.closed and not session.engine.streams()
    deadline = time.monotonic() + 5
    while True:
        left = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == [], [t.name for t in left]


def test_layout_last_source_and_layers_are_remembered(open_window, qtbot, settings_file):
    clip = str(data_path(*CLIP))
    window = open_window("bench", clip, wait=1)
    window.docks["people"].hide()
    window.video.actions_by_layer["track_ids"].setChecked(False)
    window.close()
    again = open_window("bench", None)
    assert again.settings.last_source == str(data_path(*CLIP).resolve())
    assert again.settings.recent()[0] == again.settings.last_source
    assert again.picker.combo.findData(again.settings.last_source) >= 0  # one click to reopen it
    assert not again.docks["people"].isVisible()
    assert again.renderer.style.track_ids is False
    assert settings_file.is_file()


def test_percept_run_uses_the_ui_when_a_display_exists(monkeypatch):
    from app import cli
    from app.ui import run_ui

    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert cli._try_ui() is None
    monkeypatch.setenv("DISPLAY", ":99")
    assert cli._try_ui() is run_ui


def test_changing_the_mode_restarts_the_recording_in_that_mode(open_window, qtbot):
    window = open_window("bench", speed=1.0, wait=2)
    first = window.current_info
    assert first.mode == "offline"
    window.picker.mode.setCurrentText("live")
    wait_started(qtbot, window, first)
    assert window.current_info.mode == "live" and window.current_info.playback is not None
    wait_frames(qtbot, window, 2)
    assert window.last_frame.seq > 0  # went on from where it was, not from the start
