"""What every exporter shares: it is a sink (so a run's ending, whatever it is, closes it like results.jsonl) that
sees each frame as the ``FrameResult`` results.jsonl holds for it, so an export agrees with the JSONL line by line
(same rounding), plus the packet's images where the format carries them (None when converting a results.jsonl)."""
from __future__ import annotations

import math
from pathlib import Path

from models.results import FrameResult
from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink


class Exporter(Sink):
    """Subclasses implement ``open``, ``add`` and ``close``; ``path`` is the file written (named in errors)."""

    filename = ""
    needs: tuple[str, ...] = ()  # import names of the packages it needs (checked before a run starts)

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / self.filename
        self.frames = 0

    def write(self, packet: FramePacket) -> None:
        self.add(FrameResult.from_json(packet.to_record()), packet)

    def add(self, result: FrameResult, packet: FramePacket | None = None) -> None:
        raise NotImplementedError


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
