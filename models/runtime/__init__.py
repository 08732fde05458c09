"""One place that makes inference sessions (ONNX Runtime, torch) and reports what they really run on."""
from models.runtime.device import select_device, torch_device
from models.runtime.onnx import OnnxModel, load_stage_model, resolve_providers

__all__ = ["OnnxModel", "load_stage_model", "resolve_providers", "select_device", "torch_device"]
