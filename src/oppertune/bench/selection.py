"""Parameter selection on synthetic services with many knobs, few of which matter.

Run: ``python -m oppertune.bench.selection [--quick]``. Prints figures; asserts nothing.

Problems. ``N`` parameters (about 60% Real, 25% Integer on a grid, 15% Categorical with 3-4 categories)
of which ``k`` (3 to 8, drawn per problem) change the reward; the rest do nothing. In normalised
coordinates ``u`` in [0, 1] the noise-free score is a sum of terms on disjoint parameters:

* a pair that matters *only through their interaction*: ``b cos(pi u_i) cos(pi u_j)`` (zero main effect
  over the range; around the current configuration each one's effect depends on the other's value),
* one or two categoricals: a table of per-category effects (the current category is not the best),
* the rest numerical main effects ``a exp(-((u - c) / 0.5)^2)``, the optimum ``c`` 0.3-0.6 away from the
  current value (parameters worth tuning are the ones off their optimum),

with ``a, b`` in [0.5, 1]. Rewards carry Gaussian noise (``NOISE``).

Figures:

* live screening (``select(parameters, evaluate=...)``, default options, budget ``2N``): precision and
  recall of the selected set against the planted parameters, and evaluations used;
* ranking from a history of ``4N`` and ``10N`` configurations drawn uniformly over the whole space (a
  logged exploration), same figures, and how often it declined to select (too little evidence);
* tuning after screening: the library's default tuner (``create_tuning_instance(params)``) for 200 rounds
  on all ``N`` parameters vs on the selected ones (the rest held at their current values): normalised
  cumulative regret ``mean_t (f* - f(x_t)) / (f* - f(x_0))`` on the noise-free score (0 is perfect, 1 is
  never leaving the current configuration). The screening evaluations themselves stay within ``delta``
  of the current configuration; their regret is shown separately.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oppertune.core.values import Categorical, Integer, Real, ValueType, transform

NOISE = 0.05
TUNING_ROUNDS = 200
HISTORY_ROWS_PER_PARAMETER = (4, 10)
WIDTH = 0.5


@dataclass
class Problem:
    """A synthetic service: parameters, the planted relevant ones, and the noise-free score."""

    parameters: list[ValueType]
    relevant: frozenset[str]
    terms: list[Callable[[dict[str, Any]], float]]
    optimum: float
    noise: float

    def score(self, configuration: dict[str, Any]) -> float:
        """The noise-free score of a configuration."""
        return float(sum(term(configuration) for term in self.terms))

    def reward(self, configuration: dict[str, Any], rng: np.random.Generator) -> float:
        """The score plus noise."""
        return self.score(configuration) + float(rng.normal(0.0, self.noise))

    @property
    def start(self) -> dict[str, Any]:
        """The current configuration."""
        return {p.name: p.val for p in self.parameters}


def _numeric(name: str, rng: np.random.Generator, u0: float) -> Integer | Real:
    """A Real or an Integer whose current value sits near ``u0`` of its range."""
    if rng.random() < 0.7:
        top = float(rng.choice([1.0, 10.0, 100.0, 1000.0]))
        return Real(name, round(u0 * top, 6), 0.0, top)
    step = int(rng.choice([1, 1, 5, 10]))
    n_steps = int(rng.integers(20, 200))
    low = int(rng.integers(0, 10)) * step
    return Integer(name, low + round(u0 * n_steps) * step, low, low + n_steps * step, step)


def make_problem(n: int, seed: int, noise: float = NOISE) -> Problem:
    """A problem with ``n`` parameters of which 3-8 matter."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 9))
    n_categorical = 1 if k < 5 else 2
    n_main = k - 2 - n_categorical
    kinds = ["pair", "pair"] + ["categorical"] * n_categorical + ["main"] * n_main
    kinds += [None] * (n - k)
    order = rng.permutation(n)
    parameters: list[ValueType | None] = [None] * n
    terms: list[Callable[[dict[str, Any]], float]] = []
    optimum = 0.0
    pair: list[Integer | Real] = []
    relevant: set[str] = set()
    for position, kind in zip(order, kinds):
        name = f"p{position:03d}"
        if kind is not None:
            relevant.add(name)
        if kind == "categorical":
            count = int(rng.integers(3, 5))
            categories = [f"c{i}" for i in range(count)]
            current = categories[int(rng.integers(count))]
            size = float(rng.uniform(0.5, 1.0))
            effects = {c: (0.0 if c == current else float(rng.uniform(-size, size))) for c in categories}
            better = [c for c in categories if c != current]
            effects[better[int(rng.integers(len(better)))]] = size
            parameters[position] = Categorical(name, current, categories)
            terms.append(lambda x, name=name, effects=effects: effects[x[name]])
            optimum += size
        elif kind == "pair":
            side = 0.15 + 0.2 * rng.random()
            u0 = side if rng.random() < 0.5 else 1.0 - side
            value = _numeric(name, rng, u0)
            parameters[position] = value
            pair.append(value)
        elif kind == "main":
            u0 = float(rng.uniform(0.1, 0.9))
            value = _numeric(name, rng, u0)
            u0 = float(transform(value, value.val))
            distance = float(rng.uniform(0.3, 0.6))
            centre = u0 + distance if (u0 + distance <= 1.0 and (u0 - distance < 0.0 or rng.random() < 0.5)) else (
                u0 - distance)  # fmt: skip
            size = float(rng.uniform(0.5, 1.0))
            parameters[position] = value
            terms.append(lambda x, v=value, c=centre, a=size: _bump(a, transform(v, x[v.name]), c))
            optimum += max(_bump(size, transform(value, g), centre) for g in _grid(value))
        else:
            parameters[position] = _noise_parameter(name, rng)
    size = float(rng.uniform(0.5, 1.0))
    first, second = pair
    terms.append(
        lambda x, a=first, b=second, s=size: (
            s * math.cos(math.pi * transform(a, x[a.name])) * math.cos(math.pi * transform(b, x[b.name]))
        )
    )
    optimum += size
    return Problem([p for p in parameters if p is not None], frozenset(relevant), terms, optimum, noise)


def _bump(size: float, u: float, centre: float) -> float:
    return size * math.exp(-(((u - centre) / WIDTH) ** 2))


def _grid(value: Integer | Real) -> Sequence[float]:
    if isinstance(value, Integer):
        return range(value.min, value.max + 1, value.step)
    return [value.min + (value.max - value.min) * i / 2000 for i in range(2001)]


def _noise_parameter(name: str, rng: np.random.Generator) -> ValueType:
    draw = rng.random()
    if draw < 0.15:
        count = int(rng.integers(3, 5))
        categories = [f"c{i}" for i in range(count)]
        return Categorical(name, categories[int(rng.integers(count))], categories)
    return _numeric(name, rng, float(rng.uniform(0.1, 0.9)))


def _random_configuration(problem: Problem, rng: np.random.Generator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in problem.parameters:
        if isinstance(p, Categorical):
            out[p.name] = p.categories[int(rng.integers(len(p.categories)))]
        else:
            out[p.name] = p.from_unit(float(rng.random()))
    return out


def _precision_recall(selected: Sequence[str], relevant: frozenset[str]) -> tuple[float, float]:
    hits = len(set(selected) & relevant)
    return (hits / len(selected) if selected else 0.0), hits / len(relevant)


def tuning_regret(
    problem: Problem, parameters: Sequence[ValueType], seed: int, rounds: int = TUNING_ROUNDS
) -> tuple[float, float]:
    """Normalised regret of the default tuner (``create_tuning_instance(parameters)``, seeded): the mean over
    all rounds (cumulative) and over the last tenth of them (where the tuner ended up)."""
    from oppertune.algorithms import create_tuning_instance

    tuner = create_tuning_instance(parameters, algorithm_args={"random_seed": seed})
    rng = np.random.default_rng(seed + 1)
    start = problem.score(problem.start)
    regrets = []
    for _ in range(rounds):
        prediction, _ = tuner.predict()
        score = problem.score(prediction)
        regrets.append((problem.optimum - score) / (problem.optimum - start))
        tuner.set_reward(score + float(rng.normal(0.0, problem.noise)))
    return statistics.fmean(regrets), statistics.fmean(regrets[-max(1, rounds // 10) :])


def _mean(values: Sequence[float]) -> str:
    return f"{statistics.fmean(values):.2f}"


def main(argv: Sequence[str] | None = None) -> None:
    """Print the figures (see the module docstring)."""
    from oppertune.selection import InsufficientDataError, select

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer problems per size.")
    args = parser.parse_args(argv)
    sizes = {20: 10, 50: 10, 200: 4} if not args.quick else {20: 2, 50: 2, 200: 1}
    tuner_seeds = 5 if not args.quick else 1
    started = time.perf_counter()

    print(f"Live screening: select(parameters, evaluate=...) with defaults (delta 0.15, budget 2N), noise sd {NOISE}")
    print(
        f"{'N':>4} {'problems':>8} {'k':>5} {'precision':>9} {'recall':>7} {'evals':>6} {'max':>5} {'2N':>4} {'s':>6}"
    )
    screened: dict[int, list[tuple[Problem, list[ValueType]]]] = {}
    for n, count in sizes.items():
        precisions, recalls, evaluations, ks = [], [], [], []
        clock = time.perf_counter()
        for seed in range(count):
            problem = make_problem(n, seed)
            rng = np.random.default_rng(10_000 + seed)
            result = select(problem.parameters, evaluate=lambda c, p=problem, r=rng: p.reward(c, r), seed=seed)
            precision, recall = _precision_recall(result.selected, problem.relevant)
            precisions.append(precision)
            recalls.append(recall)
            evaluations.append(result.n_evaluations)
            ks.append(len(problem.relevant))
            screened.setdefault(n, []).append((problem, result.parameters()))
        seconds = (time.perf_counter() - clock) / count
        print(f"{n:>4} {count:>8} {min(ks):>2}-{max(ks):<2} {_mean(precisions):>9} {_mean(recalls):>7} "
              f"{statistics.fmean(evaluations):>6.0f} {max(evaluations):>5} {2 * n:>4} {seconds:>6.1f}")  # fmt: skip

    print()
    print("From a history of uniformly random configurations (a logged exploration), defaults")
    print(
        f"{'N':>4} {'problems':>8} {'rows':>5} {'precision':>9} {'recall':>7} {'declined':>8} {'explained':>9} {'s':>6}"
    )
    for n, count in sizes.items():
        for per in HISTORY_ROWS_PER_PARAMETER if n <= 50 else HISTORY_ROWS_PER_PARAMETER[:1]:
            count_h = max(1, count // 2)
            precisions, recalls, explained, declined = [], [], [], 0
            clock = time.perf_counter()
            for seed in range(count_h):
                problem = make_problem(n, seed)
                rng = np.random.default_rng(20_000 + seed)
                rows = []
                for _ in range(per * n):
                    configuration = _random_configuration(problem, rng)
                    rows.append({"configuration": configuration, "reward": problem.reward(configuration, rng)})
                try:
                    result = select(problem.parameters, history=rows, seed=seed)
                except InsufficientDataError:
                    declined += 1
                    recalls.append(0.0)
                    continue
                precision, recall = _precision_recall(result.selected, problem.relevant)
                precisions.append(precision)
                recalls.append(recall)
                explained.append(result.explained)
            seconds = (time.perf_counter() - clock) / count_h
            print(f"{n:>4} {count_h:>8} {per * n:>5} {_mean(precisions) if precisions else '—':>9} {_mean(recalls):>7} "
                  f"{declined:>8} {_mean(explained) if explained else '—':>9} {seconds:>6.1f}")  # fmt: skip

    print()
    print(f"Tuning after screening: default tuner, {TUNING_ROUNDS} rounds, normalised cumulative regret "
          f"(mean over problems x {tuner_seeds} tuner seeds; 0 perfect, 1 = staying at the start)")  # fmt: skip
    header = f"{'N':>4} {'runs':>5} {'all N':>7} {'selected':>9} {'change':>7} {'better':>7}"
    print(f"{header}   {'last 10%: all':>13} {'selected':>9}")
    for n, pairs in screened.items():
        every, chosen = [], []
        for index, (problem, selected) in enumerate(pairs):
            for t in range(tuner_seeds):
                every.append(tuning_regret(problem, problem.parameters, 1000 * index + t))
                chosen.append(tuning_regret(problem, selected, 1000 * index + t))
        cumulative = [statistics.fmean(c for c, _ in runs) for runs in (every, chosen)]
        final = [statistics.fmean(f for _, f in runs) for runs in (every, chosen)]
        change = 100 * (cumulative[1] / cumulative[0] - 1)
        better = sum(b[0] < a[0] for a, b in zip(every, chosen)) / len(every)
        figures = f"{n:>4} {len(every):>5} {cumulative[0]:>7.3f} {cumulative[1]:>9.3f} {change:>+6.0f}%"
        print(f"{figures} {100 * better:>6.0f}%   {final[0]:>13.3f} {final[1]:>9.3f}")
    print(f"\n{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
