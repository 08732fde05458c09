"""Builds what a run needs (graph, source, sinks) from CLI options, so the CLI, the bench and the UI share it."""
from __future__ import annotations

import importlib
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import ConfigError, PerceptError
from pipeline.graph import Graph, GraphConfig, load_graph_config
from pipeline.paths import asset
from pipeline.registry import load_plugin
from pipeline.sources import open_source
from pipeline.sources.base import Source

log = logging.getLogger(__name__)
DEFAULT_GRAPH = asset("graphs", "default.yaml")


def load_builtin_stages() -> None:
    """Register the engine's OpenCV stages and every model stage."""
    importlib.import_module("pipeline.cpu_stages")
    try:
        stages = importlib.import_module("models.stages")
    except ModuleNotFoundError as exc:
        if exc.name != "models.stages":
            raise
        return
    loader = getattr(stages, "load_builtin_stages", None)
    if loader is not None:
        loader()


def resolve_graph_path(graph: str | None) -> Path:
    if graph is None:
        return DEFAULT_GRAPH
    path = Path(graph)
    if not path.exists() and not path.suffix:
        candidate = asset("graphs", f"{graph}.yaml")
        if candidate.exists():
            return candidate
    if not path.exists():
        shipped = ", ".join(sorted(p.stem for p in asset("graphs").glob("*.yaml")))
        raise ConfigError(f"graph file not found: {graph} (shipped graphs: {shipped})")
    return path


@dataclass
class RunSetup:
    graph_config: GraphConfig
    graph_path: Path
    source: Source
    mode: str
    plugins: list[str] = field(default_factory=list)

    def build_graph(self) -> Graph:
        return Graph.from_config(self.graph_config)


def prepare(source: str | None, graph: str | None, mode: str | None, plugins: list[str]) -> RunSetup:
    """Everything validated before anything starts: plugins, graph file, stage params, source spec."""
    load_builtin_stages()
    for spec in plugins:
        load_plugin(spec)
    graph_path = resolve_graph_path(graph)
    config = load_graph_config(graph_path)
    Graph.from_config(config)  # validate the whole graph now (types, params, inputs, cycles)
    src = open_source(source)
    chosen = mode or config.mode or ("live" if src.live else "offline")
    if chosen not in ("live", "offline"):
        raise ConfigError(f"mode must be live or offline, got {chosen!r}")
    return RunSetup(config, graph_path, src, chosen, list(plugins))


def environment_facts() -> dict:
    facts = {"python": platform.python_version(), "machine": platform.machine(), "processor": platform.processor()}
    try:
        import onnxruntime as ort

        facts["onnxruntime"] = ort.__version__
    except Exception:
        pass
    try:
        import torch

        facts["torch"] = torch.__version__
        facts["cuda_available"] = bool(torch.cuda.is_available())
        if torch.cuda.is_available():
            facts["gpu"] = torch.cuda.get_device_name(0)
    except Exception:
        pass
    import os

    facts["cpu_count"] = os.cpu_count()
    return facts


def write_metrics(path: Path, report_dict: dict, extra: dict) -> None:
    data = {**report_dict, **extra, "environment": environment_facts(),
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


def check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise PerceptError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PerceptError(f"cannot create output folder {out}: {exc.strerror}") from exc
