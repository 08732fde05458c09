"""``mot.txt``: MOTChallenge tracking results, one line per tracked person and frame:
``frame,id,bb_left,bb_top,bb_width,bb_height,conf,-1,-1,-1`` (frame 1-based as MOTChallenge counts, = the JSONL's
``frame`` + 1; the box in pixels; conf the person's score). Untracked people (``track_id`` null) are not written.

Kill-safety: each frame's lines go to the file in one write (``WholeWritesFile``): a killed run leaves every
finished frame, never half a line.
"""
from __future__ import annotations

from models.export.base import Exporter
from models.results import FrameResult
from pipeline.packet import FramePacket
from pipeline.sinks.whole_writes import WholeWritesFile


def mot_lines(result: FrameResult) -> list[str]:
    persons = result.persons
    lines = []
    for i in range(len(persons)):
        tid = int(persons.track_ids[i])
        if tid < 0:
            continue
        x1, y1, x2, y2 = (float(v) for v in persons.boxes[i])
        lines.append(f"{result.frame + 1},{tid},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                     f"{float(persons.scores[i]):.4f},-1,-1,-1\n")
    return lines


class MotExporter(Exporter):
    filename = "mot.txt"

    def __init__(self, folder) -> None:
        super().__init__(folder)
        self._file = WholeWritesFile(self.path)
        self.lines = 0

    def open(self, source_info=None) -> None:
        self._file.open()

    def add(self, result: FrameResult, packet: FramePacket | None = None) -> None:
        lines = mot_lines(result)
        if lines:
            self._file.append("".join(lines).encode())
            self.lines += len(lines)
        self.frames += 1

    def close(self) -> None:
        self._file.close()
