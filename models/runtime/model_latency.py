"""Per-model latency on random inputs of the right shape (speed does not depend on the pixel values)."""
from __future__ import annotations

import time

import numpy as np

from models.registry import Registry
from models.runtime.onnx import OnnxModel


FREE_SIDE = 320  # an input side the model leaves open (SSDLite's image, MoveNet's: it needs multiples of 32)


def _input(model: OnnxModel, batch: int) -> dict[str, np.ndarray]:
    feeds = {}
    for inp in model.session.get_inputs():
        shape = [batch if not isinstance(d, int) and i == 0 else (d if isinstance(d, int) else FREE_SIDE)
                 for i, d in enumerate(inp.shape)]
        if inp.type == "tensor(uint8)":
            feeds[inp.name] = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
        else:
            feeds[inp.name] = np.random.default_rng(0).random(shape, dtype=np.float32)
    return feeds


def bench_models(device: str = "cpu", runs: int = 30, batch: int = 1) -> list[dict]:
    reg = Registry()
    results = []
    for name, entry in reg.entries.items():
        path = reg.local_path(entry)
        if not path.is_file() or path.suffix != ".onnx":
            continue
        model = OnnxModel(reg.verify(name), device=device)
        b = batch if not isinstance(model.session.get_inputs()[0].shape[0], int) else 1
        feeds = _input(model, b)
        for _ in range(3):
            model.run(feeds)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            model.run(feeds)
            times.append((time.perf_counter() - t) * 1000)
        results.append({"model": name, "batch": b, "p50_ms": float(np.median(times)),
                        "p95_ms": float(np.percentile(times, 95)), "providers": model.providers})
    return results
