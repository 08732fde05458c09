"""One JSON object per frame, flushed line by line so that a run cut short leaves only complete lines."""
from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink


class JsonlSink(Sink):
    def __init__(self, path: str | Path, defaults: dict[str, Any] | None = None) -> None:
        """``defaults``: keys every line carries even when no stage wrote them (the app's result contract)."""
        self.path = Path(path)
        self.defaults = dict(defaults or {})
        self._file: IO[str] | None = None
        self.lines = 0

    def open(self, source_info: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")

    def write(self, packet: FramePacket) -> None:
        assert self._file is not None, "JsonlSink.write before open"
        # build the whole line first: a failure while serialising must not leave half a line behind
        line = json.dumps(packet.to_record(self.defaults), separators=(",", ":"), allow_nan=False) + "\n"
        self._file.write(line)
        self._file.flush()
        self.lines += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
