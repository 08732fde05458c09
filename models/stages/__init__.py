"""Stages that wrap models. ``load_builtin_stages`` imports every module here so that each registers itself."""
from __future__ import annotations

import importlib
import pkgutil


def load_builtin_stages() -> None:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name != "bench":
            importlib.import_module(f"{__name__}.{info.name}")
