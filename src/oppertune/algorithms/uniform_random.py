"""Baseline: every round draws a configuration uniformly at random, honouring steps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from oppertune.algorithms import _arguments as check
from oppertune.algorithms import _state as valid
from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context
from oppertune.core.values import Categorical, ValueType, inverse_transform

__all__ = ["UniformRandom"]


class UniformRandom(TuningInstance):
    """Draws each parameter uniformly: a category, a grid point, or a real in ``[min, max]``. Learns nothing.

    Args:
        parameters: The parameters to tune, of any type.
        random_seed: Seed for reproducible runs.
    """

    name = "uniform_random"

    def __init__(self, parameters: Iterable[ValueType | Mapping[str, Any]], random_seed: int | None = None) -> None:
        self.random_seed = check.seed(type(self).__name__, random_seed)
        super().__init__(parameters)
        self._rng = np.random.default_rng(self.random_seed)

    def _predict(self, context: Context) -> dict[str, Any]:
        rng = self._rng
        values: dict[str, Any] = {}
        for p in self._tuned:
            if isinstance(p, Categorical):
                values[p.name] = p.categories[int(rng.integers(p.n_categories))]
            elif p.n_steps is not None:
                values[p.name] = inverse_transform(p, int(rng.integers(p.n_steps + 1)) / p.n_steps)
            else:
                values[p.name] = float(rng.uniform(p.min, p.max))
        return values

    def _learn(self, reward: float | list[float], context: Context) -> None:
        pass

    def _get_state(self) -> dict[str, Any]:
        return {"rng": self._rng.bit_generator.state}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._rng = valid.generator(state["rng"])
