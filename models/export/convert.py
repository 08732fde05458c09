"""``percept export RESULTS_DIR --to ...``: the exports of a finished (or killed) run from its results.jsonl.

A results.jsonl holds no images, so a converted ``results.rrd`` / ``results.mcap`` has the people, tracks,
actions and latencies but not the colour, depth and point cloud that a run with ``--export`` writes."""
from __future__ import annotations

import json
from pathlib import Path

from models.export import make_exporters, parse_exports
from models.results import read_results
from pipeline.errors import PerceptError


def convert(results_dir: str | Path, to: str | list[str], out: str | Path | None = None) -> dict[str, int]:
    """Write the exports ``to`` of ``results_dir``/results.jsonl into ``out`` (default: the same folder); returns
    frames per file written."""
    folder = Path(results_dir)
    results = folder / "results.jsonl" if folder.is_dir() else folder
    if not results.is_file():
        raise PerceptError(f"{results_dir}: no results.jsonl (give the --out folder of `percept run --headless`)")
    names = parse_exports(to)
    if not names:
        raise PerceptError("--to names no export: give one or more of rerun, mcap, coco, mot")
    out_dir = Path(out) if out is not None else results.parent
    exporters = make_exporters(names, out_dir)
    source = _source_info(results.parent / "metrics.json")
    opened = []
    try:
        for exporter in exporters:
            exporter.open(source)
            opened.append(exporter)
        for result in read_results(results):
            for exporter in exporters:
                exporter.add(result, None)
    finally:
        errors = []
        for exporter in opened:
            try:
                exporter.close()
            except Exception as exc:  # the others still close
                errors.append(f"finishing {exporter.path.name} failed: {exc}")
        if errors:
            raise PerceptError("; ".join(errors))
    return {("rerun viewer" if getattr(e, "live", False) else str(e.path)): e.frames for e in exporters}


def _source_info(metrics: Path) -> dict:
    try:
        return dict(json.loads(metrics.read_text()).get("source") or {})
    except (OSError, ValueError, AttributeError):
        return {}
