"""ONNX Runtime sessions with a provider preference (TensorRT -> CUDA -> CPU) and honest reporting.

onnxruntime-gpu lists CUDA/TensorRT as *available* even without a GPU (fixed at build time), so the providers
actually in use are read back from the session after it is made, and that is what gets reported.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.errors import PerceptError

log = logging.getLogger(__name__)
_NUMPY_OF_TORCH: dict = {}
# Intra-op threads of sessions made with intra_op_threads=0 (0: ONNX Runtime's choice, one per core). A batch
# worker sets its CPU-thread budget here (set_default_intra_op_threads) so that N workers do not each take every core.
DEFAULT_INTRA_OP_THREADS = 0


def set_default_intra_op_threads(threads: int) -> None:
    """Process-wide default for sessions made afterwards; 0 restores ONNX Runtime's own choice."""
    global DEFAULT_INTRA_OP_THREADS
    DEFAULT_INTRA_OP_THREADS = max(0, int(threads))


def _dtype_table() -> None:
    import torch

    _NUMPY_OF_TORCH.update({torch.float32: np.float32, torch.float16: np.float16, torch.uint8: np.uint8,
                            torch.int64: np.int64, torch.int32: np.int32})

_PREFERENCE = {
    "auto": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "cpu": ("CPUExecutionProvider",),
}


def ort_log_severity() -> int:
    """ONNX Runtime's own (C++) log level: ``PERCEPT_ORT_LOG`` (0 verbose .. 4 fatal) when set; else 2 (its
    warnings) under ``percept -v``, 3 (errors only) otherwise. Its messages go to stderr, never to stdout."""
    value = os.environ.get("PERCEPT_ORT_LOG", "").strip()
    if value:
        if value in ("0", "1", "2", "3", "4"):
            return int(value)
        from models.runtime.device import warn_once

        warn_once("ort-log", f"PERCEPT_ORT_LOG must be 0..4 (0 verbose, 4 fatal only), got {value!r}; using 3")
        return 3
    return 2 if logging.getLogger().isEnabledFor(logging.INFO) else 3


def resolve_providers(device: str = "auto") -> list[str]:
    """Providers to ask for, in order, given a device preference: auto | tensorrt | cuda | cpu. A GPU asked for
    but not usable (no CUDA device, or an ONNX Runtime build without its provider) means the CPU, with one
    warning saying so."""
    import onnxruntime as ort

    from models.runtime.device import cuda_available, warn_once

    if device.startswith("cuda:"):
        device = "cuda"
    if device not in _PREFERENCE:
        raise PerceptError(f"unknown device {device!r}; choose one of {', '.join(_PREFERENCE)}")
    available = set(ort.get_available_providers())
    wanted = [p for p in _PREFERENCE[device] if p in available]
    if device in ("cuda", "tensorrt"):
        if not cuda_available():
            warn_once(f"no-gpu:{device}", f"device {device} is not available (no usable CUDA GPU); "
                                          f"model stages run on the CPU instead")
            wanted = ["CPUExecutionProvider"]
        elif _PREFERENCE[device][0] not in available:
            fallback = "CUDA" if "CUDAExecutionProvider" in wanted else "the CPU"
            warn_once(f"no-provider:{device}", f"device {device} is not available in this ONNX Runtime build "
                                               f"(onnxruntime {ort.__version__} has no {_PREFERENCE[device][0]}); "
                                               f"ONNX models run on {fallback} instead")
    if device == "auto" and not cuda_available():
        wanted = ["CPUExecutionProvider"]
    # TensorRT builds engines on first use (minutes); only take it when asked for explicitly.
    if device == "auto":
        wanted = [p for p in wanted if p != "TensorrtExecutionProvider"]
    return wanted or ["CPUExecutionProvider"]


class OnnxModel:
    """An ONNX Runtime session plus the facts needed to report it.

    ``run(feeds)`` takes numpy arrays by input name and returns the outputs as a list in model order.
    ``loads`` counts the sessions made in this process (sessions must load models once, not per file).
    """

    loads = 0

    def __init__(self, path: str | Path, device: str = "auto", intra_op_threads: int = 0,
                 providers: Sequence[str] | None = None, fp16: bool | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise PerceptError(f"model file not found: {self.path}; run `percept models pull` or check the path")
        requested = list(providers) if providers else resolve_providers(device)
        severity = ort_log_severity()  # cuDNN's per-plan messages are not the user's business (-v shows warnings)
        # A GPU provider that fails to load is logged by ONNX Runtime as an error (multi-line, ANSI-coloured); the
        # one-line warning below says it instead, unless ONNX Runtime's own log was asked for (-v, PERCEPT_ORT_LOG).
        quiet_gpu_start = requested[0] != "CPUExecutionProvider" and severity == 3
        ort.set_default_logger_severity(4 if quiet_gpu_start else severity)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        intra_op_threads = intra_op_threads or DEFAULT_INTRA_OP_THREADS
        if intra_op_threads:
            options.intra_op_num_threads = intra_op_threads
        options.log_severity_level = severity
        # Idle ONNX Runtime threads spin by default, taking the cores that the graph's other stages (other
        # sessions, torch, OpenCV) run on: the default graph went from 7.8 to 10.2 frames/s on 2 cores without it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # FP16 halves memory traffic on GPUs; on CPUs it is slower, so "auto" (None) means: on GPU only. An FP16
        # version is used only if ONNX Runtime loads it and its outputs match FP32 on a probe input (MediaPipe's
        # pose landmark model, for one, is wrong in FP16); otherwise FP32, and ``fp16_rejected`` says why.
        # FP32 on CUDA means FP32: TF32 convolutions move landmarks by a pixel.
        # Heuristic cuDNN algorithm choice: the exhaustive search (ORT's default) runs again for every new input
        # shape, i.e. every new number of people in a batch, and costs seconds each time.
        specs = [(p, {"use_tf32": "0", "cudnn_conv_algo_search": "HEURISTIC"}) if p == "CUDAExecutionProvider"
                 else p for p in requested]
        self.fp16, self.fp16_rejected = False, None
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=specs)
        except Exception as exc:
            raise PerceptError(f"cannot load ONNX model {self.path.name}: {exc}".splitlines()[0]) from exc
        finally:
            if quiet_gpu_start:
                ort.set_default_logger_severity(severity)
        OnnxModel.loads += 1
        on_gpu = self.session.get_providers()[0] != "CPUExecutionProvider"
        if not on_gpu and requested[0] != "CPUExecutionProvider":
            from models.runtime.device import warn_once

            warn_once(f"gpu-failed:{requested[0]}", f"{requested[0].replace('ExecutionProvider', '')} could not "
                                                    f"start in ONNX Runtime (`percept -v` shows why); ONNX models "
                                                    f"run on the CPU instead")
        if on_gpu and (fp16 is None or fp16):
            self.fp16_rejected = self._try_fp16(ort, options, specs)
            if self.fp16_rejected:
                log.warning("%s runs in FP32: %s", self.path.name, self.fp16_rejected)
        self.requested_providers = requested
        self.providers = list(self.session.get_providers())
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.dynamic_batch = all(i.shape and not isinstance(i.shape[0], int) for i in self.session.get_inputs())
        log.info("%s runs on %s", self.path.name, ", ".join(self.providers))

    def _try_fp16(self, ort, options, specs, tolerance: float = 2e-2) -> str | None:
        """Switch to the FP16 version if it loads and agrees with FP32; else return the reason it was not used."""
        try:
            half = ort.InferenceSession(_float16_copy(self.path), sess_options=options, providers=specs)
        except Exception as exc:
            return f"its FP16 version does not load ({str(exc).splitlines()[0][:160]})"
        feeds = _probe_inputs(self.session)
        for out, want, got in zip(self.session.get_outputs(), self.session.run(None, feeds), half.run(None, feeds)):
            want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
            err = float(np.abs(want - got).max() / max(np.abs(want).max(), 1e-6)) if want.size else 0.0
            if not err <= tolerance:
                return f"FP16 output {out.name} differs from FP32 by {err:.2g} (relative) on a probe input"
        self.session, self.fp16 = half, True
        return None

    @property
    def on_gpu(self) -> bool:
        return self.providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider")

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs in model order. On a GPU, a dynamic batch is padded up to a power of two, so that a varying
        number of people maps to a handful of shapes (kernels and memory plans are made per shape)."""
        n = _batch_to_pad(self, feeds)
        if n is None:
            return self.session.run(self.output_names, feeds)
        size = 1 << max(0, n - 1).bit_length()
        return [o[:n] for o in self.session.run(self.output_names, _pad_rows(feeds, size))]

    def run_chunked(self, feeds: dict[str, np.ndarray], chunk: int, pad: bool = False) -> list[np.ndarray]:
        """``run`` over the first axis in calls of at most ``chunk`` rows, outputs joined: a crowd in calls of the
        size whose memory and speed were measured, or (``pad``) a model exported with a fixed batch of ``chunk``,
        the last call zero-padded to it."""
        n = len(next(iter(feeds.values())))
        if n <= chunk and not (pad and n < chunk):
            return self.run(feeds)
        parts = []
        for start in range(0, n, chunk):
            part = {k: v[start:start + chunk] for k, v in feeds.items()}
            got = len(next(iter(part.values())))
            if pad:
                part = _pad_rows(part, chunk)
            parts.append([np.asarray(o)[:got] for o in self.run(part)])
        return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]

    def run_input(self, x: np.ndarray) -> list[np.ndarray]:
        """Outputs in model order for a model with one input (every vision model Percept ships)."""
        return self.run({self.input_names[0]: x})

    def run_input_chunked(self, x: np.ndarray, chunk: int) -> list[np.ndarray]:
        """``run_chunked`` for a model with one input."""
        return self.run_chunked({self.input_names[0]: x}, chunk)

    def outputs_of(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """``run_input`` with the outputs by name, for models whose output order is not part of their contract."""
        return dict(zip(self.output_names, self.run_input(x)))

    def run_on_device(self, feeds: dict[str, Any]) -> list[Any]:
        """Inputs and outputs stay on the GPU: torch CUDA tensors in, torch CUDA tensors out (I/O binding, no host
        round trip between GPU stages). On CPU this is ``run`` with numpy conversion."""
        if not _NUMPY_OF_TORCH:
            _dtype_table()
        if not self.on_gpu:
            arrays = {k: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
                      for k, v in feeds.items()}
            return self.run(arrays)
        import torch

        binding = self.session.io_binding()
        kept = []
        for name, value in feeds.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
            tensor = tensor.to("cuda").contiguous()
            kept.append(tensor)
            binding.bind_input(name, "cuda", tensor.device.index or 0, _NUMPY_OF_TORCH[tensor.dtype],
                               tuple(tensor.shape), tensor.data_ptr())
        for name in self.output_names:
            binding.bind_output(name, "cuda")
        self.session.run_with_iobinding(binding)
        return [torch.from_dlpack(v) for v in binding.get_outputs()]

    def describe(self) -> dict:
        return {"model": self.path.name, "providers": self.providers, "requested": self.requested_providers,
                "fp16": self.fp16, **({"fp16_rejected": self.fp16_rejected} if self.fp16_rejected else {})}


def _pad_rows(feeds: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """Every input zero-padded along the batch axis to ``size`` rows (inputs already that long kept as they are)."""
    return {k: np.concatenate([v, np.zeros((size - len(v), *v.shape[1:]), v.dtype)]) if len(v) < size else v
            for k, v in feeds.items()}


def _batch_to_pad(model: "OnnxModel", feeds: dict[str, np.ndarray]) -> int | None:
    """The batch size to pad, or None: only on a GPU, only for models whose every input has a symbolic batch."""
    if not model.on_gpu or not model.dynamic_batch:
        return None
    sizes = {np.shape(v)[0] for v in feeds.values() if np.ndim(v)}
    return sizes.pop() if len(sizes) == 1 else None


def _probe_inputs(session) -> dict[str, np.ndarray]:
    """Deterministic inputs of each input's shape (symbolic dims -> 1, unknown image sizes -> 256)."""
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in session.get_inputs():
        shape = [d if isinstance(d, int) else (1 if i == 0 else 256) for i, d in enumerate(inp.shape)]
        if inp.type == "tensor(uint8)":
            feeds[inp.name] = rng.integers(0, 256, shape, dtype=np.uint8)
        else:
            feeds[inp.name] = rng.random(shape, dtype=np.float32)
    return feeds


def _float16_copy(path: Path) -> str:
    """An FP16 version of the model (inputs/outputs stay float32), cached next to the user's model cache."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from models.registry import cache_dir, sha256_of

    target = cache_dir() / "fp16" / f"{path.stem}-{sha256_of(path)[:12]}.onnx"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        model = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
        onnx.save(model, str(target))
        log.info("wrote FP16 copy of %s to %s", path.name, target)
    return str(target)


def load_stage_model(model: str, stage_device: str = "auto", session_device: str = "auto",
                     intra_op_threads: int = 0) -> OnnxModel:
    """A model stage's ONNX model: a manifest name or a path, on the device ``select_device`` picks."""
    from models.registry import resolve_model
    from models.runtime.device import select_device

    return OnnxModel(resolve_model(model), device=select_device(stage_device, session_device),
                     intra_op_threads=intra_op_threads)
