"""HybridSolver: a categorical learner and a numerical learner side by side, fed the same reward."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from oppertune.algorithms import _arguments as check
from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context
from oppertune.core.values import Categorical, Integer, Real, ValueType

__all__ = ["HybridSolver"]


class HybridSolver(TuningInstance):
    """Tunes categorical and numerical parameters together with two learners sharing each reward.

    Args:
        parameters: The parameters to tune, of any type.
        categorical_algorithm: Registry name of the learner for the categorical parameters.
        categorical_algorithm_args: Its constructor arguments.
        numerical_algorithm: Registry name of the learner for the Integer and Real parameters.
        numerical_algorithm_args: Its constructor arguments.
    """

    name = "hybrid_solver"

    def __init__(
        self,
        parameters: Iterable[ValueType | Mapping[str, Any]],
        categorical_algorithm: str = "exponential_weights_slates",
        categorical_algorithm_args: Mapping[str, Any] | None = None,
        numerical_algorithm: str = "bluefin",
        numerical_algorithm_args: Mapping[str, Any] | None = None,
    ) -> None:
        from oppertune.algorithms.registry import get_algorithm_class

        owner = type(self).__name__
        self.categorical_algorithm = categorical_algorithm
        self.categorical_algorithm_args = check.mapping(owner, "categorical_algorithm_args", categorical_algorithm_args)
        self.numerical_algorithm = numerical_algorithm
        self.numerical_algorithm_args = check.mapping(owner, "numerical_algorithm_args", numerical_algorithm_args)
        super().__init__(parameters)

        categorical_class = get_algorithm_class(categorical_algorithm)
        numerical_class = get_algorithm_class(numerical_algorithm)
        for role, cls, kind in (("categorical", categorical_class, Categorical), ("numerical", numerical_class, Real)):
            if kind not in cls.supported_parameter_types or cls.uses_context or cls.learns_from_stored_rewards:
                raise ValueError(
                    f"The '{role}_algorithm' argument of {owner} must name a context-free algorithm that tunes "
                    f"{role} parameters. Got {cls.name!r} instead."
                )
        categoricals = [p for p in self._tuned if isinstance(p, Categorical)]
        numericals = [p for p in self._tuned if isinstance(p, (Integer, Real))]
        self._learners: list[TuningInstance] = []
        if categoricals:
            self._learners.append(categorical_class(categoricals, **self.categorical_algorithm_args))
        if numericals:
            self._learners.append(numerical_class(numericals, **self.numerical_algorithm_args))

    def _predict(self, context: Context) -> dict[str, Any]:
        if len(self._learners) == 1:
            return self._learners[0]._predict(context)
        first, second = self._learners
        return {**first._predict(context), **second._predict(context)}

    def _learn(self, reward: float | list[float], context: Context) -> None:
        for learner in self._learners:
            learner._learn(reward, context)

    def _get_state(self) -> dict[str, Any]:
        return {"learners": [learner._get_state() for learner in self._learners]}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        parts = state["learners"]
        if not isinstance(parts, list) or len(parts) != len(self._learners):
            raise ValueError(f"'learners' must be a list of {len(self._learners)} learner states")
        for learner, part in zip(self._learners, parts, strict=True):
            learner._set_state(part)
