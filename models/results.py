"""The results.jsonl record, both ways. The schema is docs/results.md.

Writing: ``record_of`` builds a frame's record, the one way (``FramePacket.to_record`` lays it out: the core keys,
then ``RESULT_DEFAULTS``, then every stage output that is JSON or writes itself, such as ``Persons.to_json``);
``results_sink`` is the one writer of its lines, and the exports and the graph bench see the same record. Reading:
``read_results`` gives one ``FrameResult`` per line, with typed ``Persons`` and ``Detections``; the eval, the
action-dataset tools and the exports use it rather than parsing lines themselves.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from models.vision.detections import Detections
from models.vision.persons import Persons
from pipeline.errors import PerceptError
from pipeline.sinks import JsonlSink

if TYPE_CHECKING:
    from pipeline.packet import FramePacket

# Keys every result line carries even when no stage wrote them.
RESULT_DEFAULTS = {"persons": [], "objects": []}
CORE_KEYS = ("frame", "timestamp", "source_name", "width", "height", "persons", "objects", "latency_ms", "errors")
_EXPECTED = "expected the results.jsonl of `percept run --headless`"


@dataclass(frozen=True)
class FrameResult:
    """One result line. ``extra`` holds every key beyond the core ones (other stages' outputs), as written."""

    frame: int
    timestamp: float = math.nan
    source_name: str | None = None
    width: int = 0
    height: int = 0
    persons: Persons = field(default_factory=Persons.empty)
    objects: Detections = field(default_factory=Detections.empty)
    latency_ms: dict[str, float] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, record: dict) -> "FrameResult":
        """A parsed result line -> FrameResult; ValueError saying what is wrong. Missing "persons" / "objects"
        (or null) read as empty."""
        if not isinstance(record, dict) or "frame" not in record:
            raise ValueError("not a result line (no 'frame')")
        frame = record["frame"]
        if not isinstance(frame, int) or isinstance(frame, bool):
            raise ValueError(f"'frame' must be an integer, got {frame!r}")
        timestamp = record.get("timestamp")
        if timestamp is not None and (not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool)):
            raise ValueError(f"'timestamp' must be a number, got {timestamp!r}")
        size = {}
        for key in ("width", "height"):
            value = record.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"'{key}' must be an integer, got {value!r}")
            size[key] = value
        latency, errors = record.get("latency_ms") or {}, record.get("errors") or []
        if not isinstance(latency, dict) or not isinstance(errors, list):
            raise ValueError("'latency_ms' must be an object and 'errors' a list")
        return cls(
            frame=frame, timestamp=math.nan if timestamp is None else float(timestamp),
            source_name=record.get("source_name"), **size,
            persons=Persons.from_json(record.get("persons")), objects=Detections.from_json(record.get("objects")),
            latency_ms=dict(latency), errors=list(errors),
            extra={k: v for k, v in record.items() if k not in CORE_KEYS},
        )

    def to_json(self) -> dict[str, Any]:
        """The line again (key order as the engine writes it; "anticipated" actions are not kept, see Persons)."""
        return {"frame": self.frame, "timestamp": None if math.isnan(self.timestamp) else self.timestamp,
                "source_name": self.source_name, "width": self.width, "height": self.height,
                "persons": self.persons.to_json(), "objects": self.objects.to_json(), **self.extra,
                "latency_ms": dict(self.latency_ms), "errors": list(self.errors)}


def read_results(path: str | Path) -> Iterator[FrameResult]:
    """The lines of a results.jsonl as FrameResults, in file order, read lazily.

    Blank lines are skipped; a last line without its newline that is not JSON (a run cut short while writing it)
    ends the file. Anything else that is not a result line raises PerceptError ``{path}:{line}: ...``. A missing
    file raises at this call, an unreadable one at the first ``next``.
    """
    path = Path(path)
    if not path.is_file():
        raise PerceptError(f"results file {path} not found (the results.jsonl of `percept run --headless`)")
    return _read_lines(path)


def _read_lines(path: Path) -> Iterator[FrameResult]:
    try:
        with path.open(encoding="utf-8", newline="\n") as f:  # lines end at "\n" only, as the sinks write them
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    if not line.endswith("\n"):  # last line without its newline: a run cut short while writing it
                        return
                    raise PerceptError(f"{path}:{number}: not a JSON result line ({exc.msg}); {_EXPECTED}") from None
                if not isinstance(record, dict) or "frame" not in record:
                    raise PerceptError(f"{path}:{number}: not a result line (no 'frame'); {_EXPECTED}")
                try:
                    result = FrameResult.from_json(record)
                except ValueError as exc:
                    raise PerceptError(f"{path}:{number}: {exc}; {_EXPECTED}") from None
                yield result
    except (OSError, UnicodeDecodeError) as exc:
        raise PerceptError(f"cannot read results file {path}: {exc}") from None


def record_of(packet: FramePacket) -> dict[str, Any]:
    """The result record of one frame: what its results.jsonl line holds (docs/results.md). The one builder: the
    results sink, the exports and the graph bench all take the record from here."""
    return packet.to_record(RESULT_DEFAULTS)


class _ResultsSink(JsonlSink):
    """A JsonlSink whose lines are ``record_of(packet)`` (its whole-line writes and cut-back on failure kept)."""

    def record(self, packet: FramePacket) -> dict[str, Any]:
        return record_of(packet)


def results_sink(path: str | Path) -> JsonlSink:
    """The sink that writes results.jsonl (whole lines only, flushed per frame; docs/results.md)."""
    return _ResultsSink(path, RESULT_DEFAULTS)
