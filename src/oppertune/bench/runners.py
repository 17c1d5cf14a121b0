"""Tuners the quality benchmark compares: ours, the seed's hybrid, baselines and peer libraries.

A runner starts a `Session` for one problem and seed; a session answers ``ask(context)`` with a
configuration and learns from ``tell(reward)``, one round at a time. Every runner starts from the
problem's initial configuration, in one of three ways (``Runner.start_mode``):

* ``"val"``: our learners are built from the parameters, whose ``val`` is the initial
  configuration, and start there (bluefin's centre; the categorical learners have no notion
  of a starting point and begin uniform),
* ``"enqueued"``: the peer evaluates the initial configuration as its first trial and learns
  from it (Optuna ``study.enqueue_trial``, Nevergrad ``optimizer.suggest``, hyperopt
  ``points_to_evaluate``),
* ``"played"``: a tuner that cannot be given a starting point (uniform random, and the
  bayesian_optimization, slates and ddpg extras) has the initial configuration played in the
  first round without learning from it, then runs as it is.

On contextual problems a context-free runner uses one tuner for every context; ``autoscope`` and
``default_per_context`` see the contexts.

Nevergrad sees categoricals as ``Choice``, continuous reals as ``Scalar`` and every grid (an
Integer, a stepped Real) as an integer-cast ``Scalar`` over its grid index, its documented way for
integers; NGOpt then picks one of its discrete (1+1) variants on those problems. (Relaxing grids to
continuous scalars makes it pick Cobyla or a MetaModel, and nevergrad 1.0.12's MetaModel fails
under NumPy 2.4.)
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from oppertune.bench.problems import Problem
from oppertune.core.types import Context
from oppertune.core.values import Categorical, Integer, Real

__all__ = ["RUNNERS", "Runner", "Session", "default_algorithm_name", "get_runner"]

SEED_HYBRID_ARGS: dict[str, Any] = {
    "categorical_algorithm": "exponential_weights_slates",
    "categorical_algorithm_args": {},
    "numerical_algorithm": "bluefin",
    "numerical_algorithm_args": {"feedback": 2, "eta": 0.01, "delta": 0.1},
}
"""The seed README's HybridSolver arguments (each run adds its ``random_seed`` to both learners)."""


class Session(Protocol):
    """One tuner on one problem: ask for a configuration, tell its reward, repeat."""

    def ask(self, context: int) -> dict[str, Any]:
        """A configuration for the round, whose context is ``context`` (an index into the problem's contexts)."""

    def tell(self, reward: float) -> None:
        """The reward of the configuration last asked for."""


@dataclass(frozen=True)
class Runner:
    """A tuner the benchmark runs.

    Args:
        name: Short unique name.
        summary: What it is, in one line.
        start: Builds a session for a problem and a seed.
        applies: Whether the runner takes part on a problem.
        requires: Modules it needs (it is skipped when one is missing).
        start_mode: How it starts from the initial configuration: "val", "enqueued" or "played".
        quick: Part of the ``--quick`` subset.
        opt_in: Left out unless named with ``--runners``.
        max_rounds: Rounds cap (slow tuners).
        max_seeds: Seeds cap (slow tuners).
        quick_problems_only: Runs only on the ``--quick`` problems (slow tuners).
        cost: Rough relative cost of one run, to schedule the slow runs first.
    """

    name: str
    summary: str
    start: Callable[[Problem, int], Session]
    applies: Callable[[Problem], bool]
    requires: tuple[str, ...] = ()
    start_mode: str = "val"
    quick: bool = False
    opt_in: bool = False
    max_rounds: int | None = None
    max_seeds: int | None = None
    quick_problems_only: bool = False
    cost: float = 1.0

    def missing(self) -> list[str]:
        """The required modules that are not installed."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def limits(self) -> str:
        """The caps on rounds, seeds and problems, in words (empty when there is none)."""
        parts = []
        if self.max_rounds:
            parts.append(f"at most {self.max_rounds} rounds")
        if self.max_seeds:
            parts.append(f"at most {self.max_seeds} seeds")
        if self.quick_problems_only:
            parts.append("quick problems only")
        return ", ".join(parts)


# ============================================================================ sessions
class _TunerSession:
    """An OPPerTune tuner; with ``contexts`` it predicts for the round's context."""

    def __init__(self, tuner: Any, contexts: Sequence[Context] | None = None) -> None:
        self.tuner = tuner
        self._contexts = contexts
        self._open: Context | None = None

    def ask(self, context: int) -> dict[str, Any]:
        self._open = self._contexts[context] if self._contexts else None
        return self.tuner.predict(self._open).prediction

    def tell(self, reward: float) -> None:
        self.tuner.set_reward(reward, context_id=self._open.id if self._open is not None else None)


class _PerContextSession:
    """One tuner per context, each built by ``build(seed)`` on first use."""

    def __init__(self, build: Callable[[int], Any], seed: int) -> None:
        self._build = build
        self._seed = seed
        self.tuners: dict[int, Any] = {}
        self._open: Any = None

    def ask(self, context: int) -> dict[str, Any]:
        tuner = self.tuners.get(context)
        if tuner is None:
            tuner = self.tuners[context] = self._build(1000 * self._seed + context)
        self._open = tuner
        return tuner.predict().prediction

    def tell(self, reward: float) -> None:
        self._open.set_reward(reward)


class _PlayInitialFirst:
    """Plays the initial configuration in the first round (not learnt from), then the inner session."""

    def __init__(self, inner: Session, initial: Mapping[str, Any]) -> None:
        self.inner = inner
        self._initial = dict(initial)
        self._first_round = True

    def ask(self, context: int) -> dict[str, Any]:
        if self._first_round:
            return dict(self._initial)
        return self.inner.ask(context)

    def tell(self, reward: float) -> None:
        if self._first_round:
            self._first_round = False
            return
        self.inner.tell(reward)


def _contexts(problem: Problem) -> list[Context]:
    return [Context(c) for c in problem.contexts]


# ----------------------------------------------------------------------------- ours
def _with_seed(args: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """``args`` with ``random_seed`` set at the top level, or else in each ``*_algorithm_args`` that takes one."""
    from oppertune.algorithms import get_algorithm_class

    seeded = dict(args)
    if "random_seed" in seeded:
        seeded["random_seed"] = seed
        return seeded
    for key, value in args.items():
        algorithm = args.get(key.removesuffix("_args"))
        if key.endswith("_algorithm_args") and isinstance(algorithm, str):
            accepted = inspect.signature(get_algorithm_class(algorithm).__init__).parameters
            if "random_seed" in accepted:
                seeded[key] = {**(value or {}), "random_seed": seed}
    return seeded


def _default_tuner(parameters: Sequence[Any], seed: int) -> Any:
    """``create_tuning_instance(parameters)`` as it is at run time, with ``seed`` put into its arguments."""
    from oppertune.algorithms import create_tuning_instance

    probe = create_tuning_instance(parameters)
    return type(probe)(parameters, **_with_seed(probe.get_arguments(), seed))


def default_algorithm_name() -> str:
    """The algorithm ``create_tuning_instance`` picks when none is named (read at run time)."""
    from oppertune.algorithms import registry

    return registry.DEFAULT_ALGORITHM


def _with_contexts_if_taken(tuner: Any, problem: Problem) -> Session:
    """A session that passes the problem's contexts when the tuner takes them, as a user would."""
    contexts = _contexts(problem)
    if contexts:
        try:
            tuner._check_context(contexts[0])
        except ValueError:
            contexts = []
    return _TunerSession(tuner, contexts or None)


def _start_default(problem: Problem, seed: int) -> Session:
    """The default tuner; on a contextual problem it gets the contexts when it takes them."""
    return _with_contexts_if_taken(_default_tuner(problem.parameters, seed), problem)


def _start_default_rails(problem: Problem, seed: int) -> Session:
    """The default tuner inside the safety rails, default settings (the rails seeded too)."""
    from oppertune.algorithms.guarded import guard

    return _with_contexts_if_taken(guard(_default_tuner(problem.parameters, seed), {"random_seed": seed}), problem)


def _start_default_per_context(problem: Problem, seed: int) -> Session:
    return _PerContextSession(lambda s: _default_tuner(problem.parameters, s), seed)


def _start_algorithm(algorithm: str, args: Mapping[str, Any]) -> Callable[[Problem, int], Session]:
    def start(problem: Problem, seed: int) -> Session:
        from oppertune.algorithms import create_tuning_instance

        tuner = create_tuning_instance(problem.parameters, algorithm, _with_seed({**args, "random_seed": None}, seed))
        return _TunerSession(tuner)

    return start


def _start_hybrid(problem: Problem, seed: int) -> Session:
    from oppertune.algorithms import create_tuning_instance

    return _TunerSession(
        create_tuning_instance(problem.parameters, "hybrid_solver", _with_seed(SEED_HYBRID_ARGS, seed))
    )


def _start_autoscope(problem: Problem, seed: int) -> Session:
    from oppertune.algorithms import create_tuning_instance

    args = {"features": [dict(f) for f in problem.features], "random_seed": seed}
    return _TunerSession(create_tuning_instance(problem.parameters, "autoscope", args), _contexts(problem))


def _start_played(algorithm: str, args: Mapping[str, Any]) -> Callable[[Problem, int], Session]:
    inner = _start_algorithm(algorithm, args)

    def start(problem: Problem, seed: int) -> Session:
        return _PlayInitialFirst(inner(problem, seed), problem.initial)

    return start


def _start_hopt(problem: Problem, seed: int) -> Session:
    from oppertune.algorithms import create_tuning_instance

    args = {"algo": "tpe", "fmin_args": {"points_to_evaluate": [problem.initial]}, "random_seed": seed}
    return _TunerSession(create_tuning_instance(problem.parameters, "hopt", args))


# ----------------------------------------------------------------------------- Optuna
class _OptunaSession:
    def __init__(self, problem: Problem, sampler: Any) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self._study = optuna.create_study(sampler=sampler, direction="maximize")
        self._study.enqueue_trial(problem.initial)
        self._distributions = {p.name: _optuna_distribution(optuna, p) for p in problem.parameters}
        self._trial: Any = None

    def ask(self, context: int) -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._trial = self._study.ask(self._distributions)
        return dict(self._trial.params)

    def tell(self, reward: float) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._study.tell(self._trial, reward)


def _optuna_distribution(optuna: Any, p: Any) -> Any:
    d = optuna.distributions
    if isinstance(p, Categorical):
        return d.CategoricalDistribution(list(p.categories))
    if isinstance(p, Integer):
        return d.IntDistribution(p.min, p.max, step=p.step)
    return d.FloatDistribution(p.min, p.max, step=p.step)


def _start_optuna_tpe(problem: Problem, seed: int) -> Session:
    import optuna

    return _OptunaSession(problem, optuna.samplers.TPESampler(seed=seed))


def _start_optuna_cmaes(problem: Problem, seed: int) -> Session:
    import optuna

    x0 = {p.name: p.val for p in problem.parameters if not isinstance(p, Categorical)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.CmaEsSampler(x0=x0, seed=seed, warn_independent_sampling=False)
    return _OptunaSession(problem, sampler)


def _start_optuna_gp(problem: Problem, seed: int) -> Session:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.GPSampler(seed=seed)
    return _OptunaSession(problem, sampler)


# ----------------------------------------------------------------------------- Nevergrad
class _NevergradSession:
    """NGOpt over the problem's space: categoricals as choices, grids as integer indices, reals as scalars."""

    def __init__(self, problem: Problem, seed: int, budget: int) -> None:
        import nevergrad as ng

        self._decoders: dict[str, Callable[[Any], Any]] = {}
        variables: dict[str, Any] = {}
        start: dict[str, Any] = {}
        constants: dict[str, Any] = {}
        for p in problem.parameters:
            if p.is_constant:
                constants[p.name] = p.val
            elif isinstance(p, Categorical):
                variables[p.name] = ng.p.Choice(list(p.categories))
                start[p.name] = p.val
            elif isinstance(p, Real) and p.step is None:
                variables[p.name] = ng.p.Scalar(init=p.val, lower=p.min, upper=p.max)
                start[p.name] = p.val
            else:
                n = p.n_steps
                index = round((p.val - p.min) / (p.max - p.min) * n)
                variables[p.name] = ng.p.Scalar(init=index, lower=0, upper=n).set_integer_casting()
                start[p.name] = index
                self._decoders[p.name] = lambda i, p=p, n=n: p.from_unit(int(i) / n)
        self._constants = constants
        parametrization = ng.p.Instrumentation(**variables)
        parametrization.random_state.seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._optimizer = ng.optimizers.NGOpt(parametrization=parametrization, budget=budget, num_workers=1)
            self._optimizer.suggest(**start)
        self._names = [p.name for p in problem.parameters]
        self._candidate: Any = None

    def ask(self, context: int) -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._candidate = self._optimizer.ask()
        values = {**self._constants, **self._candidate.kwargs}
        for name, decode in self._decoders.items():
            values[name] = decode(values[name])
        return {n: values[n] for n in self._names}

    def tell(self, reward: float) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._optimizer.tell(self._candidate, -reward)


def _start_nevergrad(problem: Problem, seed: int, budget: int = 200) -> Session:
    return _NevergradSession(problem, seed, budget)


# ============================================================================ the list
def _always(problem: Problem) -> bool:
    return True


def _numerical_only(problem: Problem) -> bool:
    return not problem.has_categorical


def _categorical_only(problem: Problem) -> bool:
    return not problem.has_numerical


def _default_applies(problem: Problem) -> bool:
    from oppertune.algorithms import get_algorithm_class

    cls = get_algorithm_class(default_algorithm_name())
    kinds = tuple(cls.supported_parameter_types)
    return not cls.uses_context and all(p.is_constant or isinstance(p, kinds) for p in problem.parameters)


def _contextual_numerical(problem: Problem) -> bool:
    return bool(problem.contexts) and _numerical_only(problem)


_LIST: tuple[Runner, ...] = (
    Runner("default", "create_tuning_instance(parameters): the default algorithm and arguments at run time",
           _start_default, _default_applies, quick=True),
    Runner("default_rails", "the default tuner inside the safety rails, default settings", _start_default_rails,
           _default_applies, quick=True),
    Runner("hybrid_solver", "the seed README's HybridSolver (exponential_weights_slates + bluefin, eta 0.01, "
           "delta 0.1, feedback 2)", _start_hybrid, _always, quick=True),
    Runner("bluefin", "BlueFin, default arguments", _start_algorithm("bluefin", {}), _numerical_only, quick=True),
    Runner("exponential_weights_slates", "one EXP3 per categorical parameter",
           _start_algorithm("exponential_weights_slates", {}), _categorical_only, quick=True),
    Runner("autoscope", "AutoScope over the context features, default arguments", _start_autoscope,
           _contextual_numerical, quick=True),
    Runner("default_per_context", "one default tuner per context", _start_default_per_context,
           lambda p: bool(p.contexts) and _default_applies(p), quick=True),
    Runner("uniform_random", "uniform random configurations", _start_played("uniform_random", {}), _always,
           start_mode="played", quick=True),
    Runner("optuna_tpe", "Optuna TPESampler, defaults", _start_optuna_tpe, _always, requires=("optuna",),
           start_mode="enqueued", quick=True, cost=8.0),
    Runner("optuna_cmaes", "Optuna CmaEsSampler from x0 (numerical problems)", _start_optuna_cmaes, _numerical_only,
           requires=("optuna", "cmaes"), start_mode="enqueued", quick=True, cost=4.0),
    Runner("nevergrad_ngopt", "Nevergrad NGOpt, budget = rounds; grids as integer-cast scalars", _start_nevergrad,
           _always, requires=("nevergrad",), start_mode="enqueued", quick=True, cost=5.0),
    Runner("optuna_gp", "Optuna GPSampler (opt-in: minutes per run)", _start_optuna_gp, _always,
           requires=("optuna", "torch", "scipy"), start_mode="enqueued", opt_in=True, max_rounds=100, max_seeds=2,
           quick_problems_only=True, cost=400.0),
    Runner("hopt", "extra: hyperopt TPE", _start_hopt, _always, requires=("hyperopt",), start_mode="enqueued",
           max_seeds=3, cost=8.0),
    Runner("slates", "extra: Vowpal Wabbit slates", _start_played("slates", {}), _always,
           requires=("vowpalwabbit",), start_mode="played", cost=2.0),
    Runner("ddpg", "extra: DDPG actor-critic", _start_played("ddpg", {}), _always, requires=("torch",),
           start_mode="played", max_seeds=3, cost=30.0),
    Runner("bayesian_optimization", "extra: scikit-optimize GP", _start_played("bayesian_optimization", {}), _always,
           requires=("skopt",), start_mode="played", max_rounds=40, max_seeds=2, quick_problems_only=True,
           cost=300.0),
)  # fmt: skip

RUNNERS: dict[str, Runner] = {r.name: r for r in _LIST}
"""Runners by name, in table order."""


def get_runner(name: str) -> Runner:
    """The runner called ``name``."""
    runner = RUNNERS.get(name)
    if runner is None:
        raise ValueError(f"Unknown runner {name!r}; known runners: {', '.join(RUNNERS)}.")
    return runner


def start_session(runner: Runner, problem: Problem, seed: int, rounds: int) -> Session:
    """A session of ``runner`` on ``problem``; Nevergrad is told the budget of ``rounds`` rounds."""
    if runner.start is _start_nevergrad:
        return _start_nevergrad(problem, seed, max(1, rounds))
    return runner.start(problem, seed)
