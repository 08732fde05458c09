"""ONNX Runtime sessions with a provider preference (TensorRT -> CUDA -> CPU) and honest reporting.

onnxruntime-gpu lists CUDA/TensorRT as *available* even without a GPU (fixed at build time), so the providers
actually in use are read back from the session after it is made, and that is what gets reported.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.errors import PerceptError

log = logging.getLogger(__name__)

_PREFERENCE = {
    "auto": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "cpu": ("CPUExecutionProvider",),
}


def _cuda_device_present() -> bool:
    """Whether a CUDA device can really be used (the provider list alone cannot tell)."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return Path("/dev/nvidia0").exists()


def resolve_providers(device: str = "auto") -> list[str]:
    """Providers to ask for, in order, given a device preference: auto | tensorrt | cuda | cpu."""
    import onnxruntime as ort

    if device not in _PREFERENCE:
        raise PerceptError(f"unknown device {device!r}; choose one of {', '.join(_PREFERENCE)}")
    available = set(ort.get_available_providers())
    wanted = [p for p in _PREFERENCE[device] if p in available]
    if device == "auto" and not _cuda_device_present():
        wanted = ["CPUExecutionProvider"]
    # TensorRT builds engines on first use (minutes); only take it when asked for explicitly.
    if device == "auto":
        wanted = [p for p in wanted if p != "TensorrtExecutionProvider"]
    return wanted or ["CPUExecutionProvider"]


class OnnxModel:
    """An ONNX Runtime session plus the facts needed to report it.

    ``run(feeds)`` takes numpy arrays by input name and returns the outputs as a list in model order.
    """

    def __init__(self, path: str | Path, device: str = "auto", intra_op_threads: int = 0,
                 providers: Sequence[str] | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise PerceptError(f"model file not found: {self.path}; run `percept models pull` or check the path")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads:
            options.intra_op_num_threads = intra_op_threads
        options.log_severity_level = 3
        requested = list(providers) if providers else resolve_providers(device)
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=requested)
        except Exception as exc:
            raise PerceptError(f"cannot load ONNX model {self.path.name}: {exc}".splitlines()[0]) from exc
        self.requested_providers = requested
        self.providers = list(self.session.get_providers())
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        log.info("%s runs on %s", self.path.name, ", ".join(self.providers))

    @property
    def on_gpu(self) -> bool:
        return self.providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider")

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(self.output_names, feeds)

    def describe(self) -> dict:
        return {"model": self.path.name, "providers": self.providers, "requested": self.requested_providers}
