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


_warned: set[str] = set()


def warn_once(key: str, message: str) -> None:
    """A warning said once per process (every model stage resolves its device; the user needs to hear it once)."""
    if key not in _warned:
        _warned.add(key)
        log.warning("%s", message)


def select_device(*choices: str | None) -> str:
    """The first choice that is not ``auto`` (a stage's parameter, then the session's --device), resolved:
    ``cpu``, ``cuda[:N]`` or ``tensorrt``. All ``auto``: ``cuda`` when usable, else ``cpu``. A GPU asked for
    where none is usable resolves to ``cpu``, with one warning saying so."""
    for choice in choices:
        if choice is None or choice == "auto":
            continue
        if not re.match(DEVICE_PATTERN, choice):
            raise PerceptError(f"unknown device {choice!r}; choose one of {', '.join(DEVICES)} (or cuda:N)")
        if choice != "cpu" and not cuda_available():
            warn_once(f"no-gpu:{choice}", f"device {choice} is not available (no usable CUDA GPU); "
                                          f"model stages run on the CPU instead")
            return "cpu"
        return choice
    return "cuda" if cuda_available() else "cpu"


def torch_device(choice: str):
    """A torch.device for a resolved choice; a GPU that is not there means the CPU, with a warning."""
    import torch

    if choice.startswith(("cuda", "tensorrt")):
        if torch.cuda.is_available():
            return torch.device("cuda" if choice == "tensorrt" else choice)
        warn_once(f"torch-no-gpu:{choice}", f"device {choice} is not available to torch (no CUDA device); "
                                            f"running on the CPU instead")
    return torch.device("cpu")
