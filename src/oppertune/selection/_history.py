"""Logged rounds to learn from: reading them (CSV, JSON, a ``tune`` run file) and checking them against a spec.

Nothing is dropped silently: every row left out is returned with the reason, and columns that are
neither a parameter, the reward nor the context are listed.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from oppertune.core.values import Categorical, Integer, Real, ValueType, to_value, transform
from oppertune.selection._errors import InsufficientDataError, SelectionError

__all__ = ["DroppedRow", "History", "HistoryRow", "load_history"]

MIN_ROWS = 12
"""Fewest usable rows a ranking is attempted from."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_CONFIGURATION_KEYS = ("configuration", "prediction")


@dataclass(frozen=True)
class HistoryRow:
    """One logged round: the configuration played, its reward and (optionally) its context.

    Args:
        configuration: Parameter name to value.
        reward: The reward (validated later: None, NaN or text make the row dropped, with the reason).
        context: A label of the context (e.g. a context id); rows of different contexts are told apart.
        ok: False for a failed round, whose reward is a placeholder; such rows are dropped.
        message: Why the round failed.
        label: How messages refer to the row, e.g. ``"row 3"`` or ``"round 12"``.
    """

    configuration: Mapping[str, Any]
    reward: Any
    context: str = ""
    ok: bool = True
    message: str | None = None
    label: str = ""


@dataclass(frozen=True)
class DroppedRow:
    """A row left out of the analysis, and why."""

    label: str
    reason: str


@dataclass(frozen=True)
class History:
    """Rows to rank from, with the parameters they were logged for when the source records them.

    Args:
        rows: The rows.
        parameters: The parameter spec stored with the history (a run file or a tuning service), else None.
        source: Where the rows came from, for messages.
        extra_columns: Columns of a flat table (CSV) that are not parameters, reward or context.
        flat: Whether the rows came from a flat table (one column per name) rather than configuration objects:
            then columns that name no parameter are ignored and listed, instead of being an error.
    """

    rows: tuple[HistoryRow, ...]
    parameters: tuple[ValueType, ...] | None = None
    source: str = "history"
    extra_columns: tuple[str, ...] = ()
    flat: bool = False


@dataclass
class Prepared:
    """A history checked against the parameters, as numbers."""

    names: list[str]  # the varying tunable parameters, in spec order
    columns: np.ndarray  # rows x names: numbers in [0, 1], or category indexes
    categorical: list[bool]
    y: np.ndarray
    context: np.ndarray | None  # context index per row, when more than one context occurs
    n_contexts: int
    dropped: list[DroppedRow] = field(default_factory=list)
    unranked: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- reading
def load_history(
    source: str | Path, *, reward_column: str = "reward", context_column: str | None = "context"
) -> History:
    """Read a history from a file: CSV, JSON, or a run file written by ``oppertune tune``.

    * CSV: a header; one column per parameter, a reward column and optionally a context column. Other
      columns (metrics, round numbers) are listed in ``extra_columns`` and ignored.
    * JSON: a list of rows, or an object with the list under ``items`` or ``rows`` (a page of the tuning
      service's history works as saved). A row is ``{"configuration": {...}, "reward": r, "context": ...}``
      (``prediction`` and ``context_id`` are accepted too) or flat like a CSV row.
    * Run file (SQLite): every recorded round, with the parameters the run tuned. Failed rounds are
      dropped later, with their message.

    Args:
        source: The file.
        reward_column: Name of the reward column or key.
        context_column: Name of the context column or key (None: no context).

    Raises:
        SelectionError: When the file is missing, unreadable or not one of these formats.
    """
    path = Path(source)
    if not path.is_file():
        raise SelectionError(f"no history file at {str(path)!r}")
    with path.open("rb") as handle:
        head = handle.read(len(_SQLITE_MAGIC))
    if head == _SQLITE_MAGIC:
        return _read_run_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SelectionError(f"{path}: cannot read the history: {exc}") from None
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith(("[", "{")):
        return _read_json(path, text, reward_column, context_column)
    return _read_csv(path, text, reward_column, context_column)


def _read_run_file(path: Path) -> History:
    from oppertune.tune.history import RunStore

    try:
        store = RunStore.open_existing(path)
    except (FileNotFoundError, ValueError) as exc:
        raise SelectionError(str(exc)) from None
    with store:
        description = store.description()
        records = store.rounds()
    parameters = None
    if description.get("parameters"):
        parameters = tuple(to_value(p) for p in description["parameters"])
    rows = tuple(HistoryRow(r.configuration, r.reward, r.context, r.ok, r.message, f"round {r.round}") for r in records)
    return History(rows, parameters, str(path))


def _read_json(path: Path, text: str, reward_column: str, context_column: str | None) -> History:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SelectionError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    parameters = None
    if isinstance(data, Mapping):
        if isinstance(data.get("parameters"), list):
            try:
                parameters = tuple(to_value(p) for p in data["parameters"])
            except (TypeError, ValueError) as exc:
                raise SelectionError(f"{path}: 'parameters': {exc}") from None
        for key in ("items", "rows", "history"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            raise SelectionError(f"{path}: expected a list of rows, or an object with the list under 'items' or 'rows'")
    if not isinstance(data, list):
        raise SelectionError(f"{path}: expected a list of rows. Got {type(data).__name__} instead.")
    history = rows_from_records(data, reward_column=reward_column, context_column=context_column, source=str(path))
    return History(history.rows, parameters, str(path), history.extra_columns, history.flat)


def _read_csv(path: Path, text: str, reward_column: str, context_column: str | None) -> History:
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames
    if not header:
        raise SelectionError(f"{path}: the CSV file is empty (it needs a header row)")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise SelectionError(f"{path}: the CSV header repeats column(s) {duplicated}")
    if reward_column not in header:
        raise SelectionError(f"{path}: no {reward_column!r} column; the columns are {list(header)}")
    records: list[dict[str, Any]] = []
    for number, row in enumerate(reader, start=2):
        if None in row:
            raise SelectionError(f"{path}:{number}: the row has more fields than the header")
        records.append(row)
    history = rows_from_records(records, reward_column=reward_column, context_column=context_column,
                                source=str(path), first_line=2, line_word="line")  # fmt: skip
    return History(history.rows, None, str(path), history.extra_columns, True)


def rows_from_records(
    records: Sequence[Any],
    *,
    reward_column: str = "reward",
    context_column: str | None = "context",
    source: str = "history",
    first_line: int = 0,
    line_word: str = "row",
) -> History:
    """Rows from dicts: ``{"configuration": {...}, "reward": r, "context": c}`` or flat ``{name: value, ...}``."""
    rows: list[HistoryRow] = []
    extra: set[str] = set()
    flat = False
    for position, record in enumerate(records):
        label = f"{line_word} {position + first_line}"
        if isinstance(record, HistoryRow):
            rows.append(record if record.label else HistoryRow(**{**record.__dict__, "label": label}))
            continue
        if not isinstance(record, Mapping):
            raise SelectionError(f"{source}: {label}: a row must be an object. Got {record!r} instead.")
        context = _context_of(record, context_column)
        ok = record.get("ok", True)
        ok = ok if isinstance(ok, bool) else str(ok).strip().lower() not in ("false", "0", "no")
        message = record.get("message") or None
        config_key = next((k for k in _CONFIGURATION_KEYS if isinstance(record.get(k), Mapping)), None)
        if config_key is not None:
            configuration = dict(record[config_key])
        else:
            flat = True
            skip = {reward_column, context_column, "context_id", "ok", "message"}
            configuration = {k: v for k, v in record.items() if k not in skip}
            extra.update(configuration)  # narrowed to the non-parameters once the parameters are known
        if reward_column not in record:
            raise SelectionError(f"{source}: {label}: no {reward_column!r} key")
        rows.append(HistoryRow(configuration, record[reward_column], context, ok, message, label))
    return History(tuple(rows), None, source, tuple(sorted(extra)), flat)


def _context_of(record: Mapping[str, Any], context_column: str | None) -> str:
    for key in (context_column, "context_id"):
        if key is None or key not in record:
            continue
        value = record[key]
        if value is None:
            return ""
        if isinstance(value, (Mapping, list)):
            return json.dumps(value, sort_keys=True)
        return str(value)
    return ""


def as_history(history: Any) -> History:
    """A `History` from what `select` accepts: a History, a file path, or a list of rows."""
    if isinstance(history, History):
        return history
    if isinstance(history, (str, Path)):
        return load_history(history)
    if isinstance(history, Mapping) or not isinstance(history, Iterable):
        raise SelectionError(
            "The 'history' argument of select must be a file path, a History, or a list of rows "
            f"({{'configuration': {{...}}, 'reward': r}}). Got {type(history).__name__} instead."
        )
    return rows_from_records(list(history))


# ---------------------------------------------------------------------- checking
def _parse(parameter: ValueType, raw: Any, from_text: bool) -> tuple[Any, str | None]:
    """The value of ``raw`` for ``parameter``, or the reason it is not one."""
    if raw is None or (from_text and isinstance(raw, str) and raw.strip() == ""):
        return None, f"no value for {parameter.name!r}"
    if isinstance(parameter, Categorical):
        for category in parameter.categories:
            if isinstance(category, bool) is isinstance(raw, bool) and category == raw:
                return category, None
        if isinstance(raw, str):
            text = raw.strip()
            for category in parameter.categories:
                if str(category) == text or (isinstance(category, bool) and text.lower() == str(category).lower()):
                    return category, None
        return None, f"{parameter.name!r} = {raw!r} is not one of the categories {list(parameter.categories)}"
    if isinstance(raw, bool):
        return None, f"{parameter.name!r} = {raw!r} is not a number"
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None, f"{parameter.name!r} = {raw!r} is not a number"
    if not math.isfinite(value):
        return None, f"{parameter.name!r} = {raw!r} is not finite"
    if isinstance(parameter, Integer) and value != int(value):
        return None, f"{parameter.name!r} = {raw!r} is not a whole number"
    assert isinstance(parameter, (Integer, Real))
    slack = 1e-9 * max(1.0, abs(parameter.max - parameter.min))
    if not parameter.min - slack <= value <= parameter.max + slack:
        return None, f"{parameter.name!r} = {raw!r} is outside [{parameter.min}, {parameter.max}]"
    return (int(value) if isinstance(parameter, Integer) else value), None


def _reward(raw: Any) -> tuple[float | None, str | None]:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None, "no reward"
    if isinstance(raw, bool):
        return None, f"the reward {raw!r} is not a number"
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None, f"the reward {raw!r} is not a number"
    if math.isnan(value):
        return None, "the reward is NaN"
    if math.isinf(value):
        return None, f"the reward is {value}"
    return value, None


def prepare(parameters: Sequence[ValueType], history: History) -> Prepared:
    """Check ``history`` against ``parameters`` and turn it into numbers.

    Raises:
        SelectionError: For a column missing altogether, or configuration keys that name no parameter.
        InsufficientDataError: When too few usable rows remain, the reward never varies, or no parameter does.
    """
    tunable = [p for p in parameters if not p.is_constant]
    if not tunable:
        raise SelectionError("every parameter is constant: there is nothing to select from")
    if not history.rows:
        raise InsufficientDataError(f"{history.source}: the history holds no rows")
    known = {p.name for p in parameters}
    seen: set[str] = set()
    for row in history.rows:
        seen.update(row.configuration)
    notes: list[str] = []
    missing = [p.name for p in tunable if p.name not in seen]
    unknown = sorted(seen - known)
    if history.flat:
        if missing:
            hint = f" (columns that match no parameter: {unknown})" if unknown else ""
            raise SelectionError(f"{history.source}: no column for parameter(s) {missing}{hint}")
        ignored = sorted(set(history.extra_columns) - known)
        if ignored:
            notes.append(f"Ignored column(s) that are not parameters: {', '.join(ignored)}.")
    else:
        if unknown:
            raise SelectionError(
                f"{history.source}: the configurations name unknown parameter(s) {unknown}; "
                f"the parameters are {sorted(known)}"
            )
        if missing:
            raise SelectionError(f"{history.source}: no configuration holds a value for parameter(s) {missing}")

    dropped: list[DroppedRow] = []
    values: list[list[Any]] = []
    rewards: list[float] = []
    contexts: list[str] = []
    for row in history.rows:
        label = row.label or "row"
        if not row.ok:
            dropped.append(DroppedRow(label, f"failed round ({row.message or 'no message'})"))
            continue
        reward, problem = _reward(row.reward)
        parsed: list[Any] = []
        if problem is None:
            for p in tunable:
                value, problem = _parse(p, row.configuration.get(p.name), history.flat)
                if problem is not None:
                    break
                parsed.append(value)
        if problem is not None:
            dropped.append(DroppedRow(label, problem))
            continue
        values.append(parsed)
        rewards.append(reward)  # type: ignore[arg-type]
        contexts.append(row.context)

    n = len(rewards)
    if n < MIN_ROWS:
        why = f" ({len(dropped)} dropped: {summarise_dropped(dropped)})" if dropped else ""
        raise InsufficientDataError(
            f"{history.source}: only {n} usable row(s){why}; at least {MIN_ROWS} are needed to say anything "
            "about which parameters matter"
        )
    y = np.asarray(rewards, dtype=float)
    if np.ptp(y) == 0:
        raise InsufficientDataError(
            f"{history.source}: the reward never varies (always {y[0]:g}) in {n} rows: there is nothing to explain"
        )
    names: list[str] = []
    categorical: list[bool] = []
    columns: list[np.ndarray] = []
    unranked: list[tuple[str, str]] = []
    for j, p in enumerate(tunable):
        column = [v[j] for v in values]
        distinct = {str(v) for v in column} if isinstance(p, Categorical) else set(column)
        if len(distinct) < 2:
            unranked.append((p.name, f"never varied in the history (always {column[0]!r})"))
            continue
        names.append(p.name)
        categorical.append(isinstance(p, Categorical))
        columns.append(np.array([transform(p, v) for v in column], dtype=float))
    if not names:
        raise InsufficientDataError(f"{history.source}: no parameter varies in the {n} usable rows")
    context_labels = sorted(set(contexts))
    context = None
    if len(context_labels) > 1:
        index = {c: i for i, c in enumerate(context_labels)}
        context = np.array([index[c] for c in contexts], dtype=float)
        notes.append(f"The rows come from {len(context_labels)} contexts; the context is part of the model.")
    return Prepared(names, np.column_stack(columns), categorical, y, context, len(context_labels), dropped, unranked,
                    notes)  # fmt: skip


def summarise_dropped(dropped: Sequence[DroppedRow], examples: int = 3) -> str:
    """A short account of dropped rows grouped by reason, e.g. ``2 x the reward is NaN (rows 4, 9)``."""
    by_reason: dict[str, list[str]] = {}
    for d in dropped:
        by_reason.setdefault(d.reason, []).append(d.label)
    parts = []
    for reason, labels in by_reason.items():
        shown = ", ".join(labels[:examples]) + (", ..." if len(labels) > examples else "")
        parts.append(f"{len(labels)} x {reason} ({shown})")
    return "; ".join(parts)
