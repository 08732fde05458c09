"""Any file PyAV decodes, frame by frame, with timestamps from the stream.

A file that breaks off is an error, not a quiet early end. Decoding and demuxing errors are one (``SourceError``
naming the frame); a file cut short (a copy or download that stopped) demuxes without any error, so at the end of
the data the source checks what it read against what the container declares, and raises ``SourceError`` saying
where the data stop when:

- the last packet read is flagged corrupt by the demuxer (it was cut short: fewer bytes left than it declares), or
- the container declares its frame count (MP4/MOV sample tables, AVI headers) and the packets read fall short of it
  by more than ``max(2, 1 %)`` *and* the data run to the physical end of the file (the last packet ends within
  4 KiB of the file's size: nothing, not even an index, follows; an intact AVI's index does), or
- it declares no frame count but a duration (Matroska/WebM: the video stream's own, or the file's when the video is
  its only stream), and the last packet ends more than ``max(1 s, 5 %)`` before it.

Packets are counted rather than decoded frames, and timestamps rather than frames x nominal fps, so a variable
frame rate file, or one whose header claims a wrong rate (../shared/data/pedestrians/vtest.avi says 50 fps, holds
341 frames at 25 fps), is not called broken. At the end, ``frame_count`` and ``describe()["frames"]`` are the
frames really decoded (``declared_frames`` keeps the header's figure).
"""
from __future__ import annotations

from collections import deque
from pathlib import Path

from pipeline.errors import SourceError
from pipeline.packet import FramePacket
from pipeline.sources.base import Source, SourceSpec, register_source

MISSING_FRAMES_SLACK = 2  # packets that may be missing against the declared count (and at least 1 %)
FILE_END_SLACK_BYTES = 4096  # the data "run to the end of the file" when the last packet ends this close to it
MISSING_TIME_SLACK_S = 1.0  # and at least 5 % of the declared duration


class VideoSource(Source):
    live = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self._container = None
        self._stream = None
        self._packets = None
        self._pending: deque = deque()
        self._seq = 0
        self._last_ts = -1.0
        self._info: dict = {}  # describe()'s dict, kept and updated: a report holding it ends with decoded counts

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
            cut = _mp4_cut_short(self.path)
            if cut:
                raise SourceError(f"{self.name} is truncated or corrupt: {cut}; no frame can be read (a recording "
                                  f"or copy that did not finish?)") from exc
            raise SourceError(f"cannot open video {self.path}: {exc}; is it a video file?") from exc
        self._stream = stream
        self.declared_frames = int(stream.frames or 0) or None
        self.declared_s = _declared_duration_s(self._container, stream)
        self.frame_count = self.declared_frames  # until the end: the header's figure (progress bars)
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else None
        self._time_base = stream.time_base
        self._start_s = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        self._file_size = self.path.stat().st_size
        self._packets = self._container.demux()  # every stream: the end of the data is where any packet ends
        self._pending = deque()
        self._seq = 0
        self._last_ts = -1.0
        self._video_packets = 0  # with data or a timestamp (AVI null frames count, end-of-file flush packets not)
        self._data_end = 0  # byte just past the furthest packet read (any stream)
        self._video_end_s: float | None = None  # end time of the latest video packet, seconds
        self._last_corrupt = False  # the latest packet read was flagged corrupt (cut short)
        self._ended = False
        self._info.clear()

    def read(self) -> FramePacket | None:
        import av

        if self._packets is None:
            raise SourceError("video source read before open")
        while not self._pending:
            if self._ended:
                return None
            try:
                packet = next(self._packets)
            except StopIteration:
                self._ended = True
                self._check_complete()
                return None
            except av.FFmpegError as exc:
                raise SourceError(self._broken(f"reading failed: {_one_line(exc)}")) from exc
            self._note(packet)
            if packet.stream.index != self._stream.index:
                continue
            try:
                self._pending.extend(packet.decode())
            except av.FFmpegError as exc:
                raise SourceError(self._broken(f"decoding failed: {_one_line(exc)}")) from exc
        frame = self._pending.popleft()
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

    # ----- where the data end ---------------------------------------------------------------------------------
    def _note(self, packet) -> None:
        size = packet.size or 0
        if packet.dts is None and size == 0:  # the flush packet PyAV yields per stream at the end
            return
        pos = packet.pos
        if pos is not None and pos >= 0:
            self._data_end = max(self._data_end, pos + size)
        self._last_corrupt = bool(getattr(packet, "is_corrupt", False)) and size > 0
        if packet.stream.index != self._stream.index:
            return
        self._video_packets += 1
        if packet.pts is not None and self._time_base is not None:
            end = float((packet.pts + (packet.duration or 0)) * self._time_base) - self._start_s
            self._video_end_s = end if self._video_end_s is None else max(self._video_end_s, end)

    def _check_complete(self) -> None:
        """At the end of the data: raise SourceError if the file stops short of what its container declares."""
        self.frame_count = self._seq
        self._info.update(self._describe())
        at_file_end = self._data_end >= self._file_size - FILE_END_SLACK_BYTES
        if self._last_corrupt and at_file_end:
            raise SourceError(self._broken("its last packet is cut short by the end of the file"))
        period = 1.0 / (self.fps or 30.0)
        declared_s, end_s = self.declared_s, self._video_end_s
        time_known = bool(declared_s) and end_s is not None
        short_s = (declared_s - end_s) if time_known else 0.0
        slightly_short = not time_known or short_s > max(2 * period, 0.01 * declared_s)
        declared = self.declared_frames
        if declared:
            missing = declared - self._video_packets
            if missing > max(MISSING_FRAMES_SLACK, 0.01 * declared) and at_file_end and slightly_short:
                raise SourceError(self._broken(f"the data end {missing} frames before the end its container "
                                               f"declares"))
            return
        if time_known and (short_s > max(MISSING_TIME_SLACK_S, 0.05 * declared_s)
                           or (slightly_short and at_file_end)):
            raise SourceError(self._broken(f"its video ends at {end_s:.1f} s of the {declared_s:.1f} s its "
                                           f"container declares"))

    def _broken(self, why: str) -> str:
        """One line: what broke, and where (frame N of the header's M, byte offset)."""
        of = f" of the {self.declared_frames} its header declares" if self.declared_frames else ""
        at = f" at byte {self._data_end} of {self._file_size}" if self._data_end else ""
        return (f"{self.name} is truncated or corrupt ({why}): it breaks off after frame {self._seq}{of}{at}; "
                f"the {self._seq} frames before were processed")

    # ----- description ----------------------------------------------------------------------------------------
    def _describe(self) -> dict:
        info = super().describe()
        info["declared_frames"] = getattr(self, "declared_frames", None)
        info["frames_decoded"] = self._seq
        return info

    def describe(self) -> dict:
        """The same dict on every call, updated in place when the file ends (``frames``: the decoded count)."""
        self._info.update(self._describe())
        return self._info

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        self._packets = None
        self._pending.clear()


def _mp4_cut_short(path: Path) -> str | None:
    """Why an MP4/MOV (ISO base media) file that FFmpeg cannot open is cut short, or None: a top-level box runs
    past the end of the file, or the 'moov' index (which most recorders write last) is missing."""
    import struct

    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8 or head[4:8] != b"ftyp":
                return None
            offset, seen = 0, []
            while offset + 8 <= size:
                f.seek(offset)
                header = f.read(16)
                box_size, kind = struct.unpack(">I4s", header[:8])
                name = kind.decode("latin-1")
                if box_size == 1 and len(header) == 16:
                    box_size = struct.unpack(">Q", header[8:16])[0]
                elif box_size == 0:  # runs to the end of the file
                    box_size = size - offset
                if box_size < 8:
                    return None  # not a box structure we understand
                seen.append(name)
                if offset + box_size > size:
                    missing = "" if "moov" in seen else "; its 'moov' index is missing"
                    return (f"the file ends at byte {size}, inside its '{name}' box (bytes {offset}-"
                            f"{offset + box_size}){missing}")
                offset += box_size
            if "moov" not in seen:
                return f"it has no 'moov' index (boxes: {', '.join(seen)}; the file is {size} bytes)"
    except (OSError, struct.error):
        return None
    return None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _declared_duration_s(container, stream) -> float | None:
    """The video stream's own duration, or the file's when the video is its only stream (seconds)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and len(container.streams) == 1:
        return container.duration / 1_000_000
    return None


@register_source("video")
def _make(spec: SourceSpec) -> VideoSource:
    return VideoSource(spec.target)
