"""Chart data of a tuner's history, built once here for the dashboard (JSON) and `oppertune report` (PNG).

A history enters as columns (`Rounds`, cheap to extend while a tuner runs). `build` turns it into
plain JSON-compatible data: the reward per round (downsampled into at most ``points`` buckets, each
with its mean, min and max), the best reward so far, the safety rails' baseline and violation
threshold, their events as markers, each tuned parameter's value per round (numerical: mean, min
and max per bucket; categorical: the share of each category per bucket) and who served the rounds
(baseline, learner, incumbent, confirm). The dashboard draws this JSON with uPlot, `oppertune.plots`
with matplotlib: the same data, whatever the history's length.
"""

from __future__ import annotations

import inspect
import itertools
import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_POINTS", "EVENT_COLOURS", "MAJOR_EVENTS", "MARKED_EVENTS", "MAX_POINTS", "SERVED_BY", "Rounds", "build",
    "contexts",
]  # fmt: skip

DEFAULT_POINTS = 600
"""Buckets per chart unless asked otherwise: about one per pixel of a wide chart."""
MAX_POINTS = 5000
SERVED_BY = ("baseline", "learner", "incumbent", "confirm")
"""Who can serve a round under the safety rails (`oppertune.safety.Guarded`)."""
MARKED_EVENTS = frozenset(
    {"baseline", "incumbent", "regression", "collapse", "lifted", "widen", "rollback", "freeze", "resume", "drift"}
)
"""Rail events drawn as markers; ``clamped`` and ``avoided`` (proposals limited or pulled back, round after round)
are only counted, in rounds."""
MAJOR_EVENTS = frozenset({"regression", "collapse", "rollback", "drift", "freeze", "resume"})
"""Markers drawn across the whole chart (``major`` in the chart data); the routine ones are a tick at the top."""
EVENT_COLOURS = {
    "regression": "#d62728", "rollback": "#8c1c13", "drift": "#ff7f0e", "freeze": "#1f4e9c", "resume": "#2ca02c",
    "incumbent": "#9467bd", "baseline": "#7f7f7f", "widen": "#17becf", "collapse": "#1a1a1a", "lifted": "#aec7e8",
    "avoided": "#8c564b", "clamped": "#bcbd22",
}  # fmt: skip
"""The colour of each kind of rail event, in the dashboard (its ``events.css``) and in the report's plot."""
_MAX_MARKERS = 500


def _rail_default(name: str) -> Any:
    from oppertune.algorithms.guarded import Guarded

    return inspect.signature(Guarded.__init__).parameters[name].default


class Rounds:
    """A tuner's closed rounds as columns, appended in round order.

    Args:
        parameters: The tuner's parameters in dict form (``{"type": ..., "name": ..., ...}``).
    """

    def __init__(self, parameters: Sequence[Mapping[str, Any]]) -> None:
        self.parameters = [dict(p) for p in parameters]
        self._round = array("q")
        self._reward = array("d")
        self._ok = array("b")
        self._context = array("l")
        self._served = array("b")
        self._values = {p["name"]: array("d") for p in self.parameters}
        # categories by value, booleans apart (True == 1 in Python, not in JSON)
        self._category_index = {
            p["name"]: (
                {c: i for i, c in enumerate(p["categories"]) if c.__class__ is not bool},
                {c: i for i, c in enumerate(p["categories"]) if c.__class__ is bool},
            )
            for p in self.parameters
            if p["type"] == "categorical"
        }
        self.context_ids: list[str] = []
        self.context_data: list[dict[str, Any]] = []
        self._context_of: dict[str, int] = {}
        self._served_of = {name: i for i, name in enumerate(SERVED_BY)}

    def __len__(self) -> int:
        return len(self._round)

    @property
    def context_index(self) -> Mapping[str, int]:
        """Each context id seen, with its position in ``context_ids`` and ``context_data``."""
        return self._context_of

    @property
    def last_round(self) -> int:
        """The last round's number (0 before the first)."""
        return self._round[-1] if self._round else 0

    def append(
        self,
        round: int,
        reward: float | None,
        prediction: Mapping[str, Any],
        context_id: str = "",
        context: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        ok: bool = True,
    ) -> None:
        """Add one closed round (``reward`` None: none recorded; ``ok`` False: a failed run of ``tune``)."""
        served = metadata.get("served_by") if metadata else None
        self.extend([round], [reward], [prediction], [context_id], {context_id: context or {}}, [served], [ok])

    def extend(
        self,
        rounds: Sequence[int],
        rewards: Sequence[float | None],
        predictions: Sequence[Mapping[str, Any]],
        context_ids: Sequence[str],
        contexts: Mapping[str, Mapping[str, Any]] | None = None,
        served: Sequence[str | None] | None = None,
        ok: Sequence[bool] | None = None,
    ) -> None:
        """Add closed rounds in bulk: parallel sequences, as `append` takes them one by one.

        ``contexts`` maps a context id to its features (needed for ids not seen before); ``served``
        holds who served each round under the rails (``metadata["served_by"]``, or None).
        """
        for cid in dict.fromkeys(context_ids):
            if cid not in self._context_of:
                self._context_of[cid] = len(self.context_ids)
                self.context_ids.append(cid)
                self.context_data.append(dict((contexts or {}).get(cid) or {}))
        nan = math.nan
        self._round.extend(rounds)
        self._reward.extend([nan if r is None else r for r in rewards])
        self._ok.extend([True] * len(rounds) if ok is None else [bool(k) for k in ok])
        context_of = self._context_of
        self._context.extend([context_of[c] for c in context_ids])
        served_of = self._served_of
        self._served.extend([-1] * len(rounds) if served is None else [served_of.get(s, -1) for s in served])  # type: ignore[arg-type]
        for name, column in self._values.items():
            values = [p.get(name) for p in predictions]
            categories = self._category_index.get(name)
            if categories is not None:
                plain, flags = categories
                column.extend([(flags if v.__class__ is bool else plain).get(v, -1) for v in values])
            else:
                column.extend([v if v.__class__ is float or v.__class__ is int else nan for v in values])

    def configuration(self, index: int) -> dict[str, Any]:
        """The configuration played in the ``index``-th round held (0-based), rebuilt from the columns."""
        configuration: dict[str, Any] = {}
        for p in self.parameters:
            value = self._values[p["name"]][index]
            if p["type"] == "categorical":
                configuration[p["name"]] = p["categories"][int(value)] if value >= 0 else None
            elif math.isnan(value):
                configuration[p["name"]] = None
            else:
                configuration[p["name"]] = int(value) if p["type"] == "integer" else value
        return configuration

    def columns(self) -> dict[str, Any]:
        """Copies of the columns as numpy arrays (safe to use while more rounds are appended)."""
        return {
            "round": np.array(self._round, dtype=np.int64),
            "reward": np.array(self._reward, dtype=np.float64),
            "ok": np.array(self._ok, dtype=bool),
            "context": np.array(self._context, dtype=np.int64),
            "served": np.array(self._served, dtype=np.int64),
            "values": {name: np.array(column, dtype=np.float64) for name, column in self._values.items()},
        }


# ---------------------------------------------------------------------- downsampling
def _starts(n: int, points: int) -> np.ndarray:
    """First index of each of ``min(n, points)`` contiguous, nearly equal buckets over ``n`` items."""
    if n <= points:
        return np.arange(n, dtype=np.int64)
    return (np.arange(points, dtype=np.int64) * n) // points


def _ends(starts: np.ndarray, n: int) -> np.ndarray:
    return np.append(starts[1:], n) - 1


def _envelope(values: np.ndarray, starts: np.ndarray) -> dict[str, list[float | None]]:
    """Mean, min and max of each bucket, NaNs ignored (None for a bucket of NaNs only)."""
    if not len(values):
        return {"mean": [], "min": [], "max": []}
    present = ~np.isnan(values)
    counts = np.add.reduceat(present.astype(np.int64), starts)
    sums = np.add.reduceat(np.where(present, values, 0.0), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    lows = np.fmin.reduceat(values, starts)
    highs = np.fmax.reduceat(values, starts)
    return {"mean": _list(mean), "min": _list(lows), "max": _list(highs)}


def _shares(codes: np.ndarray, starts: np.ndarray, n_categories: int) -> list[list[float]]:
    """Per category, the share of each bucket's rounds that played it."""
    sizes = np.diff(np.append(starts, len(codes))).astype(np.float64)
    return [
        [round(float(s), 4) for s in np.add.reduceat((codes == k).astype(np.float64), starts) / sizes]
        for k in range(n_categories)
    ]


def _best_so_far(rewards: np.ndarray, rounds: np.ndarray, resets: Iterable[int]) -> np.ndarray:
    """The running best reward, starting again at each reset round (e.g. a drift or a new workload)."""
    best = np.full(len(rewards), np.nan)
    cuts = sorted({int(np.searchsorted(rounds, r)) for r in resets} | {0, len(rewards)})
    for low, high in itertools.pairwise(cuts):
        if high > low:
            best[low:high] = np.fmax.accumulate(rewards[low:high])
    return best


def _list(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


# ---------------------------------------------------------------------- the rails' baseline
def _baseline_steps(
    rewards: np.ndarray, rounds: np.ndarray, served: np.ndarray, safety: Mapping[str, Any] | None
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """The baseline (and violation threshold) of one context as steps ``{"round", "value"}``.

    The rails measure the baseline as the mean reward of ``baseline_rounds`` rounds served as baseline
    rounds (the starting configuration, or the learner's first rounds around it; again after a drift),
    unless the settings give it; or of the first two or more of them once as many learner rounds (which
    changed a starting category) came in between.
    """
    from oppertune.algorithms.guarded import baseline_measured

    if safety is None:
        return [], []
    steps: list[dict[str, float]] = []
    if safety.get("baseline") is not None:
        steps.append({"round": int(rounds[0]) if len(rounds) else 1, "value": float(safety["baseline"])})
    else:
        needed = int(safety.get("baseline_rounds") or _rail_default("baseline_rounds"))
        measuring: list[float] = []  # rounds of one measurement: not always consecutive (the learner's may be)
        baseline_code, learner_code = SERVED_BY.index("baseline"), SERVED_BY.index("learner")
        known, uncounted = False, 0
        for i, code in enumerate(served.tolist()):
            if code == baseline_code:
                if known and not measuring:  # measured again, after a drift
                    known, uncounted = False, 0
                measuring.append(float(rewards[i]))
            elif code == learner_code and not known:
                uncounted += 1
            if not known and baseline_measured(len(measuring), uncounted, needed):
                if not any(math.isnan(v) for v in measuring):
                    effective = int(rounds[i + 1]) if i + 1 < len(rounds) else int(rounds[i]) + 1
                    steps.append({"round": effective, "value": math.fsum(measuring) / len(measuring)})
                measuring, known, uncounted = [], True, 0
    margin = safety.get("margin")
    relative = safety.get("relative_margin", _rail_default("relative_margin")) if margin is None else None
    threshold = [
        {"round": s["round"], "value": s["value"] - (margin if margin is not None else relative * abs(s["value"]))}
        for s in steps
    ]
    return steps, threshold


# ---------------------------------------------------------------------- the charts
def build(
    rounds: Rounds,
    *,
    points: int = DEFAULT_POINTS,
    context_id: str | None = None,
    events: Sequence[Mapping[str, Any]] = (),
    safety: Mapping[str, Any] | None = None,
    resets: Iterable[int] = (),
) -> dict[str, Any]:
    """The chart data of a history (of one context when ``context_id`` is given), in at most ``points`` buckets.

    Args:
        rounds: The history.
        points: Most buckets per series (each bucket: consecutive rounds).
        context_id: Only this context's rounds (None: all of them).
        events: The safety rails' events (``Guarded.events()``): markers, and resets of the best so far at drifts.
        safety: The rails' settings, for the baseline and the violation threshold (None: no rails).
        resets: More rounds where the best so far starts again (e.g. a change of workload).

    Returns:
        ``rounds`` (in the selection), ``points``, ``downsampled``, ``x`` (each bucket's first round),
        ``reward`` (``mean``/``min``/``max`` lists), ``best``, ``failed`` (None, or per bucket the
        ``count`` and mean ``reward`` of failed runs), ``baseline`` and ``threshold`` (steps; only for
        a single context), ``events`` (markers ``{round, kind, reason, context_id}``),
        ``event_counts``, ``parameters`` (one entry per tuned parameter) and ``served_by``.
    """
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_POINTS:
        raise ValueError(f"The 'points' argument of build must be an int in [1, {MAX_POINTS}]. Got {points!r} instead.")
    data = rounds.columns()
    selection = np.arange(len(data["round"]))
    single = len(rounds.context_ids) <= 1
    if context_id is not None:
        index = rounds.context_ids.index(context_id) if context_id in rounds.context_ids else -1
        selection = np.flatnonzero(data["context"] == index)
        single = True
    round_numbers = data["round"][selection]
    rewards = data["reward"][selection]
    ok = data["ok"][selection]
    served = data["served"][selection]
    n = len(selection)
    starts = _starts(n, points)
    good = np.where(ok, rewards, np.nan)

    def applies(event: Mapping[str, Any]) -> bool:
        return context_id is None or event.get("context_id", "") in ("", context_id)

    chosen = [e for e in events if applies(e)]
    counts: dict[str, int] = {}
    for e in chosen:  # a run of clamped or avoided rounds is one event that says how many rounds it lasted
        counts[e["kind"]] = counts.get(e["kind"], 0) + int(e.get("rounds", 1))
    markers = [
        {"round": int(e["round"]) + 1, "kind": e["kind"], "reason": e.get("reason", ""),
         "context_id": e.get("context_id", ""), "major": e["kind"] in MAJOR_EVENTS}
        for e in chosen if e["kind"] in MARKED_EVENTS
    ][-_MAX_MARKERS:]  # fmt: skip
    drifts = [m["round"] for m in markers if m["kind"] == "drift"]
    best = _best_so_far(good, round_numbers, [*resets, *drifts])
    failed = None
    if n and not ok.all():
        bad = np.where(ok, np.nan, rewards)
        failed = {
            "count": [int(c) for c in np.add.reduceat((~ok).astype(np.int64), starts)],
            "reward": _envelope(bad, starts)["mean"],
        }
    baseline, threshold = _baseline_steps(rewards, round_numbers, served, safety) if single and n else ([], [])
    parameters = []
    for p in rounds.parameters:
        values = data["values"][p["name"]][selection]
        if p["type"] == "categorical":
            if len(p["categories"]) > 1:
                shares = _shares(values.astype(np.int64), starts, len(p["categories"])) if n else []
                parameters.append({"name": p["name"], "type": "categorical", "categories": list(p["categories"]),
                                   "shares": shares})  # fmt: skip
        elif p["min"] != p["max"]:
            parameters.append({"name": p["name"], "type": "numeric", "min_value": p["min"], "max_value": p["max"],
                               **_envelope(values, starts)})  # fmt: skip
    served_by = None
    if n and (served >= 0).any():
        served_by = {"name": "served_by", "type": "categorical", "categories": list(SERVED_BY),
                     "shares": _shares(served, starts, len(SERVED_BY))}  # fmt: skip
    return {
        "rounds": n,
        "points": len(starts),
        "downsampled": n > len(starts),
        "context_id": context_id,
        "x": [int(r) for r in round_numbers[starts]],
        "reward": _envelope(good, starts),
        "best": _list(best[_ends(starts, n)]) if n else [],
        "failed": failed,
        "baseline": baseline,
        "threshold": threshold,
        "events": markers,
        "event_counts": counts,
        "parameters": parameters,
        "served_by": served_by,
    }


def contexts(rounds: Rounds, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
    """The best configuration per context (the ``limit`` contexts with most rounds) and the number of contexts.

    Each item: ``context_id``, ``context``, ``rounds``, ``best_reward``, ``best_round``, ``best_configuration``
    (None before a reward) and ``last_reward``.
    """
    data = rounds.columns()
    n_contexts = len(rounds.context_ids)
    if not n_contexts or not len(data["round"]):
        return [], n_contexts
    context, rewards = data["context"], np.where(data["ok"], data["reward"], np.nan)
    sizes = np.bincount(context, minlength=n_contexts)
    keyed = np.where(np.isnan(rewards), -np.inf, rewards)
    order = np.lexsort((np.arange(len(keyed)), -keyed, context))  # per context: best reward, then earliest
    first_of = np.searchsorted(context[order], np.arange(n_contexts))
    last_of = np.full(n_contexts, -1)
    last_of[context] = np.arange(len(context))  # the last assignment per context wins
    items = []
    for c in sorted(range(n_contexts), key=lambda c: (-sizes[c], c))[:limit]:
        best = int(order[first_of[c]])
        has_reward = not math.isinf(keyed[best])
        last_reward = rewards[last_of[c]]
        items.append(
            {
                "context_id": rounds.context_ids[c],
                "context": rounds.context_data[c],
                "rounds": int(sizes[c]),
                "best_reward": float(keyed[best]) if has_reward else None,
                "best_round": int(data["round"][best]) if has_reward else None,
                "best_configuration": rounds.configuration(best) if has_reward else None,
                "last_reward": None if math.isnan(last_reward) else float(last_reward),
            }
        )
    return items, n_contexts
