"""Checks for learned state read back from JSON, raising ValueError with the field's name."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def vector(values: Any, size: int, field: str) -> np.ndarray:
    """A float array of ``size`` finite numbers."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{field!r} must be a list of {size} finite numbers") from None
    if array.shape != (size,) or not np.all(np.isfinite(array)):
        raise ValueError(f"{field!r} must be a list of {size} finite numbers")
    return array


def generator(state: Mapping[str, Any]) -> np.random.Generator:
    """A numpy Generator restored from its ``bit_generator.state``."""
    rng = np.random.default_rng()
    try:
        rng.bit_generator.state = state  # type: ignore[assignment]
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"'rng' is not a PCG64 generator state: {exc}") from None
    return rng


def non_negative_int(value: Any, field: str) -> int:
    """An int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field!r} must be a non-negative integer")
    return value


def number(value: Any, field: str) -> float:
    """A finite real number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{field!r} must be a finite number")
    return float(value)
