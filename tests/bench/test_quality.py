"""The quality benchmark: exact optima, metrics, every runner's first rounds, and the commands."""

from __future__ import annotations

import csv
import itertools
import math
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from oppertune.bench.__main__ import main as bench_main
from oppertune.bench.problems import PROBLEMS, QUICK_PROBLEMS, Problem, get_problem, grid_values, mmck
from oppertune.bench.quality import Plan, Results, Row, metrics, plan, run_session, targets
from oppertune.bench.runners import RUNNERS, _PerContextSession, _PlayInitialFirst, _TunerSession, start_session
from oppertune.cli import app
from oppertune.core.values import Categorical, Integer, Real


# ============================================================================ problems
def _probe_values(p: Any, best: Any) -> list[Any]:
    """Every grid value of a parameter, or 21 points and the maximiser's value for a continuous Real."""
    values = grid_values(p)
    if values is None:
        values = [p.min + (p.max - p.min) * i / 20 for i in range(21)] + [best]
    return values


@pytest.mark.parametrize("name", PROBLEMS)
def test_optimum_is_exact_and_beats_every_probe(name: str) -> None:
    problem = get_problem(name)
    rng = random.Random(0)
    for context in range(problem.n_contexts):
        for phase in range(problem.phases):
            best = problem.argmax(context, phase)
            f_star = problem.optimum(context, phase)
            assert problem.score(best, context, phase) == f_star
            assert problem.gap(context, phase) > 0
            probes: list[dict[str, Any]] = []
            if problem.grid_size() is not None:  # brute force over the whole grid
                assert max(problem.score(x, context, phase) for x in problem.grid()) == pytest.approx(f_star, abs=1e-12)
            else:
                axes = [_probe_values(p, best[p.name]) for p in problem.parameters]
                if math.prod(len(a) for a in axes) <= 60_000:  # brute force over a fine grid
                    names = [p.name for p in problem.parameters]
                    probes.extend(dict(zip(names, values)) for values in itertools.product(*axes))
                for p, axis in zip(problem.parameters, axes):  # every single move away from the maximiser
                    probes.extend({**best, p.name: v} for v in axis)
                probes.extend({p.name: rng.choice(a) for p, a in zip(problem.parameters, axes)} for _ in range(3000))
                assert max(problem.score(x, context, phase) for x in probes) <= f_star + 1e-12


def test_small_grids_by_hand() -> None:
    combos = get_problem("categorical_combos")
    assert combos.optimum() == pytest.approx(0.9)
    assert combos.argmax() == {"scheduler": "bfq", "allocator": "jemalloc", "huge_pages": "always",
                               "governor": "performance"}  # fmt: skip
    # Non-separable: each half of a winning pair alone is worse than the start.
    start = combos.initial
    for name, value in (("scheduler", "bfq"), ("allocator", "jemalloc"), ("huge_pages", "always")):
        assert combos.score({**start, name: value}) < combos.initial_score()
    tiny = Problem(
        "tiny", "numerical", "", (Integer("a", 0, 0, 4), Real("b", 0.0, 0.0, 1.0, step=0.5)),
        lambda x, c, ph: -((x["a"] - 3) ** 2) - (x["b"] - 0.4) ** 2,
    )  # fmt: skip
    assert tiny.argmax() == {"a": 3, "b": 0.5}
    assert tiny.optimum() == pytest.approx(-0.01)
    assert tiny.grid_size() == 15


def _mmck_direct(lam: float, mu: float, c: int, q: int) -> tuple[float, float]:
    weights = [1.0]
    for n in range(1, c + q + 1):
        weights.append(weights[-1] * lam / (mu * min(n, c)))
    total = sum(weights)
    block = weights[-1] / total
    mean_in_system = sum(n * w for n, w in enumerate(weights)) / total
    return block, mean_in_system / (lam * (1 - block))


_QUEUES = [(90, 10, 8, 20), (130, 4, 32, 200), (130, 13, 10, 0), (100, 12.5, 8, 50), (50, 60, 1, 10), (130, 15, 9, 200)]


@pytest.mark.parametrize(("lam", "mu", "c", "q"), _QUEUES)
def test_queue_formula_matches_the_state_sums(lam: float, mu: float, c: int, q: int) -> None:
    assert mmck(lam, mu, c, q) == pytest.approx(_mmck_direct(lam, mu, c, q), rel=1e-9)


def test_cliff_optimum_sits_at_the_edge() -> None:
    cliff = get_problem("queue_cliff")
    best = cliff.argmax()
    assert cliff.cliff and not cliff.failed(cliff.initial) and not cliff.failed(best)
    assert cliff.failed({**best, "cache_mb": best["cache_mb"] + 64})
    assert cliff.score({**best, "threads": 32, "cache_mb": 960}) == 0.0
    rng = random.Random(1)
    assert cliff.observe({**best, "cache_mb": 960}, 0, 0, rng) == (0.0, 0.0)


def test_drift_and_contexts_change_the_optimum() -> None:
    drift = get_problem("drifting_optimum")
    assert drift.phases == 2 and drift.argmax(0, 0) != drift.argmax(0, 1)
    assert [drift.phase_of(t, 200) for t in (0, 99, 100, 199)] == [0, 0, 1, 1]
    jobs = get_problem("context_jobs")
    assert 4 <= len(jobs.contexts) <= 8 and len({tuple(jobs.argmax(c).values()) for c in range(6)}) == 3
    load = get_problem("context_load")
    assert 4 <= len(load.contexts) <= 8 and any(f["values"] is None for f in load.features)


def test_suite_covers_the_required_shapes() -> None:
    assert len(PROBLEMS) >= 10 and set(QUICK_PROBLEMS) < set(PROBLEMS)
    shapes = {name: get_problem(name) for name in PROBLEMS}
    assert any(p.has_categorical and p.has_numerical for p in shapes.values())
    assert any(len(p.parameters) >= 10 for p in shapes.values())
    assert any(p.heavy_tails for p in shapes.values())
    assert any(p.cliff for p in shapes.values())
    assert sum(bool(p.contexts) for p in shapes.values()) >= 2


def test_noise_is_seeded_and_scaled() -> None:
    noisy = get_problem("heavy_noise")
    a = [noisy.reward(0.5, random.Random(3)) for _ in range(3)]
    b = [noisy.reward(0.5, random.Random(3)) for _ in range(3)]
    assert a == b
    rng = random.Random(4)
    draws = [noisy.reward(0.0, rng) for _ in range(20_000)]
    sd = math.sqrt(sum(d * d for d in draws) / len(draws))
    assert sd == pytest.approx(noisy.noise_sd, rel=0.25)


# ============================================================================ metrics
def test_metrics_of_a_hand_made_trajectory() -> None:
    m = metrics([1.0, 0.5, 2.0, 0.25, 0.0])
    assert m.cumulative == pytest.approx(3.75 / 5)
    assert m.final == pytest.approx(0.0)  # last 20% = the last round
    assert m.worst_drop == pytest.approx(1.0)
    assert metrics([0.5] * 10).worst_drop == 0.0
    assert metrics([1.0] * 8 + [0.2, 0.4]).final == pytest.approx(0.3)


class _Scripted:
    def __init__(self, values: list[float]) -> None:
        self.values = values
        self.rewards: list[float] = []

    def ask(self, context: int) -> dict[str, Any]:
        return {"a": self.values[len(self.rewards)]}

    def tell(self, reward: float) -> None:
        self.rewards.append(reward)


def test_regrets_are_normalised_per_round_with_that_rounds_optimum() -> None:
    # Phase 0: f = a, f* = 1, f(x0) = 0.5.  Phase 1: f = 2 - 2a, f* = 2, f(x0) = 1.
    drifting = Problem(
        "hand", "drift", "", (Real("a", 0.5, 0.0, 1.0),),
        lambda x, c, ph: x["a"] if ph == 0 else 2.0 - 2.0 * x["a"],
        best_fn=lambda c, ph: {"a": 1.0 if ph == 0 else 0.0}, phases=2, noise=0.0,
    )  # fmt: skip
    session = _Scripted([0.5, 0.75, 1.0, 0.25, 0.0, 0.75])
    regrets = run_session(drifting, session, 6, seed=0)
    assert regrets == pytest.approx([1.0, 0.5, 0.0, 0.5, 0.0, 1.5])
    assert session.rewards == pytest.approx([0.5, 0.75, 1.0, 1.5, 2.0, 0.5])  # noise 0: the scores
    m = metrics(regrets)
    assert (m.cumulative, m.final, m.worst_drop) == pytest.approx((3.5 / 6, (0.0 + 1.5) / 2, 0.5))


# ============================================================================ runners
def _tuner_parameters(session: Any) -> list[Any]:
    if isinstance(session, _TunerSession):
        return list(session.tuner.parameters)
    if isinstance(session, _PerContextSession):
        return [p for t in session.tuners.values() for p in t.parameters]
    raise AssertionError(f"unexpected session {session!r}")


def _valid(problem: Problem, config: dict[str, Any]) -> bool:
    for p in problem.parameters:
        v = config[p.name]
        if isinstance(p, Categorical):
            if v not in p.categories:
                return False
        elif not p.min - 1e-9 <= v <= p.max + 1e-9:
            return False
    return list(config) == [p.name for p in problem.parameters]


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return list(a) == list(b) and all(
        a[k] == b[k] if isinstance(b[k], str) else a[k] == pytest.approx(b[k], abs=1e-9) for k in b
    )


@pytest.mark.parametrize("name", list(RUNNERS))
def test_each_runner_starts_from_the_initial_configuration(name: str) -> None:
    runner = RUNNERS[name]
    assert not runner.missing(), f"make test installs every extra; missing {runner.missing()}"
    applied = [p for p in map(get_problem, PROBLEMS) if runner.applies(p)]
    assert applied, name
    for problem in applied:
        session = start_session(runner, problem, seed=1, rounds=4)
        first = session.ask(0)
        if runner.start_mode in ("enqueued", "played"):
            assert _same(first, problem.initial), (problem.name, first)
        else:
            assert {p.name: p.val for p in _tuner_parameters(session)} == problem.initial
        if runner.start_mode == "played":
            assert isinstance(session, _PlayInitialFirst)
        assert _valid(problem, first)
        session.tell(problem.score(first))
        for t in range(1, 4):
            context = t % problem.n_contexts
            config = session.ask(context)
            assert _valid(problem, config)
            session.tell(problem.score(config, context))


def test_runner_applicability() -> None:
    numerical = get_problem("coarse_grid")
    categorical = get_problem("categorical_combos")
    contextual = get_problem("context_jobs")
    assert RUNNERS["bluefin"].applies(numerical) and not RUNNERS["bluefin"].applies(categorical)
    assert RUNNERS["exponential_weights_slates"].applies(categorical)
    assert not RUNNERS["exponential_weights_slates"].applies(numerical)
    assert RUNNERS["autoscope"].applies(contextual) and not RUNNERS["autoscope"].applies(numerical)
    assert RUNNERS["default_per_context"].applies(contextual)


def test_default_runner_follows_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from oppertune.algorithms import registry

    problem = get_problem("coarse_grid")
    session = start_session(RUNNERS["default"], problem, seed=3, rounds=2)
    assert type(session.tuner).name == registry.DEFAULT_ALGORITHM  # type: ignore[attr-defined]
    monkeypatch.setattr(registry, "DEFAULT_ALGORITHM", "bluefin")
    defaults = registry.create_tuning_instance.__defaults__ or ()
    swapped = tuple("bluefin" if d == type(session.tuner).name else d for d in defaults)  # type: ignore[attr-defined]
    monkeypatch.setattr(registry.create_tuning_instance, "__defaults__", swapped)
    session = start_session(RUNNERS["default"], problem, seed=3, rounds=2)
    assert type(session.tuner).name == "bluefin" and session.tuner.random_seed == 3  # type: ignore[attr-defined]


def test_seeded_runs_repeat() -> None:
    problem = get_problem("mixed_interactions")
    for name in ("default", "hybrid_solver"):
        runs = [run_session(problem, start_session(RUNNERS[name], problem, 2, 30), 30, 2) for _ in range(2)]
        assert runs[0] == runs[1]


# ============================================================================ planning and commands
def test_plan_quick_subset_filters_and_limits() -> None:
    quick = plan(quick=True)
    assert quick.problems == list(QUICK_PROBLEMS) and quick.seeds == 3
    assert all(RUNNERS[r].quick for r in quick.runners)
    full = plan()
    assert "optuna_gp" not in full.runners and full.seeds == 5 and full.rounds == 200
    for task in full.tasks:
        runner = RUNNERS[task.runner]
        assert task.rounds <= (runner.max_rounds or 200) and task.seed < (runner.max_seeds or 5)
        assert runner.applies(get_problem(task.problem))
    picked = plan(problems=["ridge"], runners=["bluefin", "exponential_weights_slates"], seeds=2, rounds=7)
    assert {(t.runner, t.seed, t.rounds) for t in picked.tasks} == {("bluefin", 0, 7), ("bluefin", 1, 7)}
    with pytest.raises(ValueError, match="Unknown problem 'nope'"):
        plan(problems=["nope"])
    with pytest.raises(ValueError, match="Unknown runner"):
        plan(runners=["nope"])


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_cli_quick_writes_csv_and_png(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = CliRunner().invoke(
        app, ["bench", "quality", "--quick", "--rounds", "6", "--seeds", "1", "--jobs", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = _rows(out / "quality.csv")
    assert {r["problem"] for r in rows} == set(QUICK_PROBLEMS)
    assert {"default", "hybrid_solver", "uniform_random"} <= {r["runner"] for r in rows}
    assert all(r["rounds"] == "6" and r["seeds"] == "1" for r in rows)
    assert all(math.isfinite(float(r["cumulative_regret_mean"])) for r in rows)
    assert (out / "quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _rows(out / "summary.csv") and len(_rows(out / "curves.csv")) == 6 * len(rows)
    assert "Summary" in result.output and "default" in result.output and "targets" in result.output


def test_cli_rejects_unknown_names(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "quality", "--problems", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Unknown problem" in result.output


def test_module_entry_point_runs_on_two_processes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["quality", "--problems", "coarse_grid,context_jobs", "--runners", "default,autoscope", "--rounds", "5",
            "--seeds", "2", "--jobs", "2", "--out", str(tmp_path)]  # fmt: skip
    assert bench_main(argv) == 0
    rows = _rows(tmp_path / "quality.csv")
    assert {(r["problem"], r["runner"]) for r in rows} == {
        ("coarse_grid", "default"),
        ("context_jobs", "default"),
        ("context_jobs", "autoscope"),
    }
    assert all(r["seeds"] == "2" for r in rows)
    assert bench_main(["nope"]) == 2
    assert bench_main(["quality", "--list"]) == 0
    assert "queue_cliff" in capsys.readouterr().out


def _row(problem: str, kind: str, runner: str, cumulative: float, worst: float, seeds: int = 5) -> Row:
    return Row(problem, kind, runner, seeds, 200, (cumulative, 0.1), (cumulative, 0.1), (worst, 0.1), 0.01)


def test_targets_compare_the_default_with_full_runs_of_its_peers() -> None:
    rows = [
        _row("a", "mixed", "default", 0.40, 0.05), _row("b", "mixed", "default", 0.60, 0.30),
        _row("d", "drift", "default", 0.50, 2.0),
        _row("a", "mixed", "optuna_tpe", 0.30, 0.9), _row("b", "mixed", "optuna_tpe", 0.50, 0.9),
        _row("d", "drift", "optuna_tpe", 1.50, 2.0),
        _row("a", "mixed", "hopt", 0.10, 0.9, seeds=3), _row("b", "mixed", "hopt", 0.10, 0.9, seeds=3),
        _row("a", "mixed", "default_per_context", 0.39, 0.05),  # the default itself: not a rival
    ]  # fmt: skip
    results = Results(Plan(["a", "b", "d"], ["default", "optuna_tpe", "hopt", "default_per_context"], [], 5, 200),
                      rows, {}, 0.0, [], "hybrid_solver")  # fmt: skip
    found = {t.what: t for t in targets(results)}
    lowest = found["lowest mean cumulative regret of every runner"]
    assert lowest.met is True and lowest.detail.startswith("closest: optuna_tpe +0.267")  # -0.1, -0.1, +1.0
    assert found["mixed: no worse than the best peer"].met is False
    assert "optuna_tpe 0.400" in found["mixed: no worse than the best peer"].detail  # hopt ran 3 seeds: left out
    assert found["drift: no worse than the best peer"].met is True
    drops = found["worst drop <= 0.1 on every stationary problem"]
    assert drops.met is False and drops.detail == "1 of 2 over: b 0.30"  # the drifting problem does not count


def test_targets_without_peers_cannot_tell() -> None:
    rows = [_row("a", "mixed", "default", 0.4, 0.05)]
    results = Results(Plan(["a"], ["default"], [], 5, 200), rows, {}, 0.0, [], "hybrid_solver")
    assert [(t.met, t.detail) for t in targets(results)] == [
        (None, "no other runner ran in full"),
        (None, "default 0.400; no peer ran all of its problems in full"),
        (True, "every one within"),
    ]
