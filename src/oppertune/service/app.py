"""The HTTP API (FastAPI): thin routes over `Storage`, errors as ``{"detail": ..., "code": ...}``.

``create_app(settings)`` builds the app (and migrates the database); ``create_app_from_env`` is the
factory uvicorn workers call, reading ``OPPERTUNE_*`` variables. The routes are the documented
implementation; `LoopFastPath` serves well-formed predict / rewards / set-reward calls through the
same functions without FastAPI's per-request machinery (see its docstring).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import oppertune
from oppertune.charts import DEFAULT_POINTS, MAX_POINTS
from oppertune.service import dashboard
from oppertune.service.aggregation import Policy
from oppertune.service.auth import Authenticator
from oppertune.service.errors import AuthenticationError, ServiceError, ServiceUnavailableError
from oppertune.service.schemas import (
    BestPublic,
    CurrentPredictionPublic,
    ErrorPublic,
    EventsPublic,
    HealthPublic,
    HistoryPublic,
    IterationPublic,
    OverviewPublic,
    PredictCreate,
    PredictionPublic,
    RailsPublic,
    RewardCreate,
    SetRewardCreate,
    TunerCreate,
    TunerPublic,
    TunerRowsPublic,
    TunersPublic,
    TuningRequestsPublic,
    request_item,
)
from oppertune.service.settings import Settings
from oppertune.service.storage import SUMMARY_SORTS, Idempotency, Storage

__all__ = ["ServiceApp", "create_app", "create_app_from_env"]

log = logging.getLogger("oppertune.service")

_DESCRIPTIONS = {
    400: "Malformed JSON body.",
    401: "Missing or invalid API key.",
    404: "Tuner not found (or not in the key's project), or unknown request id.",
    409: "The round is closed, the context has no open round, or the tuner has no safety rails.",
    413: "Request body too large.",
    422: "Invalid input: wrong types, bounds, parameter spec, algorithm, arguments or reward.",
    503: "The database is unavailable or busy; nothing was changed. Retry (with the same Idempotency-Key).",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorPublic, "description": _DESCRIPTIONS[code]} for code in codes}


# ---------------------------------------------------------------------- dependencies
_bearer = HTTPBearer(auto_error=False, description="An API key from `oppertune keys create`.")


async def _get_storage(request: Request) -> Storage:
    return request.app.state.storage


async def _get_project(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    auth: Authenticator = request.app.state.auth
    key = None if credentials is None else credentials.credentials
    project = auth.cached_project(key)  # no I/O, so no thread hop, for a recently seen key
    if project is None:
        project = await run_in_threadpool(auth.project, key)
    return project


StorageDep = Annotated[Storage, Depends(_get_storage)]
ProjectDep = Annotated[str, Depends(_get_project)]
TunerId = Annotated[str, Path(min_length=1, max_length=64, description="The tuner's id.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="A unique key per logical call: a retry with the same key returns the first answer "
        "instead of acting twice (kept for 24 hours).",
    ),
]
ContextIdQuery = Annotated[str | None, Query(max_length=200, description="The context's id (default: no context).")]


# ---------------------------------------------------------------------- routes
router = APIRouter()
_TUNER_ERRORS = (401, 404, 422, 503)
_CHANGE_ERRORS = (400, 401, 404, 409, 413, 422, 503)


@router.get("/health", response_model=HealthPublic, responses=_errors(503), tags=["health"])
def health(storage: StorageDep) -> dict[str, str]:
    """Liveness and database reachability; needs no key."""
    storage.ping()
    return {"status": "ok"}


@router.post(
    "/tuners", status_code=201, response_model=TunerPublic, responses=_errors(400, 401, 413, 422, 503), tags=["tuners"]
)
def create_tuner(
    body: TunerCreate, project: ProjectDep, storage: StorageDep, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """Create a tuner from a parameter spec, an algorithm and its arguments."""
    policy = Policy(**body.aggregation.model_dump()) if body.aggregation is not None else None
    key = Idempotency.of(idempotency_key, "create", body.model_dump(mode="json"))
    return storage.create_tuner(
        project, body.name, body.parameters, body.algorithm, body.algorithm_args, policy, key, body.safety
    )


@router.get("/tuners", response_model=TunersPublic, responses=_errors(401, 422, 503), tags=["tuners"])
def list_tuners(
    project: ProjectDep,
    storage: StorageDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=32, description="The previous page's next_cursor.")] = None,
) -> dict[str, Any]:
    """The project's tuners, oldest first, a page at a time."""
    items, next_cursor = storage.list_tuners(project, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/tuners/{tuner_id}", response_model=TunerPublic, responses=_errors(*_TUNER_ERRORS), tags=["tuners"])
def get_tuner(tuner_id: TunerId, project: ProjectDep, storage: StorageDep) -> dict[str, Any]:
    """A tuner's summary."""
    return storage.get_tuner(project, tuner_id)


@router.delete("/tuners/{tuner_id}", status_code=204, responses=_errors(*_TUNER_ERRORS), tags=["tuners"])
def delete_tuner(tuner_id: TunerId, project: ProjectDep, storage: StorageDep) -> Response:
    """Delete a tuner with its history."""
    storage.delete_tuner(project, tuner_id)
    return Response(status_code=204)


def _predict(storage: Storage, project: str, tuner_id: str, body: PredictCreate, key: str | None) -> dict[str, Any]:
    fingerprint = Idempotency.of(key, "predict", body.model_dump(mode="json"))
    return storage.predict(project, tuner_id, body.context, body.context_id, fingerprint)


def _store_reward(storage: Storage, project: str, tuner_id: str, body: RewardCreate, key: str | None) -> None:
    fingerprint = Idempotency.of(key, "rewards", body.model_dump(mode="json"))
    storage.store_reward(project, tuner_id, body.request_id, body.reward, body.reward_data, fingerprint)


def _set_reward(storage: Storage, project: str, tuner_id: str, body: SetRewardCreate, key: str | None) -> dict:
    fingerprint = Idempotency.of(key, "set-reward", body.model_dump(mode="json"))
    return storage.set_reward(project, tuner_id, body.reward, body.context_id, fingerprint)


@router.post(
    "/tuners/{tuner_id}/predict", response_model=PredictionPublic, responses=_errors(*_CHANGE_ERRORS), tags=["loop"]
)
def predict(
    tuner_id: TunerId,
    project: ProjectDep,
    storage: StorageDep,
    body: PredictCreate | None = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """A configuration to deploy (the same one until the context's round closes) and a request id."""
    return _predict(storage, project, tuner_id, body or PredictCreate(), idempotency_key)


@router.post("/tuners/{tuner_id}/rewards", status_code=204, responses=_errors(*_CHANGE_ERRORS), tags=["loop"])
def store_reward(
    tuner_id: TunerId,
    body: RewardCreate,
    project: ProjectDep,
    storage: StorageDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Store the reward of one request (aggregated later by set-reward or the tuner's policy)."""
    _store_reward(storage, project, tuner_id, body, idempotency_key)
    return Response(status_code=204)


@router.post(
    "/tuners/{tuner_id}/set-reward", response_model=IterationPublic, responses=_errors(*_CHANGE_ERRORS), tags=["loop"]
)
def set_reward(
    tuner_id: TunerId,
    body: SetRewardCreate,
    project: ProjectDep,
    storage: StorageDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Close a context's round with its reward (null: the stored rewards' mean) and learn from it."""
    return _set_reward(storage, project, tuner_id, body, idempotency_key)


@router.get(
    "/tuners/{tuner_id}/requests",
    response_model=TuningRequestsPublic,
    responses=_errors(*_TUNER_ERRORS),
    tags=["loop"],
)
def tuning_requests(
    tuner_id: TunerId, project: ProjectDep, storage: StorageDep, context_id: ContextIdQuery = None
) -> dict[str, Any]:
    """The requests of the open rounds (of one context when given), with their stored rewards."""
    requests = storage.tuning_requests(project, tuner_id, context_id)
    return {"items": [request_item(q) for q in requests]}


@router.get(
    "/tuners/{tuner_id}/current-prediction",
    response_model=CurrentPredictionPublic,
    responses=_errors(*_TUNER_ERRORS),
    tags=["loop"],
)
def current_prediction(
    tuner_id: TunerId, project: ProjectDep, storage: StorageDep, context_id: ContextIdQuery = None
) -> dict[str, Any]:
    """The configuration of the context's open round, or null."""
    return {"prediction": storage.current_prediction(project, tuner_id, context_id)}


@router.get(
    "/tuners/{tuner_id}/history", response_model=HistoryPublic, responses=_errors(*_TUNER_ERRORS), tags=["history"]
)
def history(
    tuner_id: TunerId,
    project: ProjectDep,
    storage: StorageDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Rounds after this one (a page's next_cursor).")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Closed rounds in order: configuration, context, reward and time."""
    items, next_cursor = storage.history(project, tuner_id, after, limit)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/tuners/{tuner_id}/best", response_model=BestPublic, responses=_errors(*_TUNER_ERRORS), tags=["history"])
def best(
    tuner_id: TunerId,
    project: ProjectDep,
    storage: StorageDep,
    context_id: Annotated[str, Query(max_length=200, description="The context's id (default: no context).")] = "",
) -> dict[str, Any]:
    """The highest-reward configuration seen in a context, its reward, and the context's number of rounds."""
    return storage.best(project, tuner_id, context_id)


_STEER_DOCS = {
    "freeze": "Stop exploring: every context is served its incumbent (best-known) configuration until resume.",
    "resume": "Explore again after a freeze or rollback, from a halved exploration.",
    "rollback": "Serve the incumbent from the next round on, for the rails' cooldown; returns it.",
}


def _steer_route(action: str) -> None:
    def steer(tuner_id: TunerId, project: ProjectDep, storage: StorageDep) -> dict[str, Any]:
        return storage.steer(project, tuner_id, action)

    steer.__doc__ = _STEER_DOCS[action]
    steer.__name__ = action
    router.post(
        f"/tuners/{{tuner_id}}/{action}", response_model=RailsPublic, responses=_errors(401, 404, 409, 422, 503),
        tags=["safety"],
    )(steer)  # fmt: skip


for _action in _STEER_DOCS:
    _steer_route(_action)


@router.get(
    "/tuners/{tuner_id}/events", response_model=EventsPublic, responses=_errors(*_TUNER_ERRORS), tags=["safety"]
)
def events(tuner_id: TunerId, project: ProjectDep, storage: StorageDep, context_id: ContextIdQuery = None) -> dict:
    """The safety rails' decisions (of one context and the tuner-wide ones when given); empty without rails."""
    return {"items": storage.events(project, tuner_id, context_id)}


# ---------------------------------------------------------------------- the dashboard's views
SortKey = Literal["name", "algorithm", "status", "iteration", "last_reward", "best_reward", "created_at", "updated_at"]
assert SortKey.__args__ == SUMMARY_SORTS  # type: ignore[attr-defined]
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


@router.get("/dashboard/tuners", response_model=TunerRowsPublic, responses=_errors(401, 422, 503), tags=["dashboard"])
def dashboard_tuners(
    project: ProjectDep,
    storage: StorageDep,
    q: Annotated[str | None, Query(max_length=200, pattern=_PRINTABLE, description="Names containing this.")] = None,
    status: Annotated[Literal["exploring", "frozen", "rolled_back"] | None, Query()] = None,
    algorithm: Annotated[str | None, Query(max_length=100, pattern=_PRINTABLE)] = None,
    sort: SortKey = "updated_at",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    """The dashboard's list: a sorted, filtered page of the project's tuners with their last and best reward."""
    items, total, counts = storage.summaries(
        project, search=q, status=status, algorithm=algorithm, sort=sort, descending=order == "desc", limit=limit,
        offset=offset,
    )  # fmt: skip
    return {"items": items, "total": total, "counts": counts}


@router.get(
    "/dashboard/tuners/{tuner_id}",
    response_model=OverviewPublic,
    responses=_errors(*_TUNER_ERRORS),
    tags=["dashboard"],
)
def dashboard_tuner(
    tuner_id: TunerId,
    project: ProjectDep,
    request: Request,
    points: Annotated[
        int, Query(ge=10, le=MAX_POINTS, description="Most points per chart: longer histories are downsampled.")
    ] = DEFAULT_POINTS,
    context_id: Annotated[
        str | None, Query(max_length=200, description="Chart this context's rounds only (default: every round).")
    ] = None,
) -> dict[str, Any]:
    """The dashboard's tuner page: summary, charts, best configuration per context, routing, rail events, requests."""
    overviews: dashboard.Overviews = request.app.state.overviews
    return overviews.overview(project, tuner_id, points, context_id)


# ---------------------------------------------------------------------- errors and limits
def _error(status: int, detail: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers = None
    if isinstance(exc, AuthenticationError):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, ServiceUnavailableError):
        headers = {"Retry-After": "1"}
    return _error(exc.status_code, exc.detail, exc.code, headers)


def _describe(errors: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for error in errors:
        loc = [str(x) for x in error.get("loc", ())]
        where, path = (loc[0], ".".join(loc[1:])) if loc else ("request", "")
        if where == "body":
            label = f"body field '{path}'" if path else "body"
        else:
            label = f"{where} parameter '{path}'" if path else where
        parts.append(f"{label}: {error.get('msg', 'invalid')}")
    unique = list(dict.fromkeys(parts))
    more = f" (and {len(unique) - 5} more)" if len(unique) > 5 else ""
    return "Invalid request: " + "; ".join(unique[:5]) + more


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    malformed = [e for e in errors if e.get("type") == "json_invalid"]
    if malformed:
        ctx = malformed[0].get("ctx") or {}
        return _error(400, f"Malformed JSON body: {ctx.get('error', 'cannot parse')}.", "malformed_json")
    return _error(422, _describe(errors), "validation_error")


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return _error(exc.status_code, str(exc.detail), code, getattr(exc, "headers", None))


def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return _error(500, "Internal server error.", "internal")


class BodyLimitMiddleware:
    """Answer 413 to a request whose body exceeds ``limit`` bytes, before the app reads it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.limit:
                    await self._too_large(scope, receive, send)
                    return
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _error(413, f"Request body too large: the limit is {self.limit} bytes.", "body_too_large")
        await response(scope, receive, send)


_LOOP_PATH = re.compile(r"/v1/tuners/([^/]{1,64})/(predict|rewards|set-reward)")
_LOOP_CALLS: dict[str, tuple[type[BaseModel], Callable[..., Any]]] = {
    "predict": (PredictCreate, _predict),
    "rewards": (RewardCreate, _store_reward),
    "set-reward": (SetRewardCreate, _set_reward),
}


class LoopFastPath:
    """Serves the loop's hot calls (predict, rewards, set-reward) without FastAPI's per-request machinery.

    Only a request it can serve exactly as the FastAPI route would is served here: a JSON body that
    the route's own schema accepts, a valid Idempotency-Key if any, and an API key (or open mode)
    already verified by this process. It calls the same functions as the routes and answers errors
    with the same handlers. Anything else goes on, unchanged, to the FastAPI routes, which remain the
    documented implementation. Skipping routing, dependency resolution and FastAPI's middleware
    (its telemetry reads the environment on every request) takes more than half of the server's
    own CPU time off each call (see ``python -m oppertune.bench.service``); the calls run on a thread
    pool of their own (``app.state.loop_executor``), half the cost of a hop through anyio's.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _LOOP_PATH.fullmatch(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        authorization = idempotency_key = content_type = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"idempotency-key":
                idempotency_key = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value
        state = scope["app"].state
        token = None
        if authorization:
            scheme, _, credentials = authorization.partition(" ")
            token = credentials.strip() if scheme.lower() == "bearer" else None
        project = state.auth.cached_project(token or None)
        body = await _read_body(receive)
        replay = _replay(body, receive)
        model, call = _LOOP_CALLS[match.group(2)]
        parsed = None
        if project is not None and (idempotency_key is None or 0 < len(idempotency_key) <= 255):
            if body and content_type is not None and content_type.startswith(b"application/json"):
                with suppress(ValidationError):
                    parsed = model.model_validate_json(body)
            elif not body and model is PredictCreate:
                parsed = PredictCreate()
        if parsed is None:
            await self.app(scope, replay, send)
            return
        work = partial(call, state.storage, project, match.group(1), parsed, idempotency_key)
        try:
            result = await asyncio.get_running_loop().run_in_executor(state.loop_executor, work)
        except ServiceError as exc:
            await _service_error(None, exc)(scope, replay, send)  # type: ignore[arg-type]
            return
        except Exception as exc:  # in front of FastAPI's own error middleware: answer as it would
            await _unexpected_error(None, exc)(scope, replay, send)  # type: ignore[arg-type]
            return
        if result is None:
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        content = json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        headers = [(b"content-length", str(len(content)).encode()), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# ---------------------------------------------------------------------- the app
def _sweep_forever(storage: Storage, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            storage.sweep()
        except ServiceUnavailableError:
            pass
        except Exception:
            log.exception("the sweeper failed; it will try again")


class ServiceApp(FastAPI):
    """FastAPI with two layers in front of its whole middleware stack, for every HTTP request.

    `BodyLimitMiddleware` answers 413 before anything reads an oversized body, and `LoopFastPath`
    serves the loop's hot calls; everything else continues to FastAPI unchanged (lifespan included).
    """

    _front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if self._front is None:
            limit = self.state.settings.max_body_bytes
            self._front = BodyLimitMiddleware(LoopFastPath(super().__call__), limit)
        scope["app"] = self
        await self._front(scope, receive, send)


def create_app(settings: Settings | None = None, storage: Storage | None = None) -> FastAPI:
    """Build the app for ``settings``; creates or migrates the database schema first.

    Args:
        settings: Defaults to `Settings.from_env()`.
        storage: An existing storage to serve (the app then does not close it); by default one is
            opened from ``settings.db``.
    """
    settings = settings or Settings.from_env()
    owned = storage is None
    if storage is None:
        storage = Storage(
            settings.db,
            pool_size=settings.pool_size,
            cache_size=settings.cache_size,
            idempotency_ttl=settings.idempotency_ttl,
        )
    storage.migrate()
    workers = settings.threads or settings.pool_size
    loop_executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="oppertune-loop")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # As many requests at once as pooled connections: none waits for a connection inside a thread,
        # and the pool never churns connections (measured: opening them cost 20% of the CPU at 32 clients).
        # The loop's calls have threads of their own (`loop_executor`), the other routes anyio's.
        to_thread.current_default_thread_limiter().total_tokens = workers
        stop = threading.Event()
        sweeper = None
        if settings.sweep_interval > 0:
            sweeper = threading.Thread(
                target=_sweep_forever, args=(storage, settings.sweep_interval, stop), name="oppertune-sweeper"
            )
            sweeper.daemon = True
            sweeper.start()
        try:
            yield
        finally:
            stop.set()
            if sweeper is not None:
                sweeper.join(timeout=10)
            loop_executor.shutdown(wait=True)
            if owned:
                storage.close()

    app = ServiceApp(
        title="OPPerTune tuning service",
        version=oppertune.__version__,
        description="Create tuners and run the predict / store_reward / set_reward loop from many replicas.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.storage = storage
    app.state.loop_executor = loop_executor
    app.state.auth = Authenticator(storage, settings.key_cache_seconds)
    app.state.overviews = dashboard.Overviews(storage)
    app.include_router(router, prefix="/v1")
    dashboard.mount(app)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    return app


def create_app_from_env() -> FastAPI:
    """The app for the ``OPPERTUNE_*`` environment (uvicorn's factory in every worker process)."""
    return create_app(Settings.from_env())
