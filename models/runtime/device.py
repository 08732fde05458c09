"""The one place that decides which device a model runs on.

Every model stage has a ``device`` parameter (default ``auto``) and the session has ``--device``; a stage's own
non-auto setting wins, else the session's. ``auto`` means CUDA when a CUDA device is really usable, else the CPU
(TensorRT only when asked for: it builds engines for minutes). A GPU asked for but absent falls back to the CPU
with a warning; what a model really runs on is reported by its runtime (ONNX Runtime's providers, torch's device).
"""
from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field

from pipeline.errors import PerceptError

log = logging.getLogger(__name__)
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?|tensorrt)$"
DEVICES = ("auto", "cpu", "cuda", "tensorrt")


def device_field(default: str = "auto"):
    """The ``device`` parameter of a model stage, validated like --device."""
    return Field(default=default, pattern=DEVICE_PATTERN,
                 description="auto | cpu | cuda[:N] | tensorrt; auto: the session's --device")


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Whether a CUDA device can really be used (onnxruntime-gpu's provider list alone cannot tell)."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return Path("/dev/nvidia0").exists()


def select_device(*choices: str | None) -> str:
    """The first choice that is not ``auto`` (a stage's parameter, then the session's --device), resolved:
    ``cpu``, ``cuda[:N]`` or ``tensorrt``. All ``auto``: ``cuda`` when usable, else ``cpu``."""
    for choice in choices:
        if choice is None or choice == "auto":
            continue
        if not re.match(DEVICE_PATTERN, choice):
            raise PerceptError(f"unknown device {choice!r}; choose one of {', '.join(DEVICES)} (or cuda:N)")
        return choice
    return "cuda" if cuda_available() else "cpu"


def torch_device(choice: str):
    """A torch.device for a resolved choice; a GPU that is not there means the CPU, with a warning."""
    import torch

    if choice.startswith(("cuda", "tensorrt")):
        if torch.cuda.is_available():
            return torch.device("cuda" if choice == "tensorrt" else choice)
        log.warning("device %s was asked for but torch sees no CUDA device; running on the CPU", choice)
    return torch.device("cpu")
