"""Inference runtime, model registry, the stages that wrap models, and training."""
