"""The sink contract: packets arrive in frame order on one thread; ``close`` must leave valid files behind."""
from __future__ import annotations

from typing import Any

from pipeline.packet import FramePacket


class Sink:
    def open(self, source_info: dict[str, Any]) -> None:
        """Called once before the first packet with the source's description (name, fps, frames)."""

    def write(self, packet: FramePacket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush and finalise. Called in every case: end of stream, errors, Ctrl-C."""
