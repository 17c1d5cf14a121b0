"""``oppertune report``: a tuning run's history, best configuration and charts.

From a ``tune`` run file or from a tuner of the tuning service. Either way the charts are
`oppertune.charts.build` data drawn by `oppertune.plots.tuner_chart`; for a service tuner the data
are the very JSON the dashboard draws (``GET /v1/dashboard/tuners/{id}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from oppertune.charts import DEFAULT_POINTS, Rounds, build
from oppertune.tune.history import RoundRecord, RunStore
from oppertune.tune.runner import history_table

__all__ = ["run_chart", "service_report", "write_chart"]


def run_chart(store: RunStore, points: int = DEFAULT_POINTS) -> dict[str, Any]:
    """The chart data of a ``tune`` run file (with the rails' events when the run has rails)."""
    from oppertune.algorithms.guarded import Guarded

    records = store.rounds()
    description = store.description()
    history = Rounds(description.get("parameters") or _parameters_of(records))
    for r in records:
        history.append(r.round, r.reward, r.configuration, r.context, None, r.metadata, r.ok)
    tuner = store.load_tuner()
    events = tuner.events() if isinstance(tuner, Guarded) else []
    return build(history, points=points, events=events, safety=description.get("safety"))


def _parameters_of(records: list[RoundRecord]) -> list[dict[str, Any]]:
    """Parameter specs guessed from the configurations played (for run files that do not describe them)."""
    values: dict[str, list[Any]] = {}
    for r in records:
        for name, value in r.configuration.items():
            values.setdefault(name, []).append(value)
    specs = []
    for name, seen in values.items():
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen):
            specs.append({"type": "real", "name": name, "val": seen[0], "min": min(seen), "max": max(seen)})
        else:
            categories = list(dict.fromkeys(seen))
            specs.append({"type": "categorical", "name": name, "val": seen[0], "categories": categories})
    return specs


def write_chart(console: Console, chart: dict[str, Any], path: Path, title: str) -> None:
    """Draw the chart data into a PNG (or say why not: matplotlib missing)."""
    try:
        from oppertune.plots import tuner_chart

        tuner_chart(path, chart, title=title)
        console.print(f"Plot written to {path}")
    except ImportError as exc:
        console.print(f"[yellow]{exc}")


def service_report(
    console: Console,
    url: str,
    tuner_id: str,
    api_key: str | None,
    plot: Path | None,
    last: int | None,
    context_id: str | None = None,
    points: int = DEFAULT_POINTS,
) -> None:
    """Print a service tuner's recent rounds, best configuration per context and rail events; write its charts.

    Raises `oppertune.service.errors.ServiceError` when the server cannot answer (unreachable, 401, 404).
    """
    from oppertune.service.client import RemoteTuner

    with RemoteTuner(url, tuner_id, api_key, retries=2) as remote:
        overview = remote.overview(points=points, context_id=context_id)
        tuner = overview["tuner"]
        wanted = last or 20
        start = max(0, tuner["iteration"] - wanted)
        items: list[dict[str, Any]] = []
        after: int | None = start
        while after is not None and len(items) < wanted:
            page, after = remote.history(after, min(1000, wanted - len(items)))
            items.extend(page)
    nan = float("nan")
    records = [
        RoundRecord(r["round"], 0.0, 0.0, r["prediction"], None, nan if r["reward"] is None else r["reward"], True,
                    None, r["context_id"], r["metadata"])
        for r in items
    ]  # fmt: skip
    console.print(
        f"[bold]{tuner['name']}[/bold] ({tuner['algorithm']}, {tuner['status'].replace('_', ' ')}): "
        f"{tuner['iteration']:,} round(s), last reward {_fmt(tuner['last_reward'])}, best {_fmt(tuner['best_reward'])}"
    )
    if records:
        table = history_table(records)
        table.title = f"History (last {len(records)} of {tuner['iteration']:,})"
        console.print(table)
    contexts = overview["contexts"]
    if contexts["items"]:
        best = Table(title=f"Best configuration per context ({contexts['total']} context(s))")
        for column in ("context", "rounds", "best reward", "configuration"):
            best.add_column(column)
        for item in contexts["items"]:
            label = ", ".join(f"{k}={v}" for k, v in item["context"].items()) or item["context_id"] or "(no context)"
            configuration = ", ".join(
                f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in (item["best_configuration"] or {}).items()
            )
            best.add_row(label, f"{item['rounds']:,}", _fmt(item["best_reward"]), configuration)
        console.print(best)
    rails = overview["rails"]
    if rails is not None:
        counts = overview["charts"]["event_counts"]
        summary = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "none"
        status = rails["status"].replace("_", " ")
        console.print(f"Safety rails: {status}, exploration x{rails['exploration_scale']:g}; events: {summary}")
    target = plot or Path(f"oppertune-{tuner_id}.png")
    write_chart(console, overview["charts"], target, f"Reward per round — {tuner['name']}")


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
