"""A real SQLite database under a real mixed workload, with its performance knobs.

Several threads, each with its own connection, run point reads, range scans, and upserts and
updates in write transactions of ``write_batch_size`` statements against a database file on
disk. Upserts replace random rows, so the table keeps its size and every round measures the
same database. `SQLiteTarget.apply` really reconfigures the database (``page_size`` changes are made
effective with ``VACUUM``) and `SQLiteTarget.measure` really measures throughput and latency.
"""

from __future__ import annotations

import math
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["KNOBS", "READ_HEAVY", "WRITE_HEAVY", "Measurement", "SQLiteTarget", "WorkloadMix"]

# The knobs, in the seed's dict form. Starting values are SQLite's defaults (and one write per
# transaction for the application), which is where most deployments start. Settings that trade
# durability away (synchronous=OFF, journal_mode=OFF/MEMORY) are deliberately not offered.
KNOBS: list[dict[str, Any]] = [
    {"type": "categorical", "name": "journal_mode", "val": "DELETE",
     "categories": ["DELETE", "TRUNCATE", "PERSIST", "WAL"]},
    {"type": "categorical", "name": "synchronous", "val": "FULL", "categories": ["NORMAL", "FULL", "EXTRA"]},
    {"type": "categorical", "name": "temp_store", "val": "DEFAULT", "categories": ["DEFAULT", "FILE", "MEMORY"]},
    {"type": "categorical", "name": "page_size", "val": 4096, "categories": [1024, 2048, 4096, 8192, 16384, 32768]},
    {"type": "integer", "name": "cache_size_kib", "val": 2048, "min": 256, "max": 65536, "step": 256},
    {"type": "integer", "name": "mmap_size_mib", "val": 0, "min": 0, "max": 256, "step": 8},
    {"type": "integer", "name": "wal_autocheckpoint", "val": 1000, "min": 100, "max": 20000, "step": 100},
    {"type": "integer", "name": "write_batch_size", "val": 1, "min": 1, "max": 200},
]  # fmt: skip


@dataclass(frozen=True)
class WorkloadMix:
    """Shares of each operation kind in the workload."""

    name: str
    point_reads: float
    range_scans: float
    inserts: float
    updates: float


READ_HEAVY = WorkloadMix("read-heavy", point_reads=0.75, range_scans=0.15, inserts=0.05, updates=0.05)
WRITE_HEAVY = WorkloadMix("write-heavy", point_reads=0.15, range_scans=0.05, inserts=0.45, updates=0.35)


@dataclass(frozen=True)
class Measurement:
    """What one measurement window observed."""

    operations: int
    seconds: float
    p95_ms: float
    errors: int

    @property
    def throughput(self) -> float:
        """Operations per second."""
        return self.operations / self.seconds if self.seconds > 0 else 0.0


class SQLiteTarget:
    """A database file in ``folder`` and the workload that runs against it.

    Args:
        folder: Where the database file lives (use a disk folder: fsync costs are part of the story).
        rows: Rows loaded before the first measurement.
        threads: Concurrent client threads.
        seed: Seed of the workload's random choices.
    """

    def __init__(self, folder: Path, rows: int = 20_000, threads: int = 4, seed: int = 0) -> None:
        self.path = Path(folder) / "demo.sqlite3"
        self.rows = rows
        self.threads = threads
        self._seed = seed
        self._round = 0
        self._config: dict[str, Any] = {}

    def setup(self) -> None:
        """Create and fill the database (replacing any previous file)."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        rng = random.Random(self._seed)
        with sqlite3.connect(self.path, isolation_level=None) as db:
            db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, payload TEXT NOT NULL, v REAL)")
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO items (id, k, payload, v) VALUES (?, ?, ?, ?)",
                ((i, rng.randrange(1_000_000), _payload(rng), rng.random()) for i in range(1, self.rows + 1)),
            )
            db.execute("COMMIT")
            db.execute("CREATE INDEX items_k ON items (k)")
        db.close()

    def apply(self, config: dict[str, Any]) -> None:
        """Reconfigure: database-wide settings now, per-connection settings for the next measurement."""
        with sqlite3.connect(self.path, isolation_level=None, timeout=30) as db:
            current_page = db.execute("PRAGMA page_size").fetchone()[0]
            if int(config["page_size"]) != current_page:
                db.execute("PRAGMA journal_mode=DELETE")  # page_size cannot change in WAL mode
                db.execute(f"PRAGMA page_size={int(config['page_size'])}")
                db.execute("VACUUM")
            db.execute(f"PRAGMA journal_mode={config['journal_mode']}")
        db.close()
        self._config = dict(config)

    def _connection_pragmas(self) -> list[str]:
        c = self._config
        return [
            "PRAGMA busy_timeout=10000",
            f"PRAGMA synchronous={c['synchronous']}",
            f"PRAGMA temp_store={c['temp_store']}",
            f"PRAGMA cache_size={-int(c['cache_size_kib'])}",
            f"PRAGMA mmap_size={int(c['mmap_size_mib']) * 1024 * 1024}",
            f"PRAGMA wal_autocheckpoint={int(c['wal_autocheckpoint'])}",
        ]

    def measure(self, mix: WorkloadMix, seconds: float) -> Measurement:
        """Run the workload for ``seconds`` with the applied configuration."""
        if not self._config:
            raise RuntimeError("apply() a configuration before measure()")
        self._round += 1
        latencies: list[list[float]] = [[] for _ in range(self.threads)]
        errors = [0] * self.threads
        deadline = time.perf_counter() + seconds
        workers = [
            threading.Thread(target=self._worker, args=(mix, deadline, latencies[i], errors, i), daemon=True)
            for i in range(self.threads)
        ]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
        merged = sorted(x for per_thread in latencies for x in per_thread)
        p95 = merged[min(len(merged) - 1, math.ceil(0.95 * len(merged)) - 1)] * 1e3 if merged else math.inf
        return Measurement(operations=len(merged), seconds=elapsed, p95_ms=p95, errors=sum(errors))

    def _worker(self, mix: WorkloadMix, deadline: float, latencies: list[float], errors: list[int], index: int) -> None:
        rng = random.Random(self._seed * 1_000_003 + self._round * 101 + index)
        batch = int(self._config["write_batch_size"])
        db = sqlite3.connect(self.path, isolation_level=None, timeout=10, check_same_thread=False)
        try:
            for pragma in self._connection_pragmas():
                db.execute(pragma)
            reads = mix.point_reads + mix.range_scans
            writes = mix.inserts + mix.updates
            while time.perf_counter() < deadline:
                try:
                    if rng.random() < reads / (reads + writes):
                        begin = time.perf_counter()
                        if rng.random() < mix.point_reads / reads:
                            key = rng.randrange(1, self.rows)
                            db.execute("SELECT payload FROM items WHERE id = ?", (key,)).fetchone()
                        else:
                            low = rng.randrange(1_000_000)
                            db.execute("SELECT count(*), avg(v) FROM items WHERE k BETWEEN ? AND ?",
                                       (low, low + 2_000)).fetchone()  # fmt: skip
                        latencies.append(time.perf_counter() - begin)
                    else:
                        self._write_transaction(db, rng, mix, batch, latencies)
                except sqlite3.OperationalError:
                    errors[index] += 1
                    if db.in_transaction:
                        db.execute("ROLLBACK")
        finally:
            db.close()

    def _write_transaction(
        self, db: sqlite3.Connection, rng: random.Random, mix: WorkloadMix, batch: int, latencies: list[float]
    ) -> None:
        begin = time.perf_counter()
        inserts = sum(rng.random() < mix.inserts / (mix.inserts + mix.updates) for _ in range(batch))
        db.execute("BEGIN IMMEDIATE")
        if inserts:
            db.executemany(
                "INSERT OR REPLACE INTO items (id, k, payload, v) VALUES (?, ?, ?, ?)",
                [(rng.randrange(1, self.rows + 1), rng.randrange(1_000_000), _payload(rng), rng.random())
                 for _ in range(inserts)],
            )  # fmt: skip
        if batch - inserts:
            db.executemany(
                "UPDATE items SET v = ?, payload = ? WHERE id = ?",
                [(rng.random(), _payload(rng), rng.randrange(1, self.rows)) for _ in range(batch - inserts)],
            )
        db.execute("COMMIT")
        elapsed = time.perf_counter() - begin
        latencies.extend([elapsed] * batch)


def _payload(rng: random.Random) -> str:
    return "x" * rng.randrange(50, 400)
