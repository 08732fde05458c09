"""Which recordings a batch covers: videos, RealSense recordings and image folders under a folder, sorted.

An image folder (images directly in it, an ``associations.txt``, or an ``rgb/``-style colour subfolder, as the
images source reads them; no videos beside them) is one recording and is not descended into. Hidden entries and
the output folder are skipped, so OUT may live inside DIR. Symlinked folders are not followed (no loops);
symlinked files are taken.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.sources.images import IMAGE_SUFFIXES

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".mts",
                            ".m2ts", ".wmv", ".flv", ".3gp", ".ogv"})
RECORDING_SUFFIXES = frozenset({".bag", ".db3"})
# The colour subfolders the images source looks for (pipeline/sources/images.py).
COLOR_DIRS = ("rgb", "color", "colour", "images")


@dataclass(frozen=True)
class Recording:
    """One input: ``rel`` is its path relative to the batch folder (POSIX), which also names its output folder."""

    rel: str
    path: Path
    kind: str  # video | realsense | images


def _suffixes(folder: Path) -> set[str]:
    try:
        with os.scandir(folder) as it:
            return {Path(e.name).suffix.lower() for e in it if e.is_file() and not e.name.startswith(".")}
    except OSError:
        return set()


def is_image_folder(folder: Path) -> bool:
    """Images (or an association list) directly in it, or in a colour subfolder; a folder that also holds
    videos or recordings directly is a folder of those (a cover.jpg beside clips does not swallow them)."""
    here = _suffixes(folder)
    if here & (VIDEO_SUFFIXES | RECORDING_SUFFIXES):
        return False
    if (folder / "associations.txt").is_file() or here & IMAGE_SUFFIXES:
        return True
    return any((folder / d).is_dir() and _suffixes(folder / d) & IMAGE_SUFFIXES for d in COLOR_DIRS)


def _kind_of_file(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in RECORDING_SUFFIXES:
        return "realsense"
    return None


def discover(root: Path, pattern: str | None = None, exclude: Path | None = None) -> list[Recording]:
    """Every recording under ``root`` whose relative path matches ``pattern`` (fnmatch: ``*`` also matches
    ``/``, so ``*.mp4`` takes mp4 files at any depth), sorted by relative path. ``exclude``: a folder to skip."""
    root = Path(root)
    excluded = exclude.resolve() if exclude is not None else None
    found: list[Recording] = []
    if is_image_folder(root):
        found.append(Recording(root.resolve().name, root, "images"))
    else:
        _walk(root, root, excluded, found)
    if pattern:
        found = [r for r in found if fnmatch.fnmatchcase(r.rel, pattern)]
    return sorted(found, key=lambda r: r.rel)


def _walk(root: Path, folder: Path, excluded: Path | None, found: list[Recording]) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            if excluded is not None and path.resolve() == excluded:
                continue
            if is_image_folder(path):
                found.append(Recording(path.relative_to(root).as_posix(), path, "images"))
            else:
                _walk(root, path, excluded, found)
        elif entry.is_file():
            kind = _kind_of_file(path)
            if kind is not None:
                found.append(Recording(path.relative_to(root).as_posix(), path, kind))
