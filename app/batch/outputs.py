"""Where a recording's outputs go and how they get there without ever being half-written.

Recording ``DIR/<rel>`` (``rel`` keeps its extension: ``sub/clip.mp4``) writes to ``OUT/<rel>/``: unique, since two
recordings cannot share a relative path, and a video and its image-folder twin (``clip.mp4`` vs ``clip/``) stay
apart. A run writes into ``OUT/<parent>/.<name>.percept-tmp/``, puts ``_DONE.json`` in last, flushes everything to
disk, then renames the folder into place (a previous folder is first renamed aside to ``.<name>.percept-old`` and
deleted after). A reader therefore sees either the old complete folder or the new one, never a mix; after a crash
between the two renames the target is missing and the next run redoes it.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, IO

MARKER = "_DONE.json"
BATCH_LOG = "batch.jsonl"
_TMP = ".percept-tmp"
_OLD = ".percept-old"


def percept_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("percept")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class DoneMarker:
    """What ``_DONE.json`` says about one recording's folder; ``status`` is done or failed."""

    status: str
    config_hash: str
    frames: int
    fps: float
    wall_s: float
    source: str
    video: bool
    attempt: int = 1
    ended_by: str | None = None
    error: str | None = None
    when: str = ""
    percept_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DoneMarker":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def target_for(out: Path, rel: str) -> Path:
    return Path(out) / rel


def temp_for(target: Path) -> Path:
    return target.parent / f".{target.name}{_TMP}"


def _old_for(target: Path) -> Path:
    return target.parent / f".{target.name}{_OLD}"


def read_marker(target: Path) -> DoneMarker | None:
    """The marker of a committed folder; None when absent or unreadable (the folder then counts as missing)."""
    try:
        data = json.loads((Path(target) / MARKER).read_text(encoding="utf-8"))
        return DoneMarker.from_dict(data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def fresh_temp(target: Path) -> Path:
    """An empty scratch folder next to ``target`` (what a killed attempt left there is removed first)."""
    tmp = temp_for(target)
    discard_temp(target)
    tmp.mkdir(parents=True)
    return tmp


def discard_temp(target: Path) -> None:
    """Remove a scratch folder, e.g. after its worker was killed (its video would lack its index)."""
    shutil.rmtree(temp_for(target), ignore_errors=True)


def commit(tmp: Path, target: Path, marker: DoneMarker) -> None:
    """Write the marker last, make the folder durable, move it into place (replacing an older one safely)."""
    marker.when = marker.when or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    marker.percept_version = marker.percept_version or percept_version()
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        _fsync_file(path)
    marker_path = tmp / MARKER
    with marker_path.open("w", encoding="utf-8") as f:
        f.write(json.dumps(marker.to_dict(), indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(tmp)
    old = _old_for(target)
    if os.path.lexists(target):
        _remove(old)
        os.replace(target, old)
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink()


def _fsync_file(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems do not fsync directories
    finally:
        os.close(fd)


class BatchLog:
    """``OUT/batch.jsonl``: one whole line per file, flushed as each file finishes (a cut-short batch leaves
    only complete lines). Rewritten by every batch run: it describes that run."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def __enter__(self) -> "BatchLog":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")
        return self

    def write(self, record: dict[str, Any]) -> None:
        assert self._file is not None, "BatchLog.write outside its with-block"
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
