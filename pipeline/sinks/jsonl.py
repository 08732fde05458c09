"""One JSON object per frame. The file only ever holds whole lines: each line goes to the file in one unbuffered
write of its full bytes (nothing waits in a buffer, so a killed run loses no finished line), and when a write
fails part way (disk full, a file size limit) the file is cut back to the end of the last whole line."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink


class JsonlSink(Sink):
    def __init__(self, path: str | Path, defaults: dict[str, Any] | None = None) -> None:
        """``defaults``: keys every line carries even when no stage wrote them (the app's result contract)."""
        self.path = Path(path)
        self.defaults = dict(defaults or {})
        self._fd: int | None = None
        self._end = 0  # bytes of whole lines in the file
        self.lines = 0

    def open(self, source_info: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
                           | getattr(os, "O_CLOEXEC", 0), 0o666)
        self._end = 0

    def record(self, packet: FramePacket) -> dict[str, Any]:
        """The line's content (the app's results sink takes it from models/results.py)."""
        return packet.to_record(self.defaults)

    def write(self, packet: FramePacket) -> None:
        assert self._fd is not None, "JsonlSink.write before open"
        # build the whole line first: a failure while serialising must not leave half a line behind
        line = json.dumps(self.record(packet), separators=(",", ":"), allow_nan=False) + "\n"
        self._write_line(line.encode("utf-8"))
        self.lines += 1

    def _write_line(self, data: bytes) -> None:
        fd = self._fd
        try:
            view = memoryview(data)
            while view:  # one write; more only if the kernel took part of it (then the next one fails, typically)
                n = os.write(fd, view)
                if n <= 0:
                    raise OSError(f"short write to {self.path}")
                view = view[n:]
        except BaseException:
            try:  # no partial line stays behind
                os.ftruncate(fd, self._end)
                os.lseek(fd, self._end, os.SEEK_SET)
            except OSError:
                pass
            raise
        self._end += len(data)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
