"""ONNX export of the streaming step: OadTR / MLP window -> probabilities; TRN step with its state in and out.

A TRN runtime outside Percept should stream as StaggeredTRNState does (two states per stream, reset in turn every
``window`` frames, the older one classifies): one state carried for minutes drifts past the trained context."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.action.config import ActionModelConfig


class _WindowStep(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, window):
        logits, _ = self.model.window_logits(window)
        return logits.softmax(-1)


class _TRNStep(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, x, h, c, future):
        logits, future_logits, h, c, future = self.model.step(x, h, c, future)
        return logits.softmax(-1), future_logits.softmax(-1), h, c, future


def example_inputs(cfg: ActionModelConfig, batch: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    if cfg.kind == "trn":
        z = np.zeros((batch, cfg.hidden), np.float32)
        return {"features": rng.normal(size=(batch, cfg.feature_dim)).astype(np.float32), "h": z, "c": z,
                "future": z}
    w = cfg.window if cfg.kind == "oadtr" else 1
    return {"window": rng.normal(size=(batch, w, cfg.feature_dim)).astype(np.float32)}


def export_onnx(model, cfg: ActionModelConfig, path: str | Path, opset: int = 17) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    inputs = example_inputs(cfg)
    tensors = tuple(torch.from_numpy(v) for v in inputs.values())
    if cfg.kind == "trn":
        wrapper, outputs = _TRNStep(model), ["probs", "future_probs", "h_out", "c_out", "future_out"]
    else:
        wrapper, outputs = _WindowStep(model), ["probs"]
    dynamic = {name: {0: "batch"} for name in (*inputs, *outputs)}
    torch.onnx.export(wrapper, tensors, str(path), input_names=list(inputs), output_names=outputs,
                      dynamic_axes=dynamic, opset_version=opset, dynamo=False)
    return path


@torch.inference_mode()
def torch_reference(model, cfg: ActionModelConfig, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    tensors = [torch.from_numpy(v) for v in inputs.values()]
    wrapper = _TRNStep(model) if cfg.kind == "trn" else _WindowStep(model)
    out = wrapper.eval()(*tensors)
    out = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in out]
