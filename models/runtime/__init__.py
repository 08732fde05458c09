"""One place that makes inference sessions (ONNX Runtime, torch) and reports what they really run on."""
from models.runtime.onnx import OnnxModel, resolve_providers

__all__ = ["OnnxModel", "resolve_providers"]
