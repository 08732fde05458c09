"""The model registry: ``assets/models/manifest.yaml`` maps a model name to a file shipped in assets or a URL,
with its sha256, licence, source and input/output description.

Downloaded models go to a cache folder (``$PERCEPT_CACHE``, default ``~/.cache/percept``), resume from where a
broken download stopped (HTTP Range), and are verified by sha256 before use; a corrupt or truncated file is an
error that says what to do. Verification results are remembered by (size, mtime) so big files are hashed once.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from pipeline.errors import PerceptError
from pipeline.paths import asset

MANIFEST = asset("models", "manifest.yaml")


def cache_dir() -> Path:
    return Path(os.environ.get("PERCEPT_CACHE", Path.home() / ".cache" / "percept"))


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class ModelEntry:
    name: str
    sha256: str
    file: str | None = None  # relative to the manifest's folder
    url: str | None = None
    licence: str = ""
    source: str = ""
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    size: int | None = None

    @property
    def shipped(self) -> bool:
        return self.file is not None


class Registry:
    def __init__(self, manifest: Path = MANIFEST, cache: Path | None = None) -> None:
        self.manifest = Path(manifest)
        self.cache = Path(cache) if cache else cache_dir()
        try:
            data = yaml.safe_load(self.manifest.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise PerceptError(f"model manifest {self.manifest} cannot be read: {exc}") from exc
        self.entries: dict[str, ModelEntry] = {}
        for name, spec in (data.get("models") or {}).items():
            if not spec.get("sha256") or not (spec.get("file") or spec.get("url")):
                raise PerceptError(f"manifest entry {name!r} needs sha256 and file or url")
            self.entries[name] = ModelEntry(name=name, **spec)

    def entry(self, name: str) -> ModelEntry:
        if name not in self.entries:
            raise PerceptError(f"unknown model {name!r}; known: {', '.join(sorted(self.entries))}")
        return self.entries[name]

    def local_path(self, entry: ModelEntry) -> Path:
        if entry.file:
            return self.manifest.parent / entry.file
        return self.cache / entry.name / Path(entry.url.split("?")[0]).name

    # --- verification, remembered by (size, mtime) ---------------------------------------------------------
    def _verified_marker(self) -> Path:
        return self.cache / "verified.json"

    def verify(self, name: str, force: bool = False) -> Path:
        entry = self.entry(name)
        path = self.local_path(entry)
        if not path.is_file():
            hint = f"run `percept models pull {name}`" if entry.url else "reinstall Percept"
            raise PerceptError(f"model {name} is not present at {path}; {hint}")
        stat = path.stat()
        key = f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
        marker = self._verified_marker()
        seen = _read_marker(marker)
        if not force and seen.get(key) == entry.sha256:
            return path
        digest = sha256_of(path)
        if digest != entry.sha256:
            action = f"`percept models pull {name}` again" if entry.url else "reinstall Percept (git checkout)"
            raise PerceptError(f"model {name} at {path} is corrupt or truncated (sha256 {digest[:12]}..., expected "
                               f"{entry.sha256[:12]}...); delete it and {action}")
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            seen[key] = entry.sha256
            # atomic: processes verify at the same time, and a killed one must not leave a cut file behind
            tmp = marker.with_name(f".{marker.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(seen))
            os.replace(tmp, marker)
        except OSError:
            pass  # a read-only cache only costs re-hashing
        return path

    # --- download ------------------------------------------------------------------------------------------
    def pull(self, name: str, progress: Callable[[int, int | None], None] | None = None, timeout: float = 30) -> Path:
        entry = self.entry(name)
        if not entry.url:
            return self.verify(name)
        path = self.local_path(entry)
        if path.is_file():
            try:
                return self.verify(name)
            except PerceptError:
                path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(entry.url, headers={"Range": f"bytes={have}-"} if have else {})
        total = entry.size
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                resumed = have and response.status == 206
                length = response.headers.get("Content-Length")
                if length:
                    total = int(length) + (have if resumed else 0)
                mode = "ab" if resumed else "wb"
                done = have if resumed else 0
                with part.open(mode) as f:
                    while block := response.read(1 << 16):
                        f.write(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # the part file is already complete
                pass
            else:
                raise PerceptError(f"downloading {name} from {entry.url} failed: HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.IncompleteRead) as exc:
            raise PerceptError(f"downloading {name} from {entry.url} failed ({exc}); run the same command again "
                               f"to resume") from exc
        got = part.stat().st_size if part.exists() else 0
        if total and got < total:
            raise PerceptError(f"downloading {name} stopped at {got} of {total} bytes; run the same command "
                               f"again to resume")
        digest = sha256_of(part)
        if digest != entry.sha256:
            part.unlink()
            raise PerceptError(f"downloaded {name} does not match its sha256 ({digest[:12]}... != "
                               f"{entry.sha256[:12]}...); the partial file was removed, pull again")
        part.replace(path)
        return self.verify(name)


def _read_marker(marker: Path) -> dict:
    """The remembered verifications; an unreadable or cut file (an older Percept killed mid-write) is forgotten."""
    try:
        seen = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}
    return seen if isinstance(seen, dict) else {}


def resolve_model(name_or_path: str, registry: Registry | None = None) -> Path:
    """A path as given, or a manifest model (verified by sha256 before use)."""
    path = Path(name_or_path)
    if path.suffix and path.exists():
        return path
    registry = registry or Registry()
    if name_or_path in registry.entries:
        return registry.verify(name_or_path)
    raise PerceptError(f"model {name_or_path!r} is neither a file nor a manifest name; "
                       f"known models: {', '.join(sorted(registry.entries))}")
