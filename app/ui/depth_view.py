"""The depth view: the colour-mapped depth (made off the UI thread) and the distance under the mouse in metres."""
from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.ui.render import FrameView
from app.ui.video_view import ImageView


class _HoverImageView(ImageView):
    def __init__(self, owner: "DepthView") -> None:
        super().__init__("This source has no depth")
        self.owner = owner
        self.setMouseTracking(True)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        self.owner.hover(event.position())

    def leaveEvent(self, event) -> None:  # noqa: N802
        self.owner.readout.setText(self.owner.range_text)


class DepthView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = _HoverImageView(self)
        self.readout = QLabel("")
        self.readout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # no relayout per frame
        self.depth_m: np.ndarray | None = None
        self.range_text = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.readout)

    def show_frame(self, frame: FrameView) -> None:
        if frame.depth is None:
            if self.depth_m is not None:
                self.clear()
            return
        self.depth_m = frame.depth_m
        lo, hi = frame.depth_range or (0.0, 0.0)
        self.range_text = f"colours: {lo:.2f} m (blue) to {hi:.2f} m (red); hover for the distance"
        if not self.view.underMouse() and self.readout.text() != self.range_text:
            self.readout.setText(self.range_text)
        self.view.set_image(frame.depth)

    def clear(self, message: str = "This source has no depth") -> None:
        self.depth_m = None
        self.range_text = ""
        self.readout.setText("")
        self.view.set_image(None)
        self.view.set_message(message)

    def metres_at(self, x: int, y: int) -> float | None:
        if self.depth_m is None:
            return None
        value = float(self.depth_m[y, x])
        return value if value > 0 else None

    def hover(self, pos) -> None:
        if self.depth_m is None:
            return
        h, w = self.depth_m.shape
        point = self.view.to_image_point(pos, (w, h))
        if point is None:
            self.readout.setText(self.range_text)
            return
        metres = self.metres_at(*point)
        text = f"{metres:.3f} m" if metres is not None else "no depth here"
        self.readout.setText(f"x {point[0]}, y {point[1]}: {text}")
