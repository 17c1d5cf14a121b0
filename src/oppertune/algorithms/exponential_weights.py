"""Exponential weights (EXP3) over every combination of the categorical parameters."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from oppertune.algorithms import _arguments as check
from oppertune.algorithms._exp3 import Exp3
from oppertune.algorithms._random import BufferedDraws
from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context
from oppertune.core.values import Categorical, ValueType

__all__ = ["ExponentialWeights"]

MAX_ARMS = 1_000_000


class ExponentialWeights(TuningInstance):
    """EXP3 whose arms are the joint combinations of all categorical parameters.

    Learns interactions between parameters, at the cost of one arm per combination; use
    ``exponential_weights_slates`` when the product of the category counts is large.

    Args:
        parameters: The categorical parameters to tune.
        random_seed: Seed for reproducible runs.
    """

    name = "exponential_weights"
    supported_parameter_types = (Categorical,)

    def __init__(self, parameters: Iterable[ValueType | Mapping[str, Any]], random_seed: int | None = None) -> None:
        owner = type(self).__name__
        self.random_seed = check.seed(owner, random_seed)
        super().__init__(parameters)
        self._categoricals = [p for p in self._tuned if isinstance(p, Categorical)]
        n_arms = math.prod(p.n_categories for p in self._categoricals)
        if n_arms > MAX_ARMS:
            raise ValueError(
                f"{owner} would need {n_arms} arms (the product of the category counts), more than {MAX_ARMS}. "
                "Use 'exponential_weights_slates', which learns each parameter separately."
            )
        self._learner = Exp3(n_arms)
        self._uniforms = BufferedDraws(self.random_seed, "uniform")

    def _configuration(self, arm: int) -> dict[str, Any]:
        values = {}
        for p in reversed(self._categoricals):
            arm, index = divmod(arm, p.n_categories)
            values[p.name] = p.categories[index]
        return values

    def _predict(self, context: Context) -> dict[str, Any]:
        if not self._categoricals:
            return {}
        return self._configuration(self._learner.draw(self._uniforms.take_one()))

    def _learn(self, reward: float | list[float], context: Context) -> None:
        if self._categoricals:
            self._learner.learn(float(reward))  # type: ignore[arg-type]

    @property
    def best_configuration(self) -> dict[str, Any]:
        """The combination with the largest weight."""
        return self._configuration(self._learner.best_arm())

    def _reexplore(self) -> None:
        self._learner.soften()

    def _get_state(self) -> dict[str, Any]:
        return {"uniforms": self._uniforms.get_state(), "exp3": self._learner.get_state()}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._learner.set_state(state["exp3"])
        self._uniforms.set_state(state["uniforms"])
