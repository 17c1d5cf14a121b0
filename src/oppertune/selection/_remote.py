"""A tuner's history from the tuning service, over HTTP (httpx, from the ``server`` extra)."""

from __future__ import annotations

from typing import Any

from oppertune.core.values import to_value
from oppertune.selection._errors import SelectionError
from oppertune.selection._history import History, HistoryRow

__all__ = ["fetch_history"]

PAGE_SIZE = 1000
MAX_ROWS = 1_000_000


def _httpx():  # type: ignore[no-untyped-def]
    try:
        import httpx
    except ImportError:
        raise ImportError(
            "Reading a history from the tuning service needs httpx; install it with: pip install 'oppertune[server]'"
        ) from None
    return httpx


def fetch_history(
    url: str,
    tuner_id: str,
    api_key: str | None = None,
    *,
    timeout: float = 30.0,
    max_rows: int = MAX_ROWS,
    transport: Any = None,
) -> History:
    """Every closed round of a tuner, with the tuner's parameters, paging through ``/v1/tuners/{id}/history``.

    Args:
        url: The service's base URL, e.g. ``http://127.0.0.1:8000``.
        tuner_id: The tuner.
        api_key: Sent as ``Authorization: Bearer KEY``.
        timeout: Seconds per request.
        max_rows: Read at most this many rows (the oldest).
        transport: An httpx transport (for tests).

    Raises:
        SelectionError: When the service answers with an error or something that is not a history.
    """
    httpx = _httpx()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    base = url.rstrip("/")
    source = f"tuner {tuner_id} at {base}"
    with httpx.Client(base_url=base, headers=headers, timeout=timeout, transport=transport) as client:
        summary = _get(client, httpx, f"/v1/tuners/{tuner_id}", {}, source)
        try:
            parameters = tuple(to_value(p) for p in summary["parameters"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SelectionError(f"{source}: the tuner's summary has no usable 'parameters' ({exc})") from None
        rows: list[HistoryRow] = []
        after = 0
        while len(rows) < max_rows:
            page = _get(client, httpx, f"/v1/tuners/{tuner_id}/history", {"after": after, "limit": PAGE_SIZE}, source)
            items, cursor = page.get("items"), page.get("next_cursor")
            if not isinstance(items, list):
                raise SelectionError(f"{source}: the history page has no 'items' list")
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("prediction"), dict):
                    raise SelectionError(f"{source}: a history item has no 'prediction' object: {item!r:.200}")
                label = f"round {item.get('round', len(rows) + 1)}"
                rows.append(HistoryRow(item["prediction"], item.get("reward"), str(item.get("context_id") or ""),
                                       label=label))  # fmt: skip
            if cursor is None or not items:
                break
            if not isinstance(cursor, int) or cursor <= after:
                raise SelectionError(f"{source}: the history's next_cursor {cursor!r} does not advance")
            after = cursor
    return History(tuple(rows[:max_rows]), parameters, source)


def _get(client: Any, httpx: Any, path: str, params: dict[str, Any], source: str) -> dict[str, Any]:
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise SelectionError(f"{source}: cannot reach the service: {exc}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise SelectionError(f"{source}: GET {path} failed with {response.status_code}: {str(detail)[:300]}")
    try:
        data = response.json()
    except ValueError:
        raise SelectionError(f"{source}: GET {path} did not answer JSON") from None
    if not isinstance(data, dict):
        raise SelectionError(f"{source}: GET {path} answered {type(data).__name__}, not an object")
    return data
