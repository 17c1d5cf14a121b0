"""The dashboard: its data (one call per page) and its static files (plain HTML, CSS and JS, uPlot vendored).

`Overviews` builds what the tuner page shows. It keeps, per server process, the columns of the
recently viewed tuners' histories (`oppertune.charts.Rounds`) and extends them with the rounds
closed since the last call, so a poll of a tuner with 100,000 rounds reads only the new rows and
downsamples in milliseconds. Rounds are append-only and numbered in commit order (each is
written under the tuner's row lock), so the cached columns are always a prefix of the history; a
tuner deleted and recreated has a new ``seq`` and starts a fresh entry. What comes from the
tuner's state (rail events, open requests, AutoScope's routing) is derived once per state version.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from oppertune import charts
from oppertune.algorithms import TuningInstance
from oppertune.algorithms.autoscope import AutoScope
from oppertune.algorithms.guarded import Guarded
from oppertune.service.schemas import request_item
from oppertune.service.storage import Storage

__all__ = ["STATIC_DIR", "Overviews", "mount"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_RECENT_ROUNDS = 20
_MAX_REQUESTS = 50
_MAX_EVENTS = 50
_MAX_ROUTED_CONTEXTS = 200
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _Entry:
    """One tuner's cached history and what was derived from its latest state."""

    __slots__ = ("derived", "lock", "rounds", "seq", "version")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seq: int | None = None
        self.rounds: charts.Rounds | None = None
        self.version: int | None = None
        self.derived: dict[str, Any] = {}


class Overviews:
    """Builds the dashboard's tuner page data, caching history columns per tuner (LRU of ``capacity``)."""

    def __init__(self, storage: Storage, capacity: int = 16) -> None:
        self._storage = storage
        self._capacity = capacity
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, tuner_id: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(tuner_id)
            if entry is None:
                entry = self._entries[tuner_id] = _Entry()
            self._entries.move_to_end(tuner_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
            return entry

    def overview(self, project: str, tuner_id: str, points: int, context_id: str | None = None) -> dict[str, Any]:
        """The tuner's summary, charts, best configuration per context, routing, rail events and requests."""
        entry = self._entry(tuner_id)
        with entry.lock:
            after = entry.rounds.last_round if entry.rounds is not None else 0
            summary, rows = self._storage.dashboard_read(project, tuner_id, after, entry.version)
            if entry.seq != summary["seq"] or entry.rounds is None:
                if entry.rounds is not None:  # another tuner under this id: read it whole
                    summary, rows = self._storage.dashboard_read(project, tuner_id, 0)
                entry.seq, entry.rounds, entry.version = summary["seq"], charts.Rounds(summary["parameters"]), None
            _extend(entry.rounds, rows)
            if entry.version != summary["version"]:
                entry.derived = _derive(TuningInstance.loads(summary["state"]))
                entry.version = summary["version"]
            derived = entry.derived
            built = charts.build(
                entry.rounds, points=points, context_id=context_id, events=derived["events"], safety=summary["safety"]
            )
            items, total = charts.contexts(entry.rounds)
            routing = _routing(derived["instance"], entry.rounds) if derived["autoscope"] else None
        version = summary.pop("version")
        for name in ("seq", "state"):
            summary.pop(name)
        last = summary["iteration"]
        recent, _ = self._storage.history(project, tuner_id, max(0, last - _RECENT_ROUNDS), _RECENT_ROUNDS)
        rails = derived["rails"]
        if rails is not None:
            rails = {**rails, "events": derived["events"][-_MAX_EVENTS:][::-1]}
        return {
            "tuner": summary,
            "version": version,
            "rails": rails,
            "charts": built,
            "contexts": {"items": items, "total": total},
            "routing": routing,
            "requests": derived["requests"],
            "recent": recent[::-1],
        }


def _extend(rounds: charts.Rounds, rows: list[tuple[Any, ...]]) -> None:
    """Append raw round rows ``(round, context_id, context, prediction, reward, metadata)`` (JSON as stored)."""
    if not rows:
        return
    context_ids = [r[1] for r in rows]
    known = rounds.context_index
    contexts = {}
    for r in rows:
        if r[1] not in contexts and r[1] not in known:
            contexts[r[1]] = json.loads(r[2])
    served_by: dict[str | None, str | None] = {None: None}  # the rails' decisions repeat: parse each text once
    for r in rows:
        if r[5] not in served_by:
            served_by[r[5]] = json.loads(r[5]).get("served_by")
    predictions = json.loads("[" + ",".join([r[3] for r in rows]) + "]")  # one parse: stored JSON is valid
    rounds.extend([r[0] for r in rows], [r[4] for r in rows], predictions, context_ids, contexts,
                  [served_by[r[5]] for r in rows])  # fmt: skip


def _derive(instance: TuningInstance) -> dict[str, Any]:
    """What the page shows from the tuner's state (computed once per state version)."""
    inner = instance.tuner if isinstance(instance, Guarded) else instance
    requests = [request_item(q) for q in instance.get_tuning_requests()[-_MAX_REQUESTS:]]
    rails = None
    events: list[dict[str, Any]] = []
    if isinstance(instance, Guarded):
        events = [
            {k: e[k] for k in ("round", "context_id", "kind", "reason", "configuration") if k in e}
            for e in instance.events()
        ]
        rails = {"status": instance.status, "exploration_scale": instance.exploration_scale}
    return {
        "instance": inner,
        "autoscope": isinstance(inner, AutoScope),
        "requests": requests,
        "rails": rails,
        "events": events,
    }


def _routing(scope: AutoScope, rounds: charts.Rounds) -> dict[str, Any]:
    """AutoScope's learned routing: which of the contexts seen go to which leaf, and the splits."""
    centers = scope.leaf_centers
    leaves: list[dict[str, Any]] = [{"leaf": i, "center": centers[i], "contexts": []} for i in range(2**scope.height)]
    sizes = np.bincount(rounds.columns()["context"], minlength=len(rounds.context_ids))
    seen = sorted(range(len(rounds.context_ids)), key=lambda c: -sizes[c])
    for c in seen[:_MAX_ROUTED_CONTEXTS]:
        data = rounds.context_data[c]
        try:
            leaf = scope.leaf_of(data)
        except (TypeError, ValueError):
            continue  # a context this tree cannot route (it never served it)
        leaves[leaf]["contexts"].append({"context_id": rounds.context_ids[c], "context": data, "rounds": int(sizes[c])})
    return {"height": scope.height, "features": scope.features, "leaves": leaves, "splits": scope.splits()}


# ---------------------------------------------------------------------- static files
def _page(_request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers=_SECURITY_HEADERS)


_EVENTS_CSS = "".join(
    [
        ":root {\n", *(f"  --k-{kind}: {colour};\n" for kind, colour in charts.EVENT_COLOURS.items()), "}\n",
        *(f".k-{kind} {{ background: var(--k-{kind}); }}\n" for kind in charts.EVENT_COLOURS),
    ]
)  # fmt: skip


def _events_css(_request: Request) -> Response:
    """The rail events' colours (`oppertune.charts.EVENT_COLOURS`): badge classes, and properties for the charts."""
    return Response(_EVENTS_CSS, media_type="text/css", headers=_SECURITY_HEADERS)


class _Static(StaticFiles):
    """The dashboard's files, with the page's security headers."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_SECURITY_HEADERS)
        return response


def mount(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` (its data comes from ``/v1``, with the same API keys)."""
    app.add_api_route("/", _page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/events.css", _events_css, methods=["GET"], include_in_schema=False)
    app.mount("/static", _Static(directory=STATIC_DIR), name="dashboard-static")
