"""Screenshots per view at a fixed window size, checked for content (not pixel equality); the 3D view under a
real X server (xvfb) when there is one, and its safe fallback offscreen; ``percept ui --screenshot``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtGui import QImage

from tests.conftest import REPO, data_path

CLIP = ("action_clips", "demo_demo.mp4")


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    raw = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint8)
    return raw.reshape(h, image.bytesPerLine())[:, :3 * w].reshape(h, w, 3)


def colourful(arr: np.ndarray) -> int:
    """How many distinct colours (sampled): a blank or one-colour view has a handful."""
    return len(np.unique(arr.reshape(-1, 3)[::5], axis=0))


def test_each_view_has_content_at_a_fixed_size(open_window, qtbot, tmp_path):
    """The default graph on a real clip: video with overlays, people with action bars, stage plots; depth on the
    bundled sample (the clip has none)."""
    clip = str(data_path(*CLIP))
    window = open_window("default", clip, speed=0.0, wait=1)
    qtbot.waitUntil(lambda: bool(window.people.rows and window.people.rows[0].scores), timeout=90000)
    qtbot.waitUntil(lambda: window.stages.totals["fps"].last is not None, timeout=10000)
    window.playback.playback.pause()
    qtbot.wait(400)
    shots = {}
    for name, widget in (("video", window.video), ("people", window.people), ("stages", window.stages)):
        image = widget.grab().toImage()
        assert image.width() > 150 and image.height() > 150, name
        image.save(str(tmp_path / f"{name}.png"))
        shots[name] = pixels(image)
    video = shots["video"]
    assert colourful(video) > 500  # the clip itself
    frame = window.last_frame
    overlay_colours = {tuple(int(v) for v in row.color) for row in window.people.rows}
    assert any(np.all(np.abs(video.astype(int) - c) < 12, axis=2).sum() > 30 for c in overlay_colours)  # boxes
    people = shots["people"]
    assert any(np.all(np.abs(people.astype(int) - c) < 12, axis=2).sum() > 100 for c in overlay_colours)  # bars
    stages = shots["stages"]
    assert colourful(stages) > 40 and (np.abs(stages.astype(int) - (90, 170, 255)).sum(axis=2) < 60).sum() > 5
    assert np.isfinite(window.stages.sparks["pose"].y).any()
    assert frame.packet.depth is None and window.depth.view.image is None
    window.open_source(str(Path(REPO, "assets", "sample")))
    qtbot.waitUntil(lambda: window.depth.view.image is not None, timeout=30000)
    qtbot.wait(200)
    depth = pixels(window.depth.grab().toImage())
    assert colourful(depth) > 3 and depth.std() > 10
    assert "m (blue)" in window.depth.readout.text()


def test_3d_view_falls_back_to_a_message_offscreen(open_window):
    from PyQt6.QtGui import QGuiApplication

    from app.ui.glcheck import gl_status

    window = open_window("bench", None)
    if QGuiApplication.platformName() != "offscreen":
        pytest.skip("this test is about the offscreen platform")
    ok, reason = gl_status()
    assert not ok and "offscreen" in reason
    assert window.scene.available is False and "3D view unavailable" in window.scene.message()
    window.docks["scene"].show()
    window.docks["scene"].raise_()
    assert window.scene.view is None  # no GL widget was ever made
    assert window.renderer.want_cloud is False  # no point cloud work for a view that cannot show it


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run not installed (apt-get install xvfb "
                    "libglx-mesa0 and the xcb libraries); the 3D view needs a real X server with OpenGL")
def test_3d_view_under_xvfb_shows_the_point_cloud_and_skeleton(tmp_path):
    png = tmp_path / "scene.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "PERCEPT_UI_SETTINGS": str(tmp_path / "ui.ini")}
    proc = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable,
                           str(Path(__file__).with_name("gl_scene_check.py")), str(png)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not result["gl"][0]:
        pytest.skip(f"no OpenGL under xvfb here: {result['gl'][1]}")
    assert result["available"] and result["points"] > 10000 and result["skeletons"] == 1 and result["orbited"]
    assert result["colours"] > 100 and result["lit_fraction"] > 0.1
    assert png.is_file() and png.with_name("scene-window.png").is_file()


def test_cli_screenshot_of_the_whole_window(tmp_path):
    out = tmp_path / "shot.png"
    env = {**os.environ, "PERCEPT_UI_SETTINGS": str(tmp_path / "ui.ini"), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-m", "app.cli", "ui", "--source", "assets/sample", "--graph", "bench",
                           "--screenshot", str(out), "--after", "10", "--size", "1200x760"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 760)
    assert colourful(pixels(image)) > 200


def test_cli_ui_without_a_display_says_what_to_do(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "app.cli", "ui", "--graph", "bench"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no display" in proc.stderr and "--headless" in proc.stderr
