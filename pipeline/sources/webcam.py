"""A plain camera through OpenCV (colour only)."""
from __future__ import annotations

import time

import cv2

from pipeline.errors import SourceError
from pipeline.packet import FramePacket
from pipeline.sources.base import Source, SourceSpec, register_source


class WebcamSource(Source):
    live = True

    def __init__(self, index: int = 0, width: int | None = None, height: int | None = None,
                 fps: float | None = None) -> None:
        self.index = index
        self.name = f"webcam {index}"
        self.width, self.height, self.req_fps = width, height, fps
        self._cap: cv2.VideoCapture | None = None
        self._seq = 0
        self._t0 = 0.0

    def open(self) -> None:
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"webcam {self.index} cannot be opened; check it is plugged in "
                              f"(`percept devices` lists cameras) or use --source synthetic")
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.req_fps:
            cap.set(cv2.CAP_PROP_FPS, self.req_fps)
        self.fps = cap.get(cv2.CAP_PROP_FPS) or None
        self._cap = cap
        self._t0 = time.monotonic()

    def read(self) -> FramePacket | None:
        assert self._cap is not None
        ok, bgr = self._cap.read()
        if not ok:
            raise SourceError(f"webcam {self.index} stopped delivering frames (unplugged?)")
        packet = FramePacket(seq=self._seq, timestamp=time.monotonic() - self._t0,
                             color=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), source_name=None)
        self._seq += 1
        return packet

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def webcam_available(index: int = 0) -> bool:
    """Whether an OpenCV camera opens and delivers a frame (cheap check for the auto source)."""
    import os

    if not os.path.exists(f"/dev/video{index}") and os.name == "posix":
        return False
    cap = cv2.VideoCapture(index)
    try:
        return bool(cap.isOpened() and cap.read()[0])
    finally:
        cap.release()


@register_source("webcam")
def _make(spec: SourceSpec) -> WebcamSource:
    opts = spec.options
    return WebcamSource(int(spec.target or 0), width=int(opts["width"]) if "width" in opts else None,
                        height=int(opts["height"]) if "height" in opts else None,
                        fps=float(opts["fps"]) if "fps" in opts else None)
