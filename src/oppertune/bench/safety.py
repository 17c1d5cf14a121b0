"""What the safety rails cost and buy, on the quality benchmark's problems.

Run: ``python -m oppertune.bench.safety [--seeds N] [--rounds N]`` (100 seeds by default, about 40 seconds).
For the default tuner with and without rails (and, on drifting problems, without drift detection) it prints, per
problem: normalised cumulative regret, worst drop below the starting configuration, rounds spent where
the service falls over (``queue_cliff``, also with the memory budget an operator would declare), and on
drifting problems the regret after the shift; then the same for the seed README's hybrid solver and AutoScope on
the stationary problems (AutoScope on those with contexts), and for uniform random sampling (which explores
widely) on ``queue_cliff``; last, the rails' targets, met or not, with the figures behind each. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections.abc import Callable
from typing import Any

from oppertune.algorithms import create_tuning_instance
from oppertune.algorithms.registry import DEFAULT_ALGORITHM
from oppertune.bench.problems import (
    PROBLEMS,
    QUEUE_CLIFF_MEMORY_MB,
    QUEUE_MEMORY_BASE_MB,
    QUEUE_MEMORY_MB_PER,
    Problem,
    get_problem,
)
from oppertune.bench.runners import SEED_HYBRID_ARGS
from oppertune.core.types import Context

# A setting: the rails (None: off), and the algorithm and its arguments (None: the default tuner).
Setting = tuple[dict[str, Any] | None, str | None, dict[str, Any] | None]
SETTINGS: dict[str, Setting] = {"off": (None, None, None), "rails": ({}, None, None)}
# On drifting problems, what detecting the shift buys: the rails' CUSUM and the learner's own detector both off
# (the default tuner of a context-free problem is one PairedSearch, so PairedSearch without its detector).
UNDETECTED = ("paired_search", {"shift_threshold": None})
DRIFT_SETTINGS: dict[str, Setting] = {
    "off, no drift detection": (None, *UNDETECTED),
    "rails, no drift detection": ({"drift_threshold": 1e9}, *UNDETECTED),
}
# What an operator knows and declares: the service's memory model, as a budget the rails keep proposals within.
MEMORY_BUDGET = {"weights": dict(QUEUE_MEMORY_MB_PER), "max": QUEUE_CLIFF_MEMORY_MB - QUEUE_MEMORY_BASE_MB}
DECLARED: dict[str, dict[str, Setting]] = {
    "queue_cliff": {"rails + memory budget": ({"budgets": [MEMORY_BUDGET]}, None, None)}
}


# Rails are for any tuner: the seed README's hybrid_solver and AutoScope on every stationary problem (AutoScope where
# there are contexts), and random sampling, which explores widely, on the cliff, which shows what the rails save it.
PROTOTYPE = "hybrid_solver (seed README)"
OTHER_TUNERS: dict[str, tuple[str, dict[str, Any]]] = {"uniform_random": ("uniform_random", {})}


def run(
    problem: Problem,
    rails: dict[str, Any] | None,
    seed: int,
    rounds: int,
    algorithm: str | None = None,
    arguments: dict[str, Any] | None = None,
) -> dict[str, float]:
    """One run (of the default tuner unless ``algorithm`` is named): cumulative regret, worst drop, rounds in the
    cliff, regret after the shift."""
    args = {**(arguments or {}), "random_seed": seed}
    algorithm = algorithm or DEFAULT_ALGORITHM
    tuner = create_tuning_instance(problem.parameters, algorithm, algorithm_args=args, safety=rails)
    contexts = [Context(c) for c in problem.contexts]
    noise, arrivals = random.Random(seed * 7919 + 1), random.Random(seed * 7919 + 2)
    regrets, cliff, after_shift = [], 0, []
    for t in range(rounds):
        phase = problem.phase_of(t, rounds)
        context = arrivals.randrange(problem.n_contexts) if contexts else 0
        ctx = contexts[context] if contexts else None
        config, _ = tuner.predict(ctx)
        score, reward = problem.observe(config, context, phase, noise)
        regret = (problem.optimum(context, phase) - score) / problem.gap(context, phase)
        regrets.append(regret)
        cliff += problem.failed(config, context, phase)
        if phase > 0:
            after_shift.append(regret)
        tuner.set_reward(reward, context_id=ctx.id if ctx is not None else None)
    return {
        "cumulative": statistics.fmean(regrets),
        "worst_drop": max(0.0, max(regrets) - 1.0),
        "cliff_rounds": float(cliff),
        "after_shift": statistics.fmean(after_shift) if after_shift else float("nan"),
    }


def _cost(runs: list[dict[str, float]], off: list[dict[str, float]]) -> str:
    """The change in cumulative regret against the same seeds with the rails off, in %, ± its standard error."""
    base = _mean(off, "cumulative")
    differences = [a["cumulative"] - b["cumulative"] for a, b in zip(runs, off)]
    error = statistics.stdev(differences) / math.sqrt(len(differences))
    return f"{100 * statistics.fmean(differences) / base:+.1f}% ±{100 * error / base:.1f}"


def _mean(runs: list[dict[str, float]], metric: str) -> float:
    return statistics.fmean(r[metric] for r in runs)


def _row(name: str, label: str, runs: list[dict[str, float]], off: list[dict[str, float]], after: bool) -> str:
    shift = f"{_mean(runs, 'after_shift'):.3f}" if after else ""
    return (
        f"{name:<20.20} {label:<27} {_mean(runs, 'cumulative'):>12.3f} "
        f"{'' if runs is off else _cost(runs, off):>14} {_mean(runs, 'worst_drop'):>12.3f} "
        f"{_mean(runs, 'cliff_rounds'):>12.1f} {shift:>12}"
    )


Runs = list[dict[str, float]]
WORST_DROP_TARGET, COST_TARGET, SHIFT_TARGET, CLIFF_TARGET = 0.05, 0.10, 0.30, 0.90


def targets(measured: dict[str, dict[str, Runs]], others: dict[str, dict[str, Runs]]) -> list[tuple[str, bool, str]]:
    """The rails' targets on these runs, met or not, with the figures: on every stationary problem a worst drop of at
    most 0.05 with the rails and a regret cost of at most +10% (the mean over seeds); on drifting problems a regret
    after the shift at least 30% lower than without drift detection; on ``queue_cliff`` at least 90% fewer rounds
    in the cliff, for every tuner that falls in without the rails.

    ``measured`` maps problem -> setting label -> runs of the default tuner; ``others`` maps tuner -> "off"/"rails"
    -> runs on ``queue_cliff``."""
    stationary = {name: runs for name, runs in measured.items() if get_problem(name).phases == 1}
    drops = sorted(((_mean(runs["rails"], "worst_drop"), name) for name, runs in stationary.items()),
                   reverse=True)  # fmt: skip
    over = [f"{name} {drop:.2f}" for drop, name in drops if drop > WORST_DROP_TARGET]
    costs = sorted(
        ((_mean(runs["rails"], "cumulative") / _mean(runs["off"], "cumulative") - 1.0, name)
         for name, runs in stationary.items()),
        reverse=True,
    )  # fmt: skip
    out = [
        (f"worst drop <= {WORST_DROP_TARGET} with the rails on every stationary problem", not over,
         f"{len(over)} of {len(drops)} over: {', '.join(over)}" if over else "every one within"),
        (f"regret cost <= +{COST_TARGET:.0%} on every stationary problem", costs[0][0] <= COST_TARGET,
         "largest: " + ", ".join(f"{name} {cost:+.1%}" for cost, name in costs[:3])),
    ]  # fmt: skip
    for name, runs in measured.items():
        if "rails, no drift detection" in runs:
            detected = _mean(runs["rails"], "after_shift")
            undetected = _mean(runs["rails, no drift detection"], "after_shift")
            cut = 1.0 - detected / undetected
            out.append((f"{name}: regret after the shift >= {SHIFT_TARGET:.0%} lower with drift detection",
                        cut >= SHIFT_TARGET, f"{detected:.3f} vs {undetected:.3f} without ({-cut:+.0%})"))  # fmt: skip
    cliff = {"default": measured["queue_cliff"]} if "queue_cliff" in measured else {}
    for tuner, runs in {**cliff, **others}.items():
        off, on = _mean(runs["off"], "cliff_rounds"), _mean(runs["rails"], "cliff_rounds")
        if off > 0:
            cut = 1.0 - on / off
            out.append((f"{tuner}: rounds in the cliff cut by >= {CLIFF_TARGET:.0%}", cut >= CLIFF_TARGET,
                        f"{off:.1f} -> {on:.1f} per run ({-cut:+.0%})"))  # fmt: skip
    return out


def _off_and_on(
    problem: Problem, algorithm: str, arguments: dict[str, Any], seeds: int, rounds: int
) -> dict[str, Runs]:
    """Runs of ``algorithm`` on ``problem`` with the rails off and on (default settings), on the same seeds."""
    return {
        label: [run(problem, rails, seed, rounds, algorithm, arguments) for seed in range(seeds)]
        for label, rails in (("off", None), ("rails", {}))
    }


def _at_least(low: int, why: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low} (got {value}){why}")
        return value

    return parse


def main(argv: list[str] | None = None) -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=_at_least(2, ": the cost needs a spread over seeds"), default=100)
    parser.add_argument("--rounds", type=_at_least(1, ""), default=200)
    args = parser.parse_args(argv)
    print(f"Default tuner with and without safety rails, mean over {args.seeds} seeds x {args.rounds} rounds")
    print("(cost: change in cumulative regret against the rails off on the same seeds, ± its standard error)")
    columns = ("cumulative", "cost", "worst drop", "cliff rounds", "after shift")
    widths = (12, 14, 12, 12, 12)
    header = f"{'problem':<20} {'rails':<27} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths))
    print(header)
    print("-" * len(header))
    measured: dict[str, dict[str, Runs]] = {}
    for name in PROBLEMS:
        problem = get_problem(name)
        off: Runs = []
        settings = {**SETTINGS, **(DRIFT_SETTINGS if problem.phases > 1 else {}), **DECLARED.get(name, {})}
        for label, (rails, algorithm, arguments) in settings.items():
            runs = [run(problem, rails, seed, args.rounds, algorithm, arguments) for seed in range(args.seeds)]
            off = off or runs
            measured.setdefault(name, {})[label] = runs
            print(_row(name, label, runs, off, problem.phases > 1))
    print()
    print(f"The seed README's tuners with and without the rails (default settings), {args.seeds} seeds:")
    print("hybrid_solver with the README's arguments, and autoscope where there are contexts")
    print(header)
    print("-" * len(header))
    others: dict[str, dict[str, Runs]] = {}
    for name in PROBLEMS:
        problem = get_problem(name)
        if problem.phases > 1:
            continue
        algorithm, arguments = (
            ("autoscope", {"features": [dict(f) for f in problem.features]})
            if problem.contexts
            else ("hybrid_solver", SEED_HYBRID_ARGS)
        )
        off_and_on = _off_and_on(problem, algorithm, arguments, args.seeds, args.rounds)
        if name == "queue_cliff":
            others[PROTOTYPE] = off_and_on
        for label, runs in off_and_on.items():
            print(_row(name, f"{algorithm}, {label}", runs, off_and_on["off"], False))
    print()
    print(f"Random sampling on queue_cliff, with and without the rails (default settings), {args.seeds} seeds")
    print(header)
    print("-" * len(header))
    cliff = get_problem("queue_cliff")
    for name, (algorithm, arguments) in OTHER_TUNERS.items():
        others[name] = _off_and_on(cliff, algorithm, arguments, args.seeds, args.rounds)
        for label, runs in others[name].items():
            print(_row(name, label, runs, others[name]["off"], False))
    print()
    print("The rails' targets on these runs")
    for what, met, figures in targets(measured, others):
        print(f"{'met' if met else 'NOT met':<8} {what}: {figures}")


if __name__ == "__main__":
    main()
