"""``oppertune demo``: tune a real SQLite database under a real workload, live, then follow a workload change.

Phase 1 runs a read-heavy mix, phase 2 a write-heavy one, phase 3 the read-heavy mix again. Each
round applies the tuner's configuration to the database, runs the workload for a short window and
rewards the measured throughput, penalised when p95 latency grows, relative to the starting
configuration on the same mix. The tuner is AutoScope with the workload type as its context: each
workload gets its own configuration (a HybridSolver per leaf), so phase 3 resumes from what phase 1
learned instead of starting over.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from oppertune.algorithms import TuningInstance, create_tuning_instance
from oppertune.core.types import Context
from oppertune.core.values import to_value
from oppertune.targets.sqlite_workload import KNOBS, READ_HEAVY, WRITE_HEAVY, Measurement, SQLiteTarget, WorkloadMix

__all__ = ["DemoResult", "PhaseResult", "relative_reward", "run_demo"]

LATENCY_OBJECTIVE_MS = 5.0


def relative_reward(measured: Measurement, baseline: Measurement) -> float:
    """Throughput relative to the baseline, scaled down by how far p95 latency exceeds `LATENCY_OBJECTIVE_MS`."""
    if measured.operations == 0 or baseline.throughput <= 0:
        return 0.0
    latency_factor = min(1.0, LATENCY_OBJECTIVE_MS / measured.p95_ms) if measured.p95_ms > 0 else 1.0
    return measured.throughput / baseline.throughput * latency_factor


@dataclass
class PhaseResult:
    """One workload phase: its rounds and the before/after comparison."""

    mix: WorkloadMix
    first_round: int
    rewards: list[float] = field(default_factory=list)
    best_configuration: dict[str, Any] = field(default_factory=dict)
    before: Measurement | None = None
    after: Measurement | None = None


@dataclass
class DemoResult:
    """Everything the demo measured."""

    phases: list[PhaseResult]
    plot: Path | None


def _median_measurement(samples: list[Measurement]) -> Measurement:
    return Measurement(
        operations=round(statistics.median(m.operations for m in samples)),
        seconds=statistics.median(m.seconds for m in samples),
        p95_ms=statistics.median(m.p95_ms for m in samples),
        errors=sum(m.errors for m in samples),
    )


def _settle(target: SQLiteTarget, config: dict[str, Any], mix: WorkloadMix, seconds: float) -> None:
    """Flush pending writes and run one discarded window, so the next measurement starts from a steady state."""
    target.apply(config)
    os.sync()
    target.measure(mix, seconds)


def _measure(
    target: SQLiteTarget, config: dict[str, Any], mix: WorkloadMix, seconds: float, repeats: int
) -> Measurement:
    _settle(target, config, mix, seconds)
    return _median_measurement([target.measure(mix, seconds) for _ in range(repeats)])


def _compare(
    target: SQLiteTarget, first: dict[str, Any], second: dict[str, Any], mix: WorkloadMix, seconds: float, repeats: int
) -> tuple[Measurement, Measurement]:
    """Median measurements of two configurations, interleaved so that both see the same conditions."""
    samples: tuple[list[Measurement], list[Measurement]] = ([], [])
    for _ in range(repeats):
        for config, bucket in zip((first, second), samples, strict=True):
            _settle(target, config, mix, seconds / 2)
            bucket.append(target.measure(mix, seconds))
    return _median_measurement(samples[0]), _median_measurement(samples[1])


def create_demo_tuner(seed: int) -> TuningInstance:
    """AutoScope over the workload type, with a HybridSolver (its default, PairedSearch) per workload."""
    return create_tuning_instance(
        [to_value(k) for k in KNOBS],
        "autoscope",
        {
            "features": [{"name": "workload", "values": [READ_HEAVY.name, WRITE_HEAVY.name]}],
            "height": 1,
            "leaf_algorithm": "hybrid_solver",
            "fix_internal_weights": True,
            "random_seed": seed,
        },
    )


def run_demo(
    rounds: int = 60,
    seed: int = 0,
    out: Path = Path("oppertune-demo"),
    seconds_per_round: float = 0.6,
    console: Console | None = None,
    on_round: Callable[[int, float], None] | None = None,
) -> DemoResult:
    """Tune the database for ``rounds`` rounds per phase; write the plot into ``out``.

    Args:
        rounds: Tuning rounds in each of the two phases.
        seed: Seed of the tuner and the workload.
        out: Folder for the plot (created).
        seconds_per_round: Length of each measurement window.
        console: Where to print (a new console when None).
        on_round: Called with (round, reward) after each round.
    """
    console = console or Console()
    out.mkdir(parents=True, exist_ok=True)
    start_config = {spec["name"]: spec["val"] for spec in KNOBS}
    tuner = create_demo_tuner(seed)
    phases: list[PhaseResult] = []
    with tempfile.TemporaryDirectory(prefix="oppertune-demo-", dir=_disk_folder()) as folder:
        target = SQLiteTarget(Path(folder), seed=seed)
        target.setup()
        console.print(f"[bold]SQLite database[/bold] {target.path} ({target.rows} rows, {target.threads} threads)")
        round_number = 0
        baselines: dict[str, Measurement] = {}
        schedule = ((READ_HEAVY, rounds, ""), (WRITE_HEAVY, rounds, ""), (READ_HEAVY, max(5, rounds // 4), " again"))
        for mix, phase_rounds, suffix in schedule:
            phase = PhaseResult(mix, round_number + 1)
            console.rule(f"[bold]{mix.name} workload{suffix}")
            if mix.name not in baselines:
                baselines[mix.name] = _measure(target, start_config, mix, seconds_per_round, repeats=5)
            baseline = baselines[mix.name]
            console.print(
                f"Starting configuration (median of 5 windows): {baseline.throughput:,.0f} ops/s, "
                f"p95 {baseline.p95_ms:.2f} ms. Reward = throughput / that x min(1, {LATENCY_OBJECTIVE_MS:g} ms / p95)"
            )
            best = _tune_phase(tuner, target, mix, baseline, phase_rounds, seconds_per_round, console, phase,
                               round_number, on_round)  # fmt: skip
            round_number += phase_rounds
            phase.best_configuration = best
            phase.before, phase.after = _compare(target, start_config, best, mix, seconds_per_round, repeats=3)
            console.print(_comparison_table(mix, start_config, best, phase.before, phase.after))
            phases.append(phase)
    plot = _plot(phases, out)
    if plot is not None:
        console.print(f"Plot of reward per round written to {plot}")
    return DemoResult(phases, plot)


def _disk_folder() -> str | None:
    """A temporary folder on disk rather than in memory, so that fsync costs are real."""
    for candidate in ("/var/tmp", None):
        if candidate is None or Path(candidate).is_dir():
            return candidate
    return None


def _tune_phase(
    tuner: TuningInstance,
    target: SQLiteTarget,
    mix: WorkloadMix,
    baseline: Measurement,
    rounds: int,
    seconds: float,
    console: Console,
    phase: PhaseResult,
    offset: int,
    on_round: Callable[[int, float], None] | None,
) -> dict[str, Any]:
    best_reward, best_config = -math.inf, {}
    columns = (
        TextColumn("[bold]tuning"), BarColumn(bar_width=20), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("tune", total=rounds, status="")
        context = Context({"workload": mix.name})
        for i in range(1, rounds + 1):
            prediction, request_id = tuner.predict(context)
            target.apply(prediction)
            measured = target.measure(mix, seconds)
            reward = relative_reward(measured, baseline)
            tuner.store_reward(request_id, reward)
            tuner.set_reward(reward, context_id=context.id)
            phase.rewards.append(reward)
            if reward > best_reward:
                best_reward, best_config = reward, prediction
            if on_round is not None:
                on_round(offset + i, reward)
            status = f"reward {reward:5.2f}x best {best_reward:5.2f}x {measured.throughput:>7,.0f}/s"
            progress.update(task, advance=1, status=status)
    return best_config


def _comparison_table(
    mix: WorkloadMix, start: dict[str, Any], best: dict[str, Any], before: Measurement, after: Measurement
) -> Table:
    table = Table(title=f"{mix.name}: starting configuration vs tuned (median of 3 windows each)")
    table.add_column("")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    speedup = after.throughput / before.throughput if before.throughput else math.inf
    table.add_row("throughput (ops/s)", f"{before.throughput:,.0f}", f"{after.throughput:,.0f}  ({speedup:.1f}x)")
    table.add_row("p95 latency (ms)", f"{before.p95_ms:.2f}", f"{after.p95_ms:.2f}")
    for name in start:
        changed = "" if start[name] == best.get(name) else "[bold]"
        table.add_row(f"[dim]{name}", str(start[name]), f"{changed}{best.get(name)}")
    return table


def _plot(phases: list[PhaseResult], out: Path) -> Path | None:
    try:
        from oppertune.plots import reward_chart
    except ImportError:
        return None
    rounds = [p.first_round + i for p in phases for i in range(len(p.rewards))]
    rewards = [r for p in phases for r in p.rewards]
    markers = [(p.first_round, p.mix.name) for p in phases]
    try:
        return reward_chart(out / "demo-rewards.png", rounds, rewards, title="SQLite: reward per round "
                            "(throughput vs the starting configuration, latency-penalised)", markers=markers,
                            baseline=1.0, log_y=True)  # fmt: skip
    except ImportError:
        return None
