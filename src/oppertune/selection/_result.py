"""What `select` returns: the ranking, the chosen parameters, and the spec to tune them with."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oppertune.core.values import Categorical, Integer, Real, ValueType, to_dict
from oppertune.selection._history import DroppedRow, summarise_dropped
from oppertune.selection._screening import Evaluation

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Interaction", "RankedParameter", "SelectionResult", "constant_at_current"]


@dataclass(frozen=True)
class RankedParameter:
    """A parameter's share of the reward's variation.

    Attributes:
        name: The parameter.
        importance: Share of the reward's variance that depends on it, main effect and interactions
            together (0 to about 1; the shares of all parameters add up to about the explained share).
        uncertainty: Standard error of ``importance``.
        main_effect: The part of ``importance`` due to the parameter alone (None when not computed).
        interaction: The part due to its interactions with other parameters (None when not computed).
        significant: Whether the data show an effect beyond noise (at the selection's ``alpha``).
    """

    name: str
    importance: float
    uncertainty: float
    main_effect: float | None = None
    interaction: float | None = None
    significant: bool = False


@dataclass(frozen=True)
class Interaction:
    """The share of the reward's variance due to two parameters acting together."""

    first: str
    second: str
    importance: float
    uncertainty: float


def constant_at_current(parameter: ValueType) -> ValueType:
    """``parameter`` made constant at its current value (one category, or ``min == max == val``)."""
    if isinstance(parameter, Categorical):
        return Categorical(parameter.name, parameter.val, [parameter.val])
    if isinstance(parameter, Integer):
        return Integer(parameter.name, parameter.val, parameter.val, parameter.val, parameter.step)
    assert isinstance(parameter, Real)
    return Real(parameter.name, parameter.val, parameter.val, parameter.val)


@dataclass(frozen=True)
class SelectionResult:
    """The outcome of `select`.

    Attributes:
        ranking: Every ranked parameter, most important first.
        selected: Names of the parameters worth tuning, most important first.
        method: ``"history"`` or ``"screening"``.
        rule: How ``selected`` was chosen from the ranking, in words.
        explained: Share of the reward's variance the model explains (held-out for a history).
        n_rows: Rows (history) or evaluations with a reward (screening) the ranking rests on.
        interactions: The pairwise interactions found, strongest first.
        unranked: ``(name, reason)`` for tunable parameters that could not be ranked (e.g. never varied);
            they are held constant like the unselected ones.
        dropped: Rows of the history left out, with the reason.
        evaluations: The configurations evaluated while screening, in order.
        notes: Anything else worth knowing (ignored columns, contexts, weak selections).
        base: The parameter spec selection started from.
    """

    ranking: tuple[RankedParameter, ...]
    selected: tuple[str, ...]
    method: str
    rule: str
    explained: float
    n_rows: int
    base: tuple[ValueType, ...]
    interactions: tuple[Interaction, ...] = ()
    unranked: tuple[tuple[str, str], ...] = ()
    dropped: tuple[DroppedRow, ...] = ()
    evaluations: tuple[Evaluation, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def n_evaluations(self) -> int:
        """Live evaluations used (0 for a history)."""
        return len(self.evaluations)

    def parameters(self) -> list[ValueType]:
        """The spec to tune: selected parameters as given, every other one constant at its current value.

        The list keeps the original order and accepts `create_tuning_instance` as it is.
        """
        chosen = set(self.selected)
        return [p if p.name in chosen or p.is_constant else constant_at_current(p) for p in self.base]

    def parameter_dicts(self) -> list[dict[str, Any]]:
        """`parameters` in the dict form (``{"type": "real", ...}``), ready for JSON or YAML."""
        return [to_dict(p) for p in self.parameters()]

    def write_parameters(self, path: str | Path) -> Path:
        """Write `parameter_dicts` to ``path``: JSON for a ``.json`` name, YAML otherwise."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = self.parameter_dicts()
        if target.suffix.lower() == ".json":
            target.write_text(json.dumps(data, indent=2) + "\n")
        else:
            import yaml

            target.write_text(_yaml_list(data, yaml))
        return target

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible summary (ranking, selection, interactions, dropped rows, notes)."""
        return {
            "method": self.method,
            "rule": self.rule,
            "explained": self.explained,
            "n_rows": self.n_rows,
            "selected": list(self.selected),
            "ranking": [r.__dict__ for r in self.ranking],
            "interactions": [i.__dict__ for i in self.interactions],
            "unranked": [{"name": n, "reason": r} for n, r in self.unranked],
            "dropped": [d.__dict__ for d in self.dropped],
            "evaluations": len(self.evaluations),
            "notes": list(self.notes),
            "parameters": self.parameter_dicts(),
        }

    def table(self, limit: int | None = 30) -> Table:
        """A rich table of the ranking (the first ``limit`` rows; all when None)."""
        from rich.table import Table

        chosen = set(self.selected)
        shown = self.ranking if limit is None else self.ranking[:limit]
        what = "history" if self.method == "history" else f"screening, {self.n_evaluations} evaluations"
        table = Table(title=f"Parameter importance ({what}; model explains {_pct(self.explained)} of the reward)")
        table.add_column("#", justify="right")
        table.add_column("parameter")
        table.add_column("importance", justify="right")
        table.add_column("±", justify="right")
        table.add_column("main", justify="right")
        table.add_column("interactions", justify="right")
        table.add_column("")
        for position, r in enumerate(shown, start=1):
            mark = "[bold green]tune[/]" if r.name in chosen else ("significant" if r.significant else "")
            table.add_row(str(position), r.name, _pct(r.importance), _pct(r.uncertainty), _pct(r.main_effect),
                          _pct(r.interaction), mark)  # fmt: skip
        if limit is not None and len(self.ranking) > limit:
            table.caption = f"{len(self.ranking) - limit} more parameter(s) below"
        return table

    def describe(self) -> list[str]:
        """Lines telling the selection, the rule and what was left out."""
        lines = [f"Selected {len(self.selected)} of {len(self.ranking) + len(self.unranked)} tunable parameter(s) "
                 f"({self.rule}): {', '.join(self.selected) or 'none'}."]  # fmt: skip
        if self.interactions:
            shown = ", ".join(f"{i.first} x {i.second} ({_pct(i.importance)})" for i in self.interactions[:5])
            lines.append(f"Interactions: {shown}.")
        for name, reason in self.unranked:
            lines.append(f"Not ranked: {name}: {reason}; held at its current value.")
        if self.dropped:
            lines.append(f"Dropped {len(self.dropped)} row(s): {summarise_dropped(self.dropped)}.")
        failed = [e for e in self.evaluations if not e.ok]
        if failed:
            lines.append(f"{len(failed)} evaluation(s) failed, e.g. {failed[0].message}.")
        lines.extend(self.notes)
        return lines

    def chart(self, path: str | Path, limit: int = 30) -> Path:
        """Write a bar chart PNG of the ranking (selected parameters highlighted, error bars of 2 standard errors)."""
        from oppertune.plots import importance_chart

        shown = self.ranking[:limit]
        title = f"Parameter importance ({self.method})"
        return importance_chart(path, [r.name for r in shown], [r.importance for r in shown],
                                [r.uncertainty for r in shown], [r.name in self.selected for r in shown],
                                title=title)  # fmt: skip


def _pct(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{100 * value:.1f}%"


def _yaml_list(data: Sequence[dict[str, Any]], yaml: Any) -> str:
    """One flow mapping per line, like the specs in the README."""
    lines = ["# Parameters chosen by 'oppertune select'; the others are held constant at their current value."]
    for item in data:
        text = yaml.safe_dump(item, default_flow_style=True, sort_keys=False, width=10_000).strip()
        lines.append(f"- {text}")
    return "\n".join(lines) + "\n"
