"""Checks and timings on a CUDA machine: `python tools/gpu_report.py [--out report.json]`.

Reports what really runs on the GPU: torch CUDA for the action models (streaming step, paper and lite sizes; a
short mixed-precision training run), and which ONNX Runtime providers the installed onnxruntime offers and uses.
Needs only torch, numpy, safetensors, tqdm (and onnxruntime for the ONNX part).
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def gpu_facts() -> dict:
    import torch

    facts = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name(0)
    try:
        facts["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                              "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    except FileNotFoundError:
        pass
    return facts


def action_benchmarks() -> list[dict]:
    from models.action.step_latency import bench_streaming

    rows = []
    for kind in ("oadtr", "trn"):
        for size in ("lite", "paper"):
            for device in ("cuda", "cpu"):
                if device == "cpu" and size == "paper":
                    continue
                rows.append(bench_streaming(kind, size, 8, 100, device, feature_dim=2048 if size == "paper"
                                            else 85))
    return rows


def action_training() -> dict:
    from models.action.data import load_dataset, save_dataset
    from models.action.evaluate import evaluate
    from models.action.synth import generate_dataset
    from models.action.train import TrainOptions, train

    with tempfile.TemporaryDirectory() as tmp:
        classes, videos = generate_dataset(40, 10, seed=3)
        save_dataset(Path(tmp) / "d", classes, videos)
        data = load_dataset(Path(tmp) / "d", splits=("train",))
        t = time.perf_counter()
        result = train(data, Path(tmp) / "ck", TrainOptions(model="oadtr", size="lite", epochs=3, device="cuda",
                                                            batch_size=256, progress=False))
        seconds = time.perf_counter() - t
        ev = evaluate(Path(tmp) / "d", Path(tmp) / "ck", "cuda")
    return {"device": result["device"], "amp": True, "epochs": 3, "seconds": round(seconds, 1),
            "final_loss": result["history"][-1]["loss"], "test_mAP": ev["mAP"]}


def onnx_runtime() -> dict:
    """Every ONNX model of the registry on the CUDA provider, FP32 and FP16: latency, the providers the session
    really uses, and how far FP16 outputs are from FP32 (max |diff| / max |FP32| on the first output)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return {"error": str(exc)}
    import numpy as np

    from models.registry import Registry
    from models.runtime.model_latency import _input
    from models.runtime.onnx import OnnxModel

    out = {"onnxruntime": ort.__version__, "available": ort.get_available_providers(), "models": []}
    reg = Registry()
    for name, entry in reg.entries.items():
        if not (entry.file or "").endswith(".onnx") or not reg.local_path(entry).is_file():
            continue
        row = {"model": name}
        try:
            outputs = {}
            for precision in ("fp32", "fp16"):
                model = OnnxModel(reg.verify(name), device="cuda", fp16=precision == "fp16")
                batch = 8 if not isinstance(model.session.get_inputs()[0].shape[0], int) else 1
                feeds = _input(model, batch)
                for _ in range(5):
                    model.run(feeds)
                times = []
                for _ in range(50):
                    t = time.perf_counter()
                    outputs[precision] = model.run(feeds)
                    times.append((time.perf_counter() - t) * 1000)
                row[precision] = {"batch": batch, "p50_ms": round(float(np.median(times)), 3),
                                  "providers": model.providers, "fp16_in_use": model.fp16,
                                  "fp16_rejected": model.fp16_rejected}
            a, b = outputs["fp32"][0].astype(np.float64), outputs["fp16"][0].astype(np.float64)
            row["fp16_rel_diff"] = float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))
        except Exception as exc:  # report, do not hide
            row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        out["models"].append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    report = {"facts": gpu_facts(), "onnxruntime": onnx_runtime(), "action_streaming": action_benchmarks(),
              "action_training": action_training()}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
