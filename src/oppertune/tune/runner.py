"""The ``tune`` loop: predict, run the program, compute the reward, learn, record — and resume."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from oppertune.algorithms import create_tuning_instance
from oppertune.core.values import to_dict
from oppertune.tune.expression import ExpressionError
from oppertune.tune.history import RoundRecord, RunStore
from oppertune.tune.program import run_program
from oppertune.tune.spec import SpecError, TuneSpec

__all__ = ["RunSummary", "best_round", "history_table", "resolve_command", "tune"]


@dataclass(frozen=True)
class RunSummary:
    """How a ``tune`` invocation ended."""

    rounds_done: int
    rounds_planned: int
    interrupted: bool
    best: RoundRecord | None


def resolve_command(spec: TuneSpec, command: Sequence[str]) -> list[str]:
    """The command to run: the one after ``--``, else the spec's ``run.command``; checked to exist."""
    chosen = list(command) or list(spec.run.command)
    if not chosen:
        raise SpecError("no command to run: give one after '--' or as run.command in the spec")
    program = chosen[0]
    if "{" not in program and shutil.which(program, path=None) is None and not Path(program).exists():
        raise SpecError(f"command not found: {program!r}")
    return chosen


def best_round(rounds: Sequence[RoundRecord]) -> RoundRecord | None:
    """The successful round with the highest reward."""
    ok = [r for r in rounds if r.ok]
    return max(ok, key=lambda r: r.reward) if ok else None


def history_table(rounds: Sequence[RoundRecord], limit: int | None = None) -> Table:
    """A rich table of rounds (the last ``limit`` when given)."""
    shown = list(rounds)[-limit:] if limit else list(rounds)
    names = list(shown[0].configuration) if shown else []
    table = Table(title="History" if not limit or len(rounds) <= limit else f"History (last {limit} of {len(rounds)})")
    table.add_column("round", justify="right")
    for name in names:
        table.add_column(name)
    table.add_column("reward", justify="right")
    table.add_column("status")
    rails = any(r.metadata for r in shown)
    if rails:
        table.add_column("safety rails")
    for r in shown:
        status = "ok" if r.ok else f"[red]failed[/red]: {r.message}"
        cells = [str(r.round), *(_fmt(r.configuration.get(n)) for n in names), f"{r.reward:.4g}", status]
        if rails:
            cells.append(_rails_cell(r.metadata))
        table.add_row(*cells)
    return table


def _rails_cell(metadata: dict[str, Any] | None) -> str:
    if not metadata:
        return ""
    cell = str(metadata.get("served_by", ""))
    if metadata.get("clamped"):
        cell += f", clamped {', '.join(metadata['clamped'])}"
    if metadata.get("scale", 1.0) < 1.0:
        cell += f", x{metadata['scale']:g}"
    return cell


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def tune(
    spec: TuneSpec,
    command: Sequence[str],
    store: RunStore,
    console: Console,
    rounds: int | None = None,
) -> RunSummary:
    """Run (or resume) the tuning loop until ``rounds`` rounds are recorded or the user interrupts."""
    planned = rounds or spec.rounds
    tuner = store.load_tuner()
    if tuner is None:
        tuner = create_tuning_instance(spec.parameters, spec.algorithm, spec.algorithm_args, safety=spec.safety)
        description = {
            "parameters": [to_dict(p) for p in spec.parameters],
            "algorithm": spec.algorithm,
            "algorithm_args": spec.algorithm_args,
            "safety": spec.safety,
            "command": list(command),
            "reward": spec.reward.source,
        }
        store.start(spec.fingerprint, tuner, description)
    elif store.fingerprint != spec.fingerprint:
        raise SpecError(
            f"{store.path} holds a run of a different spec (parameters, algorithm or its arguments changed); "
            "pass --fresh to start over, or --state to use another file"
        )
    done = store.rounds_done()
    if done:
        console.print(f"Resuming from {store.path}: {done} round(s) already recorded.")
    history = store.rounds()
    best = best_round(history)
    interrupted = False
    columns = (
        TextColumn("[bold]tuning"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("tune", total=planned, completed=done, status=_status(None, best))
        try:
            for number in range(done + 1, planned + 1):
                record = _one_round(spec, command, tuner, number)
                store.record(record, tuner)
                if record.ok and (best is None or record.reward > best.reward):
                    best = record
                progress.update(task, advance=1, status=_status(record, best))
        except KeyboardInterrupt:
            interrupted = True
    final = store.rounds_done()
    if interrupted:
        console.print(f"[yellow]Stopped after {final} of {planned} rounds; run the same command again to resume.")
    return RunSummary(final, planned, interrupted, best)


def _status(record: RoundRecord | None, best: RoundRecord | None) -> str:
    current = "—" if record is None else (f"{record.reward:.4g}" if record.ok else "[red]failed")
    return f"reward {current}  best {'—' if best is None else f'{best.reward:.4g}'}"


def _one_round(spec: TuneSpec, command: Sequence[str], tuner: Any, number: int) -> RoundRecord:
    prediction, request_id = tuner.predict()
    started = time.time()
    metadata = tuner.get_tuning_requests()[-1].metadata
    outcome = run_program(spec.run, spec.metrics, command, prediction, number)
    message = outcome.error
    reward = spec.failed_reward
    if outcome.metrics is not None:
        try:
            reward = spec.reward.evaluate(outcome.metrics)
        except ExpressionError as exc:
            message = f"reward: {exc}"
    ok = message is None
    if not math.isfinite(reward):
        reward, ok, message = spec.failed_reward, False, "reward is not finite"
    tuner.store_reward(request_id, reward)
    tuner.set_reward(reward)
    return RoundRecord(number, started, outcome.duration_s, prediction, outcome.metrics, reward, ok, message,
                       metadata=metadata)  # fmt: skip
