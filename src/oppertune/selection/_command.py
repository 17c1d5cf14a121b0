"""``oppertune select``: rank parameters from a history file, a run file, the tuning service, or live screening."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from oppertune.core.values import ValueType, to_value
from oppertune.selection._errors import InsufficientDataError, SelectionError
from oppertune.selection._history import History, load_history
from oppertune.selection._result import SelectionResult
from oppertune.selection._screening import Evaluation

__all__ = ["SelectOptions", "run_select"]


@dataclass(frozen=True)
class SelectOptions:
    """What the command line asked for."""

    source: Path | None = None
    params: Path | None = None
    spec: Path | None = None
    screen: bool = False
    command: tuple[str, ...] = ()
    service: str | None = None
    tuner: str | None = None
    api_key: str | None = None
    k: int | None = None
    rule: str = "cumulative"
    coverage: float = 0.99
    alpha: float = 0.05
    delta: float = 0.15
    budget: int | None = None
    seed: int | None = 0
    out: Path | None = None
    plot: Path | None = None
    spec_out: Path | None = None
    reward_column: str = "reward"
    context_column: str = "context"
    top: int = 30


def _read_parameters(path: Path) -> list[ValueType]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SelectionError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SelectionError(f"{path}: not valid YAML/JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("parameters"), list):
        data = data["parameters"]
    if not isinstance(data, list) or not data:
        raise SelectionError(f"{path}: expected a list of parameter specs (or a mapping with 'parameters')")
    try:
        return [to_value(p) for p in data]
    except (TypeError, ValueError) as exc:
        raise SelectionError(f"{path}: {exc}") from None


def _outputs(options: SelectOptions) -> tuple[Path, Path]:
    if options.source is not None:
        stem = options.source.with_suffix("")
        if stem.suffix in (".run",):
            stem = stem.with_suffix("")
    elif options.spec is not None:
        stem = options.spec.with_suffix("")
    else:
        stem = Path(f"tuner-{options.tuner}")
    out = options.out or Path(f"{stem}.selected-parameters.yaml")
    plot = options.plot or Path(f"{stem}.selection.png")
    return out, plot


def run_select(options: SelectOptions, console: Console) -> int:
    """Run the command; returns the exit code (0 done, 1 nothing can be concluded, 2 bad input)."""
    from oppertune.selection._select import select

    if options.screen:
        # oppertune select --screen SPEC [-- COMMAND], or --screen --spec SPEC [-- COMMAND] where the parser
        # puts the command's first word in the SOURCE slot
        if options.spec is None and options.source is not None:
            options = replace(options, spec=options.source, source=None)
        elif options.source is not None:
            options = replace(options, command=(str(options.source), *options.command), source=None)
    try:
        spec = None
        if options.spec is not None:
            from oppertune.tune.spec import SpecError, load_spec

            try:
                spec = load_spec(options.spec)
            except SpecError as exc:
                raise SelectionError(str(exc)) from None
        parameters = _read_parameters(options.params) if options.params is not None else None
        if parameters is None and spec is not None:
            parameters = list(spec.parameters)
        common: dict[str, Any] = {"k": options.k, "seed": options.seed, "rule": options.rule,
                                  "coverage": options.coverage, "alpha": options.alpha}  # fmt: skip
        if options.screen:
            result = _screen(options, spec, parameters, common, console)
        else:
            history = _history(options)
            if options.command:
                raise SelectionError(f"a command after '--' is only used with --screen; got {list(options.command)}")
            result = select(parameters, history=history, **common)
    except InsufficientDataError as exc:
        console.print(f"[yellow]Cannot select: {exc}")
        return 1
    except (SelectionError, ImportError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    _report(result, options, spec, console)
    return 0


def _history(options: SelectOptions) -> History:
    if options.service is not None:
        from oppertune.selection._remote import fetch_history

        if options.source is not None:
            raise SelectionError("give either a history file or --service, not both")
        if not options.tuner:
            raise SelectionError("--service needs --tuner (the tuner's id)")
        return fetch_history(options.service, options.tuner, options.api_key)
    if options.source is None:
        raise SelectionError("give a history file (CSV, JSON or a run file), --service URL --tuner ID, or --screen")
    return load_history(options.source, reward_column=options.reward_column, context_column=options.context_column)


def _screen(
    options: SelectOptions, spec: Any, parameters: list[ValueType] | None, common: dict[str, Any], console: Console
) -> SelectionResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from oppertune.selection._select import SpecEvaluator, select

    if spec is None:
        raise SelectionError("--screen needs a spec: oppertune select --screen SPEC [-- COMMAND]")
    if options.service is not None:
        raise SelectionError("--screen evaluates live; it takes no --service")
    if not options.command and not spec.run.command:
        raise SelectionError("no command to run: give one after '--' or as run.command in the spec")
    if options.command:
        from oppertune.tune.runner import resolve_command
        from oppertune.tune.spec import SpecError

        try:
            resolve_command(spec, list(options.command))
        except SpecError as exc:
            raise SelectionError(str(exc)) from None
    evaluator = SpecEvaluator(spec, options.command or None)
    failures = 0
    with Progress(TextColumn("[bold]screening"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                  TimeElapsedColumn(), console=console) as progress:  # fmt: skip
        task = progress.add_task("screen", total=None, status="")

        def step(number: int, budget: int, evaluation: Evaluation) -> None:
            nonlocal failures
            failures += not evaluation.ok
            status = f"reward {evaluation.reward:.4g}" if evaluation.reward is not None else "no reward"
            progress.update(task, completed=number, total=budget, status=f"{status}  failed {failures}")

        return select(parameters, evaluate=evaluator, delta=options.delta, budget=options.budget,
                      on_evaluation=step, **common)  # fmt: skip


def _report(result: SelectionResult, options: SelectOptions, spec: Any, console: Console) -> None:
    console.print(result.table(limit=options.top))
    for line in result.describe():
        console.print(line, highlight=False)
    out, plot = _outputs(options)
    written = result.write_parameters(out)
    console.print(f"Parameters written to {written} (unselected ones constant at their current values).")
    if spec is not None:
        spec_out = options.spec_out or options.spec.with_name(f"{options.spec.with_suffix('').name}.selected.yaml")  # type: ignore[union-attr]
        _write_spec(options.spec, spec_out, result)  # type: ignore[arg-type]
        console.print(f"Spec with the selection written to {spec_out} (run it with: oppertune tune {spec_out} ...).")
    try:
        result.chart(plot, limit=options.top)
        console.print(f"Plot written to {plot}")
    except ImportError as exc:
        console.print(f"[yellow]{exc}")


def _write_spec(source: Path, target: Path, result: SelectionResult) -> None:
    """Copy a ``tune`` spec with its parameters replaced by the selection's, and check it still loads."""
    from oppertune.tune.spec import SpecError, parse_spec

    raw = yaml.safe_load(source.read_text())
    raw["parameters"] = result.parameter_dicts()
    if target.suffix.lower() == ".json":
        text = json.dumps(raw, indent=2) + "\n"
    else:
        text = "# Written by 'oppertune select' from " + source.name + "\n" + yaml.safe_dump(raw, sort_keys=False)
    try:
        parse_spec(text, source=str(target), base=source.parent)
    except SpecError as exc:  # pragma: no cover - the parameters come from a valid spec
        raise SelectionError(f"the selected spec does not validate: {exc}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
