"""`select`: rank the parameters from a history or by live screening, and choose the ones worth tuning."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from oppertune.core.values import ValueType, to_value
from oppertune.selection._errors import InsufficientDataError, SelectionError
from oppertune.selection._history import History, as_history, prepare
from oppertune.selection._result import Interaction, RankedParameter, SelectionResult
from oppertune.selection._screening import Evaluation, screen

if TYPE_CHECKING:
    from oppertune.tune.spec import TuneSpec

__all__ = ["RULES", "SpecEvaluator", "select", "spec_evaluator"]

RULES = ("cumulative", "significant")


class SpecEvaluator:
    """Evaluates a configuration the way ``oppertune tune`` runs a round: run the program, read its metrics,
    compute the spec's reward (``failed_reward`` when the program fails).

    Args:
        spec: A validated ``tune`` spec.
        command: The command (default: the spec's ``run.command``), with ``{name}`` placeholders.
    """

    def __init__(self, spec: TuneSpec, command: Sequence[str] | None = None) -> None:
        self.spec = spec
        self.command = list(command or spec.run.command)
        if not self.command:
            raise SelectionError("no command to run: give one after '--' or as run.command in the spec")

    def evaluate_configuration(self, configuration: dict[str, Any], number: int) -> Evaluation:
        """Run the program once; ``number`` fills the ``{round}`` placeholder."""
        from oppertune.tune.expression import ExpressionError
        from oppertune.tune.program import run_program

        outcome = run_program(self.spec.run, self.spec.metrics, self.command, configuration, number)
        if outcome.metrics is None:
            return Evaluation(configuration, self.spec.failed_reward, False, outcome.error)
        try:
            reward = self.spec.reward.evaluate(outcome.metrics)
        except ExpressionError as exc:
            return Evaluation(configuration, self.spec.failed_reward, False, f"reward: {exc}")
        return Evaluation(configuration, reward)

    def __call__(self, configuration: dict[str, Any]) -> float:
        """The reward of ``configuration`` (the spec's ``failed_reward`` when the run fails)."""
        reward = self.evaluate_configuration(dict(configuration), 0).reward
        assert reward is not None
        return reward


def spec_evaluator(spec: TuneSpec | str | Path, command: Sequence[str] | None = None) -> SpecEvaluator:
    """An evaluator for `select` that runs the program of a ``tune`` spec (a TuneSpec or a spec file)."""
    if isinstance(spec, (str, Path)):
        from oppertune.tune.spec import load_spec

        spec = load_spec(spec)
    return SpecEvaluator(spec, command)


def _fail(argument: str, rule: str, got: object) -> SelectionError:
    return SelectionError(f"The '{argument}' argument of select must be {rule}. Got {got!r} instead.")


def _fraction(argument: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
        raise _fail(argument, f"a number in ({low:g}, {high:g}]", value)
    return float(value)


def _parameters(parameters: Iterable[Any] | None, fallback: Sequence[ValueType] | None) -> list[ValueType]:
    if parameters is None:
        if fallback is None:
            raise SelectionError(
                "select needs the parameter spec: pass 'parameters' (the history does not record them)"
            )
        return list(fallback)
    if isinstance(parameters, (str, bytes, Mapping)) or not isinstance(parameters, Iterable):
        raise _fail("parameters", "a list of parameters or their dict forms", parameters)
    try:
        values = [to_value(p) for p in parameters]
    except (TypeError, ValueError) as exc:
        raise SelectionError(str(exc)) from None
    names = [v.name for v in values]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SelectionError(f"the parameters name {repeated} more than once")
    if not values:
        raise _fail("parameters", "a non-empty list", parameters)
    return values


def select(
    parameters: Iterable[ValueType | Mapping[str, Any]] | None,
    history: History | str | Path | Iterable[Any] | None = None,
    evaluate: Callable[[dict[str, Any]], float] | TuneSpec | None = None,
    k: int | None = None,
    seed: int | None = None,
    *,
    rule: str = "cumulative",
    coverage: float = 0.99,
    alpha: float = 0.05,
    min_importance: float = 0.01,
    delta: float = 0.15,
    budget: int | None = None,
    interactions: bool = True,
    early_stop: bool = True,
    on_evaluation: Callable[[int, int, Evaluation], None] | None = None,
) -> SelectionResult:
    """Rank the parameters by how much of the reward's variation each explains, and pick the ones to tune.

    Give either ``history`` (logged rounds) or ``evaluate`` (live screening around the current values).

    Args:
        parameters: The parameter spec (values or dict forms); their ``val`` is the current configuration.
            None takes the spec recorded with the history (a run file, the tuning service).
        history: A `History`, a file (CSV, JSON or an ``oppertune tune`` run file), or a list of rows
            ``{"configuration": {...}, "reward": r, "context": c}`` (or flat ``{name: value, ..., "reward": r}``).
        evaluate: A function from a configuration (every parameter's value) to its reward, or a ``tune``
            spec (`oppertune.tune.spec.TuneSpec`) whose program is run. A None or non-finite reward marks
            the evaluation failed; it is left out and reported.
        k: Select exactly the ``k`` most important parameters (overrides ``rule``).
        seed: Seed of the screening design and of the forest; the same seed gives the same result.
        rule: Without ``k``: ``"cumulative"`` picks the fewest significant parameters whose importances add
            up to ``coverage`` of the significant total; ``"significant"`` picks every significant one.
            Either way a parameter must carry at least ``min_importance`` of the reward's variance.
        coverage: Share of the significant importance the cumulative rule keeps.
        alpha: Chance of calling an irrelevant parameter significant (Holm-Bonferroni over the parameters).
        min_importance: Smallest share of the reward's variance worth tuning for (also the early-stop bound).
        delta: Screening only: how far a number may move, as a fraction of its range (at least one grid step).
        budget: Screening only: at most this many evaluations (default ``2 N`` for ``N`` tunable parameters,
            at least 12).
        interactions: Look for pairwise interactions (history: among the leading parameters; screening: all pairs).
        early_stop: Screening only: stop before the budget once the selection is settled.
        on_evaluation: Screening only: called as ``(number, budget, evaluation)`` after each evaluation.

    Returns:
        The ranking, the selected names and `SelectionResult.parameters`, the spec to tune.

    Raises:
        SelectionError: For bad arguments or unusable input, with the reason.
        InsufficientDataError: When the data cannot tell which parameters matter (too few rows, no
            variation, nothing beyond noise) rather than guess.
    """
    if (history is None) == (evaluate is None):
        raise SelectionError("select needs exactly one of 'history' (logged rounds) or 'evaluate' (live screening)")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise _fail("k", "a positive integer or None", k)
    if rule not in RULES:
        raise _fail("rule", f"one of {', '.join(RULES)}", rule)
    coverage = _fraction("coverage", coverage, 0.0, 1.0)
    alpha = _fraction("alpha", alpha, 0.0, 0.5)
    min_importance = _fraction("min_importance", min_importance, 0.0, 1.0) if min_importance else 0.0
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise _fail("seed", "a non-negative integer or None", seed)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**31)  # type: ignore[operator]
    options = {"k": k, "rule": rule, "coverage": coverage, "min_importance": min_importance}
    if history is not None:
        loaded = as_history(history)
        values = _parameters(parameters, loaded.parameters)
        return _from_history(values, loaded, seed, alpha, interactions, options)

    from oppertune.tune.spec import TuneSpec

    fallback = None
    if isinstance(evaluate, TuneSpec):
        fallback = evaluate.parameters
        evaluate = SpecEvaluator(evaluate)
    if not callable(evaluate):
        raise _fail("evaluate", "a function from a configuration to a reward, or a tune spec", evaluate)
    values = _parameters(parameters, fallback)
    delta = _fraction("delta", delta, 0.0, 0.5)
    tunable = sum(not p.is_constant for p in values)
    if tunable == 0:
        raise SelectionError("every parameter is constant: there is nothing to select from")
    if budget is None:
        budget = max(12, 2 * tunable)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 8:
        raise _fail("budget", "an integer of at least 8", budget)
    model, evaluations = screen(values, evaluate, delta=delta, budget=budget, seed=seed, alpha=alpha,
                                interactions=interactions, min_importance=min_importance or 0.01,
                                early_stop=early_stop, on_evaluation=on_evaluation)  # fmt: skip
    ranking = []
    for i, name in enumerate(model.names):
        ranking.append(RankedParameter(name, float(model.importance[i]), float(model.uncertainty[i]),
                                       float(model.main[i]), float(model.interaction[i]),
                                       bool(model.significant[i])))  # fmt: skip
    pairs = [Interaction(model.names[a], model.names[b], s, e) for (a, b), (s, e) in model.pairs.items()]
    notes = []
    failed = [e for e in evaluations if e.reward is None]
    if failed:
        notes.append(f"{len(failed)} evaluation(s) gave no reward and were left out.")
    if len(evaluations) < budget - budget % 2:
        notes.append(f"Stopped after {len(evaluations)} of {budget} evaluations: the selection was settled.")
    notes.append(f"Every evaluated configuration stayed within delta={delta:g} of the current values.")
    used = sum(e.reward is not None for e in evaluations)
    return _finish(values, ranking, pairs, model.explained, used, "screening", options, notes=notes,
                   evaluations=tuple(evaluations))  # fmt: skip


def _holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    significant = [False] * len(p_values)
    for position, i in enumerate(order):
        if p_values[i] >= alpha / (len(p_values) - position):
            break
        significant[i] = True
    return significant


def _from_history(
    values: list[ValueType], history: History, seed: int, alpha: float, interactions: bool, options: dict[str, Any]
) -> SelectionResult:
    from oppertune.selection._forest import rank_history

    prepared = prepare(values, history)
    x = prepared.columns
    if prepared.context is not None:
        x = np.column_stack([x, prepared.context])
    forest = rank_history(x, prepared.y, seed, top=8 if interactions else 0)
    names = prepared.names
    p_values = [
        0.5 * math.erfc((imp / se if se > 0 else (math.inf if imp > 0 else 0.0)) / math.sqrt(2))
        for imp, se in zip(forest.importance[: len(names)], forest.uncertainty[: len(names)])
    ]
    significant = _holm(p_values, alpha)
    ranking = []
    for j, name in enumerate(names):
        main = forest.main.get(j)
        ranking.append(RankedParameter(
            name, float(forest.importance[j]), float(forest.uncertainty[j]), None if main is None else main[0],
            None if main is None else max(0.0, float(forest.importance[j]) - main[0]), significant[j],
        ))  # fmt: skip
    pairs = []
    floor = options["min_importance"] or 0.01
    for (a, b), (share, error) in forest.pairs.items():
        if a < len(names) and b < len(names) and share > 3 * error and share >= floor:
            pairs.append(Interaction(names[a], names[b], share, error))
    notes = list(prepared.notes)
    if prepared.context is not None:
        share, error = forest.importance[-1], forest.uncertainty[-1]
        notes.append(f"The context accounts for {100 * share:.1f}% (± {100 * error:.1f}%) of the reward's variance.")
    notes.append(f"Ranked from {len(prepared.y)} row(s) of {history.source}.")
    return _finish(values, ranking, pairs, forest.explained, len(prepared.y), "history", options,
                   unranked=tuple(prepared.unranked), dropped=tuple(prepared.dropped), notes=notes)  # fmt: skip


def _finish(
    values: list[ValueType],
    ranking: list[RankedParameter],
    pairs: list[Interaction],
    explained: float,
    n_rows: int,
    method: str,
    options: dict[str, Any],
    **extra: Any,
) -> SelectionResult:
    ranking.sort(key=lambda r: -r.importance)
    pairs.sort(key=lambda i: -i.importance)
    notes = list(extra.pop("notes", []))
    selected, rule_text = _choose(ranking, notes, **options)
    return SelectionResult(tuple(ranking), selected, method, rule_text, explained, n_rows, tuple(values),
                           tuple(pairs), notes=tuple(notes), **extra)  # fmt: skip


def _choose(
    ranking: list[RankedParameter], notes: list[str], *, k: int | None, rule: str, coverage: float,
    min_importance: float,
) -> tuple[tuple[str, ...], str]:  # fmt: skip
    if k is not None:
        if k > len(ranking):
            raise SelectionError(f"k={k} but only {len(ranking)} parameter(s) could be ranked")
        chosen = ranking[:k]
        weak = [r.name for r in chosen if not r.significant]
        if weak:
            notes.append(f"Selected by k={k} although not distinguishable from noise: {', '.join(weak)}.")
        return tuple(r.name for r in chosen), f"fixed k = {k}"
    candidates = [r for r in ranking if r.significant and r.importance >= min_importance]
    if not candidates:
        best = ranking[0]
        raise InsufficientDataError(
            "no parameter shows an effect on the reward beyond noise (the strongest, "
            f"{best.name!r}, accounts for {100 * best.importance:.1f}% ± {100 * best.uncertainty:.1f}% of its "
            "variance); more rows or evaluations are needed, or pass k to take the top k anyway"
        )
    if rule == "significant":
        return tuple(r.name for r in candidates), (
            f"every significant parameter with at least {100 * min_importance:g}% of the variance"
        )
    total = sum(r.importance for r in candidates)
    chosen, running = [], 0.0
    for r in candidates:
        chosen.append(r.name)
        running += r.importance
        if running >= coverage * total - 1e-12:
            break
    return tuple(chosen), f"cumulative importance >= {100 * coverage:g}% of the significant total"
