"""The source contract and the registry that turns a source spec string into a Source."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pipeline.errors import SourceError
from pipeline.packet import FramePacket


class Source:
    """A stream of FramePackets.

    ``open`` raises SourceError with a clear message when the device/file is unusable; ``read`` returns the next
    packet or None at the end of a recording, and raises SourceError when a file turns out corrupt or a camera is
    unplugged. Live sources (cameras) set ``live = True``; the scheduler then never blocks them.
    """

    name: str = "source"
    live: bool = False
    paced: bool = False  # it releases frames at their own time itself (pipeline.sources.pacing): not paced twice
    frame_count: int | None = None  # known length of a recording, for progress bars
    fps: float | None = None
    sequence: bool = True  # consecutive frames show one scene moving on (False: unrelated photos)

    def open(self) -> None:
        pass

    def read(self) -> FramePacket | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"name": self.name, "live": self.live, "frames": self.frame_count, "fps": self.fps}

    def __enter__(self) -> "Source":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self):
        while (packet := self.read()) is not None:
            yield packet


@dataclass(frozen=True)
class SourceSpec:
    """A parsed ``--source`` value: ``kind[:target][,key=value...]``, e.g. ``synthetic:640x480,fps=30``,
    ``video:clip.mp4``, ``webcam:0``, or just a path whose kind is guessed from what it is."""

    kind: str
    target: str = ""
    options: dict[str, str] = field(default_factory=dict)


SourceFactory = Callable[[SourceSpec], Source]
_factories: dict[str, SourceFactory] = {}


def register_source(kind: str) -> Callable[[SourceFactory], SourceFactory]:
    def deco(factory: SourceFactory) -> SourceFactory:
        _factories[kind] = factory
        return factory
    return deco


def source_kinds() -> list[str]:
    return sorted(_factories)


def make_source(spec: SourceSpec) -> Source:
    if spec.kind not in _factories:
        raise SourceError(f"unknown source kind {spec.kind!r}; valid kinds: {', '.join(source_kinds())}")
    return _factories[spec.kind](spec)
