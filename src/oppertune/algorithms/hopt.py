"""HOpt: hyperopt's TPE, random search, annealing or adaptive TPE behind the tuning loop (extra ``hopt``).

hyperopt runs its own loop (``fmin``) around an objective it calls; here the loop is inverted:
``predict()`` asks the chosen algorithm's ``suggest`` for one point given the finished trials, and
``set_reward()`` records that point with loss ``-reward`` (hyperopt minimises, we maximise).
The learned state is the list of observations; the hyperopt ``Trials`` are rebuilt from it.
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import random
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

from oppertune.algorithms import _arguments as check
from oppertune.algorithms import _state as valid
from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context
from oppertune.core.values import Categorical, Real, ValueType, transform

__all__ = ["HOpt"]

ALGOS = ("tpe", "rand", "anneal", "atpe")
# fmin() arguments that steer fmin's own loop; here predict()/set_reward() drive the loop instead.
_LOOP_ARGS = frozenset(
    {"fn", "space", "algo", "max_evals", "timeout", "loss_threshold", "trials", "rstate", "allow_trials_fmin",
     "pass_expr_memo_ctrl", "catch_eval_exceptions", "verbose", "return_argmin", "max_queue_len",
     "show_progressbar", "early_stop_fn", "trials_save_file"}
)  # fmt: skip
_SUGGEST_FIXED = frozenset({"new_ids", "domain", "trials", "seed", "verbose", "args", "kwargs"})
_ANNEAL_ARGS = ("avg_best_idx", "shrink_coef")
_NO_TIME = datetime.datetime(1970, 1, 1)


def _import_hyperopt() -> ModuleType:
    try:
        return importlib.import_module("hyperopt")
    except ImportError as exc:
        raise ImportError(
            "The 'hopt' algorithm needs hyperopt (>= 0.3); install it with: pip install 'oppertune[hopt]'"
        ) from exc


def _check_atpe_dependencies() -> None:
    missing = []
    for module, package in (("lightgbm", "lightgbm"), ("sklearn", "scikit-learn")):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise ImportError(
            f"hyperopt's 'atpe' algorithm needs {' and '.join(missing)}; install them with: "
            "pip install 'oppertune[hopt]'"
        )


@contextmanager
def _seeded_global_random(seed: int) -> Iterator[None]:
    """Seed Python's and NumPy's global generators (ATPE draws from them) and restore them afterwards."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


class HOpt(TuningInstance):
    """hyperopt's sequential model-based optimisation over all parameter types.

    Each parameter becomes one hyperopt label named after it: a Categorical is ``hp.choice`` over
    its categories, an Integer or a stepped Real ``hp.quniform`` over its grid indices, a continuous
    Real ``hp.uniform(min, max)``.

    Args:
        parameters: The parameters to tune, of any type.
        algo: ``"tpe"``, ``"rand"``, ``"anneal"`` or ``"atpe"`` (the last needs lightgbm and scikit-learn,
            both installed by the ``hopt`` extra).
        fmin_args: Passed through to hyperopt: ``points_to_evaluate`` (as for ``fmin``: a list of
            configurations, by parameter name, played first; missing names take their initial
            value) and the keyword arguments of the chosen algorithm's ``suggest``
            (tpe: ``n_startup_jobs``, ``n_EI_candidates``, ``gamma``, ``prior_weight``;
            anneal: ``avg_best_idx``, ``shrink_coef``). fmin's loop controls (``max_evals``,
            ``timeout``, ...) do not apply, since ``predict``/``set_reward`` drive the loop.
        random_seed: Seed for reproducible runs.
    """

    name = "hopt"

    def __init__(
        self,
        parameters: Iterable[ValueType | Mapping[str, Any]],
        algo: str = "tpe",
        fmin_args: Mapping[str, Any] | None = None,
        random_seed: int | None = None,
    ) -> None:
        owner = type(self).__name__
        self.algo = check.choice(owner, "algo", algo, ALGOS)
        self.fmin_args = check.mapping(owner, "fmin_args", fmin_args)
        check.json_compatible(owner, "fmin_args", self.fmin_args)
        self.random_seed = check.seed(owner, random_seed)
        super().__init__(parameters)

        hyperopt = _import_hyperopt()
        if algo == "atpe":
            _check_atpe_dependencies()
        self._hyperopt = hyperopt
        self._suggest = getattr(hyperopt, algo).suggest
        self._suggest_args = self._check_fmin_args(owner)
        self._labels = tuple(p.name for p in self._tuned)
        space = {p.name: self._expression(p) for p in self._tuned}
        self._domain = hyperopt.base.Domain(lambda _: 0.0, space) if space else None
        points = self.fmin_args.get("points_to_evaluate") or []
        if isinstance(points, (str, bytes, Mapping)) or not isinstance(points, Iterable):
            raise TypeError(
                f"The 'fmin_args['points_to_evaluate']' argument of {owner} must be a list of dicts. Got {points!r}."
            )
        self._queue = [self._point_vals(owner, i, point) for i, point in enumerate(points)]
        self._rng = np.random.default_rng(self.random_seed)
        self._observations: list[tuple[dict[str, float], float]] = []
        self._pending: dict[str, float] | None = None
        self._trials = hyperopt.Trials()

    # ----------------------------------------------------------------- construction helpers
    def _check_fmin_args(self, owner: str) -> dict[str, Any]:
        given = dict(self.fmin_args)
        loop = sorted(set(given) & _LOOP_ARGS)
        if loop:
            raise ValueError(
                f"The 'fmin_args' argument of {owner} has key(s) {loop} that steer fmin's own loop; here "
                "predict() and set_reward() drive the loop, so they do not apply."
            )
        given.pop("points_to_evaluate", None)
        if self.algo == "anneal":
            accepted: tuple[str, ...] = _ANNEAL_ARGS
        else:
            signature = inspect.signature(self._suggest)
            accepted = tuple(n for n in signature.parameters if n not in _SUGGEST_FIXED)
        unknown = sorted(set(given) - set(accepted))
        if unknown:
            allowed = sorted({"points_to_evaluate", *accepted})
            raise ValueError(
                f"The 'fmin_args' argument of {owner} has unknown key(s) {unknown} for algo {self.algo!r}; "
                f"allowed: {allowed}."
            )
        for key, value in given.items():
            if key in ("n_startup_jobs", "n_EI_candidates"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(
                        f"The 'fmin_args['{key}']' argument of {owner} must be a positive int. Got {value!r} instead."
                    )
            elif key == "gamma":
                check.float_in(owner, "fmin_args['gamma']", value, 0.0, 1.0)
            else:
                check.positive_float(owner, f"fmin_args['{key}']", value)
        return given

    def _expression(self, p: ValueType) -> Any:
        hp = self._hyperopt.hp
        if isinstance(p, Categorical):
            return hp.choice(p.name, list(range(p.n_categories)))
        if isinstance(p, Real) and p.step is None:
            return hp.uniform(p.name, p.min, p.max)
        return hp.quniform(p.name, -0.5, p.n_steps + 0.5, 1)

    def _point_vals(self, owner: str, index: int, point: Any) -> dict[str, float]:
        where = f"fmin_args['points_to_evaluate'][{index}]"
        if not isinstance(point, Mapping):
            raise TypeError(f"The '{where}' argument of {owner} must be a dict of parameter values. Got {point!r}.")
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(point) - set(known))
        if unknown:
            raise ValueError(f"The '{where}' argument of {owner} names unknown parameter(s) {unknown}.")
        vals: dict[str, float] = {}
        for p in self._tuned:
            value = point.get(p.name, p.val)
            try:
                if isinstance(p, Categorical):
                    vals[p.name] = p.index(value)
                    continue
                position = transform(p, value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"The '{where}' argument of {owner} has a bad value for {p.name!r}: {exc}") from None
            if not p.min <= float(value) <= p.max:
                raise ValueError(
                    f"The '{where}' argument of {owner} has {p.name}={value!r}, outside [{p.min!r}, {p.max!r}]."
                )
            vals[p.name] = float(value) if isinstance(p, Real) and p.step is None else round(position * p.n_steps)
        return vals

    # ----------------------------------------------------------------- the loop
    def _to_values(self, vals: Mapping[str, float]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for p in self._tuned:
            v = vals[p.name]
            if isinstance(p, Categorical):
                values[p.name] = p.categories[int(v)]
            elif isinstance(p, Real) and p.step is None:
                values[p.name] = min(p.max, max(p.min, float(v)))
            else:
                values[p.name] = p.from_unit(v / p.n_steps)
        return values

    def _add_trial(self, vals: Mapping[str, float], loss: float) -> None:
        hyperopt, domain = self._hyperopt, self._domain
        tid = len(self._trials)
        misc = {
            "tid": tid,
            "cmd": domain.cmd,
            "workdir": domain.workdir,
            "idxs": {label: [tid] for label in self._labels},
            "vals": {label: [vals[label]] for label in self._labels},
        }
        result = {"loss": loss, "status": hyperopt.STATUS_OK}
        (doc,) = self._trials.new_trial_docs([tid], [None], [result], [misc])
        doc["state"] = hyperopt.JOB_STATE_DONE
        # ATPE reads the trial's duration; a fixed time keeps runs (and rebuilt trials) reproducible.
        doc["book_time"] = doc["refresh_time"] = _NO_TIME
        self._trials.insert_trial_docs([doc])
        self._trials.refresh()

    def _ask(self) -> dict[str, float]:
        n = len(self._observations)
        if n < len(self._queue):
            return dict(self._queue[n])
        seed = int(self._rng.integers(2**31 - 1))
        with warnings.catch_warnings():  # e.g. ATPE's statistics on constant columns
            warnings.simplefilter("ignore")
            if self.algo == "atpe":
                with _seeded_global_random(seed):
                    (doc,) = self._suggest([n], self._domain, self._trials, seed, **self._suggest_args)
            else:
                (doc,) = self._suggest([n], self._domain, self._trials, seed, **self._suggest_args)
        vals = doc["misc"]["vals"]
        return {label: _plain(vals[label][0]) for label in self._labels}

    def _predict(self, context: Context) -> dict[str, Any]:
        if not self._labels:
            return {}
        self._pending = self._ask()
        return self._to_values(self._pending)

    def _learn(self, reward: float | list[float], context: Context) -> None:
        if not self._labels or self._pending is None:
            return
        vals, loss = self._pending, -float(reward)  # type: ignore[arg-type]
        self._pending = None
        self._observations.append((vals, loss))
        self._add_trial(vals, loss)

    @property
    def best_configuration(self) -> dict[str, Any] | None:
        """The configuration with the largest reward so far (None before the first reward)."""
        if not self._observations:
            return None
        vals, _ = min(self._observations, key=lambda o: o[1])
        return {**self._constants, **self._to_values(vals)}

    # ----------------------------------------------------------------- state
    def _get_state(self) -> dict[str, Any]:
        return {
            "rng": self._rng.bit_generator.state,
            "observations": [{"vals": dict(v), "loss": loss} for v, loss in self._observations],
            "pending": None if self._pending is None else dict(self._pending),
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        observations = [(self._check_vals(o["vals"]), valid.number(o["loss"], "loss")) for o in state["observations"]]
        pending = None if state["pending"] is None else self._check_vals(state["pending"])
        self._rng = valid.generator(state["rng"])
        self._observations, self._pending = [], pending
        self._trials = self._hyperopt.Trials()
        for vals, loss in observations:
            self._observations.append((vals, loss))
            self._add_trial(vals, loss)

    def _check_vals(self, vals: Any) -> dict[str, float]:
        if not isinstance(vals, Mapping) or sorted(vals) != sorted(self._labels):
            raise ValueError(f"'vals' must map exactly the tuned parameters {list(self._labels)}")
        checked: dict[str, float] = {}
        for p in self._tuned:
            v = valid.number(vals[p.name], f"vals[{p.name!r}]")
            if isinstance(p, Categorical):
                if v != int(v) or not 0 <= v < p.n_categories:
                    raise ValueError(f"'vals[{p.name!r}]' must be a category index")
            elif not (isinstance(p, Real) and p.step is None) and not -1 <= v <= p.n_steps + 1:
                raise ValueError(f"'vals[{p.name!r}]' must be a grid index")
            checked[p.name] = vals[p.name]
        return checked


def _plain(value: Any) -> float:
    """A hyperopt draw as a plain int (when integral) or float, so it survives JSON unchanged."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)
