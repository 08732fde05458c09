"""The ONNX/torch runtime reports what it really runs on; the device path falls back cleanly on a CPU machine."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from models.runtime.onnx import OnnxModel, resolve_providers
from models.runtime.torch import TorchRuntime
from pipeline.errors import PerceptError
from pipeline.paths import asset

POSE = asset("models", "pose_landmark_full.onnx")


def test_providers_reported_are_the_ones_in_use():
    model = OnnxModel(POSE, device="auto")
    assert model.providers == model.session.get_providers()
    if not torch.cuda.is_available():
        # onnxruntime-gpu lists CUDA as available without a GPU; we must not claim it
        assert "CUDAExecutionProvider" in ort.get_available_providers()
        assert model.providers == ["CPUExecutionProvider"] and not model.on_gpu and not model.fp16
        assert resolve_providers("auto") == ["CPUExecutionProvider"]


def test_run_on_device_matches_run_and_accepts_torch_tensors():
    model = OnnxModel(POSE, device="cpu")
    x = np.random.default_rng(0).random((2, 256, 256, 3), dtype=np.float32)
    a = model.run({"input_1": x})
    b = model.run_on_device({"input_1": torch.from_numpy(x)})
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, np.asarray(v))


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want|: GPU kernels sum in another order than the CPU ones."""
    return float(np.abs(got.astype(np.float64) - want).max() / max(np.abs(want).max(), 1e-12))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_iobinding_keeps_tensors_on_gpu_and_matches_cpu():
    gpu = OnnxModel(POSE, device="cuda", fp16=False)
    assert gpu.providers[0] == "CUDAExecutionProvider"
    torch.manual_seed(0)
    x = torch.rand(2, 256, 256, 3, device="cuda")
    out = gpu.run_on_device({"input_1": x})
    assert out[0].is_cuda
    ref = OnnxModel(POSE, device="cpu").run({"input_1": x.cpu().numpy()})
    assert relative_error(out[0].cpu().numpy(), ref[0]) <= 1e-3
    three = x[:1].repeat(3, 1, 1, 1).cpu().numpy()  # padded to a batch of 4 on the GPU, 3 rows come back
    padded = gpu.run({"input_1": three})
    assert padded[0].shape[0] == 3
    assert relative_error(padded[0], np.repeat(ref[0][:1], 3, axis=0)) <= 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fp16_is_used_only_where_it_agrees_with_fp32():
    auto = OnnxModel(POSE, device="cuda")
    exact = OnnxModel(POSE, device="cuda", fp16=False)
    assert auto.fp16 != bool(auto.fp16_rejected)
    x = {"input_1": np.random.default_rng(1).random((1, 256, 256, 3), dtype=np.float32)}
    a, b = auto.run(x)[0], exact.run(x)[0]
    assert np.abs(a - b).max() <= 2e-2 * np.abs(b).max()


def test_bad_model_file_and_device_are_clear_errors(tmp_path):
    with pytest.raises(PerceptError, match="not found"):
        OnnxModel(tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(PerceptError, match="cannot load ONNX model bad.onnx"):
        OnnxModel(bad)
    with pytest.raises(PerceptError, match="unknown device"):
        resolve_providers("tpu")


def test_torch_runtime_reports_device_and_dtype():
    rt = TorchRuntime.create("cpu")
    assert rt.dtype == torch.float32 and rt.describe()["device"] == "cpu"
    m = rt.prepare(torch.nn.Linear(3, 2))
    with torch.inference_mode():
        assert m(torch.zeros(1, 3)).shape == (1, 2)
