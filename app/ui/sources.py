"""What the UI opens: a spec or a Source turned into a ready source, with player controls for recordings.

The auto source is resolved here (pipeline/sources/auto.py: a RealSense camera, else a webcam, else the bundled clip
with people, else the RGB-D sample) so that the UI knows whether it got a live camera before the stream starts;
recordings get a ``PlaybackSource`` whose seeks and loops reopen them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from pipeline.paths import asset
from pipeline.sources import parse_source_spec
from pipeline.sources.auto import AutoSource, choose_source_spec
from pipeline.sources.base import Source, make_source
from pipeline.sources.playback import PlaybackSource

SAMPLE_SPEC = f"images:{asset('sample')},fps=15"


@dataclass
class PreparedSource:
    source: Source  # what the stream reads (the PlaybackSource for recordings)
    playback: PlaybackSource | None
    spec: str | None  # how to open it again (recent list, restart); None when only the object is known
    label: str
    live: bool
    realsense: bool


def prepare(source: Source | str | None, speed: float = 1.0, loop: bool = False,
            paused: bool = False) -> PreparedSource:
    """Build (not open) the source; raises SourceError for a bad spec or a missing file."""
    spec: str | None = None
    if source is None or isinstance(source, str):
        spec = source or "auto"
        parsed = parse_source_spec(spec)
        if parsed.kind == "auto":
            parsed, _why = choose_source_spec()
            spec = spec_text(parsed)
        elif parsed.target and Path(parsed.target).exists():  # recent entries work from any folder
            parsed = replace(parsed, target=str(Path(parsed.target).resolve()))
            spec = spec_text(parsed) if parsed.options or spec.startswith(parsed.kind + ":") else parsed.target
        src = make_source(parsed)
        reopen: Callable[[], Source] | None = (lambda s=parsed: make_source(s))
    elif isinstance(source, PlaybackSource):
        inner = source.inner
        realsense = type(inner).__module__.endswith("sources.realsense")
        return PreparedSource(source, source, None, label_for(None, inner), False, realsense)
    else:
        src = source
        if isinstance(src, AutoSource):
            parsed, _why = choose_source_spec()
            spec = spec_text(parsed)
            src = make_source(parsed)
            reopen = lambda s=parsed: make_source(s)  # noqa: E731
        else:
            reopen = reopener_for(src)
    realsense = type(src).__module__.endswith("sources.realsense")
    if src.live:
        return PreparedSource(src, None, spec, label_for(spec, src), True, realsense)
    playback = PlaybackSource(src, reopen=reopen, speed=speed, loop=loop, paused=paused)
    return PreparedSource(playback, playback, spec, label_for(spec, src), False, realsense)


def spec_text(parsed) -> str:
    """A SourceSpec back to the text form ``kind:target,key=value``."""
    text = parsed.kind + (f":{parsed.target}" if parsed.target else "")
    return text + "".join(f",{k}={v}" for k, v in parsed.options.items())


def reopener_for(src: Source) -> Callable[[], Source] | None:
    """A fresh instance for sources that cannot be opened twice (RealSense playback); None: close + open."""
    path = getattr(src, "path", None)
    if path is not None and type(src).__name__ == "RealSensePlaybackSource":
        return lambda: type(src)(path)
    return None


def label_for(spec: str | None, src: Source) -> str:
    if spec and spec == SAMPLE_SPEC:
        return "Bundled RGB-D sample"
    if spec and spec.startswith(("webcam", "realsense")) and src.live:
        return spec
    return src.name or spec or "source"
