"""Durable storage of tuners, their history and API keys, on SQLite or PostgreSQL (SQLAlchemy Core).

Concurrency contract
--------------------
* Every state change of a tuner (create, predict, store_reward, set_reward, a policy closing a
  round, delete) is one database transaction. A change to an existing tuner first locks the
  tuner's row: ``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` (the database's write
  lock) on SQLite. Calls on one tuner are serialised by the database, whichever process or
  machine they come from; on PostgreSQL, calls on different tuners run in parallel.
* A tuner's whole state is the library's JSON (`TuningInstance.dumps`, never pickle), kept in the
  row with a ``version`` that every change increments. A process may keep the deserialised tuner
  of the last version it committed (`_TunerCache`). It uses that object only when the version read
  under the row lock equals the cached one, and takes it out of the cache while it changes it, so
  no other thread can see it half-changed and a rolled-back change never leaks into the cache.
  No tuner state lives only in memory.
* A change commits whole or not at all: state, history rows of closed rounds and the idempotency
  record are written in the same transaction. Invalid input raises before anything is written.
* Idempotency: a change made with a key records its answer under (tuner, key) in its transaction.
  The same key again returns the recorded answer and changes nothing (the row lock orders a retry
  after the first attempt); the same key with a different request is refused. Records older
  than ``idempotency_ttl`` seconds are purged by `Storage.sweep`.
* Reads (summary, listing, open requests, history, best) take no lock and see the last committed
  state; they never close a round (the next change, or the sweeper, does).
* The tuner's row keeps the reward of its last closed round and its best reward (``last_reward``,
  ``best_reward``), written in the transaction that closes the round, so that listing many tuners
  with them is one query over the tuners alone.
* Database faults (unreachable server, SQLite lock timeout) raise `ServiceUnavailableError`; the
  transaction is rolled back, so a retry with the same idempotency key is always safe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from oppertune.algorithms import TuningInstance, create_tuning_instance
from oppertune.algorithms.guarded import Guarded
from oppertune.core.errors import NoPendingPredictionError, RoundClosedError, UnknownRequestError
from oppertune.core.types import Context, TuningRequest
from oppertune.core.values import to_dict
from oppertune.service.aggregation import Policy, aggregate, group_by_context
from oppertune.service.errors import (
    IdempotencyConflictError,
    InvalidInputError,
    InvalidTypeError,
    NoOpenRoundError,
    NoRailsError,
    RequestNotFoundError,
    RoundAlreadyClosedError,
    ServiceUnavailableError,
    TunerNotFoundError,
)

__all__ = [
    "PROJECT_PATTERN",
    "SCHEMA_VERSION",
    "SUMMARY_SORTS",
    "Idempotency",
    "Storage",
    "database_url",
    "hash_key",
    "redact_url",
]

log = logging.getLogger("oppertune.service")

SCHEMA_VERSION = 3
"""The schema this release reads and writes; `Storage.migrate` brings older databases to it."""

PROJECT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_ADVISORY_LOCK = 0x6F7074756E65  # serialises migrations of concurrent server starts on PostgreSQL
_NO_VERSION = -1
_STALE = object()  # an optimistic change found the cached tuner out of date: nothing was written
_ROUND_COLUMNS = (
    ("round", "integer"), ("context_id", "varchar"), ("context", "text"), ("prediction", "text"),
    ("reward", "float8"), ("n_rewards", "integer"), ("at", "float8"), ("metadata", "text"),
)  # fmt: skip
_POOL_OVERFLOW = 4  # for the sweeper and peaks; the server runs at most pool_size requests at once

metadata = MetaData()

schema_version = Table("oppertune_schema_version", metadata, Column("version", Integer, nullable=False))

api_keys = Table(
    "oppertune_api_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("project", String(100), nullable=False),
    Column("label", String(200), nullable=True),
    Column("created_at", Float, nullable=False),
)

tuners = Table(
    "oppertune_tuners",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("project", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("algorithm", String(100), nullable=False),
    Column("algorithm_args", Text, nullable=False),
    Column("parameters", Text, nullable=False),
    Column("aggregation", Text, nullable=True),
    Column("safety", Text, nullable=True),
    Column("status", String(20), nullable=True),
    Column("state", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("iteration", Integer, nullable=False),
    Column("rounds_opened", Text, nullable=True),
    Column("due_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_reward", Float, nullable=True),
    Column("best_reward", Float, nullable=True),
    Index("ix_oppertune_tuners_project_seq", "project", "seq"),
    Index("ix_oppertune_tuners_due_at", "due_at"),
    sqlite_autoincrement=True,
)

rounds = Table(
    "oppertune_rounds",
    metadata,
    Column("tuner_seq", Integer, nullable=False),
    Column("round", Integer, nullable=False),
    Column("context_id", String(200), nullable=False),
    Column("context", Text, nullable=False),
    Column("prediction", Text, nullable=False),
    Column("reward", Float, nullable=True),
    Column("n_rewards", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("metadata", Text, nullable=True),
    PrimaryKeyConstraint("tuner_seq", "round"),
    Index("ix_oppertune_rounds_best", "tuner_seq", "context_id", "reward"),
)

idempotency = Table(
    "oppertune_idempotency",
    metadata,
    Column("scope", String(128), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    PrimaryKeyConstraint("scope", "key"),
    Index("ix_oppertune_idempotency_created_at", "created_at"),
)


def _migrate_to_1(conn: Connection) -> None:
    # Version 1 is the schema above. Later versions append explicit DDL steps (ALTER TABLE ...)
    # here rather than editing these tables, so that every older database can be brought forward.
    for table in (api_keys, tuners, rounds, idempotency):
        table.create(conn, checkfirst=True)


def _migrate_to_2(conn: Connection) -> None:
    # Safety rails: their settings and status per tuner, their decision per round. A database created
    # at version 2 already has these columns (step 1 creates the tables as defined above).
    present = {(c["name"]) for c in inspect(conn).get_columns(tuners.name)}
    for column, kind in (("safety", "TEXT"), ("status", "VARCHAR(20)")):
        if column not in present:
            conn.exec_driver_sql(f"ALTER TABLE {tuners.name} ADD COLUMN {column} {kind}")
    if "metadata" not in {c["name"] for c in inspect(conn).get_columns(rounds.name)}:
        conn.exec_driver_sql(f"ALTER TABLE {rounds.name} ADD COLUMN metadata TEXT")


def _migrate_to_3(conn: Connection) -> None:
    # The dashboard's list: each tuner's last and best reward, kept in its row by the transaction that
    # closes a round, filled here from the history of existing tuners.
    present = {c["name"] for c in inspect(conn).get_columns(tuners.name)}
    for column in ("last_reward", "best_reward"):
        if column not in present:
            conn.exec_driver_sql(f"ALTER TABLE {tuners.name} ADD COLUMN {column} FLOAT")
    t, r = tuners.name, rounds.name
    conn.exec_driver_sql(
        f"UPDATE {t} SET best_reward = (SELECT MAX(r.reward) FROM {r} r WHERE r.tuner_seq = {t}.seq), "
        f"last_reward = (SELECT r.reward FROM {r} r WHERE r.tuner_seq = {t}.seq AND r.reward IS NOT NULL "
        f"ORDER BY r.round DESC LIMIT 1)"
    )


_MIGRATIONS: tuple[tuple[int, Callable[[Connection], None]], ...] = (
    (1, _migrate_to_1),
    (2, _migrate_to_2),
    (3, _migrate_to_3),
)

SUMMARY_SORTS = ("name", "algorithm", "status", "iteration", "last_reward", "best_reward", "created_at", "updated_at")
"""The columns `Storage.summaries` sorts by."""


def database_url(url: str | URL) -> URL:
    """Parse a database URL; ``postgresql://`` means psycopg 3, the driver the ``server`` extra installs."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with the URL in the message
        raise ValueError(f"Not a database URL: {redact_url(str(url))!r}.") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"Unsupported database {backend!r}: use sqlite:///FILE or postgresql+psycopg://...")
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValueError("An in-memory SQLite database vanishes with the process; give a file: sqlite:///oppertune.db")
    return parsed


def redact_url(url: str | URL) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database URL>"


def hash_key(key: str) -> str:
    """SHA-256 of an API key (keys are random 256-bit tokens, so a fast hash is adequate)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An idempotency key and the fingerprint of the request it was sent with."""

    key: str
    request_hash: str

    @classmethod
    def of(cls, key: str | None, operation: str, body: Any) -> Idempotency | None:
        """None when no key was sent; otherwise the key with a hash of the operation and its body."""
        if key is None:
            return None
        text = json.dumps([operation, body], sort_keys=True, separators=(",", ":"))
        return cls(key, hashlib.sha256(text.encode()).hexdigest())


@dataclass(frozen=True, slots=True)
class _RowFacts:
    """What a change needs from a tuner's row besides its state, as of the cached version."""

    seq: int
    project: str
    aggregation: str | None
    rounds_opened: str | None


class _TunerCache:
    """Per-process LRU of deserialised tuners, each valid only for the version it was stored with."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, tuple[int, TuningInstance, _RowFacts | None]] = OrderedDict()
        self._lock = threading.Lock()

    def version(self, tuner_id: str) -> int:
        item = self._items.get(tuner_id)
        return _NO_VERSION if item is None else item[0]

    def take(self, tuner_id: str, version: int) -> TuningInstance | None:
        """Remove and return the tuner if it is cached at ``version``; the caller owns it then."""
        with self._lock:
            item = self._items.get(tuner_id)
            if item is None or item[0] != version:
                return None
            del self._items[tuner_id]
            return item[1]

    def take_with_facts(self, tuner_id: str, project: str) -> tuple[int, TuningInstance, _RowFacts] | None:
        """Remove and return the tuner, its version and row facts, if cached with facts for ``project``."""
        with self._lock:
            item = self._items.get(tuner_id)
            if item is None or item[2] is None or item[2].project != project:
                return None
            del self._items[tuner_id]
            return item  # type: ignore[return-value]

    def put(self, tuner_id: str, version: int, instance: TuningInstance, facts: _RowFacts | None = None) -> None:
        if self._capacity <= 0:
            return
        with self._lock:
            current = self._items.get(tuner_id)
            if current is not None and current[0] > version:
                return
            self._items[tuner_id] = (version, instance, facts)
            self._items.move_to_end(tuner_id)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def discard(self, tuner_id: str) -> None:
        with self._lock:
            self._items.pop(tuner_id, None)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the library's errors about the caller's input into the service's errors."""
    try:
        yield
    except UnknownRequestError as exc:
        raise RequestNotFoundError(str(exc)) from None
    except RoundClosedError as exc:
        raise RoundAlreadyClosedError(str(exc)) from None
    except NoPendingPredictionError as exc:
        raise NoOpenRoundError(str(exc)) from None
    except TypeError as exc:
        raise InvalidTypeError(str(exc)) from None
    except (ValueError, ArithmeticError) as exc:
        raise InvalidInputError(str(exc)) from None


def _unavailable_errors() -> tuple[type[Exception], ...]:
    """SQLAlchemy's and the drivers' own: the hot path runs statements on the driver's cursor."""
    errors: list[type[Exception]] = [OperationalError, sqlite3.OperationalError]
    with suppress(ImportError):
        import psycopg

        errors += [psycopg.OperationalError, psycopg.InterfaceError]
    return tuple(errors)


_UNAVAILABLE = _unavailable_errors()


@contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        cause = getattr(exc, "orig", None) or exc
        log.warning("database unavailable: %s", type(cause).__name__)
        error = ServiceUnavailableError("The database is unavailable or busy; nothing was changed. Retry.")
        error.reason = str(cause).strip()  # for the operator (command line), never sent to clients
        raise error from None


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class _Change:
    """One transaction's work on one tuner: the tuner, its policy, and the rounds it closes."""

    __slots__ = ("changed", "closed", "instance", "now", "opened", "policy")

    def __init__(self, instance: TuningInstance, policy: Policy | None, opened: dict[str, float], now: float) -> None:
        self.instance = instance
        self.policy = policy
        self.opened = opened
        self.now = now
        self.closed: list[dict[str, Any]] = []
        self.changed = False

    def close_round(self, reward: float | None, context_id: str | None, statistic: str | None = None) -> None:
        """``set_reward`` with the history row of the round it closes (``statistic`` aggregates stored rewards)."""
        instance = self.instance
        open_rounds = group_by_context(instance.get_tuning_requests())
        if context_id is None and len(open_rounds) == 1:
            context_id = next(iter(open_rounds))
        requests = open_rounds.get(context_id) if context_id is not None else None
        if not requests:
            with _user_errors():
                instance.set_reward(reward, context_id)  # raises the library's error for this case
            raise AssertionError("set_reward accepted a round that is not open")  # pragma: no cover
        stored = [q.reward for q in requests if q.reward is not None]
        if reward is None and stored and statistic not in (None, "mean"):
            reward = aggregate(stored, statistic)
        recorded = reward if reward is not None else (math.fsum(stored) / len(stored) if stored else None)
        with _user_errors():
            instance.set_reward(reward, context_id)
        self.changed = True
        self.opened.pop(context_id, None)
        first = requests[0]
        self.closed.append(
            {
                "round": instance.iteration,
                "context_id": context_id,
                "context": _dumps(dict(first.context.data)),
                "prediction": _dumps(first.prediction),
                "reward": recorded,
                "n_rewards": len(stored),
                "at": self.now,
                "metadata": None if first.metadata is None else _dumps(first.metadata),
            }
        )

    def apply_policy(self, context_id: str | None = None) -> None:
        """Close every round the policy says is due (or only the round of ``context_id``).

        Without ``context_id`` (at the start of every change) only the time rule can make a round due:
        the count rule is applied by the store_reward that reaches the count.
        """
        policy = self.policy
        if policy is None or (context_id is None and policy.after_seconds is None):
            return
        for cid, requests in group_by_context(self.instance.get_tuning_requests()).items():
            if context_id is not None and cid != context_id:
                continue
            n_rewards = sum(q.reward is not None for q in requests)
            if policy.is_due(n_rewards, self.opened.get(cid, self.now), self.now):
                self.close_round(None, cid, policy.statistic)

    def schedule(self) -> tuple[str | None, float | None]:
        """The rounds' opening times and the next deadline of the time rule, for the tuner's row."""
        policy = self.policy
        if policy is None or policy.after_seconds is None:
            return None, None
        open_rounds = group_by_context(self.instance.get_tuning_requests())
        opened = {cid: self.opened.get(cid, self.now) for cid in open_rounds}
        self.opened = opened
        deadlines = [
            d
            for cid, requests in open_rounds.items()
            if (d := policy.deadline(sum(q.reward is not None for q in requests), opened[cid])) is not None
        ]
        return _dumps(opened), (min(deadlines) if deadlines else None)


def _status(instance: TuningInstance) -> str:
    return instance.status if isinstance(instance, Guarded) else "exploring"


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "algorithm": row.algorithm,
        "algorithm_args": json.loads(row.algorithm_args),
        "parameters": json.loads(row.parameters),
        "aggregation": json.loads(row.aggregation) if row.aggregation else None,
        "safety": json.loads(row.safety) if row.safety else None,
        "status": row.status or "exploring",
        "iteration": row.iteration,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "last_reward": row.last_reward,
        "best_reward": row.best_reward,
    }


def _round(row: Any) -> dict[str, Any]:
    return {
        "round": row.round,
        "context_id": row.context_id,
        "context": json.loads(row.context),
        "prediction": json.loads(row.prediction),
        "reward": row.reward,
        "n_rewards": row.n_rewards,
        "at": row.at,
        "metadata": json.loads(row.metadata) if row.metadata else None,
    }


_SUMMARY_COLUMNS = (
    tuners.c.id,
    tuners.c.name,
    tuners.c.algorithm,
    tuners.c.algorithm_args,
    tuners.c.parameters,
    tuners.c.aggregation,
    tuners.c.safety,
    tuners.c.status,
    tuners.c.iteration,
    tuners.c.created_at,
    tuners.c.updated_at,
    tuners.c.last_reward,
    tuners.c.best_reward,
)


class Storage:
    """Tuners, their rounds and API keys in one SQL database; see the module's concurrency contract.

    Args:
        url: ``sqlite:///FILE`` or ``postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB``.
        pool_size: Connections kept open per process; a few more may be opened at peaks.
        cache_size: Deserialised tuners kept per process (0 disables the cache).
        idempotency_ttl: Seconds an idempotency record is kept (a retry must come sooner).
        busy_timeout: Seconds a SQLite writer waits for the lock before answering "unavailable".
        clock: Wall-clock time in seconds (tests substitute a fake clock).
    """

    def __init__(
        self,
        url: str | URL,
        *,
        pool_size: int = 16,
        cache_size: int = 1024,
        idempotency_ttl: float = 86400.0,
        busy_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = database_url(url)
        self.backend = self.url.get_backend_name()
        self.idempotency_ttl = idempotency_ttl
        self._clock = clock
        self._cache = _TunerCache(cache_size)
        self._last_purge = 0.0
        if self.backend == "sqlite":
            self.engine = create_engine(self.url, pool_size=pool_size, max_overflow=_POOL_OVERFLOW)
            self._install_sqlite_hooks(self.engine, busy_timeout)
        else:
            self.engine = create_engine(self.url, pool_size=pool_size, max_overflow=_POOL_OVERFLOW, pool_recycle=3600)
        self._write: Engine = self.engine.execution_options(oppertune_write=True)  # type: ignore[assignment]
        # SQLite has one writer at a time: this process's writers queue on a mutex (woken at once)
        # rather than in SQLite's busy handler, which polls with sleeps of up to 100 ms.
        self._writers: AbstractContextManager[Any] = threading.Lock() if self.backend == "sqlite" else nullcontext()
        self._prepare_statements()

    # ------------------------------------------------------------------ engine and schema
    @staticmethod
    def _install_sqlite_hooks(engine: Engine, busy_timeout: float) -> None:
        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun below, not by pysqlite
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # A writer takes the database's write lock up front, so concurrent writers queue
            # (busy_timeout) instead of failing when a read transaction tries to upgrade.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("oppertune_write") else "BEGIN")

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL, rows are locked by the caller."""
        with _database_errors(), self._writers, self._write.begin() as conn:
            yield conn

    @contextmanager
    def _driver_transaction(self) -> Iterator[Any]:
        """`_transaction` on the pooled driver connection itself, for the loop's changes: the same
        transaction without SQLAlchemy's connection and transaction objects around it."""
        with _database_errors(), self._writers:
            pooled = self.engine.raw_connection()
            try:
                if self.backend == "sqlite":
                    pooled.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
                try:
                    yield pooled
                except BaseException:
                    with suppress(Exception):  # a broken connection: the pool discards it on return
                        pooled.rollback()
                    raise
                pooled.commit()
            finally:
                pooled.close()

    def migrate(self) -> int:
        """Create the schema, or bring it to `SCHEMA_VERSION`; safe when several servers start at once."""
        with self._transaction() as conn:
            if self.backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(select(schema_version.c.version)).scalar()
            if current is None:
                conn.execute(insert(schema_version).values(version=0))
                current = 0
            if current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"The database's schema is version {current}, newer than this release's ({SCHEMA_VERSION}): "
                    "upgrade oppertune."
                )
            for version, step in _MIGRATIONS:
                if version > current:
                    log.info("migrating the database schema to version %d", version)
                    step(conn)
                    conn.execute(update(schema_version).values(version=version))
            return SCHEMA_VERSION

    def schema_version(self) -> int | None:
        """The database's schema version (None before the first `migrate`)."""
        with _database_errors(), self.engine.connect() as conn:
            if not self.engine.dialect.has_table(conn, schema_version.name):
                return None
            return conn.execute(select(schema_version.c.version)).scalar()

    def close(self) -> None:
        """Close the connection pool."""
        self.engine.dispose()

    def ping(self) -> None:
        """Raise `ServiceUnavailableError` unless the database answers."""
        with _database_errors(), self.engine.connect() as conn:
            conn.execute(self._ping)

    def _prepare_statements(self) -> None:
        # The hot transaction runs on the DBAPI cursor of SQLAlchemy's connection (same transaction,
        # without SQLAlchemy's compile and result layers): written once here for both dialects.
        t, i, r = tuners.name, idempotency.name, rounds.name
        lock = " FOR UPDATE OF t" if self.backend == "postgresql" else ""
        if self.backend == "postgresql":
            best = "GREATEST(best_reward, :best_reward)"  # GREATEST ignores NULLs
        else:
            best = "max(coalesce(best_reward, :best_reward), coalesce(:best_reward, best_reward))"
        save = (
            f"UPDATE {t} SET state = :state, version = :version, iteration = :iteration, "
            f"rounds_opened = :rounds_opened, due_at = :due_at, updated_at = :updated_at, status = :status, "
            f"last_reward = COALESCE(:last_reward, last_reward), best_reward = {best} WHERE seq = :seq"
        )
        statements = {
            "lock": f"SELECT t.seq, t.version, t.aggregation, t.rounds_opened, "
            f"CASE WHEN t.version = :cached_version THEN NULL ELSE t.state END, i.request_hash, i.body "
            f"FROM {t} t LEFT OUTER JOIN {i} i ON i.scope = t.id AND i.key = :idempotency_key "
            f"WHERE t.id = :tuner_id AND t.project = :project{lock}",
            "state": f"SELECT state FROM {t} WHERE seq = :seq",
            "save": save,
            "save_if_current": f"{save} AND version = :expected_version AND NOT EXISTS "
            f"(SELECT 1 FROM {i} WHERE scope = :scope AND key = :key)",
            "round": f"INSERT INTO {r} (tuner_seq, round, context_id, context, prediction, reward, n_rewards, at, "
            f"metadata) VALUES (:tuner_seq, :round, :context_id, :context, :prediction, :reward, :n_rewards, :at, "
            f":metadata)",
            "record": f"INSERT INTO {i} (scope, key, request_hash, body, created_at) "
            f"VALUES (:scope, :key, :request_hash, :body, :created_at)",
            "rounds_after": f"SELECT round, context_id, context, prediction, reward, metadata FROM {r} "
            f"WHERE tuner_seq = :seq AND round > :after ORDER BY round",
        }
        if self.backend == "postgresql":
            statements = {k: re.sub(r":(\w+)", r"%(\1)s", v) for k, v in statements.items()}
        self._sql = statements
        self._change_statements: dict[tuple[int, bool], str] = {}
        self._ping = select(1)

    # ------------------------------------------------------------------ API keys
    def create_api_key(self, project: str, label: str | None = None) -> str:
        """Create a key for ``project`` and return it; only its SHA-256 is stored."""
        if not isinstance(project, str) or not PROJECT_PATTERN.fullmatch(project):
            raise ValueError(
                "A project name is 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit. "
                f"Got {project!r} instead."
            )
        key = "otk_" + secrets.token_urlsafe(32)
        with self._transaction() as conn:
            conn.execute(
                insert(api_keys).values(key_hash=hash_key(key), project=project, label=label, created_at=self._clock())
            )
        return key

    def project_of_key(self, key: str) -> str | None:
        """The project of an API key, or None if the key is unknown."""
        digest = hash_key(key)
        with _database_errors(), self.engine.connect() as conn:
            row = conn.execute(
                select(api_keys.c.key_hash, api_keys.c.project).where(api_keys.c.key_hash == digest)
            ).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        return row.project

    def has_api_keys(self) -> bool:
        """Whether the database holds at least one API key."""
        with _database_errors(), self.engine.connect() as conn:
            return conn.execute(select(api_keys.c.key_hash).limit(1)).first() is not None

    # ------------------------------------------------------------------ tuners
    def create_tuner(
        self,
        project: str,
        name: str,
        parameters: list[Any],
        algorithm: str,
        algorithm_args: Mapping[str, Any],
        aggregation: Policy | None = None,
        idempotency_key: Idempotency | None = None,
        safety: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Build a tuner with the library (its errors become `InvalidInputError`) and store it; returns its summary."""
        with _user_errors():
            instance = create_tuning_instance(parameters, algorithm, algorithm_args, safety=safety)
            state = instance.dumps()
        now = self._clock()
        summary = {
            "id": uuid.uuid4().hex,
            "name": name,
            "algorithm": algorithm,
            "algorithm_args": dict(algorithm_args),
            "parameters": [to_dict(p) for p in instance.parameters],
            "aggregation": aggregation.to_dict() if aggregation else None,
            "safety": dict(safety) if safety is not None else None,
            "status": _status(instance),
            "iteration": 0,
            "created_at": now,
            "updated_at": now,
            "last_reward": None,
            "best_reward": None,
        }
        scope = f"project:{project}"
        try:
            with self._transaction() as conn:
                if idempotency_key is not None:
                    replay = self._recorded(conn, scope, idempotency_key)
                    if replay is not None:
                        return replay
                conn.execute(
                    insert(tuners).values(
                        id=summary["id"],
                        project=project,
                        name=name,
                        algorithm=algorithm,
                        algorithm_args=_dumps(summary["algorithm_args"]),
                        parameters=_dumps(summary["parameters"]),
                        aggregation=_dumps(summary["aggregation"]) if aggregation else None,
                        safety=_dumps(summary["safety"]) if safety is not None else None,
                        status=summary["status"],
                        state=state,
                        version=1,
                        iteration=0,
                        rounds_opened=_dumps({}) if aggregation else None,
                        due_at=None,
                        created_at=now,
                        updated_at=now,
                    )
                )
                if idempotency_key is not None:
                    self._record(conn, scope, idempotency_key, summary, now)
        except IntegrityError:
            if idempotency_key is None:
                raise
            with _database_errors(), self.engine.connect() as conn:  # a concurrent twin won the race
                replay = self._recorded(conn, scope, idempotency_key)
            if replay is None:
                raise
            return replay
        self._cache.put(summary["id"], 1, instance)
        return summary

    def get_tuner(self, project: str, tuner_id: str) -> dict[str, Any]:
        """The tuner's summary; `TunerNotFoundError` if it is not in ``project``."""
        with _database_errors(), self.engine.connect() as conn:
            row = conn.execute(
                select(*_SUMMARY_COLUMNS).where(tuners.c.id == tuner_id, tuners.c.project == project)
            ).first()
        if row is None:
            raise TunerNotFoundError()
        return _summary(row)

    def list_tuners(self, project: str, limit: int = 100, cursor: str | None = None) -> tuple[list[dict], str | None]:
        """A page of the project's tuners, oldest first, and the cursor of the next page (None at the end)."""
        after = 0
        if cursor is not None:
            if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
                raise InvalidInputError(f"Invalid cursor {cursor!r}: pass the 'next_cursor' of a previous page.")
            after = int(cursor)
        with _database_errors(), self.engine.connect() as conn:
            rows = conn.execute(
                select(tuners.c.seq, *_SUMMARY_COLUMNS)
                .where(tuners.c.project == project, tuners.c.seq > after)
                .order_by(tuners.c.seq)
                .limit(limit + 1)
            ).all()
        next_cursor = str(rows[limit - 1].seq) if len(rows) > limit else None
        return [_summary(r) for r in rows[:limit]], next_cursor

    def summaries(
        self,
        project: str,
        *,
        search: str | None = None,
        status: str | None = None,
        algorithm: str | None = None,
        sort: str = "updated_at",
        descending: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int, dict[str, int]]:
        """A sorted, filtered page of the project's tuners (the dashboard's list), in one query.

        Args:
            project: The project.
            search: Only names containing this text (case-insensitive).
            status: Only tuners in this status (``exploring``, ``frozen``, ``rolled_back``).
            algorithm: Only tuners of this algorithm.
            sort: One of `SUMMARY_SORTS` (missing rewards sort last either way; ties in creation order).
            descending: Largest (or latest) first.
            limit: Rows per page.
            offset: Rows to skip.

        Returns:
            The rows (id, name, algorithm, status, iteration, last and best reward, times, whether the
            tuner has rails), how many tuners match, and how many of the project's tuners are in each status.
        """
        if sort not in SUMMARY_SORTS:
            raise InvalidInputError(f"Cannot sort by {sort!r}: use one of {list(SUMMARY_SORTS)}.")
        status_column = func.coalesce(tuners.c.status, "exploring")
        conditions = [tuners.c.project == project]
        if search:
            conditions.append(func.lower(tuners.c.name).contains(search.lower(), autoescape=True))
        if status is not None:
            conditions.append(status_column == status)
        if algorithm is not None:
            conditions.append(tuners.c.algorithm == algorithm)
        key = status_column if sort == "status" else tuners.c[sort]
        order = (key.desc() if descending else key.asc()).nulls_last()
        columns = (
            tuners.c.id, tuners.c.name, tuners.c.algorithm, status_column.label("status"), tuners.c.iteration,
            tuners.c.last_reward, tuners.c.best_reward, tuners.c.created_at, tuners.c.updated_at,
            tuners.c.safety.is_not(None).label("rails"), func.count().over().label("total"),
        )  # fmt: skip
        with _database_errors(), self.engine.connect() as conn:
            rows = conn.execute(
                select(*columns).where(*conditions).order_by(order, tuners.c.seq).limit(limit).offset(offset)
            ).all()
            if rows:
                total = rows[0].total
            else:  # past the last page: count alone
                total = conn.execute(select(func.count()).select_from(tuners).where(*conditions)).scalar()
            by_status = conn.execute(
                select(status_column, func.count()).where(tuners.c.project == project).group_by(status_column)
            ).all()
        items = [
            {
                "id": r.id, "name": r.name, "algorithm": r.algorithm, "status": r.status, "iteration": r.iteration,
                "last_reward": r.last_reward, "best_reward": r.best_reward, "created_at": r.created_at,
                "updated_at": r.updated_at, "rails": bool(r.rails),
            }
            for r in rows
        ]  # fmt: skip
        counts = {"exploring": 0, "frozen": 0, "rolled_back": 0}
        counts.update({name: count for name, count in by_status})
        return items, total, counts

    def dashboard_read(
        self, project: str, tuner_id: str, after: int, known_version: int | None = None
    ) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
        """The tuner's summary (with ``seq``, ``version`` and ``state``) and its raw rounds after ``after``.

        ``state`` is None when the version is ``known_version`` (the caller has it already). The
        rounds are tuples ``(round, context_id, context, prediction, reward, metadata)`` with the JSON
        columns unparsed, in order. Rounds are only ever appended (under the tuner's lock, in
        increasing order), so a reader that has seen every round up to ``after`` of this ``seq`` only
        needs the rows after it.
        """
        known = -1 if known_version is None else known_version
        state = case((tuners.c.version == known, literal_column("NULL")), else_=tuners.c.state)
        extra = (tuners.c.seq, tuners.c.version, state)
        with _database_errors(), self.engine.connect() as conn:
            row = conn.execute(
                select(*_SUMMARY_COLUMNS, *extra).where(tuners.c.id == tuner_id, tuners.c.project == project)
            ).first()
            if row is None:
                raise TunerNotFoundError()
            cursor = conn.connection.cursor()  # the DBAPI's rows as they come: 100,000 of them for a long history
            try:
                cursor.execute(self._sql["rounds_after"], {"seq": row.seq, "after": after})
                rows = cursor.fetchall()
            finally:
                cursor.close()
        summary = _summary(row)
        summary.update(seq=row.seq, version=row.version, state=row[-1])
        return summary, rows

    def delete_tuner(self, project: str, tuner_id: str) -> None:
        """Delete the tuner, its history and its idempotency records in one transaction."""
        with self._transaction() as conn:
            seq = conn.execute(
                select(tuners.c.seq)
                .where(tuners.c.id == tuner_id, tuners.c.project == project)
                .with_for_update(of=tuners)
            ).scalar()
            if seq is None:
                raise TunerNotFoundError()
            conn.execute(delete(rounds).where(rounds.c.tuner_seq == seq))
            conn.execute(delete(idempotency).where(idempotency.c.scope == tuner_id))
            conn.execute(delete(tuners).where(tuners.c.seq == seq))
        self._cache.discard(tuner_id)

    # ------------------------------------------------------------------ the tuning loop
    def predict(
        self,
        project: str,
        tuner_id: str,
        context: Mapping[str, Any] | None = None,
        context_id: str | None = None,
        idempotency_key: Idempotency | None = None,
    ) -> dict[str, Any]:
        """``predict`` on the stored tuner: ``{"prediction": {...}, "request_id": "..."}``."""

        def act(change: _Change) -> dict[str, Any]:
            with _user_errors():
                ctx = None if context is None and context_id is None else Context(context, id=context_id)
                response = change.instance.predict(ctx)
            change.changed = True
            return {"prediction": response.prediction, "request_id": response.request_id}

        return self._change(project, tuner_id, idempotency_key, act)

    def store_reward(
        self,
        project: str,
        tuner_id: str,
        request_id: str,
        reward: float,
        reward_data: Mapping[str, Any] | None = None,
        idempotency_key: Idempotency | None = None,
    ) -> None:
        """``store_reward``; with an aggregation policy this may close the request's round."""

        def act(change: _Change) -> None:
            with _user_errors():
                change.instance.store_reward(request_id, reward, reward_data)
            change.changed = True
            if change.policy is not None:
                for q in change.instance.get_tuning_requests():
                    if q.id == request_id:
                        change.apply_policy(q.context.id)
                        break

        self._change(project, tuner_id, idempotency_key, act)

    def set_reward(
        self,
        project: str,
        tuner_id: str,
        reward: float | None = None,
        context_id: str | None = None,
        idempotency_key: Idempotency | None = None,
    ) -> dict[str, Any]:
        """``set_reward``: close the context's round and learn; returns ``{"iteration": n}``."""

        def act(change: _Change) -> dict[str, Any]:
            change.close_round(reward, context_id)
            return {"iteration": change.instance.iteration}

        return self._change(project, tuner_id, idempotency_key, act)

    def steer(self, project: str, tuner_id: str, action: str) -> dict[str, Any]:
        """An operator action on the safety rails: ``freeze``, ``resume`` or ``rollback``."""

        def act(change: _Change) -> dict[str, Any]:
            rails = change.instance
            if not isinstance(rails, Guarded):
                raise NoRailsError("This tuner has no safety rails: create it with 'safety' settings to steer it.")
            configuration = rails.rollback() if action == "rollback" else rails.best_configuration()
            if action == "freeze":
                rails.freeze()
            elif action == "resume":
                rails.resume()
            change.changed = True
            return {
                "status": rails.status,
                "exploration_scale": rails.exploration_scale,
                "configuration": configuration,
            }

        return self._change(project, tuner_id, None, act)

    def events(self, project: str, tuner_id: str, context_id: str | None = None) -> list[dict[str, Any]]:
        """The safety rails' recorded decisions (empty for a tuner without rails)."""
        instance = self._instance(project, tuner_id)
        return instance.events(context_id) if isinstance(instance, Guarded) else []

    def touch(self, project: str, tuner_id: str) -> None:
        """Close the rounds the tuner's policy says are due, if any."""
        self._change(project, tuner_id, None, lambda change: None)

    def _change(self, project: str, tuner_id: str, key: Idempotency | None, act: Callable[[_Change], Any]) -> Any:
        if self.backend == "postgresql":
            cached = self._cache.take_with_facts(tuner_id, project)
            if cached is not None:
                result = self._optimistic_change(tuner_id, key, act, *cached)
                if result is not _STALE:
                    return result
        return self._locked_change(project, tuner_id, key, act)

    def _optimistic_change(
        self,
        tuner_id: str,
        key: Idempotency | None,
        act: Callable[[_Change], Any],
        version: int,
        instance: TuningInstance,
        facts: _RowFacts,
    ) -> Any:
        """The change on the cached tuner, written in one statement that applies only if the row is still at
        the cached version and the idempotency key is new; otherwise nothing is written and `_STALE` is
        returned (the locked path then decides: a newer version, a replay, or an error to raise).

        On PostgreSQL this takes the common case from five exchanges with the server to one.
        """
        now = self._clock()
        opened = json.loads(facts.rounds_opened) if facts.rounds_opened else {}
        policy = Policy.from_dict(json.loads(facts.aggregation)) if facts.aggregation else None
        change = _Change(instance, policy, opened, now)
        try:
            change.apply_policy()
            result = act(change)
        except Exception:  # perhaps only because the cached tuner is stale: the locked path will tell
            return _STALE
        if not change.changed:
            return _STALE
        # One statement is one transaction in autocommit mode: a single exchange with the server. The
        # pooled driver connection is switched by hand (SQLAlchemy's isolation-level option costs more).
        with _database_errors():
            pooled = self.engine.raw_connection()
            try:
                driver = pooled.driver_connection
                driver.autocommit = True  # type: ignore[union-attr]
                try:
                    cursor = driver.cursor()  # type: ignore[union-attr]
                    written, rounds_opened = self._save(cursor, tuner_id, facts.seq, version, change, key, result)
                    cursor.close()
                finally:
                    driver.autocommit = False  # type: ignore[union-attr]
            finally:
                pooled.close()
        if not written:
            return _STALE
        self._cache.put(tuner_id, version + 1, instance, replace(facts, rounds_opened=rounds_opened))
        return result

    def _locked_change(
        self, project: str, tuner_id: str, key: Idempotency | None, act: Callable[[_Change], Any]
    ) -> Any:
        now = self._clock()
        cache = self._cache
        sql = self._sql
        taken = False
        with self._driver_transaction() as connection:
            cursor = connection.cursor()
            cursor.execute(
                sql["lock"],
                {
                    "cached_version": cache.version(tuner_id),
                    "idempotency_key": "" if key is None else key.key,
                    "tuner_id": tuner_id,
                    "project": project,
                },
            )
            row = cursor.fetchone()
            if row is None:
                raise TunerNotFoundError()
            seq, version, aggregation, rounds_opened, state, request_hash, recorded = row
            if request_hash is not None and key is not None:
                if not hmac.compare_digest(request_hash, key.request_hash):
                    raise IdempotencyConflictError("This Idempotency-Key was already used for a different request.")
                return json.loads(recorded)
            instance = None if state is not None else cache.take(tuner_id, version)
            if instance is None:
                if state is None:  # the cached version matched but another thread owns the cached object
                    cursor.execute(sql["state"], {"seq": seq})
                    state = cursor.fetchone()[0]
                instance = TuningInstance.loads(state)
            taken = True
            opened = json.loads(rounds_opened) if rounds_opened else {}
            policy = Policy.from_dict(json.loads(aggregation)) if aggregation else None
            change = _Change(instance, policy, opened, now)
            change.apply_policy()
            result = act(change)
            if change.changed:
                _, rounds_opened = self._save(cursor, tuner_id, seq, version, change, key, result)
                version += 1
            cursor.close()
        # Committed (an exception above leaves the taken tuner out of the cache: it may be half-changed).
        if taken:
            cache.put(tuner_id, version, instance, _RowFacts(seq, project, aggregation, rounds_opened))
        return result

    def _save(
        self,
        cursor: Any,
        tuner_id: str,
        seq: int,
        version: int,
        change: _Change,
        key: Idempotency | None,
        result: Any,
    ) -> tuple[bool, str | None]:
        """Write a change made to the tuner at ``version``: its state, the rounds it closed, the key's answer.

        Returns whether it was written (always, under the row lock) and the row's new ``rounds_opened``.
        """
        instance, now = change.instance, change.now
        rounds_opened, due_at = change.schedule()
        closed = [r["reward"] for r in change.closed if r["reward"] is not None]
        values = {
            "seq": seq,
            "expected_version": version,
            "state": instance.dumps(),
            "version": version + 1,
            "iteration": instance.iteration,
            "rounds_opened": rounds_opened,
            "due_at": due_at,
            "updated_at": now,
            "status": _status(instance),
            "last_reward": closed[-1] if closed else None,
            "best_reward": max(closed) if closed else None,
            "scope": tuner_id,
            "key": "" if key is None else key.key,
        }
        if key is not None:
            values.update(request_hash=key.request_hash, body=_dumps(result), created_at=now)
        if self.backend == "postgresql":
            for n, closed_round in enumerate(change.closed):
                values.update({f"{name}_{n}": value for name, value in closed_round.items()})
            cursor.execute(self._change_statement(len(change.closed), key is not None), values)
            return cursor.fetchone()[0] == 1, rounds_opened
        cursor.execute(self._sql["save"], values)
        for closed_round in change.closed:
            cursor.execute(self._sql["round"], {"tuner_seq": seq, **closed_round})
        if key is not None:
            cursor.execute(self._sql["record"], values)
        return True, rounds_opened

    def _change_statement(self, n_rounds: int, record: bool) -> str:
        """PostgreSQL: one statement that saves the tuner (if still at the expected version and the key is
        new), inserts the closed rounds and records the key's answer, and counts the saved rows."""
        statement = self._change_statements.get((n_rounds, record))
        if statement is not None:
            return statement
        parts = [f"WITH saved AS ({self._sql['save_if_current']} RETURNING seq)"]
        if n_rounds:
            columns = ", ".join(name for name, _ in _ROUND_COLUMNS)
            rows = ", ".join(
                "(" + ", ".join(f"%({name}_{n})s::{kind}" for name, kind in _ROUND_COLUMNS) + ")"
                for n in range(n_rounds)
            )
            parts.append(
                f", closed AS (INSERT INTO {rounds.name} (tuner_seq, {columns}) "
                f"SELECT saved.seq, v.* FROM saved, (VALUES {rows}) AS v ({columns}))"
            )
        if record:
            parts.append(
                f", recorded AS (INSERT INTO {idempotency.name} (scope, key, request_hash, body, created_at) "
                f"SELECT %(scope)s, %(key)s, %(request_hash)s::text, %(body)s::text, %(created_at)s::float8 "
                f"FROM saved)"
            )
        parts.append(" SELECT count(*) FROM saved")
        statement = "".join(parts)
        self._change_statements[(n_rounds, record)] = statement
        return statement

    def _recorded(self, conn: Connection, scope: str, key: Idempotency) -> Any | None:
        row = conn.execute(
            select(idempotency.c.request_hash, idempotency.c.body).where(
                idempotency.c.scope == scope, idempotency.c.key == key.key
            )
        ).first()
        if row is None:
            return None
        if not hmac.compare_digest(row.request_hash, key.request_hash):
            raise IdempotencyConflictError("This Idempotency-Key was already used for a different request.")
        return json.loads(row.body)

    def _record(self, conn: Connection, scope: str, key: Idempotency, result: Any, now: float) -> None:
        conn.execute(
            insert(idempotency),
            {
                "scope": scope,
                "key": key.key,
                "request_hash": key.request_hash,
                "body": _dumps(result),
                "created_at": now,
            },
        )

    # ------------------------------------------------------------------ reads
    def _instance(self, project: str, tuner_id: str) -> TuningInstance:
        with _database_errors(), self.engine.connect() as conn:
            state = conn.execute(
                select(tuners.c.state).where(tuners.c.id == tuner_id, tuners.c.project == project)
            ).scalar()
        if state is None:
            raise TunerNotFoundError()
        return TuningInstance.loads(state)

    def read_state(self, project: str, tuner_id: str) -> tuple[int, str]:
        """The tuner's version and JSON state, as committed."""
        with _database_errors(), self.engine.connect() as conn:
            row = conn.execute(
                select(tuners.c.version, tuners.c.state).where(tuners.c.id == tuner_id, tuners.c.project == project)
            ).first()
        if row is None:
            raise TunerNotFoundError()
        return row.version, row.state

    def tuning_requests(self, project: str, tuner_id: str, context_id: str | None = None) -> list[TuningRequest]:
        """``get_tuning_requests``: the requests of the open rounds (of one context when given)."""
        instance = self._instance(project, tuner_id)
        with _user_errors():
            return instance.get_tuning_requests(context_id)

    def current_prediction(self, project: str, tuner_id: str, context_id: str | None = None) -> dict | None:
        """``get_current_prediction``: the configuration of the context's open round, or None."""
        instance = self._instance(project, tuner_id)
        with _user_errors():
            return instance.get_current_prediction(context_id)

    def history(
        self, project: str, tuner_id: str, after: int = 0, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Closed rounds with ``round > after`` in order, and the ``after`` of the next page (None at the end)."""
        with _database_errors(), self.engine.connect() as conn:
            seq = self._seq(conn, project, tuner_id)
            rows = conn.execute(
                select(rounds)
                .where(rounds.c.tuner_seq == seq, rounds.c.round > after)
                .order_by(rounds.c.round)
                .limit(limit + 1)
            ).all()
        next_cursor = rows[limit - 1].round if len(rows) > limit else None
        return [_round(r) for r in rows[:limit]], next_cursor

    def best(self, project: str, tuner_id: str, context_id: str = "") -> dict[str, Any]:
        """The round of the context with the highest reward: ``{prediction, reward, round, rounds}``."""
        with _database_errors(), self.engine.connect() as conn:
            seq = self._seq(conn, project, tuner_id)
            in_context = and_(rounds.c.tuner_seq == seq, rounds.c.context_id == context_id)
            count = conn.execute(select(func.count()).select_from(rounds).where(in_context)).scalar()
            row = conn.execute(
                select(rounds.c.round, rounds.c.prediction, rounds.c.reward)
                .where(in_context, rounds.c.reward.is_not(None))
                .order_by(rounds.c.reward.desc(), rounds.c.round)
                .limit(1)
            ).first()
        if row is None:
            return {"prediction": None, "reward": None, "round": None, "rounds": count}
        return {"prediction": json.loads(row.prediction), "reward": row.reward, "round": row.round, "rounds": count}

    @staticmethod
    def _seq(conn: Connection, project: str, tuner_id: str) -> int:
        seq = conn.execute(select(tuners.c.seq).where(tuners.c.id == tuner_id, tuners.c.project == project)).scalar()
        if seq is None:
            raise TunerNotFoundError()
        return seq

    # ------------------------------------------------------------------ housekeeping
    def sweep(self, limit: int = 100) -> int:
        """Close rounds whose time rule is due and purge old idempotency records; returns tuners touched."""
        now = self._clock()
        with _database_errors(), self.engine.connect() as conn:
            due = conn.execute(
                select(tuners.c.id, tuners.c.project)
                .where(tuners.c.due_at <= now)
                .order_by(tuners.c.due_at)
                .limit(limit)
            ).all()
        for tuner_id, project in due:
            with suppress(TunerNotFoundError):  # deleted meanwhile
                self.touch(project, tuner_id)
        if now - self._last_purge >= min(60.0, self.idempotency_ttl):
            self._last_purge = now
            with self._transaction() as conn:
                conn.execute(delete(idempotency).where(idempotency.c.created_at < now - self.idempotency_ttl))
        return len(due)
