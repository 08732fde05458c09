"""What decides a run's results, as one short hash (metrics.json ``config_hash``): the graph with its defaults
filled in, the bytes of every model and checkpoint its parameters name, the device and Percept's version. Two runs
with the same hash computed the same thing; a batch skips files whose results carry the current hash."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipeline.graph import Graph


def config_hash(graph: Graph, device: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        percept_version = version("percept")
    except PackageNotFoundError:
        percept_version = "unknown"
    stages = []
    files: dict[str, str] = {}
    for name in graph.order:
        node = graph.nodes[name]
        params = node.stage.params.model_dump(mode="json")
        stages.append({"name": name, "type": type(node.stage).type_name, "params": params,
                       "after": list(node.after)})
        for value in params.values():
            if isinstance(value, str):
                digest = referenced_file_digest(value)
                if digest:
                    files[value] = digest
    blob = json.dumps({"stages": stages, "files": files, "device": device, "version": percept_version},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# What counts as weights when a parameter points at a file or a checkpoint folder (other files are not hashed).
MODEL_SUFFIXES = {".onnx", ".safetensors", ".pt", ".pth", ".tflite", ".engine", ".bin"}


def referenced_file_digest(value: str) -> str | None:
    """sha256 of a model named in the manifest, of a weights file a parameter points to, or of the weights and
    config of a checkpoint folder (one that holds a weights file)."""
    from models.registry import Registry, sha256_of
    from pipeline.paths import asset

    try:
        return Registry().entry(value).sha256
    except Exception:
        pass
    for path in (Path(value), asset(value)):
        try:
            if path.is_file() and path.suffix.lower() in MODEL_SUFFIXES:
                return sha256_of(path)
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.is_file())
                if not any(f.suffix.lower() in MODEL_SUFFIXES for f in files):
                    continue
                h = hashlib.sha256()
                for f in files:
                    h.update(f.name.encode())
                    h.update(sha256_of(f).encode())
                return h.hexdigest()
        except OSError:
            return None
    return None
