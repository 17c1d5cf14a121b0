"""A tuner's history read from the tuning service over HTTP (the service faked with an httpx transport)."""

from __future__ import annotations

import pytest
from planted import PLANTED, planted_history, planted_parameters

from oppertune.core.values import to_dict
from oppertune.selection import SelectionError, fetch_history, select

httpx = pytest.importorskip("httpx")


def _service(rows: list[dict], key: str = "secret", page: int = 64):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if request.headers.get("Authorization") != f"Bearer {key}":
            return httpx.Response(401, json={"detail": "Invalid API key"})
        if request.url.path == "/v1/tuners/t1":
            return httpx.Response(200, json={"id": "t1", "parameters": [to_dict(p) for p in planted_parameters()]})
        if request.url.path != "/v1/tuners/t1/history":
            return httpx.Response(404, json={"detail": "Tuner not found"})
        after = int(request.url.params["after"])
        limit = min(int(request.url.params["limit"]), page)
        chunk = rows[after : after + limit]
        items = [{"round": after + i + 1, "context_id": "", "context": {}, "prediction": r["configuration"],
                  "reward": r["reward"], "n_rewards": 1, "at": "2026-01-01T00:00:00Z"}
                 for i, r in enumerate(chunk)]  # fmt: skip
        return httpx.Response(200, json={"items": items, "next_cursor": after + len(chunk) if chunk else None})

    return httpx.MockTransport(handle), calls


def test_pages_through_the_history_with_the_key() -> None:
    rows = planted_history(300, seed=0)
    rows[10]["reward"] = None  # a round closed without a reward
    transport, calls = _service(rows)
    history = fetch_history("http://service:8000/", "t1", "secret", transport=transport)
    assert len(history.rows) == 300 and history.parameters == tuple(planted_parameters())
    assert history.rows[0].label == "round 1" and history.source == "tuner t1 at http://service:8000"
    assert len(calls) == 1 + 300 // 64 + 2
    result = select(None, history=history, seed=0)
    assert set(result.selected) == PLANTED
    assert [(d.label, d.reason) for d in result.dropped] == [("round 11", "no reward")]


def test_service_errors_are_clear() -> None:
    transport, _ = _service(planted_history(20))
    with pytest.raises(SelectionError, match=r"GET /v1/tuners/t1 failed with 401: Invalid API key"):
        fetch_history("http://service", "t1", "wrong", transport=transport)
    with pytest.raises(SelectionError, match="failed with 404: Tuner not found"):
        fetch_history("http://service", "t2", "secret", transport=transport)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(SelectionError, match="cannot reach the service"):
        fetch_history("http://service", "t1", "secret", transport=httpx.MockTransport(refuse))
