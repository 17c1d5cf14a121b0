"""Parameter types: what can be tuned, its range, and its place in the normalised space.

Numerical learners work in [0, 1] per parameter. A Real without a step maps linearly onto it.
An Integer, or a Real with a step, has a grid of ``n_steps + 1`` points; grid index ``i`` sits at
``i / n_steps`` so every dimension shares the same scale (and one ``delta`` means the same
fraction of every range). Points are mapped back by rounding to the nearest grid point and
clipping to the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, Union

import numpy as np

__all__ = [
    "Categorical",
    "CategoryType",
    "Integer",
    "NumericalValue",
    "Real",
    "ValueType",
    "inverse_transform",
    "to_dict",
    "to_value",
    "transform",
]

CategoryType: TypeAlias = Union[str, int, float, bool]  # noqa: UP007 (runtime alias on 3.10)

_GRID_TOLERANCE = 1e-9


def _fail(name: object, rule: str, got: object) -> ValueError:
    return ValueError(f"Parameter {name!r}: {rule}. Got {got!r} instead.")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"A parameter's 'name' must be a non-empty string. Got {name!r} instead.")
    return name


def _check_real(name: str, field: str, x: object) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"Parameter {name!r}: '{field}' must be a number. Got {x!r} instead.")
    value = float(x)  # type: ignore[arg-type]
    if not math.isfinite(value):
        raise _fail(name, f"'{field}' must be finite", x)
    return value


def _check_integer(name: str, field: str, x: object) -> int:
    value = _check_real(name, field, x)
    if value != int(value):
        raise _fail(name, f"'{field}' must be a whole number", x)
    return int(value)


def _on_grid(offset: float, step: float) -> bool:
    ratio = offset / step
    return abs(ratio - round(ratio)) <= _GRID_TOLERANCE * max(1.0, abs(ratio))


@dataclass(frozen=True, slots=True, init=False)
class Categorical:
    """A parameter taking one of a fixed set of categories.

    Args:
        name: Unique name of the parameter.
        val: Initial value; must be one of ``categories``.
        categories: The allowed values, without duplicates. A single category makes the parameter constant.
    """

    name: str
    val: CategoryType
    categories: tuple[CategoryType, ...]

    def __init__(self, name: str, val: CategoryType, categories: Sequence[CategoryType]) -> None:
        name = _check_name(name)
        if isinstance(categories, (str, bytes)) or not isinstance(categories, Sequence):
            raise TypeError(f"Parameter {name!r}: 'categories' must be a list or tuple. Got {categories!r} instead.")
        cats = tuple(categories)
        if not cats:
            raise _fail(name, "'categories' must hold at least one category", categories)
        for c in cats:
            if not isinstance(c, (str, int, float, bool)):
                raise TypeError(f"Parameter {name!r}: each category must be a str, int, float or bool. Got {c!r}.")
            if isinstance(c, float) and not math.isfinite(c):
                raise _fail(name, "each category must be finite", c)
        if len(set(cats)) != len(cats):
            duplicates = sorted({repr(c) for c in cats if cats.count(c) > 1})
            raise _fail(name, f"'categories' must not repeat a value (repeated: {', '.join(duplicates)})", categories)
        if val not in cats:
            raise _fail(name, f"'val' must be one of the categories {list(cats)}", val)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "val", val)
        object.__setattr__(self, "categories", cats)

    @property
    def is_constant(self) -> bool:
        """Whether there is nothing to tune (a single category)."""
        return len(self.categories) == 1

    @property
    def n_categories(self) -> int:
        """Number of categories."""
        return len(self.categories)

    def index(self, category: CategoryType) -> int:
        """Position of ``category`` in ``categories``."""
        return self.categories.index(category)


@dataclass(frozen=True, slots=True, init=False)
class Integer:
    """An integer parameter on the grid ``min, min + step, ..., max``.

    Args:
        name: Unique name of the parameter.
        val: Initial value.
        min: Smallest value.
        max: Largest value; ``max - min`` must be a multiple of ``step``.
        step: Spacing of the grid (at least 1).
    """

    name: str
    val: int
    min: int
    max: int
    step: int

    def __init__(self, name: str, val: int, min: int, max: int, step: int = 1) -> None:
        name = _check_name(name)
        val_, min_, max_ = (_check_integer(name, f, x) for f, x in (("val", val), ("min", min), ("max", max)))
        step_ = _check_integer(name, "step", step)
        if step_ < 1:
            raise _fail(name, "'step' must be at least 1", step)
        _check_bounds(name, val_, min_, max_, step_)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "val", val_)
        object.__setattr__(self, "min", min_)
        object.__setattr__(self, "max", max_)
        object.__setattr__(self, "step", step_)

    @property
    def is_constant(self) -> bool:
        """Whether there is nothing to tune (``min == max``)."""
        return self.min == self.max

    @property
    def n_steps(self) -> int:
        """Number of grid intervals between ``min`` and ``max``."""
        return (self.max - self.min) // self.step

    def from_unit(self, position: float) -> int:
        """The grid point nearest to ``position`` in [0, 1] (clipped)."""
        position = 0.0 if position < 0.0 else 1.0 if position > 1.0 else position
        return self.min + round(position * ((self.max - self.min) // self.step)) * self.step


@dataclass(frozen=True, slots=True, init=False)
class Real:
    """A real parameter in ``[min, max]``, continuous or on a grid when ``step`` is given.

    Args:
        name: Unique name of the parameter.
        val: Initial value.
        min: Smallest value.
        max: Largest value.
        step: Optional grid spacing; ``max - min`` and ``val - min`` must be multiples of it.
    """

    name: str
    val: float
    min: float
    max: float
    step: float | None

    def __init__(self, name: str, val: float, min: float, max: float, step: float | None = None) -> None:
        name = _check_name(name)
        val_, min_, max_ = (_check_real(name, f, x) for f, x in (("val", val), ("min", min), ("max", max)))
        step_: float | None = None
        if step is not None:
            step_ = _check_real(name, "step", step)
            if step_ <= 0:
                raise _fail(name, "'step' must be positive", step)
        _check_bounds(name, val_, min_, max_, step_)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "val", val_)
        object.__setattr__(self, "min", min_)
        object.__setattr__(self, "max", max_)
        object.__setattr__(self, "step", step_)

    @property
    def is_constant(self) -> bool:
        """Whether there is nothing to tune (``min == max``)."""
        return self.min == self.max

    @property
    def n_steps(self) -> int | None:
        """Number of grid intervals, or None for a continuous parameter."""
        if self.step is None:
            return None
        return round((self.max - self.min) / self.step)

    def from_unit(self, position: float) -> float:
        """The value at ``position`` in [0, 1] (clipped), on the grid when there is a step."""
        position = 0.0 if position < 0.0 else 1.0 if position > 1.0 else position
        if self.step is None:
            return self.min + position * (self.max - self.min)
        index = round(position * round((self.max - self.min) / self.step))
        return min(self.max, round(self.min + index * self.step, 12))


def _check_bounds(name: str, val: float, lo: float, hi: float, step: float | None) -> None:
    if lo > hi:
        raise _fail(name, f"'min' must not exceed 'max' ({hi!r})", lo)
    if not lo <= val <= hi:
        raise _fail(name, f"'val' must lie within [min, max] = [{lo!r}, {hi!r}]", val)
    if step is None:
        return
    if not _on_grid(hi - lo, step):
        raise _fail(name, f"'max' must be reachable from 'min' ({lo!r}) in steps of {step!r}", hi)
    if not _on_grid(val - lo, step):
        raise _fail(name, f"'val' must be reachable from 'min' ({lo!r}) in steps of {step!r}", val)


NumericalValue: TypeAlias = Union[Integer, Real]  # noqa: UP007
ValueType: TypeAlias = Union[Categorical, Integer, Real]  # noqa: UP007

_FIELDS: dict[str, tuple[type, frozenset[str], frozenset[str]]] = {
    "categorical": (Categorical, frozenset({"name", "val", "categories"}), frozenset()),
    "integer": (Integer, frozenset({"name", "val", "min", "max"}), frozenset({"step"})),
    "real": (Real, frozenset({"name", "val", "min", "max"}), frozenset({"step"})),
}


def to_value(spec: ValueType | Mapping[str, Any]) -> ValueType:
    """Return a parameter from a parameter or its dict form ``{"type": "real", "name": ..., ...}``."""
    if isinstance(spec, (Categorical, Integer, Real)):
        return spec
    if not isinstance(spec, Mapping):
        raise TypeError(
            f"A parameter must be a Categorical, Integer or Real, or a dict with a 'type' key. Got {spec!r} instead."
        )
    kind = spec.get("type")
    label = spec.get("name", "<unnamed>")
    if kind not in _FIELDS:
        raise ValueError(f"Parameter {label!r}: 'type' must be one of {sorted(_FIELDS)}. Got {kind!r} instead.")
    cls, required, optional = _FIELDS[kind]
    given = set(spec) - {"type"}
    missing = required - given
    if missing:
        raise ValueError(f"Parameter {label!r}: missing field(s) {sorted(missing)} for type {kind!r}.")
    unknown = given - required - optional
    if unknown:
        raise ValueError(
            f"Parameter {label!r}: unknown field(s) {sorted(unknown)} for type {kind!r}; "
            f"allowed: {sorted(required | optional)}."
        )
    return cls(**{k: v for k, v in spec.items() if k != "type"})


def to_dict(value: ValueType) -> dict[str, Any]:
    """Return the JSON-compatible dict form of a parameter (inverse of `to_value`)."""
    if isinstance(value, Categorical):
        return {"type": "categorical", "name": value.name, "val": value.val, "categories": list(value.categories)}
    if isinstance(value, Integer):
        return {"type": "integer", "name": value.name, "val": value.val, "min": value.min, "max": value.max,
                "step": value.step}  # fmt: skip
    if isinstance(value, Real):
        out: dict[str, Any] = {"type": "real", "name": value.name, "val": value.val, "min": value.min, "max": value.max}
        if value.step is not None:
            out["step"] = value.step
        return out
    raise TypeError(f"Expected a Categorical, Integer or Real. Got {value!r} instead.")


def transform(value: ValueType, x: Any) -> float | int:
    """Map ``x`` from parameter units into the normalised space.

    Numerical parameters go to [0, 1]; a categorical value goes to its category index.
    """
    if isinstance(value, Categorical):
        if x not in value.categories:
            raise _fail(value.name, f"value must be one of the categories {list(value.categories)}", x)
        return value.categories.index(x)
    if value.min == value.max:
        return 0.0
    position = (float(x) - value.min) / (value.max - value.min)
    return min(1.0, max(0.0, position))


def inverse_transform(value: ValueType, x: float | int) -> CategoryType:
    """Map a point of the normalised space back to parameter units, on the grid and within bounds."""
    if isinstance(value, Categorical):
        return value.categories[int(x)]
    return value.from_unit(float(x))
