"""examples/postgres: `oppertune tune` drives a real PostgreSQL through ALTER SYSTEM, restarts and pgbench."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_cluster import PostgresCluster

from oppertune.tune.history import RunStore
from oppertune.tune.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "postgres" / "spec.yaml"
SCRIPT = ROOT / "examples" / "postgres" / "apply_and_bench.py"


def psql(dsn: str, sql: str) -> list[list[str]]:
    out = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql],
                         capture_output=True, text=True, check=True, timeout=30)  # fmt: skip
    return [line.split("|") for line in out.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def bench_dsn() -> Iterator[str]:
    """A server of its own (the rounds restart it), with an empty database for pgbench."""
    cluster = PostgresCluster().start()
    try:
        psql(cluster.dsn, "CREATE DATABASE pgbench")
        yield cluster.dsn.rsplit("/", 1)[0] + "/pgbench"
    finally:
        cluster.stop()


def script(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--dsn", dsn, *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_tune_applies_the_rounds_configuration_to_the_server(bench_dsn: str, tmp_path: Path) -> None:
    # The spec's own command, with a short benchmark on a small table set.
    command = [*load_spec(SPEC).run.command, "--seconds", "1", "--scale", "1", "--dsn", bench_dsn]
    state = tmp_path / "run.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "oppertune.cli", "tune", str(SPEC), "--rounds", "3", "--state", str(state),
         "--", *command],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    with RunStore.open_existing(state) as store:
        rounds = store.rounds()
    assert [r.round for r in rounds] == [1, 2, 3]
    assert rounds[-1].ok, [r.message for r in rounds]
    assert all(r.metrics["tps"] > 0 and r.metrics["latency_ms"] > 0 for r in rounds if r.ok)

    c = rounds[-1].configuration
    expected = {  # pg_settings.setting is in the parameter's base unit (8kB pages, kB, ms, us)
        "shared_buffers": str(c["shared_buffers_mb"] * 128),
        "work_mem": str(c["work_mem_mb"] * 1024),
        "effective_io_concurrency": str(c["effective_io_concurrency"]),
        "random_page_cost": c["random_page_cost"],
        "synchronous_commit": c["synchronous_commit"],
        "wal_compression": c["wal_compression"],
        "checkpoint_completion_target": c["checkpoint_completion_target"],
        "wal_buffers": str(c["wal_buffers_mb"] * 128),
        "commit_delay": str(c["commit_delay_us"]),
        "wal_writer_delay": str(c["wal_writer_delay_ms"]),
    }
    names = ",".join(f"'{name}'" for name in expected)
    rows = psql(bench_dsn, f"SELECT name, setting, pending_restart FROM pg_settings WHERE name IN ({names})")
    actual = {name: (float(v) if isinstance(expected[name], float) else v) for name, v, _ in rows}
    assert actual == pytest.approx(expected)
    assert all(pending == "f" for _, _, pending in rows)
    assert c != {p.name: p.val for p in load_spec(SPEC).parameters}  # the tuner moved off the defaults


def test_a_restart_setting_restarts_the_server(bench_dsn: str) -> None:
    done = script(bench_dsn, "--set", "shared_buffers=48MB", "--apply-only")
    assert done.returncode == 0, done.stderr
    assert "restarting: shared_buffers changed" in done.stderr
    assert psql(bench_dsn, "SHOW shared_buffers") == [["48MB"]]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("work_mem=banana", 'invalid value for parameter "work_mem": "banana"'),
        ("no_such_parameter=1", 'unrecognized configuration parameter "no_such_parameter"'),
    ],
)
def test_a_refused_setting_fails_the_round_and_changes_nothing(bench_dsn: str, setting: str, message: str) -> None:
    before = psql(bench_dsn, "SELECT name, setting FROM pg_file_settings ORDER BY seqno")
    done = script(bench_dsn, "--set", "random_page_cost=1.5", "--set", setting, "--seconds", "1")
    assert done.returncode == 1 and done.stdout == ""
    assert "PostgreSQL refused the settings" in done.stderr and message in done.stderr
    assert "previous postgresql.auto.conf was restored" in done.stderr
    assert psql(bench_dsn, "SELECT name, setting FROM pg_file_settings ORDER BY seqno") == before


def test_a_server_that_will_not_start_gets_its_previous_settings_back(bench_dsn: str) -> None:
    done = script(bench_dsn, "--set", "shared_preload_libraries=no_such_library", "--apply-only")
    assert done.returncode == 1
    assert "the server did not restart" in done.stderr and "no_such_library" in done.stderr
    assert "previous postgresql.auto.conf was restored" in done.stderr
    # Up again, without the bad setting.
    assert psql(bench_dsn, "SELECT current_setting('shared_preload_libraries') = ''") == [["t"]]
