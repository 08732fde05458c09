"""Sources and the ``--source`` spec parser.

Spec grammar: ``kind[:target][,key=value...]`` or a plain path. Examples: ``synthetic``, ``synthetic:1280x720,fps=60``,
``video:clip.mp4``, ``clip.mp4``, ``images:DIR,intrinsics=K.yaml``, ``DIR``, ``rec.db3``, ``realsense``,
``realsense:123456789``, ``webcam:1``, ``auto``.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

from pipeline.errors import SourceError
from pipeline.sources.base import Source, SourceSpec, make_source, register_source, source_kinds

log = logging.getLogger(__name__)

_BUILTIN_MODULES = ("synthetic", "video", "images", "webcam", "realsense", "stereo", "auto")
_RECORDING_SUFFIXES = {".bag", ".db3"}


def _load_builtin_sources() -> None:
    for name in _BUILTIN_MODULES:
        try:
            importlib.import_module(f"pipeline.sources.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"pipeline.sources.{name}":
                raise


def parse_source_spec(text: str | None) -> SourceSpec:
    _load_builtin_sources()
    text = (text or "auto").strip()
    kinds = set(source_kinds())
    head, sep, rest = text.partition(":")
    kind = head.split(",")[0]
    if kind in kinds:
        body = rest if sep and "," not in head else text[len(kind):].lstrip(",")
        target, options = _split_options(body)
        return SourceSpec(kind, target, options)
    if text.isdigit():
        return SourceSpec("webcam", text)
    target, options = _split_options(text)
    path = Path(target)
    if not path.exists():
        raise SourceError(f"source {text!r} is neither an existing file/folder nor a source kind; "
                          f"kinds: {', '.join(sorted(kinds))}")
    return _spec_for_path(path, options)


def _spec_for_path(path: Path, options: dict[str, str] | None = None) -> SourceSpec:
    """The kind a path is: folder -> images, .bag/.db3 -> realsense, any other file -> video."""
    if path.is_dir():
        return SourceSpec("images", str(path), options or {})
    if path.suffix.lower() in _RECORDING_SUFFIXES:
        return SourceSpec("realsense", str(path), options or {})
    return SourceSpec("video", str(path), options or {})


def source_for_path(path: str | Path) -> Source:
    """A source for a recording's path taken literally (commas and '=' in file names are not options)."""
    _load_builtin_sources()
    path = Path(path)
    if not path.exists():
        raise SourceError(f"recording not found: {path}")
    return make_source(_spec_for_path(path))


def _split_options(body: str) -> tuple[str, dict[str, str]]:
    """``target,key=value,...`` -> (target, options); commas inside the target survive when no '=' follows."""
    parts = body.split(",")
    target_parts: list[str] = []
    options: dict[str, str] = {}
    for part in parts:
        if "=" in part and (options or target_parts or not part.startswith("/")):
            key, _, value = part.partition("=")
            options[key.strip()] = value.strip()
        elif options:
            raise SourceError(f"source option {part!r} must be key=value")
        else:
            target_parts.append(part)
    return ",".join(target_parts).strip(), options


def open_source(text: str | None) -> Source:
    """Parse a spec and build the source (not yet opened)."""
    return make_source(parse_source_spec(text))


__all__ = ["Source", "SourceSpec", "make_source", "open_source", "parse_source_spec", "register_source",
           "source_for_path"]
