"""The ``oppertune`` command. Each subcommand is a thin function that imports its feature lazily."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import oppertune

app = typer.Typer(
    name="oppertune",
    help="Tune the configuration of live software from a reward signal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oppertune {oppertune.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Tune the configuration of live software from a reward signal."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    no_args_is_help=True,
)
def tune(
    ctx: typer.Context,
    spec: Annotated[Path, typer.Argument(help="The spec file (YAML or JSON).")],
    state: Annotated[Path | None, typer.Option(help="Run file (SQLite) [default: the spec with .run.sqlite].")] = None,
    rounds: Annotated[int | None, typer.Option(min=1, help="Rounds in all, overriding the spec's 'rounds'.")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard the run in the run file and start over.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Reward plot file [default: the run file with .png].")] = None,
) -> None:
    """Tune a program: oppertune tune SPEC -- COMMAND [ARGS].

    The parameters reach the program through {name} placeholders in its arguments, environment
    variables or a rendered config file (see the spec). Every round is recorded in the run file;
    Ctrl-C stops cleanly and running the same command again resumes.
    """
    from rich.console import Console

    from oppertune.tune.history import RunStore
    from oppertune.tune.runner import resolve_command
    from oppertune.tune.runner import tune as run_tune
    from oppertune.tune.spec import SpecError, load_spec

    console = Console()
    try:
        loaded = load_spec(spec)
        command = resolve_command(loaded, ctx.args)
    except SpecError as exc:
        raise _fail(str(exc)) from None
    state_path = state or spec.with_suffix(".run.sqlite")
    try:
        store = RunStore(state_path)
    except (ValueError, OSError) as exc:
        raise _fail(f"cannot use the run file {str(state_path)!r}: {exc}") from None
    with store:
        if fresh:
            store.reset()
        try:
            summary = run_tune(loaded, command, store, console, rounds)
        except SpecError as exc:
            raise _fail(str(exc)) from None
        _finish(console, store, plot or state_path.with_suffix(".png"))
    if summary.interrupted:
        raise typer.Exit(130)


@app.command()
def demo(
    rounds: Annotated[int, typer.Option(min=5, help="Tuning rounds in each of the two workload phases.")] = 60,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the tuner and the workload.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the reward plot.")] = Path("oppertune-demo"),
    seconds: Annotated[float, typer.Option(min=0.1, max=30.0, help="Measurement window per round, in seconds.")] = 0.6,
) -> None:
    """Tune a real SQLite database under a real mixed workload, live, then follow a workload change."""
    from oppertune.targets.demo import run_demo

    run_demo(rounds=rounds, seed=seed, out=out, seconds_per_round=seconds)


@app.command(no_args_is_help=True)
def report(
    state: Annotated[Path | None, typer.Argument(help="A run file written by 'oppertune tune'.")] = None,
    service: Annotated[str | None, typer.Option(help="Tuning service URL, to report a service tuner.")] = None,
    tuner: Annotated[str | None, typer.Option(help="The tuner's id (with --service).")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="OPPERTUNE_API_KEY", help="API key for --service.")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Chart file [default: the run file with .png; oppertune-ID.png].")
    ] = None,
    last: Annotated[int | None, typer.Option(min=1, help="Show only the last N rounds of the history.")] = None,
    context: Annotated[str | None, typer.Option(help="Chart one context's rounds (its id; with --service).")] = None,
) -> None:
    """Print the history and best configuration of a tuning run, and write its charts.

    oppertune report RUN_FILE | oppertune report --service URL --tuner ID (key from OPPERTUNE_API_KEY).
    The charts are the dashboard's: reward (downsampled past 600 points), best so far, the safety
    rails' baseline and events, and each parameter per round.
    """
    from rich.console import Console

    console = Console()
    if (state is None) == (service is None):
        raise _fail("give either a run file or --service URL --tuner ID")
    if service is not None:
        from oppertune.report import service_report
        from oppertune.service.errors import ServiceError

        if not tuner:
            raise _fail("--service needs --tuner ID")
        try:
            service_report(console, service, tuner, api_key, plot, last, context)
        except ServiceError as exc:
            hint = " (set OPPERTUNE_API_KEY or pass --api-key)" if exc.status_code == 401 else ""
            raise _fail(f"{exc}{hint}") from None
        return
    assert state is not None

    from oppertune.tune.history import RunStore
    from oppertune.tune.runner import history_table

    try:
        store = RunStore.open_existing(state)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None
    with store:
        console.print(history_table(store.rounds(), last))
        _finish(console, store, plot or state.with_suffix(".png"))


@app.command(
    "select",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    no_args_is_help=True,
)
def select_command(
    ctx: typer.Context,
    source: Annotated[
        Path | None,
        typer.Argument(help="A history (CSV, JSON, a run file of 'oppertune tune'); with --screen: a spec."),
    ] = None,
    params: Annotated[Path | None, typer.Option(help="Parameter spec (YAML/JSON list) for a CSV/JSON history.")] = None,
    spec: Annotated[
        Path | None, typer.Option(help="A 'tune' spec: the parameters for a history; also gets a copy with the choice.")
    ] = None,
    screen: Annotated[
        bool, typer.Option("--screen", help="Screen live: run the spec's program near the current values.")
    ] = False,
    service: Annotated[str | None, typer.Option(help="Tuning service URL to read a tuner's history from.")] = None,
    tuner: Annotated[str | None, typer.Option(help="The tuner's id (with --service).")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="OPPERTUNE_API_KEY", help="API key for --service.")] = None,
    k: Annotated[int | None, typer.Option(min=1, help="Select exactly the k most important parameters.")] = None,
    rule: Annotated[
        str, typer.Option(help="Without --k: 'cumulative' (see --coverage) or 'significant'.")
    ] = "cumulative",
    coverage: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Share of the significant importance kept.")
    ] = 0.99,
    alpha: Annotated[
        float, typer.Option(min=0.0001, max=0.5, help="Chance of calling an irrelevant one significant.")
    ] = 0.05,
    delta: Annotated[
        float, typer.Option(min=0.001, max=0.5, help="--screen: largest move, as a fraction of the range.")
    ] = 0.15,
    budget: Annotated[
        int | None, typer.Option(min=8, help="--screen: most evaluations [default: 2 per parameter].")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the design and the model.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Where to write the parameter list (.json or YAML).")] = None,
    plot: Annotated[Path | None, typer.Option(help="Where to write the importance chart (PNG).")] = None,
    spec_out: Annotated[
        Path | None, typer.Option(help="With --spec: where to write the spec with the selection.")
    ] = None,
    reward_column: Annotated[str, typer.Option(help="The reward's column in a CSV/JSON history.")] = "reward",
    context_column: Annotated[str, typer.Option(help="The context's column in a CSV/JSON history.")] = "context",
    top: Annotated[int, typer.Option(min=1, help="Rows shown in the table and the chart.")] = 30,
) -> None:
    """Choose the parameters worth tuning: rank them by how much of the reward's variation each explains.

    From a history: oppertune select rounds.csv --params params.yaml | oppertune select spec.run.sqlite |
    oppertune select --service URL --tuner ID. Live: oppertune select --screen SPEC [-- COMMAND].
    Writes the parameter list (unselected ones constant at their current values) and a chart.
    """
    from rich.console import Console

    from oppertune.selection._command import SelectOptions, run_select

    options = SelectOptions(
        source, params, spec, screen, tuple(ctx.args), service, tuner, api_key, k, rule, coverage, alpha, delta,
        budget, seed, out, plot, spec_out, reward_column, context_column, top,
    )  # fmt: skip
    code = run_select(options, Console())
    if code:
        raise typer.Exit(code)


def _finish(console: object, store: object, plot_path: Path) -> None:
    """Print the best configuration and write the plot."""
    from rich.table import Table

    from oppertune.tune.runner import best_round

    rounds = store.rounds()  # type: ignore[attr-defined]
    best = best_round(rounds)
    failed = sum(not r.ok for r in rounds)
    console.print(f"{len(rounds)} round(s) recorded, {failed} failed.")  # type: ignore[attr-defined]
    if best is None:
        console.print("[yellow]No successful round yet.")  # type: ignore[attr-defined]
    else:
        table = Table(title=f"Best configuration (round {best.round}, reward {best.reward:.4g})")
        table.add_column("parameter")
        table.add_column("value")
        for name, value in best.configuration.items():
            table.add_row(name, str(value))
        for name, value in (best.metrics or {}).items():
            table.add_row(f"[dim]metric[/dim] {name}", f"{value:.6g}")
        console.print(table)  # type: ignore[attr-defined]
    if rounds:
        from oppertune.report import run_chart, write_chart

        title = f"Reward per round — {store.path.name}"  # type: ignore[attr-defined]
        write_chart(console, run_chart(store), plot_path, title)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- tuning service (oppertune.service)
@app.command()
def serve(
    db: Annotated[
        str | None, typer.Option(help="Database URL (env OPPERTUNE_DB; default sqlite:///oppertune.db).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (default 8000).")] = None,
    insecure: Annotated[
        bool | None, typer.Option("--insecure", help="Serve on a non-loopback address although no API key exists.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes sharing the port.")] = 1,
    sweep_interval: Annotated[
        float | None, typer.Option(min=0.0, help="Seconds between sweeps closing rounds due by time (default 1).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
) -> None:
    """Run the tuning service (HTTP API over SQLite or PostgreSQL). Settings also come from OPPERTUNE_* variables."""
    from oppertune.service.commands import UsageError
    from oppertune.service.commands import serve as run_server
    from oppertune.service.settings import Settings

    try:
        settings = Settings.from_env(db=db, host=host, port=port, insecure=insecure, sweep_interval=sweep_interval)
        run_server(settings, workers=workers, log_level=log_level, access_log=access_log)
    except (UsageError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


keys_app = typer.Typer(help="Manage the tuning service's API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    project: Annotated[str, typer.Option(help="The project the key gives access to.")],
    db: Annotated[
        str | None, typer.Option(help="Database URL (env OPPERTUNE_DB; default sqlite:///oppertune.db).")
    ] = None,
    label: Annotated[str | None, typer.Option(help="A note stored with the key (e.g. who holds it).")] = None,
) -> None:
    """Create an API key for a project and print it (only its hash is stored: it cannot be shown again)."""
    from oppertune.service.commands import UsageError, create_key
    from oppertune.service.settings import Settings

    try:
        key = create_key(Settings.from_env(db=db).db, project, label)
    except (UsageError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"API key for project {project!r} (shown once, keep it secret):", err=True)
    typer.echo(key)


# ---------------------------------------------------------------------- benchmarks (oppertune.bench)
bench_app = typer.Typer(help="Benchmarks of tuning quality and of the safety rails.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("quality")
def bench_quality(
    quick: Annotated[bool, typer.Option("--quick", help="About a minute: quick problems, runners, 3 seeds.")] = False,
    problems: Annotated[str | None, typer.Option(help="Comma-separated problem names (see --list).")] = None,
    runners: Annotated[str | None, typer.Option(help="Comma-separated runner names (see --list).")] = None,
    seeds: Annotated[
        int | None, typer.Option(min=1, help="Seeds per problem and runner (default 5; 3 with --quick).")
    ] = None,
    rounds: Annotated[int | None, typer.Option(min=1, help="Rounds per run (default 200).")] = None,
    out: Annotated[Path, typer.Option(help="Results folder (CSV files and PNG).")] = Path("results/quality"),
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes (1 runs in this process).")] = 2,
    list_: Annotated[bool, typer.Option("--list", help="List the problems and runners, and exit.")] = False,
) -> None:
    """Regret of our tuners and their peers on benchmark problems with known optima."""
    from oppertune.bench.quality import list_contents, make_console, run_quality

    console = make_console()
    if list_:
        list_contents(console)
        return

    def names(text: str | None) -> list[str] | None:
        return [n.strip() for n in text.split(",") if n.strip()] if text else None

    try:
        run_quality(names(problems), names(runners), seeds, rounds, quick, out, jobs, console)
    except ValueError as exc:
        raise _fail(str(exc)) from None


@bench_app.command("safety")
def bench_safety(
    seeds: Annotated[int, typer.Option(min=2, help="Seeds per problem and setting.")] = 100,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds per run.")] = 200,
) -> None:
    """What the safety rails cost and buy: regret, worst drop, rounds in the cliff, regret after a shift."""
    from oppertune.bench.safety import main as safety_main

    safety_main(["--seeds", str(seeds), "--rounds", str(rounds)])


def main() -> None:
    """Entry point of the ``oppertune`` script."""
    app()


if __name__ == "__main__":
    main()
