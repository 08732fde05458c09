"""Where Percept's shipped assets (graphs, model manifest, embedded models, sample media) live, and which graph file
a graph name means."""
from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import ConfigError

ASSETS_DIR = Path(os.environ.get("PERCEPT_ASSETS", Path(__file__).resolve().parent.parent / "assets"))


def asset(*parts: str) -> Path:
    return ASSETS_DIR.joinpath(*parts)


DEFAULT_GRAPH = asset("graphs", "default.yaml")


def resolve_graph_path(graph: str | None) -> Path:
    """A graph file, or the name of a shipped graph (``pose2d`` -> assets/graphs/pose2d.yaml); None: the default."""
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
