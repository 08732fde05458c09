"""Any file PyAV decodes, frame by frame, with timestamps from the stream."""
from __future__ import annotations

from pathlib import Path

from pipeline.errors import SourceError
from pipeline.packet import FramePacket
from pipeline.sources.base import Source, SourceSpec, register_source


class VideoSource(Source):
    live = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self._container = None
        self._frames = None
        self._seq = 0
        self._last_ts = -1.0

    def open(self) -> None:
        import av

        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        try:
            self._container = av.open(str(self.path))
            if not self._container.streams.video:
                raise SourceError(f"{self.path} has no video stream; give a video file or an images folder")
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
        except av.FFmpegError as exc:
            raise SourceError(f"cannot open video {self.path}: {exc}; is it a video file?") from exc
        self.frame_count = int(stream.frames) or None
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else None
        self._time_base = stream.time_base
        self._frames = self._container.decode(stream)
        self._seq = 0

    def read(self) -> FramePacket | None:
        import av

        if self._frames is None:
            raise SourceError("video source read before open")
        try:
            frame = next(self._frames)
        except StopIteration:
            return None
        except av.FFmpegError as exc:
            raise SourceError(f"{self.path.name} is corrupt after frame {self._seq}: {exc}") from exc
        if frame.pts is not None and self._time_base is not None:
            ts = float(frame.pts * self._time_base)
        else:
            ts = self._seq / (self.fps or 30.0)
        if ts <= self._last_ts:  # broken pts in some files: keep timestamps increasing
            ts = self._last_ts + 1.0 / (self.fps or 30.0)
        self._last_ts = ts
        packet = FramePacket(seq=self._seq, timestamp=ts, color=frame.to_ndarray(format="rgb24"), depth=None,
                             source_name=self.name)
        self._seq += 1
        return packet

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


@register_source("video")
def _make(spec: SourceSpec) -> VideoSource:
    return VideoSource(spec.target)
