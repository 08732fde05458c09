"""Model names -> files. Shipped models live in assets/models (see assets/models/manifest.yaml)."""
from __future__ import annotations

from pathlib import Path

from pipeline.errors import PerceptError
from pipeline.paths import asset


def resolve_model(name_or_path: str) -> Path:
    """A path as given, or ``assets/models/<name>.onnx``."""
    path = Path(name_or_path)
    if path.suffix and path.exists():
        return path
    shipped = asset("models", f"{name_or_path}.onnx")
    if shipped.is_file():
        return shipped
    raise PerceptError(f"model {name_or_path!r} not found (neither a file nor assets/models/{name_or_path}.onnx)")
