"""AutoScope against context-free and per-context tuners on contextual problems, plus its per-round cost.

Run: ``python -m oppertune.bench.autoscope [--quick]``. Prints figures; asserts nothing.

Quality: each round one context (job type, or job type and load level) arrives, drawn uniformly at
random; the tuner predicts a configuration for it and gets a noisy reward. The figure is the
normalised cumulative regret ``mean_t (f* - f(x_t)) / (f* - f(x_0))`` on the noise-free score of
that round's context (0 is perfect, 1 is as bad as never moving from the initial configuration),
as mean and standard deviation over seeds. Tuners:

* ``autoscope learned`` — AutoScope (height 3, default arguments) learning its splits from its
  default spread-out initial weights,
* ``autoscope initial frozen`` — the same initial weights frozen: what split learning adds,
* ``autoscope true splits`` — AutoScope with frozen weights that group contexts by their optimum,
* ``shared bluefin`` — one HybridSolver (bluefin) for every context,
* ``bluefin per context`` — one independent HybridSolver (bluefin) per distinct context.

All bluefins (leaves included) use the same arguments (`LEAF_ARGS`).

Speed: one round (predict + store_reward + set_reward) of AutoScope at height 3 with 8 job types
(contexts built once, as a service holding them would) next to one BlueFin round on the same
parameters.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from oppertune.algorithms import TuningInstance, create_tuning_instance
from oppertune.algorithms.autoscope import AutoScope, AutoScopeFeature
from oppertune.bench.overhead import time_rounds
from oppertune.core.types import Context
from oppertune.core.values import Integer, Real

PARAMETERS = [
    Real("max-total-unready-percentage", 50.0, 0.0, 100.0),
    Integer("scan-interval", 60, 5, 120),
    Real("scale-down-utilization", 0.5, 0.0, 1.0),
]
LEAF_ARGS: dict[str, Any] = {"feedback": 2, "eta": 0.05, "delta": 0.1, "optimizer": "rmsprop"}
NOISE = 0.02
HEIGHT = 3


@dataclass(frozen=True)
class Problem:
    """Contexts, their optima in the normalised space, and how they arrive."""

    name: str
    features: list[AutoScopeFeature]
    contexts: list[dict[str, Any]]
    optima: list[tuple[float, ...]]  # one per context
    true_leaves: list[int]  # the leaf each context goes to under the true splits

    def score(self, index: int, point: Sequence[float]) -> float:
        """Noise-free score of a normalised configuration for context ``index``: 1 at its optimum."""
        return 1.0 - sum((x - o) ** 2 for x, o in zip(point, self.optima[index])) / len(point)


A, B, C, D = (0.15, 0.2, 0.8), (0.85, 0.85, 0.2), (0.85, 0.15, 0.6), (0.2, 0.8, 0.3)


def _jobs(optima: list[tuple[float, ...]], leaves: list[int], name: str) -> Problem:
    values = [f"job{i}" for i in range(len(optima))]
    return Problem(
        name,
        [{"name": "jobtype", "values": values}],
        [{"jobtype": v} for v in values],
        optima,
        leaves,
    )


def problems() -> list[Problem]:
    """The three contextual problems."""
    eight = _jobs([A, A, B, B, C, C, D, D], [0, 0, 2, 2, 4, 4, 6, 6], "8 job types, 4 optima in pairs")
    six = _jobs([A, A, A, B, C, D], [0, 0, 0, 2, 4, 6], "6 job types, 3 share one optimum")
    loads = [-0.75, -0.25, 0.25, 0.75]
    contexts = [{"jobtype": j, "load": x} for j in ("web", "batch") for x in loads]
    optima = [(A if x < 0 else B) if c == "web" else C for c in ("web", "batch") for x in loads]
    load = Problem(
        "2 job types x 4 load levels (web: optimum moves with load)",
        [{"name": "jobtype", "values": ["web", "batch"]}, {"name": "load", "values": None}],
        contexts,
        optima,
        [0 if x < 0 else 2 for x in loads] + [4] * 4,
    )
    return [eight, six, load]


def true_weights(problem: Problem, height: int = HEIGHT) -> list[list[float]]:
    """Frozen split weights that send every context to its ``true_leaves`` entry."""
    features = problem.features
    numeric = [f["name"] for f in features if f["values"] is None]
    columns: dict[tuple[str, Any], int] = {(name, None): i for i, name in enumerate(numeric)}
    for f in features:
        for v in f["values"] or ():
            columns[f["name"], v] = len(columns)
    n_nodes = 2**height - 1
    weights = [[0.0] * (len(columns) + 1) for _ in range(n_nodes)]
    if numeric:  # the load problem: root on jobtype, node 1 on the sign of load
        weights[0][columns["jobtype", "web"]], weights[0][columns["jobtype", "batch"]] = -1.0, 1.0
        weights[1][columns["load", None]] = 4.0
        weights[2][-1] = -1.0
        for n in range(3, n_nodes):
            weights[n][-1] = -1.0
        return weights
    for context, leaf in zip(problem.contexts, problem.true_leaves):
        column = columns["jobtype", context["jobtype"]]
        node = 0
        for depth in range(height):
            right = (leaf >> (height - 1 - depth)) & 1
            weights[node][column] = 1.0 if right else -1.0
            node = 2 * node + 1 + right
    return weights


def _normalised(prediction: dict[str, Any]) -> list[float]:
    return [(prediction[p.name] - p.min) / (p.max - p.min) for p in PARAMETERS]


def run(problem: Problem, kind: str, seed: int, rounds: int) -> tuple[float, int]:
    """Normalised cumulative regret of one tuner kind on one problem, and the number of leaves (or tuners) used."""
    arrivals = random.Random(seed)
    noise = random.Random(seed + 1000)
    contexts = [Context(c) for c in problem.contexts]
    x0 = _normalised({p.name: p.val for p in PARAMETERS})
    start_regret = [1.0 - problem.score(i, x0) for i in range(len(contexts))]
    tuners: dict[str, TuningInstance] = {}
    scoped: AutoScope | None = None
    if kind.startswith("autoscope"):
        args: dict[str, Any] = {"features": problem.features, "height": HEIGHT, "random_seed": seed}
        args["leaf_algorithm_args"] = dict(LEAF_ARGS)
        if kind == "autoscope true splits":
            args.update(internal_weights=true_weights(problem), fix_internal_weights=True)
        elif kind == "autoscope initial frozen":
            args.update(fix_internal_weights=True)
        scoped = AutoScope(PARAMETERS, **args)
    total = 0.0
    for _ in range(rounds):
        i = arrivals.randrange(len(contexts))
        context = contexts[i]
        if scoped is not None:
            prediction, _ = scoped.predict(context)
        else:
            key = context.id if kind == "bluefin per context" else ""
            tuner = tuners.get(key)
            if tuner is None:  # each its own seed, as AutoScope's leaves have
                args = {"numerical_algorithm_args": {**LEAF_ARGS, "random_seed": 1000 * seed + len(tuners)}}
                tuner = tuners[key] = create_tuning_instance(PARAMETERS, "hybrid_solver", args)
            prediction, _ = tuner.predict()
        score = problem.score(i, _normalised(prediction))
        total += (1.0 - score) / start_regret[i]
        reward = score + noise.gauss(0.0, NOISE)
        if scoped is not None:
            scoped.set_reward(reward, context)
        else:
            tuner.set_reward(reward)
    used = len({scoped.leaf_of(c) for c in contexts}) if scoped is not None else len(tuners)
    return total / rounds, used


KINDS = (
    "autoscope learned",
    "autoscope initial frozen",
    "autoscope true splits",
    "shared bluefin",
    "bluefin per context",
)


def quality(rounds: int, seeds: int) -> None:
    """Print the regret table."""
    print(f"Normalised cumulative regret over {rounds} rounds, mean ± sd over {seeds} seeds (lower is better)")
    for problem in problems():
        print(f"\n{problem.name} ({len(problem.contexts)} contexts, {len(set(problem.optima))} distinct optima)")
        print(f"  {'tuner':<24} {'regret':>16} {'leaves/tuners used':>20}")
        for kind in KINDS:
            results = [run(problem, kind, seed, rounds) for seed in range(seeds)]
            regrets = [r for r, _ in results]
            used = statistics.mean(u for _, u in results)
            spread = statistics.stdev(regrets) if len(regrets) > 1 else 0.0
            print(f"  {kind:<24} {statistics.mean(regrets):>9.3f} ± {spread:<5.3f} {used:>20.1f}")


def speed(rounds: int) -> None:
    """Print the per-round cost of AutoScope next to BlueFin."""
    values = [f"job{i}" for i in range(8)]
    contexts = [Context({"jobtype": v}) for v in values]
    rewards = [0.5 + 0.05 * math.sin(i) for i in range(97)]

    def autoscope_round(fixed: bool, fresh_contexts: bool = False) -> Callable[[int], None]:
        tuner = AutoScope(
            PARAMETERS,
            features=[{"name": "jobtype", "values": values}],
            leaf_algorithm_args=LEAF_ARGS,
            fix_internal_weights=fixed,
            random_seed=1,
        )

        def one_round(i: int) -> None:
            context = Context({"jobtype": values[i & 7]}) if fresh_contexts else contexts[i & 7]
            _, request_id = tuner.predict(context)
            reward = rewards[i % 97]
            tuner.store_reward(request_id, reward)
            tuner.set_reward(reward, context)

        return one_round

    bluefin = create_tuning_instance(PARAMETERS, "bluefin", {**LEAF_ARGS, "random_seed": 1})

    def bluefin_round(i: int) -> None:
        _, request_id = bluefin.predict()
        reward = rewards[i % 97]
        bluefin.store_reward(request_id, reward)
        bluefin.set_reward(reward)

    base = time_rounds(bluefin_round, rounds)
    print(f"\nPer-round cost (predict + store_reward + set_reward), median of 5 x {rounds} rounds, 3 parameters")
    print(f"  {'case':<52} {'us/round':>9} {'vs BlueFin':>11}")
    print(f"  {'BlueFin, no context':<52} {base * 1e6:>9.2f} {1.0:>10.2f}x")
    cases = [
        ("AutoScope h=3, 8 job types, learning splits", False, False),
        ("same, frozen splits", True, False),
        ("learning splits, a new Context built every round", False, True),
    ]
    for label, fixed, fresh in cases:
        seconds = time_rounds(autoscope_round(fixed, fresh), rounds)
        print(f"  {label:<52} {seconds * 1e6:>9.2f} {seconds / base:>10.2f}x")


def main(argv: list[str] | None = None) -> None:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds and fewer timing rounds")
    args = parser.parse_args(argv)
    quality(rounds=300, seeds=2 if args.quick else 5)
    speed(rounds=2000 if args.quick else 20000)


if __name__ == "__main__":
    main()
