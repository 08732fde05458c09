"""The 3D view: the point cloud from depth and the people's 3D skeletons, orbit (drag) and zoom (wheel)
through pyqtgraph's GLViewWidget.

``make_scene_view`` checks that an OpenGL context can be made BEFORE creating the GL widget (offscreen Qt
segfaults on a QOpenGLWidget) and returns a message panel instead when it cannot, so the app never crashes.
"""
from __future__ import annotations

import time

import numpy as np
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QVector3D
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.ui.glcheck import gl_status
from app.ui.render import FrameView

MIN_INTERVAL_S = 0.1  # at most 10 updates per second: uploading 30k points costs a few ms


class NoGLView(QLabel):
    """Stands in for the 3D view where OpenGL is unavailable."""

    available = False

    def __init__(self, reason: str, parent: QWidget | None = None) -> None:
        super().__init__(f"3D view unavailable: {reason}.", parent)
        self.reason = reason
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setMinimumSize(160, 120)

    def show_frame(self, frame: FrameView) -> None:
        pass

    def clear(self) -> None:
        pass


class SceneView(QWidget):
    available = True

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph.opengl as gl

        self.gl = gl
        self.widget = gl.GLViewWidget()
        self.widget.setBackgroundColor((20, 20, 24))
        self.widget.setCameraPosition(pos=QVector3D(0.0, 2.0, 0.0), distance=5.0, elevation=20, azimuth=-110)
        grid = gl.GLGridItem()
        grid.setSize(8, 8)
        grid.setSpacing(0.5, 0.5)
        grid.translate(0, 3, -1.5)
        self.widget.addItem(grid)
        self.widget.addItem(gl.GLAxisItem(size=QVector3D(0.3, 0.3, 0.3)))
        self.cloud = gl.GLScatterPlotItem(pos=np.zeros((1, 3)), color=(0, 0, 0, 0), size=2.0, pxMode=True)
        self.bones = gl.GLLinePlotItem(pos=np.zeros((2, 3)), color=(0, 0, 0, 0), width=3.0, mode="lines",
                                       antialias=True)
        self.joints = gl.GLScatterPlotItem(pos=np.zeros((1, 3)), color=(0, 0, 0, 0), size=8.0, pxMode=True)
        self.cloud.setGLOptions("opaque")  # true colours with a depth test (the default adds colours up)
        self.joints.setGLOptions("opaque")
        self.bones.setGLOptions("translucent")
        for item in (self.cloud, self.bones, self.joints):
            self.widget.addItem(item)
        self.status = QLabel("No depth yet")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget, 1)
        layout.addWidget(self.status)
        self._last = 0.0
        self._pending: FrameView | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: self._pending is not None and self.show_frame(self._pending, True))
        self.points = 0
        self.skeletons = 0

    def show_frame(self, frame: FrameView, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < MIN_INTERVAL_S:
            self._pending = frame  # shown when the interval is over, so the last frame always appears
            if not self._timer.isActive():
                self._timer.start(int((MIN_INTERVAL_S - (now - self._last)) * 1000) + 1)
            return
        self._last = now
        self._pending = None
        if frame.cloud is not None:
            pos, colors = frame.cloud
            self.cloud.setData(pos=pos, color=colors)
            self.points = len(pos)
        else:
            self.cloud.setData(pos=np.zeros((1, 3)), color=(0, 0, 0, 0))
            self.points = 0
        if frame.skeletons:
            pos = np.concatenate([seg for seg, _ in frame.skeletons])
            colors = np.concatenate([np.tile(c, (len(seg), 1)) for seg, c in frame.skeletons]).astype(np.float32)
            self.bones.setData(pos=pos, color=colors)
            self.joints.setData(pos=pos, color=colors)
        else:
            self.bones.setData(pos=np.zeros((2, 3)), color=(0, 0, 0, 0))
            self.joints.setData(pos=np.zeros((1, 3)), color=(0, 0, 0, 0))
        self.skeletons = len(frame.skeletons)
        if frame.cloud is None and frame.depth_m is None and frame.packet is not None \
                and frame.packet.depth is None:
            self.status.setText("This source has no depth: no point cloud")
        else:
            self.status.setText(f"{self.points} points, {self.skeletons} skeleton(s); drag to orbit, wheel to zoom")

    def clear(self) -> None:
        self.cloud.setData(pos=np.zeros((1, 3)), color=(0, 0, 0, 0))
        self.bones.setData(pos=np.zeros((2, 3)), color=(0, 0, 0, 0))
        self.joints.setData(pos=np.zeros((1, 3)), color=(0, 0, 0, 0))
        self.status.setText("No depth yet")


class SceneHolder(QWidget):
    """Holds the 3D view and creates it only when first shown: a QOpenGLWidget anywhere in a window switches the
    whole window to OpenGL composition, which with software GL (Mesa llvmpipe) costs the CPU on every repaint
    (measured under xvfb on 2 cores: the window's event loop p99 went from ~20 ms to ~100 ms and the graph lost
    a third of its throughput, with the 3D tab never even shown). Where no GL context can be made it holds a message instead, and never creates
    the GL widget at all (offscreen Qt segfaults on one)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        ok, reason = gl_status()
        self.available = ok
        self.view: SceneView | None = None
        self.placeholder: QLabel = NoGLView(reason) if not ok else QLabel("3D view: starting...")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.placeholder)

    def message(self) -> str:
        return self.placeholder.text() if self.view is None else self.view.status.text()

    def ensure_view(self) -> None:
        """Create the GL view now (its dock came to the front; a showEvent is not enough: Qt shows the widgets
        of background dock tabs while laying them out)."""
        if self.available and self.view is None:
            try:
                self.view = SceneView(self)
            except Exception as exc:  # a broken GL stack: say so instead of failing the window
                self.available = False
                self.placeholder.setText(f"3D view unavailable: it failed to start ({type(exc).__name__}: {exc}).")
                return
            self._layout.removeWidget(self.placeholder)
            self.placeholder.hide()
            self._layout.addWidget(self.view)

    def show_frame(self, frame: FrameView, force: bool = False) -> None:
        if self.view is not None:
            self.view.show_frame(frame, force)

    def clear(self) -> None:
        if self.view is not None:
            self.view.clear()


def make_scene_view(parent: QWidget | None = None) -> SceneHolder:
    return SceneHolder(parent)
