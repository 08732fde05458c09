"""Torch models run the same way everywhere: device and dtype chosen once, inference_mode, honest reporting."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from models.runtime.device import select_device, torch_device


@dataclass(frozen=True)
class TorchRuntime:
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def create(cls, device: str = "auto", half_on_gpu: bool = True) -> "TorchRuntime":
        dev = torch_device(select_device(device))
        dtype = torch.float16 if (dev.type == "cuda" and half_on_gpu) else torch.float32
        return cls(dev, dtype)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device, self.dtype).eval()

    def describe(self) -> dict:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        return {"framework": "torch", "torch": torch.__version__, "device": str(self.device), "device_name": name,
                "dtype": str(self.dtype).replace("torch.", "")}
