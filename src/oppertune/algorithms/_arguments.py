"""Checks for constructor arguments, all raising errors of one shape.

"The 'eta' argument of BlueFin must be a positive float. Got -0.1 instead."
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from typing import Any


def _number(owner: str, name: str, value: Any, rule: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"The '{name}' argument of {owner} must be {rule}. Got {value!r} instead.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"The '{name}' argument of {owner} must be {rule}. Got {value!r} instead.")
    return value


def positive_float(owner: str, name: str, value: Any) -> float:
    """A finite float > 0."""
    x = _number(owner, name, value, "a positive float")
    if x <= 0:
        raise ValueError(f"The '{name}' argument of {owner} must be a positive float. Got {value!r} instead.")
    return x


def non_negative_float(owner: str, name: str, value: Any) -> float:
    """A finite float >= 0."""
    x = _number(owner, name, value, "a non-negative float")
    if x < 0:
        raise ValueError(f"The '{name}' argument of {owner} must be a non-negative float. Got {value!r} instead.")
    return x


def float_in(owner: str, name: str, value: Any, lo: float, hi: float, *, closed_low: bool = False) -> float:
    """A float in (lo, hi) or [lo, hi) when ``closed_low``."""
    interval = f"{'[' if closed_low else '('}{lo}, {hi})"
    x = _number(owner, name, value, f"a float in {interval}")
    if not ((lo <= x) if closed_low else (lo < x)) or not x < hi:
        raise ValueError(f"The '{name}' argument of {owner} must be a float in {interval}. Got {value!r} instead.")
    return x


def choice(owner: str, name: str, value: Any, options: Collection[Any]) -> Any:
    """One of ``options``."""
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"The '{name}' argument of {owner} must be one of {listed}. Got {value!r} instead.")
    return value


def seed(owner: str, value: Any) -> int | None:
    """None or a non-negative int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(
            f"The 'random_seed' argument of {owner} must be None or a non-negative int. Got {value!r} instead."
        )
    return int(value)


def mapping(owner: str, name: str, value: Any, allowed: Collection[str] | None = None) -> dict[str, Any]:
    """None (read as empty) or a dict with string keys, limited to ``allowed`` when given."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"The '{name}' argument of {owner} must be a dict with string keys. Got {value!r} instead.")
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(
                f"The '{name}' argument of {owner} has unknown key(s) {unknown}; allowed: {sorted(allowed)}."
            )
    return dict(value)


def json_compatible(owner: str, name: str, value: Any) -> Any:
    """A value that JSON can hold (arguments are saved with the tuner's state)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise TypeError(
            f"The '{name}' argument of {owner} must hold only JSON-compatible values (they are saved with the "
            f"tuner's state). Got {value!r} instead."
        ) from None
    return value
