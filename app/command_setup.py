"""What every command needs before a session exists: the built-in stages registered, output folders checked,
metrics written atomically (a graph name is resolved by pipeline/paths.py)."""
from __future__ import annotations

import importlib
import json
import logging
import platform
import time
from pathlib import Path

from pipeline.errors import PerceptError

log = logging.getLogger(__name__)


def load_builtin_stages() -> None:
    """Register the engine's OpenCV stages and every model stage."""
    importlib.import_module("pipeline.cpu_stages")
    importlib.import_module("pipeline.depth_stages")
    try:
        stages = importlib.import_module("models.stages")
    except ModuleNotFoundError as exc:
        if exc.name != "models.stages":
            raise
        return
    loader = getattr(stages, "load_builtin_stages", None)
    if loader is not None:
        loader()


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
