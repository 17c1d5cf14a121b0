"""A check shared by the algorithm tests: a prediction lies within bounds and on every parameter's grid."""

import math
from typing import Any

from oppertune.core.values import Categorical, Integer, ValueType


def assert_on_grid(params: list[ValueType], prediction: dict[str, Any]) -> None:
    """Each value is one of the categories, or within [min, max] on the step grid (ints for Integer)."""
    for p in params:
        value = prediction[p.name]
        if isinstance(p, Categorical):
            assert value in p.categories
        elif isinstance(p, Integer):
            assert type(value) is int and p.min <= value <= p.max and (value - p.min) % p.step == 0
        else:
            assert isinstance(value, float) and p.min <= value <= p.max
            if p.step is not None:
                steps = (value - p.min) / p.step
                assert math.isclose(steps, round(steps), abs_tol=1e-9)
