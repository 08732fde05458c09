"""A file that only ever holds whole records: each record goes to the file in one unbuffered write (a killed
process loses no finished record and never leaves half of one), and a write that fails part way (a full disk) is
cut back to the end of the last whole record. ``JsonlSink`` keeps the same rule for results.jsonl."""
from __future__ import annotations

import os
from pathlib import Path


class WholeWritesFile:
    """Append records with ``append``; ``replace_tail`` rewrites the last ``n`` bytes (a closing bracket) and
    appends in the same single write, so a JSON array can stay valid after every record."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self.size = 0  # bytes of whole records in the file
        self._last = b""  # the last record written (what ``replace_tail`` may overwrite)

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
                           | getattr(os, "O_CLOEXEC", 0), 0o666)
        self.size = 0
        self._last = b""

    def append(self, data: bytes) -> None:
        self.replace_tail(0, data)

    def replace_tail(self, n: int, data: bytes) -> None:
        """Overwrite the last ``n`` bytes with ``data`` in one write; on failure the file is as it was."""
        assert self._fd is not None, f"{self.path.name}: write before open"
        start = self.size - n
        if n > len(self._last):
            raise ValueError(f"can only replace the last record's bytes ({len(self._last)}), not {n}")
        old = self._last[len(self._last) - n:] if n else b""
        try:
            view = memoryview(data)
            pos = start
            while view:
                written = os.pwrite(self._fd, view, pos)
                if written <= 0:
                    raise OSError(f"short write to {self.path}")
                view, pos = view[written:], pos + written
        except BaseException:
            try:  # back to the last whole record (and the tail it overwrote)
                os.ftruncate(self._fd, self.size)
                if old:
                    os.pwrite(self._fd, old, start)
            except OSError:
                pass
            raise
        self.size = start + len(data)
        self._last = bytes(data)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
