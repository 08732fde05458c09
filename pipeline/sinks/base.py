"""The sink contract: packets arrive in frame order on one thread; ``close`` must leave valid files behind."""
from __future__ import annotations

import errno
from typing import Any

from pipeline.packet import FramePacket


class Sink:
    def bind(self, stream: Any) -> None:
        """Called once, before ``open``, with the ``pipeline.engine.Stream`` this sink writes for: a sink that
        reports on its stream (metrics checkpoints) or must end it (a failed write) is handed it here by the
        engine rather than reaching for it. Most sinks ignore it."""

    def open(self, source_info: dict[str, Any]) -> None:
        """Called once before the first packet with the source's description (name, fps, frames)."""

    def write(self, packet: FramePacket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush and finalise. Called in every case: end of stream, errors, Ctrl-C."""


# no space left, a file size limit (RLIMIT_FSIZE, the file system's), a disk quota
DISK_FULL_ERRNOS = {getattr(errno, name) for name in ("ENOSPC", "EFBIG", "EDQUOT") if hasattr(errno, name)}


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether a write failed for lack of room, also when wrapped (PyAV's errors carry the errno too)."""
    for _ in range(8):
        if exc is None:
            return False
        if getattr(exc, "errno", None) in DISK_FULL_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__
    return False
