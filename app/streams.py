"""Several streams in one `percept run`: repeated ``--source`` or a YAML file with a ``sources:`` list. Every
stream runs in the same session (models loaded once, shared by all), with its own outputs in ``OUT/<stream>/``,
its own order, state and mode; a stream that fails ends alone and the others go on.

YAML form::

    sources:
      - lobby.mp4                                  # name: lobby
      - {source: realsense, name: door, mode: live}
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from app.exit_codes import EXIT_OK, EXIT_RUN_FAILED, exit_code_for
from pipeline import endings
from pipeline.errors import ConfigError
from pipeline.modes import check_mode


@dataclass(frozen=True)
class StreamSpec:
    name: str
    source: str
    mode: str | None = None


def _name_of(source: str) -> str:
    """A folder name from a source spec: a file's stem, else the spec with odd characters replaced."""
    spec = source.split(":", 1)[1] if re.match(r"^(video|images|bag|db3):", source) else source
    path = Path(spec)
    base = path.stem if path.suffix else (path.name or spec)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "stream"


def _from_yaml(path: Path) -> list[StreamSpec]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the sources file {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list) or not data["sources"]:
        raise ConfigError(f"{path} must hold a non-empty `sources:` list (a source spec, or {{source:, name:, "
                          f"mode:}} per entry)")
    unknown = set(data) - {"sources"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; only `sources:` is read")
    specs = []
    for i, entry in enumerate(data["sources"]):
        if isinstance(entry, str):
            entry = {"source": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("source"), str):
            raise ConfigError(f"{path}: sources[{i}] must be a source spec or have `source: SPEC`")
        extra = set(entry) - {"source", "name", "mode"}
        if extra:
            raise ConfigError(f"{path}: sources[{i}] has unknown key(s) {', '.join(sorted(extra))} "
                              f"(valid: source, name, mode)")
        mode = entry.get("mode")
        if mode is not None:
            check_mode(mode, f"{path}: sources[{i}].mode")
        source = entry["source"]
        if not Path(source).is_absolute() and (path.parent / source).exists():
            source = str(path.parent / source)  # files are relative to the sources file
        specs.append(StreamSpec(str(entry.get("name") or _name_of(entry["source"])), source, mode))
    return specs


def parse_stream_sources(sources: list[str]) -> list[StreamSpec]:
    """The streams of ``--source`` values (empty: none given, the caller picks the default source)."""
    specs: list[StreamSpec] = []
    for s in sources:
        if s.endswith((".yaml", ".yml")) and Path(s).is_file():
            specs.extend(_from_yaml(Path(s)))
        else:
            specs.append(StreamSpec(_name_of(s), s))
    seen: dict[str, int] = {}
    unique = []
    for spec in specs:  # two sources called alike get lobby, lobby-2, ...
        n = seen.get(spec.name, 0) + 1
        seen[spec.name] = n
        unique.append(spec if n == 1 else StreamSpec(f"{spec.name}-{n}", spec.source, spec.mode))
    return unique


def run_streams(session, specs: list[StreamSpec], out: Path, video: bool, mode: str | None,
                max_frames: int | None, max_in_flight: int | None, on_stream: Callable, echo: Callable,
                exports: list[str] | None = None) -> int:
    """Run every stream at once, each to ``out/<name>/``; returns the exit code (the worst stream's)."""
    from app.command_setup import check_out_dir
    from pipeline.sources import open_source

    sources = [open_source(spec.source) for spec in specs]  # every source opens, or nothing runs (one line)
    for spec in specs:
        check_out_dir(out / spec.name)
    session.load()  # models once, before the streams start together
    reports: dict[str, object] = {}
    failures: dict[str, str] = {}

    def one(spec: StreamSpec, src) -> None:
        try:
            reports[spec.name] = session.run_to_folder(src, out / spec.name, video=video, progress=False,
                                                       mode=session.mode_for(src, spec.mode or mode),
                                                       max_frames=max_frames, max_in_flight=max_in_flight,
                                                       on_stream=on_stream, exports=exports)
        except Exception as exc:  # this stream ends alone; its metrics.json says how
            failures[spec.name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    threads = [threading.Thread(target=one, args=(spec, src), name=f"stream-{spec.name}", daemon=True)
               for spec, src in zip(specs, sources)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)  # short joins: the main thread stays free for Ctrl-C
    code = EXIT_OK
    for spec in specs:
        report = reports.get(spec.name)
        if report is None:
            echo(f"{spec.name}: error: {failures.get(spec.name, 'did not run')}", err=True)
            code = max(code, EXIT_RUN_FAILED)
            continue
        echo(f"{spec.name}: {report.frames_done} frames in {report.wall_s:.1f} s ({report.fps:.1f} fps), "
             f"ended by {report.ended_by}; results in {out / spec.name}/", err=True)
        if endings.failed(report.ended_by):
            echo(f"{spec.name}: error: {report.error}", err=True)
        code = max(code, exit_code_for(report.ended_by))
    return code
