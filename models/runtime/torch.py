"""Torch models run the same way everywhere: device and dtype chosen once, inference_mode, honest reporting."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline.errors import PerceptError


@dataclass(frozen=True)
class TorchRuntime:
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def create(cls, device: str = "auto", half_on_gpu: bool = True) -> "TorchRuntime":
        if device == "auto":
            dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            if device.startswith("cuda") and not torch.cuda.is_available():
                raise PerceptError("device cuda was asked for but torch sees no CUDA device")
            dev = torch.device(device)
        dtype = torch.float16 if (dev.type == "cuda" and half_on_gpu) else torch.float32
        return cls(dev, dtype)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device, self.dtype).eval()

    def describe(self) -> dict:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        return {"framework": "torch", "torch": torch.__version__, "device": str(self.device), "device_name": name,
                "dtype": str(self.dtype).replace("torch.", "")}
