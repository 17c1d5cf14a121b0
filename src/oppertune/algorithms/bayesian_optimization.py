"""Bayesian optimisation with a Gaussian process, through scikit-optimize's ``Optimizer`` (extra ``bo``).

``predict()`` is ``Optimizer.ask()`` and ``set_reward(r)`` is ``Optimizer.tell(x, -r)`` (scikit-optimize
minimises, we maximise). The learned state is the observations plus the optimizer's random state
and the few quantities it carries from one ``tell`` to the next ``ask``, so a reloaded tuner continues
exactly as the original would; the surrogate model is refitted from the observations on load.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import secrets
import warnings
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

import numpy as np

from oppertune.algorithms import _arguments as check
from oppertune.algorithms import _state as valid
from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context
from oppertune.core.values import Categorical, Real, ValueType

__all__ = ["BayesianOptimization"]

# Optimizer arguments we set ourselves, or that cannot live in a JSON state.
_OWN_ARGS = frozenset({"self", "dimensions", "random_state", "space_constraint", "n_random_starts"})
_ESTIMATORS = ("GP", "RF", "ET", "DUMMY")


def _import_skopt() -> ModuleType:
    try:
        return importlib.import_module("skopt")
    except ImportError as exc:
        raise ImportError(
            "The 'bayesian_optimization' algorithm needs scikit-optimize (>= 0.10); "
            "install it with: pip install 'oppertune[bo]'"
        ) from exc


class BayesianOptimization(TuningInstance):
    """Gaussian-process Bayesian optimisation over a mixed space.

    A Categorical becomes a one-hot categorical dimension, an Integer or a stepped Real an integer
    dimension over its grid indices, a continuous Real a real dimension over ``[min, max]``.

    Args:
        parameters: The parameters to tune, of any type.
        optimizer_args: Passed through to ``skopt.Optimizer`` (JSON-compatible values only), e.g.
            ``n_initial_points`` (default 10), ``acq_func`` (``"gp_hedge"``, ``"EI"``, ``"LCB"``, ``"PI"``),
            ``acq_optimizer`` (``"lbfgs"``/``"sampling"``), ``acq_func_kwargs``, ``acq_optimizer_kwargs``,
            ``initial_point_generator`` and ``base_estimator`` (``"GP"``, the default, or ``"RF"``/``"ET"``).
        random_seed: Seed for reproducible runs.
    """

    name = "bayesian_optimization"

    def __init__(
        self,
        parameters: Iterable[ValueType | Mapping[str, Any]],
        optimizer_args: Mapping[str, Any] | None = None,
        random_seed: int | None = None,
    ) -> None:
        owner = type(self).__name__
        self.optimizer_args = check.mapping(owner, "optimizer_args", optimizer_args)
        self.random_seed = check.seed(owner, random_seed)
        super().__init__(parameters)

        self._skopt = _import_skopt()
        accepted = [n for n in inspect.signature(self._skopt.Optimizer.__init__).parameters if n not in _OWN_ARGS]
        unknown = sorted(set(self.optimizer_args) - set(accepted))
        if unknown:
            raise ValueError(
                f"The 'optimizer_args' argument of {owner} has unknown key(s) {unknown}; allowed: {sorted(accepted)}."
            )
        check.json_compatible(owner, "optimizer_args", self.optimizer_args)
        n_initial = self.optimizer_args.get("n_initial_points", 10)
        if isinstance(n_initial, bool) or not isinstance(n_initial, int) or n_initial < 1:
            raise ValueError(
                f"The 'optimizer_args['n_initial_points']' argument of {owner} must be a positive int (the surrogate "
                f"needs observations to fit). Got {n_initial!r} instead."
            )
        estimator = self.optimizer_args.get("base_estimator", "GP")
        if not isinstance(estimator, str) or estimator.upper() not in _ESTIMATORS:
            raise ValueError(
                f"The 'optimizer_args['base_estimator']' argument of {owner} must be one of "
                f"{', '.join(repr(e) for e in _ESTIMATORS)}. Got {estimator!r} instead."
            )
        # The effective seed is kept in the state, so an unseeded tuner also reloads exactly.
        self._seed = self.random_seed if self.random_seed is not None else secrets.randbits(31)
        self._pending: list[Any] | None = None
        self._optimizer = self._new_optimizer(owner) if self._tuned else None

    def _dimensions(self) -> list[Any]:
        space = self._skopt.space
        dims: list[Any] = []
        for p in self._tuned:
            if isinstance(p, Categorical):
                dims.append(space.Categorical(list(range(p.n_categories)), name=p.name))
            elif isinstance(p, Real) and p.step is None:
                dims.append(space.Real(p.min, p.max, name=p.name))
            else:
                dims.append(space.Integer(0, p.n_steps, name=p.name))
        return dims

    def _new_optimizer(self, owner: str = "BayesianOptimization", seed: int | None = None) -> Any:
        args = copy.deepcopy(self.optimizer_args)
        seed = self._seed if seed is None else seed
        try:
            return self._skopt.Optimizer(self._dimensions(), random_state=seed, **args)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"The 'optimizer_args' argument of {owner} was refused by scikit-optimize: {exc}"
            ) from None

    def _to_values(self, x: list[Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for p, v in zip(self._tuned, x):
            if isinstance(p, Categorical):
                values[p.name] = p.categories[int(v)]
            elif isinstance(p, Real) and p.step is None:
                values[p.name] = min(p.max, max(p.min, float(v)))
            else:
                values[p.name] = p.from_unit(int(v) / p.n_steps)
        return values

    def _predict(self, context: Context) -> dict[str, Any]:
        if self._optimizer is None:
            return {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._pending = [_plain(v) for v in self._optimizer.ask()]
        return self._to_values(self._pending)

    def _learn(self, reward: float | list[float], context: Context) -> None:
        if self._optimizer is None or self._pending is None:
            return
        x, self._pending = self._pending, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._optimizer.tell(x, -float(reward))  # type: ignore[arg-type]

    @property
    def best_configuration(self) -> dict[str, Any] | None:
        """The configuration with the largest reward so far (None before the first reward)."""
        if self._optimizer is None or not self._optimizer.yi:
            return None
        best = int(np.argmin(self._optimizer.yi))
        return {**self._constants, **self._to_values(self._optimizer.Xi[best])}

    # ----------------------------------------------------------------- state
    def _get_state(self) -> dict[str, Any]:
        opt = self._optimizer
        if opt is None:
            return {"seed": self._seed}
        _, keys, pos, has_gauss, cached_gaussian = opt.rng.get_state()
        return {
            "seed": self._seed,
            "pending": self._pending,
            "xi": [[_plain(v) for v in x] for x in opt.Xi],
            "yi": [float(y) for y in opt.yi],
            "rng": {"keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": cached_gaussian},
            "gains": opt.gains_.tolist() if hasattr(opt, "gains_") else None,
            "next_xs": [x.tolist() for x in opt.next_xs_] if hasattr(opt, "next_xs_") else None,
            "next_x": [_plain(v) for v in opt._next_x] if hasattr(opt, "_next_x") else None,
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        seed = valid.non_negative_int(state["seed"], "seed")
        if self._optimizer is None:
            self._seed = seed
            return
        opt = self._new_optimizer(seed=seed)
        xi, yi = state["xi"], [valid.number(y, "yi") for y in state["yi"]]
        if not isinstance(xi, list) or len(xi) != len(yi):
            raise ValueError("'xi' and 'yi' must be lists of the same length")
        for x in [*xi, *([state["pending"]] if state["pending"] is not None else [])]:
            if not isinstance(x, list) or x not in opt.space:
                raise ValueError(f"{x!r} is not a point of the search space")
        rng = state["rng"]
        keys = np.asarray(rng["keys"], dtype=np.uint32)
        if keys.shape != (624,):
            raise ValueError("'rng' must hold 624 MT19937 keys")
        opt.rng.set_state(("MT19937", keys, int(rng["pos"]), int(rng["has_gauss"]), float(rng["gauss"])))
        opt.Xi, opt.yi = [list(x) for x in xi], yi
        opt._n_initial_points = opt.n_initial_points_ - len(yi)
        if state["gains"] is not None:
            opt.gains_ = valid.vector(state["gains"], len(opt.cand_acq_funcs_), "gains")
        if state["next_xs"] is not None:
            opt.next_xs_ = [np.asarray(x, dtype=float) for x in state["next_xs"]]
        if state["next_x"] is not None:
            opt._next_x = list(state["next_x"])
        if yi and opt._n_initial_points <= 0 and opt.base_estimator_ is not None:
            # The surrogate is a deterministic function of the observations (its random_state is fixed).
            from sklearn.base import clone  # a dependency of scikit-optimize

            model = clone(opt.base_estimator_)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(opt.space.transform(opt.Xi), opt.yi)
            opt.models = [model]
        self._optimizer, self._seed = opt, seed
        self._pending = None if state["pending"] is None else list(state["pending"])


def _plain(value: Any) -> int | float:
    """A scikit-optimize coordinate as a plain int or float, so it survives JSON unchanged."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return float(value)
