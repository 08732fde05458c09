"""Array helpers shared by the result types (``Persons``, ``Detections``): shape validation and JSON rounding; and the
logistic function the model stages apply to their logits."""
from __future__ import annotations

from typing import Any

import numpy as np


def as_array(value: Any, dtype, shape_tail: tuple[int, ...], name: str, n: int | None) -> np.ndarray:
    """``value`` as an (n, *shape_tail) array of ``dtype``; ``n=None`` takes n from it (an empty value is n=0)."""
    arr = np.asarray(value, dtype=dtype)
    if n is None and arr.size == 0:
        arr = arr.reshape((0, *shape_tail))
    if arr.ndim != 1 + len(shape_tail) or tuple(arr.shape[1:]) != shape_tail:
        raise ValueError(f"{name} must have shape (n, {', '.join(map(str, shape_tail))}), got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows, expected {n}")
    return arr


def rounded(values: np.ndarray, digits: int = 4) -> list[float | None]:
    """JSON numbers: rounded to ``digits``, None where not finite."""
    return [None if not np.isfinite(v) else round(float(v), digits) for v in values]


def from_rounded(values: Any, width: int, name: str) -> list[float]:
    """The inverse of ``rounded`` for one row: a JSON list of ``width`` numbers, None -> NaN."""
    if not isinstance(values, (list, tuple)) or len(values) != width:
        raise ValueError(f"{name} must be a list of {width} numbers, got {values!r}")
    out = []
    for v in values:
        if v is None:
            out.append(float("nan"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
        else:
            raise ValueError(f"{name} must be a list of {width} numbers (or null), got {values!r}")
    return out


def json_number(value: Any, name: str) -> float:
    """A JSON number as float; null (written for a value that was not finite) -> NaN."""
    if value is None:
        return float("nan")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def json_track_id(value: Any, where: str) -> int:
    """A JSON track_id: an integer, or null for "not tracked" (-1)."""
    if value is None:
        return -1
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{where}.track_id must be an integer or null, got {value!r}")
    return value


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, without exp's overflow on large logits (float arrays keep their dtype)."""
    x = np.asarray(x)
    return 0.5 * (1.0 + np.tanh(0.5 * (x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64))))
