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


def _doubling_model(path, fixed_batch: int | None = None):
    """y = 2x and s = sum over the row: outputs that follow the batch, of a dynamic or fixed batch."""
    import onnx
    from onnx import TensorProto, helper

    batch = "n" if fixed_batch is None else fixed_batch
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"]), helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0, axes=[1])],
        "doubling", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, [batch])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 8  # what the ONNX Runtime here reads (the onnx package writes newer)
    onnx.save(model, str(path))
    return OnnxModel(path, device="cpu")


def test_chunked_runs_join_to_the_one_call_and_pad_a_fixed_batch(tmp_path):
    x = np.arange(21, dtype=np.float32).reshape(7, 3)
    model = _doubling_model(tmp_path / "d.onnx")
    whole = model.run_input(x)
    for chunk in (1, 3, 7, 10):
        got = model.run_input_chunked(x, chunk)
        assert all(np.array_equal(g, w) for g, w in zip(got, whole))
    fixed = _doubling_model(tmp_path / "f.onnx", fixed_batch=4)  # 7 rows: calls of 4 and 3 + 1 zero row
    y, s = fixed.run_chunked({"x": x}, 4, pad=True)
    assert np.array_equal(y, 2 * x) and np.array_equal(s, x.sum(axis=1))
    y1, _ = fixed.run_chunked({"x": x[:1]}, 4, pad=True)  # fewer rows than the batch: padded too
    assert np.array_equal(y1, 2 * x[:1])
