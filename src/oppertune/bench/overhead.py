"""Per-round overhead of our learners next to Optuna's RandomSampler, plus import cost.

Run: ``python -m oppertune.bench.overhead [--rounds N]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from oppertune.algorithms import create_tuning_instance
from oppertune.core.values import Categorical, Integer, Real

SEED_PARAMETERS = [
    Categorical(name="p1", val="medium", categories=("low", "medium", "high")),
    Integer(name="p2", val=100, min=100, max=900, step=100),
    Real(name="p3", val=0.45, min=0.0, max=1.0),
]
SEED_HYBRID_ARGS = {
    "categorical_algorithm": "exponential_weights_slates",
    "categorical_algorithm_args": {"random_seed": 123},
    "numerical_algorithm": "bluefin",
    "numerical_algorithm_args": {"feedback": 2, "eta": 0.01, "delta": 0.1, "random_seed": 123},
}
NUMERICAL_PARAMETERS = [Real(name=f"r{i}", val=0.5, min=0.0, max=1.0) for i in range(3)] + [
    Integer(name=f"i{i}", val=8, min=1, max=64) for i in range(2)
]
CATEGORICAL_PARAMETERS = [Categorical(name=f"c{i}", val="a", categories=("a", "b", "c", "d")) for i in range(3)]


def time_rounds(one_round: Callable[[int], None], rounds: int, repeats: int = 5) -> float:
    """Median over ``repeats`` of the mean seconds per round."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(rounds):
            one_round(i)
        samples.append((time.perf_counter() - start) / rounds)
    return statistics.median(samples)


def oppertune_round(
    parameters: list[Any], algorithm: str, args: dict[str, Any], safety: dict[str, Any] | None = None
) -> Callable[[int], None]:
    """One predict + store_reward + set_reward on a fresh tuner (inside the safety rails if ``safety`` is given)."""
    tuner = create_tuning_instance(parameters, algorithm, args, safety=safety)

    def one_round(i: int) -> None:
        _, request_id = tuner.predict()
        reward = (i % 7) / 7.0
        tuner.store_reward(request_id, reward)
        tuner.set_reward(reward)

    return one_round


def fallen_rails_round(falls: int = 8) -> Callable[[int], float]:
    """One round of random sampling inside the rails on 12 reals after the service fell over ``falls`` times, each
    past another edge: every proposal is checked against that many unsafe regions, and most are pulled back (the
    rails' costliest round)."""
    parameters = [Real(name=f"x{i}", val=0.2, min=0.0, max=1.0) for i in range(12)]
    tuner = create_tuning_instance(parameters, "uniform_random", {"random_seed": 1}, safety={})

    def one_round(i: int) -> float:
        x, request_id = tuner.predict()
        reward = 0.0 if max(x.values()) > 0.9 else 1.0 + (i % 7) / 70.0  # past any edge the service falls over
        tuner.store_reward(request_id, reward)
        tuner.set_reward(reward)
        return reward

    fallen = 0
    for i in range(10_000):
        fallen += one_round(i) == 0.0
        if fallen >= falls:
            break
    return one_round


def optuna_round(rounds: int) -> Callable[[int], None] | None:
    """One ask + tell of Optuna's RandomSampler on the seed's mixed space (None when Optuna is absent)."""
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {
        "p1": optuna.distributions.CategoricalDistribution(["low", "medium", "high"]),
        "p2": optuna.distributions.IntDistribution(100, 900, step=100),
        "p3": optuna.distributions.FloatDistribution(0.0, 1.0),
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=123), direction="maximize")
    study.enqueue_trial({"p1": "medium", "p2": 100, "p3": 0.45})

    def one_round(i: int) -> None:
        trial = study.ask(distributions)
        study.tell(trial, (i % 7) / 7.0)

    return one_round


# ----------------------------------------------------------------- optional algorithms (extras)
# (label, extra, module that the extra installs, algorithm, arguments, rounds timed)
EXTRA_CASES: list[tuple[str, str, str, str, dict[str, Any], int]] = [
    ("bayesian_optimization (GP, defaults), first 40 rounds", "bo", "skopt", "bayesian_optimization",
     {"random_seed": 1}, 40),
    ("hopt algo=tpe, first 200 rounds", "hopt", "hyperopt", "hopt", {"algo": "tpe", "random_seed": 1}, 200),
    ("hopt algo=atpe, first 40 rounds", "hopt", "lightgbm", "hopt", {"algo": "atpe", "random_seed": 1}, 40),
    ("slates (VW), 20 values per number, 1000 rounds", "slates", "vowpalwabbit", "slates", {"random_seed": 1}, 1000),
    ("ddpg (defaults), 500 rounds", "rl", "torch", "ddpg", {"random_seed": 1}, 500),
]  # fmt: skip


def extra_cases() -> list[tuple[str, str, str, dict[str, Any], int]]:
    """The optional-algorithm cases whose extra is installed: (label, extra, algorithm, args, rounds)."""
    return [
        (label, extra, algorithm, args, rounds)
        for label, extra, module, algorithm, args, rounds in EXTRA_CASES
        if importlib.util.find_spec(module) is not None
    ]


def print_extras(optuna_seconds: float | None) -> None:
    """Per-round overhead of the optional algorithms that are installed, on the seed's 3 parameters.

    Their cost grows with the history (a GP fit, a TPE pass over all trials), so each is timed once
    over the first rounds of a fresh tuner, tuner creation and library import excluded.
    """
    cases = extra_cases()
    print("\nOptional algorithms (extras), seed's 3 params, mean over the first rounds of a fresh tuner")
    if not cases:
        print("No extra is installed (pip install 'oppertune[bo,hopt,slates,rl]').")
        return
    print(f"{'case':<60} {'us/round':>10} {'x Optuna':>10}")
    for label, _, algorithm, args, rounds in cases:
        create_tuning_instance(SEED_PARAMETERS, algorithm, args)  # import the library outside the timing
        seconds = time_rounds(oppertune_round(SEED_PARAMETERS, algorithm, args), rounds, repeats=1)
        ratio = f"{seconds / optuna_seconds:.1f}x" if optuna_seconds else "n/a"
        print(f"{label:<60} {seconds * 1e6:>10.0f} {ratio:>10}")
    missing = sorted({extra for _, extra, module, *_ in EXTRA_CASES if importlib.util.find_spec(module) is None})
    if missing:
        print(f"Not installed: {', '.join(missing)} (pip install 'oppertune[{','.join(missing)}]').")


_IMPORT_PROBE = r"""
import json, re, sys, time
def rss_kib():
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/self/status").read()).group(1))
before = rss_kib()
start = time.perf_counter()
import oppertune.algorithms
elapsed = time.perf_counter() - start
after = rss_kib()
heavy = sorted(m for m in ("torch", "scipy", "sklearn", "optuna", "hyperopt", "skopt", "vowpalwabbit", "pandas")
               if m in sys.modules)
print(json.dumps({"seconds": elapsed, "added_mib": (after - before) / 1024, "heavy": heavy}))
"""


def import_cost() -> dict[str, Any]:
    """Time and peak-memory growth of ``import oppertune.algorithms`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000, help="rounds per timing sample (default 2000)")
    args = parser.parse_args(argv)

    cases = [
        ("HybridSolver, seed's 3 params and args", oppertune_round(SEED_PARAMETERS, "hybrid_solver", SEED_HYBRID_ARGS)),
        ("BlueFin, 3 reals + 2 integers, feedback=2",
         oppertune_round(NUMERICAL_PARAMETERS, "bluefin", {"feedback": 2, "random_seed": 1})),
        ("ExponentialWeightsSlates, 3 params x 4 categories",
         oppertune_round(CATEGORICAL_PARAMETERS, "exponential_weights_slates", {"random_seed": 1})),
        ("default (HybridSolver -> PairedSearch), seed's 3 params",
         oppertune_round(SEED_PARAMETERS, "hybrid_solver", {"random_seed": 1})),
        ("the default inside the safety rails (safety={})",
         oppertune_round(SEED_PARAMETERS, "hybrid_solver", {"random_seed": 1}, safety={})),
        ("random sampling in the rails, 12 reals, after 8 falls", fallen_rails_round()),
    ]  # fmt: skip
    yardstick = optuna_round(args.rounds)
    optuna_seconds = time_rounds(yardstick, args.rounds) if yardstick else None

    print(f"Per-round overhead (predict + store_reward + set_reward), median of 5 x {args.rounds} rounds")
    print(f"{'case':<60} {'us/round':>10} {'vs Optuna':>10}")
    for label, one_round in cases:
        seconds = time_rounds(one_round, args.rounds)
        ratio = f"1/{optuna_seconds / seconds:.1f}" if optuna_seconds else "n/a"
        print(f"{label:<60} {seconds * 1e6:>10.2f} {ratio:>10}")
    if optuna_seconds:
        print(f"{'Optuna RandomSampler ask+tell, same mixed space':<60} {optuna_seconds * 1e6:>10.2f} {'1':>10}")
    else:
        print("Optuna is not installed (pip install 'oppertune[bench]'): no yardstick.")

    print_extras(optuna_seconds)

    cost = import_cost()
    print(
        f"\nimport oppertune.algorithms: {cost['seconds'] * 1e3:.1f} ms, +{cost['added_mib']:.1f} MiB resident, "
        f"heavy modules imported: {', '.join(cost['heavy']) or 'none'}"
    )


if __name__ == "__main__":
    main()
