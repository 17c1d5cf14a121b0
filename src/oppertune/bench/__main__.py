"""``python -m oppertune.bench SUBCOMMAND [ARGS]``: quality, overhead, autoscope or service.

``quality`` takes the options of ``oppertune bench quality``; the others pass their arguments on to
``python -m oppertune.bench.<name>``, which keeps working on its own.
"""

from __future__ import annotations

import argparse
import importlib
import sys

_DELEGATED = {
    "overhead": "per-round overhead of our learners next to Optuna",
    "autoscope": "AutoScope against context-free and per-context tuners",
    "service": "round trips per second of the tuning service",
}


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def quality_parser(prog: str = "python -m oppertune.bench quality") -> argparse.ArgumentParser:
    """The options of the quality benchmark."""
    parser = argparse.ArgumentParser(prog=prog, description="Regret of our tuners and their peers on known problems.")
    parser.add_argument("--quick", action="store_true", help="about a minute: quick problems, runners and 3 seeds")
    parser.add_argument("--problems", type=_names, help="comma-separated problem names (see --list)")
    parser.add_argument("--runners", type=_names, help="comma-separated runner names (see --list)")
    parser.add_argument("--seeds", type=int, help="seeds per problem and runner (default 5, quick 3)")
    parser.add_argument("--rounds", type=int, help="rounds per run (default 200)")
    parser.add_argument("--out", default="results/quality", help="results folder (default results/quality)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2; 1 runs in this process)")
    parser.add_argument("--list", action="store_true", help="list the problems and runners, and exit")
    return parser


def quality(argv: list[str]) -> int:
    """Run the quality benchmark with command-line arguments."""
    parser = quality_parser()
    args = parser.parse_args(argv)
    from oppertune.bench.quality import list_contents, make_console, run_quality

    console = make_console()
    if args.list:
        list_contents(console)
        return 0
    try:
        run_quality(args.problems, args.runners, args.seeds, args.rounds, args.quick, args.out, args.jobs, console)
    except ValueError as exc:
        parser.error(str(exc))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a benchmark."""
    argv = list(sys.argv[1:] if argv is None else argv)
    names = ["quality", *_DELEGATED]
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in names:
        lines = ["usage: python -m oppertune.bench {" + ",".join(names) + "} [ARGS]", "", "benchmarks:"]
        lines.append(f"  {'quality':<10} regret of our tuners and their peers on problems with known optima")
        lines.extend(f"  {name:<10} {what}" for name, what in _DELEGATED.items())
        print("\n".join(lines), file=sys.stdout if argv and argv[0] in ("-h", "--help") else sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    command, rest = argv[0], argv[1:]
    if command == "quality":
        return quality(rest)
    module = importlib.import_module(f"oppertune.bench.{command}")
    module.main(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
