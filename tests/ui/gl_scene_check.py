"""Run under a real X server (``xvfb-run``) by test_views.py: the 3D view with a point cloud from the bundled
sample and a 3D skeleton, orbit and zoom, grabbed to a PNG. Prints one JSON line with what it found."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(out_png: str) -> int:
    import numpy as np
    from PyQt6.QtWidgets import QApplication

    from app.session import Session
    from app.ui.glcheck import gl_status
    from app.ui.qt_app import make_window, show_view
    from app.ui.sources import SAMPLE_SPEC
    from models.vision.persons import Persons

    tmp = tempfile.mkdtemp()
    window = make_window(Session.from_options("bench", device="cpu"), os.path.join(tmp, "ui.ini"),
                         out_dir=Path(tmp) / "out", speed=0.0, probe_cameras=False)
    app = QApplication.instance()
    result = {"platform": app.platformName(), "gl": gl_status()}
    window.resize(1280, 800)
    show_view(window, "3d")
    window.show()
    window.open_source(SAMPLE_SPEC)
    deadline = time.monotonic() + 60
    holder = window.scene
    while time.monotonic() < deadline and not (holder.view is not None and holder.view.points > 0
                                               and window.frames_shown >= 1):
        app.processEvents()
        time.sleep(0.01)
    scene = holder.view
    result.update(available=scene is not None, points=scene.points if scene else 0, frames=window.frames_shown)
    if scene is not None:
        window.playback.playback.pause()
        time.sleep(0.3)
        app.processEvents()
        # a person standing 2 m in front of the camera, in 3D: the view draws its skeleton
        frame = window.controller.latest
        names = ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee")
        k3 = np.array([[[-.2, -.4, 2], [.2, -.4, 2], [-.15, .1, 2], [.15, .1, 2], [-.15, .5, 2], [.15, .5, 2]]])
        persons = Persons(np.array([[100, 50, 200, 230]]), np.array([0.9]), np.array([3]),
                          keypoints=np.concatenate([np.full((1, 6, 2), 100.0), np.ones((1, 6, 1))], axis=2),
                          keypoint_names=names, keypoints_3d=k3)
        frame.packet.data["persons"] = persons
        view = window.renderer.render(frame.packet)
        scene.show_frame(view, force=True)
        result["skeletons"] = scene.skeletons
        before = scene.widget.cameraPosition()
        scene.widget.orbit(30, 10)
        scene.widget.opts["distance"] *= 0.8
        scene.widget.update()
        result["orbited"] = bool((scene.widget.cameraPosition() - before).length() > 0.1)
        for _ in range(10):
            app.processEvents()
            time.sleep(0.02)
        image = scene.widget.grabFramebuffer()
        image.save(out_png)
        ptr = image.convertToFormat(image.Format.Format_RGB888)
        w, h = ptr.width(), ptr.height()
        arr = np.frombuffer(ptr.constBits().asstring(ptr.sizeInBytes()), np.uint8)
        arr = arr.reshape(h, ptr.bytesPerLine())[:, :3 * w].reshape(h, w, 3)
        result["size"] = [w, h]
        result["colours"] = int(len(np.unique(arr.reshape(-1, 3)[::7], axis=0)))
        result["lit_fraction"] = float((arr.max(axis=2) > 60).mean())
        window.grab().save(out_png.replace(".png", "-window.png"))
    window.close()
    app.processEvents()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
