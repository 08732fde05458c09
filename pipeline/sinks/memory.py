"""Keeps every packet in memory, in order: for tests, benchmarks and callers that want the results as objects."""
from __future__ import annotations

from typing import Any

from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink


class ListSink(Sink):
    def __init__(self) -> None:
        self.packets: list[FramePacket] = []
        self.opened = 0
        self.closed = 0

    def open(self, source_info: dict[str, Any]) -> None:
        self.opened += 1

    def write(self, packet: FramePacket) -> None:
        self.packets.append(packet)

    def close(self) -> None:
        self.closed += 1
