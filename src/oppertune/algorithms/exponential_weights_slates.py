"""Exponential weights with one independent EXP3 learner per categorical parameter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from oppertune.algorithms import _arguments as check
from oppertune.algorithms._exp3 import Exp3
from oppertune.algorithms._random import BufferedDraws
from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context
from oppertune.core.values import Categorical, ValueType

__all__ = ["ExponentialWeightsSlates"]


class ExponentialWeightsSlates(TuningInstance):
    """One EXP3 learner per categorical parameter, all fed the same reward.

    Scales to many parameters (arms add up instead of multiplying) but does not model interactions.

    Args:
        parameters: The categorical parameters to tune.
        random_seed: Seed for reproducible runs.
    """

    name = "exponential_weights_slates"
    supported_parameter_types = (Categorical,)

    def __init__(self, parameters: Iterable[ValueType | Mapping[str, Any]], random_seed: int | None = None) -> None:
        self.random_seed = check.seed(type(self).__name__, random_seed)
        super().__init__(parameters)
        self._categoricals = [p for p in self._tuned if isinstance(p, Categorical)]
        self._learners = [Exp3(p.n_categories) for p in self._categoricals]
        self._uniforms = BufferedDraws(self.random_seed, "uniform")

    def _predict(self, context: Context) -> dict[str, Any]:
        draws = self._uniforms.take(len(self._learners))
        return {
            p.name: p.categories[e.draw(u)] for p, e, u in zip(self._categoricals, self._learners, draws, strict=True)
        }

    def _learn(self, reward: float | list[float], context: Context) -> None:
        r = float(reward)  # type: ignore[arg-type]
        for learner in self._learners:
            learner.learn(r)

    @property
    def best_configuration(self) -> dict[str, Any]:
        """Each parameter's category with the largest weight."""
        return {p.name: p.categories[e.best_arm()] for p, e in zip(self._categoricals, self._learners, strict=True)}

    def _reexplore(self) -> None:
        for learner in self._learners:
            learner.soften()

    def _get_state(self) -> dict[str, Any]:
        return {"uniforms": self._uniforms.get_state(), "exp3": [e.get_state() for e in self._learners]}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        parts = state["exp3"]
        if not isinstance(parts, list) or len(parts) != len(self._learners):
            raise ValueError(f"'exp3' must be a list of {len(self._learners)} learner states")
        fresh = [Exp3(p.n_categories) for p in self._categoricals]
        for learner, part in zip(fresh, parts, strict=True):
            learner.set_state(part)
        self._uniforms.set_state(state["uniforms"])
        self._learners = fresh
