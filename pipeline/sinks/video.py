"""Annotated H.264 video through PyAV (OpenCV's wheels have no x264).

The drawing is injected (``render``): the app's overlay renderer, shared with the UI, lives in ``app`` and the
engine must not import it.

An ``.mp4`` (``.mov``, ``.m4v``) is written fragmented (``frag_keyframe+empty_moov+default_base_moof``) with a
keyframe at least every second, each fragment flushed to the file as soon as it is complete: a file cut at any
moment (SIGKILL, power loss, a full disk) plays up to its last whole fragment; a plain MP4 would be unplayable
without the index written at the end. Frames are timed by the source's own timestamps (``packet.timestamp``), not
by the rate a file's header claims, so the video lasts as long as the recording did.
"""
from __future__ import annotations

import logging
import os
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink

log = logging.getLogger(__name__)
Render = Callable[[FramePacket], np.ndarray]

TIME_BASE = Fraction(1, 90000)  # the usual MP4 video timescale: exact for 24, 25, 30, 50, 60 and 29.97 fps
KEYFRAME_EVERY_S = 1.0  # a fragment (and what a cut file can lose) is at most about this long
FRAGMENTED_SUFFIXES = (".mp4", ".mov", ".m4v")
FRAGMENTED_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof",
                      "flush_packets": "1"}  # each finished fragment goes to the file at once


class VideoSink(Sink):
    """Writes ``render(packet)`` (RGB uint8) frames; every frame is resized to the first frame's size.

    ``fps``: the nominal rate (the source's by default); it only times frames whose timestamps do not advance.
    """

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
        self._t0: float | None = None
        self._last_pts: int | None = None
        self._last_key_pts: int | None = None
        self.frames = 0
        self.error: BaseException | None = None  # the first write or close failure (the file is left valid)

    @property
    def fragmented(self) -> bool:
        return self.path.suffix.lower() in FRAGMENTED_SUFFIXES

    def open(self, source_info: dict[str, Any]) -> None:
        if self.fps is None:
            self.fps = float(source_info.get("fps") or 30.0)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _start(self, width: int, height: int) -> None:
        import av

        width, height = width - width % 2, height - height % 2  # yuv420p needs even sizes
        options = dict(FRAGMENTED_OPTIONS) if self.fragmented else {}
        self._container = av.open(str(self.path), mode="w", options=options)
        rate = Fraction(self.fps or 30.0).limit_denominator(1001)
        self._stream = self._container.add_stream(self.codec, rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.codec_context.time_base = TIME_BASE
        self._stream.time_base = TIME_BASE
        self._stream.codec_context.gop_size = max(1, round(float(rate) * KEYFRAME_EVERY_S))
        self._stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        self._size = (width, height)

    def _pts(self, timestamp: float) -> int:
        """The frame's time in TIME_BASE units from the source's timestamp; strictly increasing."""
        step = max(1, round(1 / ((self.fps or 30.0) * TIME_BASE)))
        try:
            ts = float(timestamp)
        except (TypeError, ValueError):
            ts = float("nan")
        if self._t0 is None and np.isfinite(ts):
            self._t0 = ts
        if self._last_pts is None:
            pts = 0
        elif not np.isfinite(ts) or self._t0 is None:
            pts = self._last_pts + step
        else:
            pts = round((ts - self._t0) / TIME_BASE)
            if pts <= self._last_pts:  # timestamps that stand still or go back: one nominal frame on
                pts = self._last_pts + step
        self._last_pts = pts
        return pts

    def write(self, packet: FramePacket) -> None:
        import av
        import cv2

        if self.error is not None:
            raise RuntimeError(f"{self.path.name}: an earlier write failed: {self.error}")
        image = self.render(packet)
        try:
            if self._container is None:
                self._start(image.shape[1], image.shape[0])
            w, h = self._size
            if image.shape[1] != w or image.shape[0] != h:
                image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = self._pts(packet.timestamp)
            frame.time_base = TIME_BASE
            if self._last_key_pts is None or (frame.pts - self._last_key_pts) * TIME_BASE >= KEYFRAME_EVERY_S:
                frame.pict_type = av.video.frame.PictureType.I  # a new fragment starts here
                self._last_key_pts = frame.pts
            for out in self._stream.encode(frame):
                self._container.mux(out)
        except Exception as exc:
            self.error = exc
            raise
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file. After a failure (a full disk) the file is cut back to its last
        whole fragment, so what was written stays playable; the error is raised unless a write already raised it."""
        if self._container is None:
            return
        container, self._container = self._container, None
        failed_before = self.error is not None
        try:
            if not failed_before:
                for out in self._stream.encode():
                    container.mux(out)
        except Exception as exc:
            self.error = self.error or exc
        finally:
            try:
                container.close()
            except Exception as exc:
                self.error = self.error or exc
        if self.error is not None and self.fragmented:
            cut_to_whole_fragments(self.path)
        if self.error is not None and not failed_before:
            raise self.error


def cut_to_whole_fragments(path: Path) -> int | None:
    """Truncate a fragmented MP4 after its last complete top-level box of the header or a fragment (``moov``,
    ``mdat``, ``mfra``...), dropping a half-written tail; returns the new size (None when it is not an MP4)."""
    try:
        with open(path, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            pos = good = 0
            while pos + 8 <= size:
                f.seek(pos)
                box_size, box_type = struct.unpack(">I4s", f.read(8))
                header = 8
                if box_size == 1:
                    if pos + 16 > size:
                        break
                    box_size = struct.unpack(">Q", f.read(8))[0]
                    header = 16
                elif box_size == 0:  # "to the end of the file": only whole if it is the last box
                    box_size = size - pos
                if box_size < header or pos + box_size > size:
                    break
                pos += box_size
                if box_type != b"moof":  # a moof alone is not a playable fragment: its mdat must follow
                    good = pos
            if pos == 0 and good == 0:
                return None
            if good < size:
                f.truncate(good)
            return good
    except OSError as exc:
        log.warning("could not trim %s to its last whole fragment: %s", path, exc)
        return None
