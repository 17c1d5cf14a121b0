"""The ``oppertune`` command. Each subcommand is a thin function that imports its feature lazily."""

from __future__ import annotations

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
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Tune the configuration of live software from a reward signal."""


def main() -> None:
    """Entry point of the ``oppertune`` script."""
    app()


if __name__ == "__main__":
    main()
