"""`RemoteTuner`: a tuner on an OPPerTune server, with the methods of a local one.

```python
tuner = RemoteTuner.create("http://127.0.0.1:8000", api_key, "checkout", parameters, algorithm="bluefin")
prediction, request_id = tuner.predict()
tuner.store_reward(request_id, 0.7)
tuner.set_reward(0.7)
```

Every call has a timeout. Connection errors, timeouts and 502/503/504 answers are retried with
exponential backoff. A call that changes state (create, predict, rewards, set-reward) carries an
``Idempotency-Key`` that stays the same across its retries, so the server answers a retry of a call
that already took effect with the first answer instead of acting twice. Errors are raised as a
local tuner raises them (`UnknownRequestError`, `RoundClosedError`, `NoPendingPredictionError`,
`ValueError`, `TypeError`); others as `oppertune.service.errors.ServiceError` subclasses.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from oppertune.core.errors import NoPendingPredictionError, RoundClosedError, UnknownRequestError
from oppertune.core.types import Context, PredictResponse, TuningRequest, context_id_of
from oppertune.core.values import ValueType, to_dict, to_value
from oppertune.service.errors import InvalidInputError, ServiceError, error_class

if TYPE_CHECKING:
    import httpx

__all__ = ["RemoteTuner"]

_RETRY_STATUSES = frozenset({502, 503, 504})
_LIBRARY_ERRORS: dict[str, type[Exception]] = {
    "unknown_request": UnknownRequestError,
    "round_closed": RoundClosedError,
    "no_pending_prediction": NoPendingPredictionError,
    "validation_error": InvalidInputError,
    "malformed_json": InvalidInputError,
}
# The server closed a kept-alive connection between two calls: send again at once on a new one.
_CLOSED_BY_SERVER = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class _UnreachableError(Exception):
    """No answer from the server (connection refused or lost, timeout)."""


class _Reply:
    """An HTTP answer: status, reason and body."""

    __slots__ = ("content", "reason_phrase", "status_code")

    def __init__(self, status_code: int, reason_phrase: str, content: bytes) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class _KeepAlive:
    """Persistent HTTP/1.1 connections to one server, one per calling thread (the standard library's
    `http.client`: a round trip costs the client less than half of what it costs through httpx)."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'url' must be an http:// or https:// URL with a host. Got {url!r} instead.")
        self._connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._host, self._port, self._timeout = parts.hostname, parts.port, timeout
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def request(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> _Reply:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        reused = connection is not None
        while True:
            if connection is None:
                connection = self._connection_class(self._host, self._port, timeout=self._timeout)
                with self._lock:
                    self._opened.append(connection)
            try:
                connection.request(method, target, body, headers)
                response = connection.getresponse()
                content = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop(connection)
                if reused and isinstance(exc, _CLOSED_BY_SERVER):
                    connection, reused = None, False
                    continue
                raise _UnreachableError(f"{type(exc).__name__}: {exc}") from exc
            if response.will_close:
                self._drop(connection)
            else:
                self._local.connection = connection
            return _Reply(response.status, response.reason, content)

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        self._local.connection = None
        with self._lock:
            if connection in self._opened:
                self._opened.remove(connection)

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()


def _check_reward(reward: Any) -> float:
    if isinstance(reward, bool) or not isinstance(reward, (int, float)):
        try:
            import numpy as np

            if isinstance(reward, (np.integer, np.floating)):
                reward = float(reward)
        except ImportError:  # pragma: no cover - numpy is a core dependency
            pass
    if isinstance(reward, bool) or not isinstance(reward, (int, float)):
        raise TypeError(f"The reward must be a real number. Got {reward!r} ({type(reward).__name__}) instead.")
    value = float(reward)
    if not math.isfinite(value):
        raise ValueError(f"The reward must be finite. Got {reward!r} instead.")
    return value


class RemoteTuner:
    """A tuner stored on an OPPerTune server.

    Args:
        url: The server's base URL, e.g. ``http://127.0.0.1:8000``.
        tuner_id: The tuner's id (from `RemoteTuner.create` or ``GET /v1/tuners``).
        api_key: The project's API key (None for a server in open mode).
        timeout: Seconds to wait for each HTTP exchange.
        retries: Retries after a connection error, timeout or 502/503/504 answer.
        backoff: First retry delay in seconds; doubles at each retry, up to ``max_backoff``.
        max_backoff: Longest delay between two retries.
        http_client: An `httpx.Client` to send through (e.g. a test client); by default the client keeps
            one HTTP/1.1 connection per thread open to the server.
    """

    def __init__(
        self,
        url: str,
        tuner_id: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 5,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.tuner_id = tuner_id
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._http = http_client
        self._connections = _KeepAlive(self.url, timeout) if http_client is None else None
        self._base_path = urlsplit(self.url).path
        self._path = f"{self.url}/v1/tuners/{tuner_id}"

    def __repr__(self) -> str:
        return f"RemoteTuner({self.url!r}, {self.tuner_id!r})"

    # ------------------------------------------------------------------ creation and lifetime
    @classmethod
    def create(
        cls,
        url: str,
        api_key: str | None,
        name: str,
        parameters: Sequence[ValueType | Mapping[str, Any]],
        algorithm: str = "hybrid_solver",
        algorithm_args: Mapping[str, Any] | None = None,
        aggregation: Mapping[str, Any] | None = None,
        safety: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> RemoteTuner:
        """Create a tuner on the server and return a handle to it.

        Args:
            url: The server's base URL.
            api_key: The project's API key (None for a server in open mode).
            name: A name for people.
            parameters: `Categorical`/`Integer`/`Real` values or their dict forms.
            algorithm: A registered algorithm name.
            algorithm_args: The algorithm's constructor arguments.
            aggregation: A server-side policy, e.g. ``{"after_rewards": 8, "statistic": "median"}``.
            safety: Safety rails' settings (those of `oppertune.safety.Guarded`).
            **options: ``timeout``, ``retries``, ``backoff``, ``max_backoff``, ``http_client``.
        """
        body = {
            "name": name,
            "parameters": [to_dict(to_value(p)) for p in parameters],
            "algorithm": algorithm,
            "algorithm_args": dict(algorithm_args or {}),
            "aggregation": dict(aggregation) if aggregation is not None else None,
            "safety": dict(safety) if safety is not None else None,
        }
        handle = cls(url, "", api_key, **options)
        summary = handle._call("POST", f"{handle.url}/v1/tuners", body, change=True).json()
        tuner = cls(url, summary["id"], api_key, **options)
        handle.close()
        return tuner

    def close(self) -> None:
        """Close the HTTP connections (a given ``http_client`` stays open)."""
        if self._connections is not None:
            self._connections.close()

    def __enter__(self) -> RemoteTuner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the tuning loop
    def predict(self, context: Context | Mapping[str, Any] | None = None) -> PredictResponse:
        """A configuration to deploy and the request id to store its reward under."""
        if context is None:
            body: dict[str, Any] = {}
        elif isinstance(context, Context):
            body = {"context": dict(context.data) or None, "context_id": context.id}
        elif isinstance(context, Mapping):
            body = {"context": dict(context)}
        else:
            raise TypeError(f"The context must be a Context, a dict of features or None. Got {context!r} instead.")
        answer = self._call("POST", f"{self._path}/predict", body, change=True).json()
        return PredictResponse(answer["prediction"], answer["request_id"])

    def store_reward(self, request_id: str, reward: float, reward_data: Mapping[str, Any] | None = None) -> None:
        """Store the reward observed for one request."""
        if not isinstance(request_id, str):
            raise TypeError(f"'request_id' must be a string. Got {request_id!r} instead.")
        if reward_data is not None and not isinstance(reward_data, Mapping):
            raise TypeError(f"'reward_data' must be a dict or None. Got {reward_data!r} instead.")
        body = {"request_id": request_id, "reward": _check_reward(reward), "reward_data": reward_data}
        self._call("POST", f"{self._path}/rewards", body, change=True)

    def set_reward(self, reward: float | None = None, context_id: str | Context | None = None) -> None:
        """Close the context's round with its reward (None: the stored rewards) and learn from it."""
        body = {
            "reward": None if reward is None else _check_reward(reward),
            "context_id": None if context_id is None else context_id_of(context_id),
        }
        self._call("POST", f"{self._path}/set-reward", body, change=True)

    def get_tuning_requests(self, context_id: str | Context | None = None) -> list[TuningRequest]:
        """The requests of the open rounds (of one context when given), with their stored rewards."""
        params = {} if context_id is None else {"context_id": context_id_of(context_id)}
        items = self._call("GET", f"{self._path}/requests", params=params).json()["items"]
        return [
            TuningRequest(
                q["id"],
                Context(q["context"] or None, id=q["context_id"]),
                q["prediction"],
                q["reward"],
                q["reward_data"],
            )
            for q in items
        ]

    def get_current_prediction(self, context_id: str | Context | None = None) -> dict[str, Any] | None:
        """The configuration of the context's open round, or None."""
        params = {} if context_id is None else {"context_id": context_id_of(context_id)}
        return self._call("GET", f"{self._path}/current-prediction", params=params).json()["prediction"]

    @property
    def iteration(self) -> int:
        """Completed rounds (read from the server)."""
        return self.summary()["iteration"]

    # ------------------------------------------------------------------ beyond the local API
    def summary(self) -> dict[str, Any]:
        """The tuner's summary: name, algorithm, arguments, parameters, aggregation, iteration, times."""
        return self._call("GET", self._path).json()

    def history(self, after: int = 0, limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
        """One page of closed rounds after round ``after``, and the ``after`` of the next page."""
        page = self._call("GET", f"{self._path}/history", params={"after": after, "limit": limit}).json()
        return page["items"], page["next_cursor"]

    def rounds(self, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every closed round, in order."""
        after: int | None = 0
        while after is not None:
            items, after = self.history(after, page_size)
            yield from items

    def best(self, context_id: str | Context = "") -> dict[str, Any]:
        """The best configuration seen in a context: ``{prediction, reward, round, rounds}``."""
        return self._call("GET", f"{self._path}/best", params={"context_id": context_id_of(context_id)}).json()

    def freeze(self) -> dict[str, Any]:
        """Safety rails: serve the incumbent until `resume`; returns ``{status, exploration_scale, configuration}``."""
        return self._call("POST", f"{self._path}/freeze").json()

    def resume(self) -> dict[str, Any]:
        """Safety rails: explore again after a freeze or rollback."""
        return self._call("POST", f"{self._path}/resume").json()

    def rollback(self) -> dict[str, Any]:
        """Safety rails: serve the incumbent for the cooldown; the answer's ``configuration`` is it."""
        return self._call("POST", f"{self._path}/rollback").json()

    def events(self, context_id: str | Context | None = None) -> list[dict[str, Any]]:
        """Safety rails: their recorded decisions, oldest first."""
        params = {} if context_id is None else {"context_id": context_id_of(context_id)}
        return self._call("GET", f"{self._path}/events", params=params).json()["items"]

    def overview(self, points: int = 600, context_id: str | Context | None = None) -> dict[str, Any]:
        """The dashboard's view of the tuner: summary, chart data (`oppertune.charts.build`, at most ``points``
        per series; of one context when given), best configuration per context, routing, rail events, requests."""
        params: dict[str, Any] = {"points": points}
        if context_id is not None:
            params["context_id"] = context_id_of(context_id)
        return self._call("GET", f"{self.url}/v1/dashboard/tuners/{self.tuner_id}", params=params).json()

    def delete(self) -> None:
        """Delete the tuner and its history on the server."""
        self._call("DELETE", self._path, deleting=True)

    # ------------------------------------------------------------------ HTTP
    def _call(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        change: bool = False,
        deleting: bool = False,
    ) -> _Reply:
        headers = dict(self._headers)
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        if change:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        attempt = 0
        while True:
            try:
                response = self._send(method, url, content, params, headers)
            except _UnreachableError as exc:
                if attempt >= self._retries:
                    raise ServiceError(f"Cannot reach the OPPerTune server at {self.url}: {exc}", 503) from exc
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in _RETRY_STATUSES or attempt >= self._retries:
                    if deleting and attempt > 0 and response.status_code == 404:
                        return response  # an earlier attempt deleted it
                    raise self._error(response)
            time.sleep(min(self._max_backoff, self._backoff * 2**attempt) * (0.5 + random.random() / 2))
            attempt += 1

    def _send(
        self, method: str, url: str, content: bytes | None, params: Mapping[str, Any] | None, headers: dict[str, str]
    ) -> _Reply:
        if self._connections is not None:
            target = self._base_path + url[len(self.url) :]
            if params:
                target = f"{target}?{urlencode(params)}"
            return self._connections.request(method, target, content, headers)
        import httpx

        assert self._http is not None
        try:
            response = self._http.request(method, url, content=content, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise _UnreachableError(f"{type(exc).__name__}: {exc}") from exc
        return _Reply(response.status_code, response.reason_phrase, response.content)

    @staticmethod
    def _error(response: _Reply) -> Exception:
        try:
            payload = response.json()
            detail, code = str(payload.get("detail")), payload.get("code")
        except (ValueError, AttributeError):
            detail, code = response.text or response.reason_phrase, None
        library = _LIBRARY_ERRORS.get(code or "")
        if library is not None:
            if issubclass(library, ServiceError):
                return library(detail, response.status_code)
            return library(detail)
        cls = error_class(code)
        if cls is not None:
            return cls(detail, response.status_code)
        return ServiceError(detail or f"HTTP {response.status_code}", response.status_code)
