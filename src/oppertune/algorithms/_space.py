"""The normalised space [0, 1]^d that numerical learners work in, and the way back to parameter values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oppertune.core.values import NumericalValue, transform


class NumericalSpace:
    """Maps points of [0, 1]^d to configurations of ``parameters`` (on their grids, within bounds)."""

    __slots__ = ("_decoders", "names", "parameters")

    def __init__(self, parameters: Sequence[NumericalValue]) -> None:
        self.parameters = tuple(parameters)
        self.names = tuple(p.name for p in self.parameters)
        self._decoders = tuple((p.name, p.from_unit) for p in self.parameters)

    @property
    def dim(self) -> int:
        """Number of dimensions."""
        return len(self.parameters)

    def initial_point(self) -> list[float]:
        """The parameters' initial values in the normalised space."""
        return [float(transform(p, p.val)) for p in self.parameters]

    def to_values(self, point: Sequence[float]) -> dict[str, Any]:
        """The configuration at ``point``."""
        return {name: decode(x) for (name, decode), x in zip(self._decoders, point)}
