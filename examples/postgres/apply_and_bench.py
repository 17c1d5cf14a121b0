#!/usr/bin/env python3
"""Apply PostgreSQL settings with ALTER SYSTEM, reload (or restart), run pgbench, print one JSON line.

The program behind ``examples/postgres/spec.yaml``: ``oppertune tune`` runs it once per round with
that round's configuration. It needs only the Python standard library and PostgreSQL's programs:
``psql`` and ``pgbench``, and ``pg_ctl`` when a setting needs a restart.

    python3 apply_and_bench.py --set work_mem=8MB --set shared_buffers=256MB --seconds 5

The connection comes from ``--dsn`` or libpq's variables (PGHOST, PGPORT, PGUSER, PGDATABASE,
PGPASSWORD); the role must be allowed to run ALTER SYSTEM (a superuser). One round:

1. ``ALTER SYSTEM SET`` each setting, then ``pg_reload_conf()`` and wait until the server has reloaded;
2. restart with ``pg_ctl restart`` (as the owner of the data folder when run as root) only when
   ``pg_settings.pending_restart`` says so;
3. create the pgbench tables when they are missing (``pgbench -i``), warm up, run ``pgbench``;
4. print ``{"tps": ..., "latency_ms": ..., "restarted": 0 or 1}``.

A refused setting, a server that will not restart, or a failed benchmark exits non-zero with the
reason on stderr. A refused setting or a failed restart puts the previous ``postgresql.auto.conf``
back (when this program can read the data folder), so a bad round does not leave the server down.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

__all__ = ["BenchError", "main", "parse_pgbench"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
# Sources that take precedence over postgresql.auto.conf: ALTER SYSTEM cannot change such a setting.
_OVERRIDING_SOURCES = {"command line", "global", "database", "user", "database user", "client"}


class BenchError(Exception):
    """A round that cannot produce metrics; the message is printed on stderr."""


def _setting(text: str) -> tuple[str, str]:
    """Parse ``NAME=VALUE`` (an argparse type)."""
    name, sep, value = text.partition("=")
    if not sep or not _NAME.fullmatch(name.strip()):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with a PostgreSQL parameter name, got {text!r}")
    return name.strip(), value.strip()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="libpq connection string or URL (default: the PG* environment variables)")
    parser.add_argument("--set", dest="settings", metavar="NAME=VALUE", type=_setting, action="append", default=[],
                        help="a setting to apply with ALTER SYSTEM, e.g. work_mem=8MB (repeatable)")  # fmt: skip
    parser.add_argument("--seconds", type=int, default=5, help="pgbench duration (-T) [5]")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of pgbench before the measurement; 0: none [1]")
    parser.add_argument("--clients", type=int, default=4, help="pgbench clients (-c) [4]")
    parser.add_argument("--jobs", type=int, help="pgbench threads (-j) [min(clients, CPUs)]")
    parser.add_argument("--builtin", default="tpcb-like", help="pgbench built-in script (-b) [tpcb-like]")
    parser.add_argument("--scale", type=int, help="pgbench scale; (re)initialise when it differs [10 when missing]")
    parser.add_argument("--pgdata", type=Path, help="the server's data folder [SHOW data_directory]")
    parser.add_argument("--bindir", type=Path, help="folder of pg_ctl [pg_config --bindir]")
    parser.add_argument("--restart-command", help="restart with this command instead of pg_ctl "
                        "(e.g. 'pg_ctlcluster 15 main restart'); split like a shell, no shell features")  # fmt: skip
    parser.add_argument("--apply-only", action="store_true", help="apply the settings and exit without benchmark")
    return parser


# ----------------------------------------------------------------------------------------- running programs
def _env() -> dict[str, str]:
    return {**os.environ, "PGAPPNAME": "oppertune-postgres-example", "PGCONNECT_TIMEOUT": "10"}


def _tail(text: str, lines: int = 4) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def psql(dsn: str | None, sql: str, variables: dict[str, str] | None = None, timeout: float = 60) -> list[list[str]]:
    """Run SQL statements one by one (stdin script, stop at the first error); the result rows, split on ``|``."""
    command = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    for name, value in (variables or {}).items():
        command += ["-v", f"{name}={value}"]
    if dsn:
        command += ["-d", dsn]
    try:
        done = subprocess.run(command, input=sql, capture_output=True, text=True, timeout=timeout, env=_env())
    except FileNotFoundError:
        raise BenchError("psql not found on PATH; install PostgreSQL's client programs") from None
    except subprocess.TimeoutExpired:
        raise BenchError(f"psql did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        raise BenchError(_tail(done.stderr) or f"psql exited with code {done.returncode}")
    return [line.split("|") for line in done.stdout.splitlines() if line]


def _pg_ctl(bindir: Path | None) -> Path:
    """The pg_ctl program: in --bindir, pg_config's bindir, on PATH, or the newest under /usr/lib/postgresql."""
    if bindir is not None:
        return bindir / "pg_ctl"
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        if found and (Path(found) / "pg_ctl").exists():
            return Path(found) / "pg_ctl"
    if on_path := shutil.which("pg_ctl"):
        return Path(on_path)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not candidates:
        raise BenchError("pg_ctl not found (needed for a restart); pass --bindir or --restart-command")
    return candidates[-1]


def _server_log(pgdata: Path) -> Path:
    """Where the running server writes its output (pg_ctl -l), so a restart keeps logging there."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        target = Path(os.readlink(f"/proc/{pid}/fd/1"))
        if target.is_file():
            return target
    except (OSError, ValueError, IndexError):
        pass
    return pgdata / "oppertune-restart.log"


def restart(pgdata: Path, log: Path, bindir: Path | None, restart_command: str | None, dsn: str | None) -> None:
    """Restart the server (its output to ``log``) and wait until it accepts connections."""
    if restart_command:
        command = shlex.split(restart_command)
    else:
        command = [str(_pg_ctl(bindir)), "restart", "-D", str(pgdata), "-m", "fast", "-w", "-t", "120", "-l", str(log)]
        if os.geteuid() == 0:  # the server refuses to run as root: act as the owner of the data folder
            owner = pwd.getpwuid(pgdata.stat().st_uid).pw_name
            command = ["runuser", "-u", owner, "--", *command]
    try:
        log_start = log.stat().st_size
    except OSError:
        log_start = 0
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"restart failed: {exc}") from None
    if done.returncode != 0:
        detail = _tail(done.stderr) or _tail(done.stdout)
        if not restart_command and (log_text := _read_from(log, log_start)):
            errors = [line for line in log_text.splitlines() if re.search(r"\b(FATAL|PANIC):", line)]
            detail += " | server log: " + _tail("\n".join(errors) or log_text, 2)
        raise BenchError(f"the server did not restart: {detail}")
    deadline = time.monotonic() + 120
    while True:
        try:
            psql(dsn, "SELECT 1;", timeout=15)
            return
        except BenchError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _read_from(path: Path, offset: int) -> str:
    """The text of ``path`` after byte ``offset`` ('' when unreadable)."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read().decode(errors="replace")
    except OSError:
        return ""


# ----------------------------------------------------------------------------------------- applying settings
def apply_settings(args: argparse.Namespace) -> bool:
    """Apply ``args.settings``; returns whether the server was restarted."""
    dsn = args.dsn
    settings = dict(args.settings)  # the last value of a repeated name wins
    [[data_directory]] = psql(dsn, "SELECT current_setting('data_directory');")
    pgdata: Path = args.pgdata or Path(data_directory)
    auto_conf = pgdata / "postgresql.auto.conf"
    snapshot = _read(auto_conf)  # None when the server is not on this machine (or not readable)

    variables = {f"v{i}": value for i, value in enumerate(settings.values())}
    statements = [f"ALTER SYSTEM SET {name} = :'v{i}';" for i, name in enumerate(settings)]
    script = "SELECT extract(epoch FROM pg_conf_load_time());\n" + "\n".join(statements)
    script += "\nSELECT pg_reload_conf();\n"
    try:
        rows = psql(dsn, script, variables)
    except BenchError as exc:
        restored = _restore(auto_conf, snapshot)
        raise BenchError(f"PostgreSQL refused the settings: {exc}{restored}") from None
    loaded_before = Decimal(rows[0][0])

    pending = _wait_for_reload(dsn, loaded_before)
    restarted = False
    if pending:
        print(f"restarting: {', '.join(pending)} changed", file=sys.stderr)
        log = _server_log(pgdata)
        try:
            restart(pgdata, log, args.bindir, args.restart_command, dsn)
        except BenchError as exc:
            restored = _restore(auto_conf, snapshot)
            if snapshot is not None:
                try:
                    restart(pgdata, log, args.bindir, args.restart_command, dsn)
                except BenchError as again:
                    restored += f"; the restart with them failed too: {again}"
            raise BenchError(f"{exc}{restored}") from None
        restarted = True
    if settings:
        _check_effective(dsn, list(settings))
    return restarted


def _restore(auto_conf: Path, snapshot: str | None) -> str:
    """Put postgresql.auto.conf back; a note for the error message."""
    if snapshot is None:
        return " (the previous postgresql.auto.conf could not be read, so it was not restored)"
    try:
        auto_conf.write_text(snapshot)
    except OSError as exc:
        return f" (restoring postgresql.auto.conf failed: {exc.strerror})"
    return " (the previous postgresql.auto.conf was restored)"


def _wait_for_reload(dsn: str | None, loaded_before: Decimal, timeout: float = 10.0) -> list[str]:
    """Wait until new connections see the reloaded configuration; the settings pending a restart."""
    query = "SELECT extract(epoch FROM pg_conf_load_time()), string_agg(name, ',' ORDER BY name) " \
            "FILTER (WHERE pending_restart) FROM pg_settings;"  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        [[loaded, pending]] = psql(dsn, query)
        if Decimal(loaded) > loaded_before:
            return [name for name in pending.split(",") if name]
        if time.monotonic() > deadline:
            raise BenchError(f"the server did not reload its configuration within {timeout:g} s")
        time.sleep(0.05)


def _check_effective(dsn: str | None, names: list[str]) -> None:
    """Fail when a setting is overridden by a source ALTER SYSTEM cannot beat (command line, ALTER DATABASE, ...)."""
    rows = psql(dsn, "SELECT name, source FROM pg_settings WHERE name = ANY(string_to_array(:'names', ','));",
                {"names": ",".join(names)})  # fmt: skip
    overridden = [f"{name} (set by {source})" for name, source in rows if source in _OVERRIDING_SOURCES]
    if overridden:
        raise BenchError("ALTER SYSTEM cannot change " + ", ".join(overridden) + "; remove those overrides first")


# ----------------------------------------------------------------------------------------- benchmark
def parse_pgbench(output: str) -> dict[str, float]:
    """TPS (without connection time) and average latency in ms from pgbench's report."""
    tps = re.search(r"^tps = ([0-9.]+) \((?:without|excluding)", output, re.MULTILINE) or re.search(
        r"^tps = ([0-9.]+)", output, re.MULTILINE
    )
    latency = re.search(r"^latency average = ([0-9.]+) ms", output, re.MULTILINE)
    if tps is None or latency is None:
        raise BenchError(f"could not read tps and latency from pgbench's output: {_tail(output)}")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1))}


def _pgbench(dsn: str | None, *arguments: str, timeout: float) -> str:
    command = ["pgbench", *arguments, *([dsn] if dsn else [])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_env())
    except FileNotFoundError:
        raise BenchError("pgbench not found on PATH; install PostgreSQL's client programs") from None
    except subprocess.TimeoutExpired:
        raise BenchError(f"pgbench did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        raise BenchError(f"pgbench failed: {_tail(done.stderr) or _tail(done.stdout)}")
    return done.stdout + done.stderr


def ensure_tables(dsn: str | None, scale: int | None) -> None:
    """Create the pgbench tables when missing, or when ``scale`` is given and differs from theirs."""
    [[present]] = psql(dsn, "SELECT to_regclass('pgbench_branches') IS NOT NULL "
                            "AND to_regclass('pgbench_accounts') IS NOT NULL;")  # fmt: skip
    if present == "t":
        [[branches]] = psql(dsn, "SELECT count(*) FROM pgbench_branches;")
        if scale is None or int(branches) == scale:
            return
    scale = scale or 10
    print(f"initialising the pgbench tables at scale {scale}", file=sys.stderr)
    _pgbench(dsn, "-i", "-q", "-s", str(scale), timeout=3600)


def benchmark(args: argparse.Namespace) -> dict[str, float]:
    """Warm up, then measure; pgbench's TPS and latency."""
    jobs = args.jobs or max(1, min(args.clients, os.cpu_count() or 1))
    common = ["-b", args.builtin, "-c", str(args.clients), "-j", str(jobs)]
    if args.warmup > 0:
        _pgbench(args.dsn, *common, "-T", str(args.warmup), timeout=args.warmup + 120)
    return parse_pgbench(_pgbench(args.dsn, *common, "-T", str(args.seconds), timeout=args.seconds + 120))


def main(argv: list[str] | None = None) -> int:
    """Apply, benchmark, print the JSON line; 1 with a message on stderr when the round fails."""
    args = _parser().parse_args(argv)
    if args.seconds < 1 or args.warmup < 0 or args.clients < 1 or (args.jobs is not None and args.jobs < 1):
        print("error: --seconds, --clients and --jobs must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    try:
        restarted = apply_settings(args)
        if args.apply_only:
            return 0
        ensure_tables(args.dsn, args.scale)
        metrics = benchmark(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({**metrics, "restarted": int(restarted)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
