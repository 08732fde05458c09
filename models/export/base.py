"""What every exporter shares: it is a sink (so a run's ending, whatever it is, closes it like results.jsonl) that
sees each frame as the ``FrameResult`` results.jsonl holds for it, so an export agrees with the JSONL line by line
(same rounding), plus the packet's images where the format carries them (None when converting a results.jsonl)."""
from __future__ import annotations

import math
from pathlib import Path

from models.results import FrameResult, record_of
from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink


class LastFrameResult:
    """The ``FrameResult`` of the last packet seen. The exporters of one run share one, so a frame is turned into
    its result line once, not once per export (sinks get the packets in order, on one thread)."""

    def __init__(self) -> None:
        self._packet: FramePacket | None = None
        self._result: FrameResult | None = None

    def of(self, packet: FramePacket) -> FrameResult:
        if packet is not self._packet:
            self._packet, self._result = packet, FrameResult.from_json(record_of(packet))
        return self._result


class Exporter(Sink):
    """Subclasses implement ``open``, ``add`` and ``close``; ``path`` is the file written (named in errors)."""

    filename = ""
    needs: tuple[str, ...] = ()  # import names of the packages it needs (checked before a run starts)

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / self.filename
        self.frames = 0
        self.results = LastFrameResult()  # make_exporters gives the exporters of a run one shared instance

    def write(self, packet: FramePacket) -> None:
        self.add(self.results.of(packet), packet)

    def add(self, result: FrameResult, packet: FramePacket | None = None) -> None:
        """One frame: ``result`` as results.jsonl holds it, ``packet`` for images (None when converting)."""
        raise NotImplementedError  # abstract: each format implements it


def timestamp_ns(result: FrameResult) -> int:
    """The source's time of a frame in nanoseconds (the frame index at 30 frames/s when it has none)."""
    t = result.timestamp if not math.isnan(result.timestamp) else result.frame / 30.0
    return max(0, round(t * 1e9))


def track_key(track_id: int, row: int) -> str:
    """A person's name in entity paths and scene entities: its track id, or its row for an untracked person."""
    return str(int(track_id)) if track_id >= 0 else f"untracked_{row}"


def person_label(result: FrameResult, i: int) -> str:
    """``#track action score`` of person i (the overlay's wording; ``untracked`` without a track id)."""
    persons = result.persons
    tid = int(persons.track_ids[i])
    text = f"#{tid}" if tid >= 0 else "untracked"
    if persons.action_probs is not None:
        label, score, _ = persons.action_decision(i)
        text += f" {label} {score:.2f}"
    return text
