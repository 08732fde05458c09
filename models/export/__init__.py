"""Exports of a run beside results.jsonl, in the formats vision and robotics tools open: Rerun (``results.rrd`` or a
live viewer), MCAP with Foxglove schemas (``results.mcap``), COCO keypoint results (``coco_keypoints.json``) and
MOTChallenge tracks (``mot.txt``). Each exporter is a sink; ``convert`` makes them from an existing results.jsonl.

The packages of rerun and mcap are optional (``pip install 'percept[export]'``): asking for an export whose
package is missing is one error line before anything runs.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterable

from models.export.base import Exporter, LastFrameResult
from pipeline.errors import PerceptError

EXPORTS = ("rerun", "rerun-live", "mcap", "coco", "mot")
PACKAGES = {"rerun": "rerun-sdk", "mcap": "mcap", "mcap_protobuf": "mcap-protobuf-support",
            "foxglove_schemas_protobuf": "foxglove-schemas-protobuf"}


def parse_exports(specs: Iterable[str] | str | None) -> list[str]:
    """``"rerun,mcap"`` (or several such) -> the export names, in order, without repeats; PerceptError for a name
    that is not an export."""
    if specs is None:
        return []
    if isinstance(specs, str):
        specs = [specs]
    names: list[str] = []
    for spec in specs:
        for name in str(spec).split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in EXPORTS:
                raise PerceptError(f"unknown export {name!r}: choose from {', '.join(EXPORTS)} (comma-separated)")
            if name not in names:
                names.append(name)
    if "rerun" in names and "rerun-live" in names:
        raise PerceptError("--export rerun and rerun-live exclude each other: a recording goes to one of them")
    return names


def exporter_class(name: str) -> type[Exporter]:
    if name in ("rerun", "rerun-live"):
        from models.export.rerun_rrd import RerunExporter
        return RerunExporter
    if name == "mcap":
        from models.export.mcap_foxglove import McapExporter
        return McapExporter
    if name == "coco":
        from models.export.coco import CocoKeypointsExporter
        return CocoKeypointsExporter
    if name == "mot":
        from models.export.mot import MotExporter
        return MotExporter
    raise PerceptError(f"unknown export {name!r}: choose from {', '.join(EXPORTS)}")


def check_packages(names: Iterable[str]) -> None:
    """One PerceptError naming every missing package of the exports asked for (before anything runs)."""
    missing: list[str] = []
    for name in names:
        for module in exporter_class(name).needs:
            if importlib.util.find_spec(module) is None and PACKAGES.get(module, module) not in missing:
                missing.append(PACKAGES.get(module, module))
    if missing:
        raise PerceptError(f"--export {','.join(names)} needs {', '.join(missing)}: "
                           f"pip install 'percept[export]' (or pip install {' '.join(missing)})")


def make_exporters(names: Iterable[str], folder: str | Path) -> list[Exporter]:
    """The exporters for ``names`` writing into ``folder`` (packages checked first)."""
    names = list(names)
    check_packages(names)
    out: list[Exporter] = []
    shared = LastFrameResult()
    for name in names:
        cls = exporter_class(name)
        exporter = cls(folder, live=True) if name == "rerun-live" else cls(folder)
        exporter.results = shared
        out.append(exporter)
    return out
