"""Streaming-step latency of an action model for N tracks at once (random weights: speed does not depend on them)."""
from __future__ import annotations

import time

import numpy as np
import torch

from models.action.config import ActionModelConfig
from models.action.features import SKELETON_FEATURE_DIM
from models.action.inference import ActionStreamer
from models.action.nets import build_model, parameter_count
from models.action.synth import ACTIONS
from models.action.train import pick_device


def bench_streaming(kind: str, size: str, tracks: int, steps: int, device: str = "cpu",
                    threads: int | None = None, feature_dim: int = SKELETON_FEATURE_DIM) -> dict:
    if threads:
        torch.set_num_threads(threads)
    dev = pick_device(device)
    cfg = ActionModelConfig.create(kind, size, feature_dim, list(ACTIONS))
    model = build_model(cfg).to(dev).eval()
    streamer = ActionStreamer(model, cfg, dev)
    rng = np.random.default_rng(0)
    ids = list(range(tracks))
    times = []
    for i in range(steps + 10):
        feats = rng.normal(size=(tracks, feature_dim)).astype(np.float32)
        t0 = time.perf_counter()
        streamer.update(ids, feats)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= 10:
            times.append((time.perf_counter() - t0) * 1000)
    gpu = torch.cuda.get_device_name(0) if dev.type == "cuda" else None
    return {"model": kind, "size": size, "tracks": tracks, "device": str(dev), "gpu": gpu,
            "threads": torch.get_num_threads(), "parameters": parameter_count(model),
            "p50_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95))}
