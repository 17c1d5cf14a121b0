"""`oppertune demo` on a real SQLite database, in a short run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rich.console import Console

from oppertune.core.values import to_value
from oppertune.targets.demo import run_demo
from oppertune.targets.sqlite_workload import KNOBS, READ_HEAVY, WRITE_HEAVY, SQLiteTarget


def test_short_demo_runs_every_phase(tmp_path: Path) -> None:
    seen: list[tuple[int, float]] = []
    result = run_demo(rounds=5, seed=1, out=tmp_path, seconds_per_round=0.15, console=Console(quiet=True),
                      on_round=lambda n, r: seen.append((n, r)))  # fmt: skip
    assert [p.mix for p in result.phases] == [READ_HEAVY, WRITE_HEAVY, READ_HEAVY]
    assert [n for n, _ in seen] == list(range(1, 16))
    knobs = {k["name"]: to_value(k) for k in KNOBS}
    for phase in result.phases:
        assert len(phase.rewards) == 5 and all(r >= 0 for r in phase.rewards)
        assert phase.before is not None and phase.after is not None
        assert phase.before.operations > 0 and phase.after.operations > 0
        assert set(phase.best_configuration) == set(knobs)
    assert result.plot is not None and result.plot.stat().st_size > 1000


def test_target_really_reconfigures(tmp_path: Path) -> None:
    target = SQLiteTarget(tmp_path, rows=500, threads=2, seed=0)
    target.setup()
    config = {k["name"]: k["val"] for k in KNOBS}
    target.apply({**config, "journal_mode": "WAL", "page_size": 8192})
    import sqlite3

    with sqlite3.connect(target.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA page_size").fetchone()[0] == 8192
        assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 500
    measurement = target.measure(WRITE_HEAVY, 0.2)
    assert measurement.operations > 0 and measurement.p95_ms > 0
    with sqlite3.connect(target.path) as db:
        assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 500  # upserts keep the size


def test_demo_command_help() -> None:
    result = subprocess.run([sys.executable, "-m", "oppertune.cli", "demo", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for option in ("--rounds", "--seed", "--out", "--seconds"):
        assert option in result.stdout
