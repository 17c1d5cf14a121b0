"""The durable record of a tuning run: the tuner's state and every round, in one SQLite file.

Each round is written in one transaction together with the tuner's state after it, so a run
stopped at any moment (Ctrl-C, crash, power loss) resumes from its last completed round.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oppertune.algorithms import TuningInstance

__all__ = ["RoundRecord", "RunStore"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class RoundRecord:
    """One round as recorded."""

    round: int
    started_at: float
    duration_s: float
    configuration: dict[str, Any]
    metrics: dict[str, float] | None
    reward: float
    ok: bool
    message: str | None
    context: str = ""
    metadata: dict[str, Any] | None = None


class RunStore:
    """A tuning run kept in a SQLite file.

    Args:
        path: The file; created when missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        with self._transaction():
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS rounds (round INTEGER PRIMARY KEY, started_at REAL NOT NULL, "
                "duration_s REAL NOT NULL, configuration TEXT NOT NULL, metrics TEXT, reward REAL NOT NULL, "
                "ok INTEGER NOT NULL, message TEXT, context TEXT NOT NULL DEFAULT '', metadata TEXT)"
            )
            version = self._meta("format_version")
            if version is None:
                self._set_meta("format_version", str(FORMAT_VERSION))
            elif version != str(FORMAT_VERSION):
                raise ValueError(f"{self.path}: run file format {version} is not supported (expected {FORMAT_VERSION})")

    @classmethod
    def open_existing(cls, path: str | Path) -> RunStore:
        """Open a run file that must already exist and hold a run."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"no run file at {str(path)!r}")
        try:
            store = cls(path)
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{path}: not an OPPerTune run file ({exc})") from None
        if store.fingerprint is None and not store.rounds():
            store.close()
            raise ValueError(f"{path}: the file holds no tuning run")
        return store

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                         (key, value, value))  # fmt: skip

    @property
    def fingerprint(self) -> str | None:
        """The spec fingerprint the run was started with."""
        return self._meta("fingerprint")

    def start(self, fingerprint: str, tuner: TuningInstance, description: dict[str, Any]) -> None:
        """Record a new run (the file must hold none)."""
        with self._transaction():
            if self._meta("fingerprint") is not None:
                raise ValueError(f"{self.path} already holds a run")
            self._set_meta("fingerprint", fingerprint)
            self._set_meta("description", json.dumps(description))
            self._set_meta("created_at", str(time.time()))
            self._set_meta("tuner", tuner.dumps())

    def reset(self) -> None:
        """Forget the run held in the file."""
        with self._transaction():
            self._db.execute("DELETE FROM rounds")
            self._db.execute("DELETE FROM meta WHERE key != 'format_version'")

    def description(self) -> dict[str, Any]:
        """What the run tunes (parameters, algorithm, command, reward), as recorded at its start."""
        text = self._meta("description")
        return {} if text is None else json.loads(text)

    def load_tuner(self) -> TuningInstance | None:
        """The tuner as of the last completed round (None for a file without a run)."""
        text = self._meta("tuner")
        return None if text is None else TuningInstance.loads(text)

    def record(self, record: RoundRecord, tuner: TuningInstance) -> None:
        """Write a round and the tuner's state after it, atomically."""
        state = tuner.dumps()
        with self._transaction():
            self._db.execute(
                "INSERT INTO rounds (round, started_at, duration_s, configuration, metrics, reward, ok, message, "
                "context, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.round, record.started_at, record.duration_s, json.dumps(record.configuration),
                 None if record.metrics is None else json.dumps(record.metrics), record.reward, int(record.ok),
                 record.message, record.context, None if record.metadata is None else json.dumps(record.metadata)),
            )  # fmt: skip
            self._set_meta("tuner", state)

    def rounds(self) -> list[RoundRecord]:
        """Every recorded round, in order."""
        rows = self._db.execute(
            "SELECT round, started_at, duration_s, configuration, metrics, reward, ok, message, context, metadata "
            "FROM rounds ORDER BY round"
        ).fetchall()
        return [_record(row) for row in rows]

    def rounds_done(self) -> int:
        """How many rounds are recorded."""
        return self._db.execute("SELECT count(*) FROM rounds").fetchone()[0]


def _record(row: tuple[Any, ...]) -> RoundRecord:
    number, started, duration, configuration, metrics, reward, ok, message, context, metadata = row
    parsed_metrics = None if metrics is None else json.loads(metrics)
    return RoundRecord(number, started, duration, json.loads(configuration), parsed_metrics, reward, bool(ok), message,
                       context, None if metadata is None else json.loads(metadata))  # fmt: skip
