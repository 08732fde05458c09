"""Annotated H.264 video through PyAV (OpenCV's wheels have no x264).

The drawing is injected (``render``): the app's overlay renderer, shared with the UI, lives in ``app`` and the
engine must not import it.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink

Render = Callable[[FramePacket], np.ndarray]


class VideoSink(Sink):
    """Writes ``render(packet)`` (RGB uint8) frames; every frame is resized to the first frame's size."""

    def __init__(self, path: str | Path, render: Render | None = None, fps: float | None = None,
                 codec: str = "libx264", crf: int = 23) -> None:
        self.path = Path(path)
        self.render = render or (lambda p: p.color)
        self.fps = fps
        self.codec = codec
        self.crf = crf
        self._container = None
        self._stream = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def open(self, source_info: dict[str, Any]) -> None:
        if self.fps is None:
            self.fps = float(source_info.get("fps") or 30.0)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _start(self, width: int, height: int) -> None:
        import av

        width, height = width - width % 2, height - height % 2  # yuv420p needs even sizes
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(self.fps or 30.0).limit_denominator(1001)
        self._stream = self._container.add_stream(self.codec, rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        self._size = (width, height)

    def write(self, packet: FramePacket) -> None:
        import av
        import cv2

        image = self.render(packet)
        if self._container is None:
            self._start(image.shape[1], image.shape[0])
        w, h = self._size
        if image.shape[1] != w or image.shape[0] != h:
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        for out in self._stream.encode(frame):
            self._container.mux(out)
        self.frames += 1

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for out in self._stream.encode():
                self._container.mux(out)
        finally:
            self._container.close()
            self._container = None
