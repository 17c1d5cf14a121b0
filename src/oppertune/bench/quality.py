"""The quality benchmark: regret of our tuners and their peers on problems with known optima.

Run: ``oppertune bench quality`` or ``python -m oppertune.bench quality`` (``--quick`` for a
one-minute subset, ``--problems``/``--runners`` to filter, ``--seeds``, ``--rounds``, ``--out``,
``--jobs``, ``--list``). Prints tables; writes ``quality.csv`` (one row per problem x runner),
``summary.csv``, ``curves.csv`` (mean regret per round) and ``quality.png`` into ``--out``.

Each run: every round draws the context (seeded), the runner asks for a configuration, the
problem scores it noise-free (f) and the runner is told the noisy reward. Runners share, per
problem and seed, the same context and noise sequences. Metrics, on the noise-free score and
normalised per round with that round's f* and initial score f(x0) (they depend on the context
and, for drifting problems, on the round):

* regret_t = (f* - f(x_t)) / (f* - f(x0)): 0 at the optimum, 1 when no better than the start;
* cumulative regret: the mean of regret_t over the run (what a live service pays while tuning);
* final regret: the mean over the last 20% of the rounds;
* worst drop: max over rounds of (f(x0) - f(x_t)) / (f* - f(x0)), floored at 0 (= max(regret_t) - 1).

Each is reported as mean and standard deviation over seeds.
"""

from __future__ import annotations

import csv
import math
import multiprocessing
import os
import random
import statistics
import time
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oppertune.bench.problems import KINDS, PROBLEMS, QUICK_PROBLEMS, Problem, get_problem
from oppertune.bench.runners import RUNNERS, Runner, Session, default_algorithm_name, get_runner, start_session

__all__ = [
    "FINAL_SHARE",
    "Metrics",
    "Results",
    "Row",
    "metrics",
    "plan",
    "run_one",
    "run_quality",
    "run_session",
]

FINAL_SHARE = 0.2
"""Share of the last rounds the final regret averages over."""
FULL_SEEDS, QUICK_SEEDS, ROUNDS = 5, 3, 200


@dataclass(frozen=True)
class Metrics:
    """The metrics of one run."""

    cumulative: float
    final: float
    worst_drop: float


def metrics(regrets: Sequence[float], final_share: float = FINAL_SHARE) -> Metrics:
    """Cumulative regret, final regret and worst drop of one run from its per-round normalised regrets."""
    if not regrets:
        raise ValueError("metrics() needs at least one round.")
    last = max(1, math.ceil(final_share * len(regrets)))
    return Metrics(
        cumulative=math.fsum(regrets) / len(regrets),
        final=math.fsum(regrets[-last:]) / last,
        worst_drop=max(0.0, max(regrets) - 1.0),
    )


def _stable_seed(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def run_session(problem: Problem, session: Session, rounds: int, seed: int) -> list[float]:
    """Play ``rounds`` rounds of ``session`` on ``problem``; the per-round normalised regrets."""
    noise = random.Random(_stable_seed(problem.name, seed, "noise"))
    arrivals = random.Random(_stable_seed(problem.name, seed, "contexts"))
    regrets: list[float] = []
    for t in range(rounds):
        phase = problem.phase_of(t, rounds)
        context = arrivals.randrange(problem.n_contexts) if problem.contexts else 0
        config = session.ask(context)
        score, reward = problem.observe(config, context, phase, noise)
        regrets.append((problem.optimum(context, phase) - score) / problem.gap(context, phase))
        session.tell(reward)
    return regrets


def run_one(problem_name: str, runner_name: str, seed: int, rounds: int) -> tuple[list[float], float]:
    """Per-round normalised regrets of one run, and its wall time in seconds."""
    problem, runner = get_problem(problem_name), get_runner(runner_name)
    start = time.perf_counter()
    regrets = run_session(problem, start_session(runner, problem, seed, rounds), rounds, seed)
    return regrets, time.perf_counter() - start


# ============================================================================ plan and run
@dataclass(frozen=True)
class Task:
    """One run: a runner on a problem with a seed."""

    problem: str
    runner: str
    seed: int
    rounds: int


@dataclass
class Plan:
    """What a benchmark invocation runs."""

    problems: list[str]
    runners: list[str]
    tasks: list[Task]
    seeds: int
    rounds: int
    notes: list[str] = field(default_factory=list)


def _names(given: Sequence[str] | None, known: Sequence[str], what: str) -> list[str] | None:
    if not given:
        return None
    unknown = [n for n in given if n not in known]
    if unknown:
        raise ValueError(f"Unknown {what} {', '.join(map(repr, unknown))}; known {what}s: {', '.join(known)}.")
    return list(dict.fromkeys(given))


def plan(
    problems: Sequence[str] | None = None,
    runners: Sequence[str] | None = None,
    seeds: int | None = None,
    rounds: int | None = None,
    quick: bool = False,
) -> Plan:
    """The runs of a benchmark invocation (raises ValueError on an unknown name or a bad count)."""
    chosen_problems = _names(problems, PROBLEMS, "problem") or list(QUICK_PROBLEMS if quick else PROBLEMS)
    named_runners = _names(runners, list(RUNNERS), "runner")
    seeds = seeds if seeds is not None else (QUICK_SEEDS if quick else FULL_SEEDS)
    rounds = rounds if rounds is not None else ROUNDS
    if seeds < 1 or rounds < 1:
        raise ValueError(f"--seeds and --rounds must be at least 1. Got {seeds} and {rounds}.")
    notes: list[str] = []
    if named_runners is None:
        pool = [r for r in RUNNERS.values() if not r.opt_in and (r.quick or not quick)]
    else:
        pool = [RUNNERS[n] for n in named_runners]
    chosen: list[Runner] = []
    for runner in pool:
        missing = runner.missing()
        if missing:
            notes.append(f"{runner.name}: skipped, {', '.join(missing)} not installed.")
        else:
            chosen.append(runner)
    tasks: list[Task] = []
    for runner in chosen:
        runner_seeds = min(seeds, runner.max_seeds or seeds)
        runner_rounds = min(rounds, runner.max_rounds or rounds)
        for name in chosen_problems:
            problem = get_problem(name)
            if not runner.applies(problem) or (runner.quick_problems_only and not problem.quick):
                continue
            tasks.extend(Task(name, runner.name, s, runner_rounds) for s in range(runner_seeds))
        if runner.limits() and (runner_seeds < seeds or runner_rounds < rounds or runner.quick_problems_only):
            notes.append(f"{runner.name}: {runner.limits()} (slow per round).")
    order = {r.name: r.cost for r in chosen}
    tasks.sort(key=lambda t: -order[t.runner] * t.rounds)
    return Plan(chosen_problems, [r.name for r in chosen], tasks, seeds, rounds, notes)


def _init_worker() -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    warnings.simplefilter("ignore")


def _run_task(task: Task) -> tuple[Task, list[float] | None, float, str | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            regrets, seconds = run_one(task.problem, task.runner, task.seed, task.rounds)
        return task, regrets, seconds, None
    except Exception as exc:  # a failing peer must not stop the suite: reported in the notes
        return task, None, 0.0, f"{type(exc).__name__}: {exc}"


# ============================================================================ results
@dataclass(frozen=True)
class Row:
    """Metrics of one runner on one problem, over seeds."""

    problem: str
    kind: str
    runner: str
    seeds: int
    rounds: int
    cumulative: tuple[float, float]  # mean, sd
    final: tuple[float, float]
    worst_drop: tuple[float, float]
    seconds_per_run: float


@dataclass
class Results:
    """Everything a benchmark invocation measured."""

    plan: Plan
    rows: list[Row]
    curves: dict[tuple[str, str], list[float]]
    elapsed: float
    errors: list[str]
    default_algorithm: str

    def row(self, problem: str, runner: str) -> Row | None:
        """The row of ``runner`` on ``problem``, if it ran."""
        return next((r for r in self.rows if r.problem == problem and r.runner == runner), None)

    def summary(self) -> list[dict[str, Any]]:
        """Per runner: problems run, mean cumulative regret, difference to the default on the same
        problems, number of problems where it is best, and the mean per problem class."""
        best: dict[str, str] = {}
        for problem in self.plan.problems:
            rows = [r for r in self.rows if r.problem == problem]
            if rows:
                best[problem] = min(rows, key=lambda r: r.cumulative[0]).runner
        out = []
        for runner in self.plan.runners:
            rows = [r for r in self.rows if r.runner == runner]
            if not rows:
                continue
            paired = [(r.cumulative[0], d.cumulative[0]) for r in rows if (d := self.row(r.problem, "default"))]
            by_kind = {
                kind: statistics.fmean(r.cumulative[0] for r in rows if r.kind == kind)
                for kind in KINDS
                if any(r.kind == kind for r in rows)
            }
            out.append(
                {
                    "runner": runner,
                    "problems": len(rows),
                    "cumulative": statistics.fmean(r.cumulative[0] for r in rows),
                    "vs_default": statistics.fmean(a - b for a, b in paired) if paired else None,
                    "best_on": sum(1 for w in best.values() if w == runner),
                    "by_kind": by_kind,
                }
            )
        return out


OURS = ("default", "default_rails", "default_per_context")
"""Runners that are this project's default tuner; every other runner is a peer. ``default_per_context`` is the
default itself, one per context made by the benchmark: a like-for-like check, not a rival."""
WORST_DROP_TARGET = 0.1


@dataclass(frozen=True)
class Target:
    """One of the default tuner's targets: met (None when these runs cannot tell) and the figures behind it."""

    what: str
    met: bool | None
    detail: str


def targets(results: Results) -> list[Target]:
    """The default tuner's targets on these runs: the lowest mean cumulative regret of every runner (paired on the
    problems each ran), no worse than the best peer per problem class, and a worst drop of at most 0.1 on every
    stationary problem. Runners with fewer seeds or rounds than the plan do not count: their means are not
    comparable."""
    the_plan = results.plan
    full = {r.runner for r in results.rows if (r.seeds, r.rounds) == (the_plan.seeds, the_plan.rounds)}
    full -= {r.runner for r in results.rows if (r.seeds, r.rounds) != (the_plan.seeds, the_plan.rounds)}
    mine = [r for r in results.rows if r.runner == "default"]
    if not mine:
        return [Target("the default tuner ran", False, "no 'default' runner in these runs")]
    out: list[Target] = []
    rivals = [
        s for s in results.summary() if s["runner"] not in ("default", "default_per_context") and s["runner"] in full
    ]
    if rivals:
        closest = min(rivals, key=lambda s: s["vs_default"])
        out.append(Target(
            "lowest mean cumulative regret of every runner", closest["vs_default"] > 0.0,
            f"closest: {closest['runner']} {closest['vs_default']:+.3f} on the problems it ran",
        ))  # fmt: skip
    else:
        out.append(Target("lowest mean cumulative regret of every runner", None, "no other runner ran in full"))
    for kind in KINDS:
        problems = {r.problem for r in mine if r.kind == kind}
        if not problems:
            continue
        ours = statistics.fmean(r.cumulative[0] for r in mine if r.kind == kind)
        peers = {
            runner: statistics.fmean(r.cumulative[0] for r in results.rows if r.runner == runner and r.kind == kind)
            for runner in sorted(full - set(OURS))
            if problems <= {r.problem for r in results.rows if r.runner == runner}
        }
        what = f"{kind}: no worse than the best peer"
        if not peers:
            out.append(Target(what, None, f"default {ours:.3f}; no peer ran all of its problems in full"))
            continue
        best = min(peers, key=lambda runner: peers[runner])
        out.append(Target(what, ours <= peers[best], f"default {ours:.3f}, {best} {peers[best]:.3f}"))
    stationary = [r for r in mine if r.kind != "drift"]
    over = sorted((r for r in stationary if r.worst_drop[0] > WORST_DROP_TARGET), key=lambda r: -r.worst_drop[0])
    detail = ", ".join(f"{r.problem} {r.worst_drop[0]:.2f}" for r in over) or "every one within"
    out.append(Target(
        f"worst drop <= {WORST_DROP_TARGET} on every stationary problem", not over,
        f"{len(over)} of {len(stationary)} over: {detail}" if over else detail,
    ))  # fmt: skip
    return out


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _collect(
    the_plan: Plan, runs: dict[tuple[str, str], list[tuple[int, list[float], float]]], elapsed: float, errors: list[str]
) -> Results:
    rows: list[Row] = []
    curves: dict[tuple[str, str], list[float]] = {}
    for problem in the_plan.problems:
        for runner in the_plan.runners:
            done = runs.get((problem, runner))
            if not done:
                continue
            done = sorted(done, key=lambda run: run[0])  # seed order, whatever order the processes finished in
            ms = [metrics(regrets) for _, regrets, _ in done]
            rows.append(
                Row(
                    problem,
                    get_problem(problem).kind,
                    runner,
                    len(done),
                    len(done[0][1]),
                    _mean_sd([m.cumulative for m in ms]),
                    _mean_sd([m.final for m in ms]),
                    _mean_sd([m.worst_drop for m in ms]),
                    statistics.fmean(s for _, _, s in done),
                )
            )
            curves[problem, runner] = [statistics.fmean(c) for c in zip(*(regrets for _, regrets, _ in done))]
    return Results(the_plan, rows, curves, elapsed, errors, default_algorithm_name())


def execute(the_plan: Plan, jobs: int = 2, console: Any = None) -> Results:
    """Run the plan's tasks (on ``jobs`` processes when above 1) with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = console or make_console()
    runs: dict[tuple[str, str], list[tuple[int, list[float], float]]] = {}
    errors: list[str] = []
    start = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("quality benchmark", total=len(the_plan.tasks))

        def record(result: tuple[Task, list[float] | None, float, str | None]) -> None:
            task, regrets, seconds, error = result
            if error is not None:
                errors.append(f"{task.runner} on {task.problem} (seed {task.seed}): {error}")
            else:
                runs.setdefault((task.problem, task.runner), []).append((task.seed, regrets, seconds))  # type: ignore[arg-type]
            progress.update(bar, advance=1, description=f"{task.runner} on {task.problem}")

        if jobs > 1 and len(the_plan.tasks) > 1:
            context = multiprocessing.get_context("spawn")
            with context.Pool(min(jobs, len(the_plan.tasks)), initializer=_init_worker) as pool:
                for result in pool.imap_unordered(_run_task, the_plan.tasks):
                    record(result)
        else:
            for task in the_plan.tasks:
                record(_run_task(task))
    return _collect(the_plan, runs, time.perf_counter() - start, errors)


# ============================================================================ output
def _fmt(value: tuple[float, float]) -> str:
    return f"{value[0]:.3f} ± {value[1]:.3f}"


def _label(runner: str, default_algorithm: str) -> str:
    return f"default ({default_algorithm})" if runner == "default" else runner


def print_tables(results: Results, console: Any) -> None:
    """The per-problem table, then the summary, then notes."""
    from rich.table import Table

    the_plan = results.plan
    table = Table(
        title=f"Quality: normalised regret over {the_plan.rounds} rounds, mean ± sd over {the_plan.seeds} seeds "
        "(0 = optimum, 1 = no better than the initial configuration; lower is better)",
        title_justify="left",
    )
    for column, justify in (("problem", "left"), ("runner", "left"), ("cumulative", "right"), ("final", "right"),
                            ("worst drop", "right"), ("s/run", "right"), ("runs", "right")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for problem in the_plan.problems:
        rows = [r for r in results.rows if r.problem == problem]
        if not rows:
            continue
        best = min(r.cumulative[0] for r in rows)
        for i, r in enumerate(rows):
            cumulative = _fmt(r.cumulative)
            if r.cumulative[0] == best:
                cumulative = f"[bold green]{cumulative}[/]"
            limited = "" if (r.seeds, r.rounds) == (the_plan.seeds, the_plan.rounds) else " *"
            table.add_row(
                problem if i == 0 else "",
                _label(r.runner, results.default_algorithm),
                cumulative,
                _fmt(r.final),
                _fmt(r.worst_drop),
                f"{r.seconds_per_run:.2f}",
                f"{r.seeds}x{r.rounds}{limited}",
                end_section=i == len(rows) - 1,
            )
    console.print(table)

    summary = results.summary()
    kinds = [k for k in KINDS if any(k in s["by_kind"] for s in summary)]
    table = Table(
        title="Summary: mean cumulative regret per runner, over the problems it ran and per problem class "
        "(vs default: mean difference on the same problems; best on: problems where it has the lowest regret)",
        title_justify="left",
    )
    table.add_column("runner")
    for column in ("problems", "mean", "vs default", "best on", *kinds):
        table.add_column(column, justify="right")
    for s in sorted(summary, key=lambda s: s["cumulative"]):
        versus = "" if s["vs_default"] is None or s["runner"] == "default" else f"{s['vs_default']:+.3f}"
        table.add_row(
            _label(s["runner"], results.default_algorithm),
            str(s["problems"]),
            f"{s['cumulative']:.3f}",
            versus,
            str(s["best_on"]),
            *(f"{s['by_kind'][k]:.3f}" if k in s["by_kind"] else "" for k in kinds),
        )
    console.print(table)

    table = Table(title="The default tuner's targets on these runs", title_justify="left")
    for column in ("target", "met", "figures"):
        table.add_column(column)
    for target in targets(results):
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "n/a"}[target.met]
        table.add_row(target.what, met, target.detail)
    console.print(table)
    for note in [*the_plan.notes, *results.errors]:
        console.print(f"[yellow]note:[/] {note}")
    if any((r.seeds, r.rounds) != (the_plan.seeds, the_plan.rounds) for r in results.rows):
        console.print("[yellow]note:[/] * = fewer seeds or rounds than the others (see 'runs').")


def write_csv(results: Results, out: Path) -> list[Path]:
    """``quality.csv``, ``summary.csv`` and ``curves.csv`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    quality, summary, curves = out / "quality.csv", out / "summary.csv", out / "curves.csv"
    with quality.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["problem", "kind", "runner", "algorithm", "seeds", "rounds", "cumulative_regret_mean",
                         "cumulative_regret_sd", "final_regret_mean", "final_regret_sd", "worst_drop_mean",
                         "worst_drop_sd", "seconds_per_run"])  # fmt: skip
        for r in results.rows:
            algorithm = results.default_algorithm if r.runner == "default" else r.runner
            writer.writerow([r.problem, r.kind, r.runner, algorithm, r.seeds, r.rounds,
                             *(f"{v:.6f}" for v in (*r.cumulative, *r.final, *r.worst_drop)),
                             f"{r.seconds_per_run:.4f}"])  # fmt: skip
    with summary.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["runner", "problems", "cumulative_regret_mean", "vs_default", "best_on",
                         *(f"cumulative_regret_{k}" for k in KINDS)])  # fmt: skip
        for s in results.summary():
            versus = "" if s["vs_default"] is None else f"{s['vs_default']:.6f}"
            writer.writerow([s["runner"], s["problems"], f"{s['cumulative']:.6f}", versus, s["best_on"],
                             *(f"{s['by_kind'][k]:.6f}" if k in s["by_kind"] else "" for k in KINDS)])  # fmt: skip
    with curves.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["problem", "runner", "round", "regret_mean"])
        for (problem, runner), curve in results.curves.items():
            writer.writerows([problem, runner, t, f"{v:.6f}"] for t, v in enumerate(curve))
    return [quality, summary, curves]


def _smooth(values: Sequence[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot(results: Results, path: Path) -> Path:
    """A PNG with one subplot per problem: mean regret per round of each runner (trailing moving average)."""
    from oppertune.plots import _pyplot

    plt = _pyplot()
    problems = [p for p in results.plan.problems if any((p, r) in results.curves for r in results.plan.runners)]
    columns = min(4, max(1, len(problems)))
    lines = max(1, math.ceil(len(problems) / columns))
    figure, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.2 * lines + 1.0), dpi=100, squeeze=False)
    colours = plt.get_cmap("tab20")
    colour = {r: colours((2 * i) % 20 + (2 * i) // 20 % 2) for i, r in enumerate(results.plan.runners)}
    handles: dict[str, Any] = {}
    for ax in axes.flat[len(problems) :]:
        ax.set_visible(False)
    for ax, problem in zip(axes.flat, problems):
        top = 1.2
        for runner in results.plan.runners:
            curve = results.curves.get((problem, runner))
            if curve is None:
                continue
            smooth = _smooth(curve, max(1, len(curve) // 20))
            top = max(top, min(2.0, max(smooth) * 1.05))
            ours = runner in ("default", "hybrid_solver")
            (line,) = ax.plot(range(len(smooth)), smooth, color=colour[runner], linewidth=2.0 if ours else 1.0,
                              label=_label(runner, results.default_algorithm))  # fmt: skip
            handles.setdefault(runner, line)
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=0.8)
        ax.axhline(0.0, color="black", linewidth=0.5)
        ax.set_ylim(-0.05, top)
        ax.set_title(problem, fontsize=9)
        ax.set_xlabel("round", fontsize=8)
        ax.set_ylabel("normalised regret", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    figure.legend(list(handles.values()), [h.get_label() for h in handles.values()], loc="lower center",
                  ncol=min(6, max(1, len(handles))), fontsize=8, frameon=False)  # fmt: skip
    figure.suptitle("Normalised regret per round (mean over seeds; 1 = initial configuration, 0 = optimum)")
    figure.tight_layout(rect=(0, 0.07 if len(handles) > 6 else 0.05, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def make_console() -> Any:
    """A rich console; 160 columns wide when the output is not a terminal, so the tables stay readable."""
    import sys

    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def list_contents(console: Any) -> None:
    """Print the problems and runners."""
    from rich.table import Table

    problems = Table(title="Problems", title_justify="left")
    for column in ("name", "class", "params", "contexts", "quick", "what it tests"):
        problems.add_column(column)
    for name in PROBLEMS:
        p = get_problem(name)
        contexts = str(len(p.contexts)) if p.contexts else ""
        problems.add_row(name, p.kind, str(len(p.parameters)), contexts, "yes" if p.quick else "", p.summary)
    console.print(problems)
    runners = Table(title="Runners", title_justify="left")
    for column in ("name", "quick", "starts", "limits", "what it is"):
        runners.add_column(column)
    for r in RUNNERS.values():
        missing = r.missing()
        what = r.summary + (f" [yellow](not installed: {', '.join(missing)})[/]" if missing else "")
        runners.add_row(r.name, "yes" if r.quick else ("opt-in" if r.opt_in else ""), r.start_mode, r.limits(), what)
    console.print(runners)


def run_quality(
    problems: Sequence[str] | None = None,
    runners: Sequence[str] | None = None,
    seeds: int | None = None,
    rounds: int | None = None,
    quick: bool = False,
    out: Path | str = Path("results/quality"),
    jobs: int = 2,
    console: Any = None,
) -> Results:
    """Plan, run, print and write the quality benchmark; raises ValueError on bad arguments."""
    console = console or make_console()
    the_plan = plan(problems, runners, seeds, rounds, quick)
    if not the_plan.tasks:
        raise ValueError("Nothing to run: no selected runner applies to the selected problems.")
    console.print(
        f"Quality benchmark: {len(the_plan.problems)} problems, {len(the_plan.runners)} runners, "
        f"{the_plan.seeds} seeds x {the_plan.rounds} rounds, {len(the_plan.tasks)} runs on {jobs} process(es); "
        f"default algorithm: {default_algorithm_name()}"
    )
    results = execute(the_plan, jobs=jobs, console=console)
    print_tables(results, console)
    out = Path(out)
    written = write_csv(results, out)
    try:
        written.append(plot(results, out / "quality.png"))
    except ImportError as exc:
        console.print(f"[yellow]{exc}")
    console.print(f"Finished in {results.elapsed:.1f} s. Wrote {', '.join(str(p) for p in written)}")
    return results
