"""HybridSolver: tunes categorical and numerical parameters together.

Given learners (the prototype's way, e.g. ``categorical_algorithm="exponential_weights_slates"``
and ``numerical_algorithm="bluefin"``), it runs them side by side and feeds both every reward.
Given none of the four learner arguments, it uses `PairedSearch`, which coordinates the two kinds
of parameters (categorical choices held across the numerical two-point pairs) and needs no tuning
of its own: the recommended default. In that mode it also takes contexts and keeps one PairedSearch
per context id (for many contexts that should share configurations, use ``autoscope``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from oppertune.algorithms import _arguments as check
from oppertune.algorithms._random import derived_seed
from oppertune.algorithms.base import TuningInstance
from oppertune.algorithms.paired_search import PairedSearch
from oppertune.core.types import Context
from oppertune.core.values import Categorical, Integer, Real, ValueType

__all__ = ["MAX_CONTEXTS", "HybridSolver"]

MAX_CONTEXTS = 10_000
"""The most distinct contexts the default mode keeps a learner for."""


class HybridSolver(TuningInstance):
    """Tunes categorical and numerical parameters together.

    With none of the four learner arguments given, one `PairedSearch` tunes everything (seeded by
    ``random_seed``). Otherwise a categorical and a numerical learner run side by side and both
    learn from every reward; a learner left out defaults to the prototype's choice
    (``exponential_weights_slates`` / ``bluefin``).

    Args:
        parameters: The parameters to tune, of any type.
        categorical_algorithm: Registry name of the learner for the categorical parameters.
        categorical_algorithm_args: Its constructor arguments.
        numerical_algorithm: Registry name of the learner for the Integer and Real parameters.
        numerical_algorithm_args: Its constructor arguments.
        random_seed: Seed of the default `PairedSearch`; with explicit learners, the seed of each
            learner whose arguments do not set one.
    """

    name = "hybrid_solver"

    def __init__(
        self,
        parameters: Iterable[ValueType | Mapping[str, Any]],
        categorical_algorithm: str | None = None,
        categorical_algorithm_args: Mapping[str, Any] | None = None,
        numerical_algorithm: str | None = None,
        numerical_algorithm_args: Mapping[str, Any] | None = None,
        random_seed: int | None = None,
    ) -> None:
        from oppertune.algorithms.registry import get_algorithm_class

        owner = type(self).__name__
        paired = (categorical_algorithm, categorical_algorithm_args, numerical_algorithm, numerical_algorithm_args) == (
            None,
        ) * 4
        self.categorical_algorithm = categorical_algorithm
        self.categorical_algorithm_args = (
            None
            if categorical_algorithm_args is None
            else check.mapping(owner, "categorical_algorithm_args", categorical_algorithm_args)
        )
        self.numerical_algorithm = numerical_algorithm
        self.numerical_algorithm_args = (
            None
            if numerical_algorithm_args is None
            else check.mapping(owner, "numerical_algorithm_args", numerical_algorithm_args)
        )
        self.random_seed = check.seed(owner, random_seed)
        super().__init__(parameters)
        self._learners: list[TuningInstance] = []
        self._paired = paired
        self._per_context: dict[str, PairedSearch] = {}
        self._scale = 1.0
        if paired:
            return

        categorical_class = get_algorithm_class(categorical_algorithm or "exponential_weights_slates")
        numerical_class = get_algorithm_class(numerical_algorithm or "bluefin")
        for role, cls, kind in (("categorical", categorical_class, Categorical), ("numerical", numerical_class, Real)):
            if kind not in cls.supported_parameter_types or cls.uses_context or cls.learns_from_stored_rewards:
                raise ValueError(
                    f"The '{role}_algorithm' argument of {owner} must name a context-free algorithm that tunes "
                    f"{role} parameters. Got {cls.name!r} instead."
                )
        categoricals = [p for p in self._tuned if isinstance(p, Categorical)]
        numericals = [p for p in self._tuned if isinstance(p, (Integer, Real))]
        for cls, subset, args in (
            (categorical_class, categoricals, self.categorical_algorithm_args),
            (numerical_class, numericals, self.numerical_algorithm_args),
        ):
            if subset:
                args = dict(args or {})
                if self.random_seed is not None and "random_seed" not in args and _takes_seed(cls):
                    args["random_seed"] = self.random_seed
                self._learners.append(cls(subset, **args))

    def _check_context(self, context: Context) -> None:
        if not self._paired:
            super()._check_context(context)
        elif context.id not in self._per_context and len(self._per_context) >= MAX_CONTEXTS:
            raise ValueError(
                f"HybridSolver keeps a learner for at most {MAX_CONTEXTS} distinct contexts; this would be one more. "
                "Use 'autoscope' to route many contexts (or numeric context features) to shared learners."
            )

    def _context_learner(self, context_id: str) -> PairedSearch:
        learner = self._per_context.get(context_id)
        if learner is None:
            seed = self.random_seed
            if seed is not None and context_id:
                seed = derived_seed(seed, context_id)
            learner = self._per_context[context_id] = PairedSearch(self._tuned, random_seed=seed)
            if self._scale != 1.0:
                learner._set_exploration_scale(self._scale)
        return learner

    def _predict(self, context: Context) -> dict[str, Any]:
        if self._paired:
            return self._context_learner(context.id)._predict(context) if self._tuned else {}
        if len(self._learners) == 1:
            return self._learners[0]._predict(context)
        if not self._learners:
            return {}
        first, second = self._learners
        return {**first._predict(context), **second._predict(context)}

    def _learn(self, reward: float | list[float], context: Context) -> None:
        if self._paired:
            if self._tuned:
                self._per_context[context.id]._learn(reward, context)
            return
        for learner in self._learners:
            learner._learn(reward, context)

    def _set_exploration_scale(self, scale: float) -> frozenset[str]:
        if self._paired:
            self._scale = scale
            for learner in self._per_context.values():
                learner._set_exploration_scale(scale)
            return frozenset(p.name for p in self._tuned)
        return frozenset().union(*(learner._set_exploration_scale(scale) for learner in self._learners))

    def _straddles_start(self) -> bool:
        # side by side, the rounds that keep the starting categories follow the numerical learner's pairs
        return self._paired or any(learner._straddles_start() for learner in self._learners)

    def _shifts(self, context: Context) -> int:
        learner = self._per_context.get(context.id) if self._paired else None
        return 0 if learner is None else learner._shifts(context)

    def _reexplore(self) -> None:
        for learner in [*self._learners, *self._per_context.values()]:
            learner._reexplore()

    def _recentre(self, config: Mapping[str, Any], context: Context) -> None:
        if self._paired and self._tuned:
            self._context_learner(context.id)._recentre(config, context)

    def _get_state(self) -> dict[str, Any]:
        if self._paired:
            return {"contexts": {cid: learner._get_state() for cid, learner in self._per_context.items()}}
        return {"learners": [learner._get_state() for learner in self._learners]}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        if self._paired:
            contexts = state["contexts"]
            if not isinstance(contexts, Mapping) or len(contexts) > MAX_CONTEXTS:
                raise ValueError(f"'contexts' must map at most {MAX_CONTEXTS} context ids to learner states")
            self._per_context = {}
            for cid, part in contexts.items():
                self._context_learner(str(cid))._set_state(part)
            return
        parts = state["learners"]
        if not isinstance(parts, list) or len(parts) != len(self._learners):
            raise ValueError(f"'learners' must be a list of {len(self._learners)} learner states")
        for learner, part in zip(self._learners, parts, strict=True):
            learner._set_state(part)


def _takes_seed(cls: type[TuningInstance]) -> bool:
    return "random_seed" in inspect.signature(cls.__init__).parameters
