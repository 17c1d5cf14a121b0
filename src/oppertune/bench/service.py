"""Round trips per second of the tuning service, next to Optuna's RDB storage on the same database.

Run: ``python -m oppertune.bench.service [--quick] [--postgres-url URL]``. Prints a table; asserts nothing.

For each database (a SQLite file; PostgreSQL: ``--postgres-url`` or a throwaway cluster started with
``tests/postgres_cluster.py`` from a source checkout), with 1 and 2 ``oppertune serve`` processes on
loopback ports, ``C`` clients (1, 8, 32) each run predict + set_reward rounds on a tuner of their own
through `RemoteTuner` (so every round trip is a learning round, each call with its idempotency key).
The yardstick, in the same run: ``C`` Optuna workers each run ask + tell on a study of their own in
an ``RDBStorage`` on the same database, with the RandomSampler (so the cost measured is the
storage's, not a sampler's) over the same mixed space. Load generators are spread over one process
per started 16 clients (threads inside), the same way for both.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SEED_PARAMETERS = [
    {"type": "categorical", "name": "p1", "val": "medium", "categories": ["low", "medium", "high"]},
    {"type": "integer", "name": "p2", "val": 100, "min": 100, "max": 900, "step": 100},
    {"type": "real", "name": "p3", "val": 0.45, "min": 0.0, "max": 1.0},
]
SEED_HYBRID_ARGS = {
    "categorical_algorithm": "exponential_weights_slates",
    "categorical_algorithm_args": {"random_seed": 123},
    "numerical_algorithm": "bluefin",
    "numerical_algorithm_args": {"feedback": 2, "eta": 0.01, "delta": 0.1, "random_seed": 123},
}
CLIENTS_PER_PROCESS = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reward(prediction: dict[str, Any]) -> float:
    return 1.0 - (prediction["p3"] - 0.7) ** 2 - abs(prediction["p2"] - 500) / 1000


# ---------------------------------------------------------------------- load generators (one per process)
def _oppertune_load(urls: list[str], tuner_ids: list[str], api_key: str, start: float, seconds: float) -> float:
    from oppertune.service.client import RemoteTuner

    counts = [0] * len(tuner_ids)
    tuners = [RemoteTuner(urls[i % len(urls)], t, api_key) for i, t in enumerate(tuner_ids)]
    for tuner in tuners:  # warm up (connection, server-side cache) before the clock starts
        prediction, _ = tuner.predict()
        tuner.set_reward(_reward(prediction))

    def run(i: int) -> None:
        tuner = tuners[i]
        while time.time() < start:
            time.sleep(0.001)
        while time.time() < start + seconds:
            prediction, _ = tuner.predict()
            tuner.set_reward(_reward(prediction))
            counts[i] += 1

    _run_threads(run, len(tuners))
    for tuner in tuners:
        tuner.close()
    return sum(counts) / seconds


def _optuna_load(url: str, study_names: list[str], start: float, seconds: float) -> float:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = {
        "p1": CategoricalDistribution(["low", "medium", "high"]),
        "p2": IntDistribution(100, 900, step=100),
        "p3": FloatDistribution(0.0, 1.0),
    }
    storage = optuna.storages.RDBStorage(url, engine_kwargs=_optuna_engine_kwargs(url, len(study_names)))
    studies = [
        optuna.load_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=i))
        for i, name in enumerate(study_names)
    ]
    for study in studies:  # warm up before the clock starts, as the oppertune clients do
        trial = study.ask(space)
        study.tell(trial, _reward(trial.params))
    counts = [0] * len(studies)
    failures = [0]

    def run(i: int) -> None:
        study = studies[i]
        while time.time() < start:
            time.sleep(0.001)
        while time.time() < start + seconds:
            try:
                trial = study.ask(space)
                study.tell(trial, _reward(trial.params))
            except Exception:  # e.g. "database is locked" under SQLite write contention
                failures[0] += 1
                continue
            counts[i] += 1

    _run_threads(run, len(studies))
    return sum(counts) / seconds


def _optuna_engine_kwargs(url: str, threads: int) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_size": threads, "max_overflow": threads}


def _run_threads(target: Any, n: int) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _spread(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + CLIENTS_PER_PROCESS] for i in range(0, len(items), CLIENTS_PER_PROCESS)]


def _in_processes(function: Any, shares: list[tuple[Any, ...]], seconds: float) -> float:
    """Run ``function(*share, start, seconds)`` in one process per share, all starting together."""
    context = multiprocessing.get_context("spawn")
    start = time.time() + 3.0 + len(shares)  # leaves time to import and connect
    with context.Pool(len(shares)) as pool:
        results = [pool.apply_async(function, (*share, start, seconds)) for share in shares]
        return sum(r.get(timeout=seconds + 120) for r in results)


# ---------------------------------------------------------------------- servers and databases
class _Servers:
    """``oppertune serve`` processes on loopback ports, all on one database."""

    def __init__(self, db: str, count: int) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []
        for _ in range(count):
            port = _free_port()
            command = [sys.executable, "-m", "oppertune.cli", "serve", "--db", db, "--port", str(port)]
            self.processes.append(
                subprocess.Popen(
                    [*command, "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
            self.urls.append(f"http://127.0.0.1:{port}")
        import httpx

        for url, process in zip(self.urls, self.processes):
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the server at {url} did not start")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                        break
                time.sleep(0.05)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _postgres_cluster() -> Any:
    path = Path(__file__).resolve().parents[3] / "tests" / "postgres_cluster.py"
    if not path.exists():
        raise SystemExit("No PostgreSQL: pass --postgres-url (tests/postgres_cluster.py exists only in a checkout).")
    spec = importlib.util.spec_from_file_location("_oppertune_postgres_cluster", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PostgresCluster().start()


def _fresh_postgres_database(admin_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


# ---------------------------------------------------------------------- one measurement each
def measure_oppertune(db: str, servers: int, clients: int, seconds: float) -> float:
    """Round trips (predict + set_reward) per second of ``clients`` clients through ``servers`` servers."""
    from oppertune.service.client import RemoteTuner
    from oppertune.service.storage import Storage

    storage = Storage(db)
    storage.migrate()
    api_key = storage.create_api_key("bench")
    storage.close()
    running = _Servers(db, servers)
    try:
        ids = []
        for i in range(clients):
            with RemoteTuner.create(running.urls[0], api_key, f"bench-{i}", SEED_PARAMETERS,
                                    algorithm_args=SEED_HYBRID_ARGS) as tuner:  # fmt: skip
                ids.append(tuner.tuner_id)
        shares = [(running.urls, share, api_key) for share in _spread(ids)]
        return _in_processes(_oppertune_load, shares, seconds)
    finally:
        running.stop()


def measure_optuna(db: str, clients: int, seconds: float) -> float:
    """Ask + tell per second of ``clients`` Optuna workers, each on its own study, in one RDBStorage."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.RDBStorage(db, engine_kwargs=_optuna_engine_kwargs(db, 1))
    names = []
    for i in range(clients):
        name = f"bench-{time.time_ns()}-{i}"
        optuna.create_study(study_name=name, storage=storage, direction="maximize")
        names.append(name)
    storage.engine.dispose()
    return _in_processes(_optuna_load, [(db, share) for share in _spread(names)], seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Shorter runs (1.5 s per cell instead of 4 s).")
    parser.add_argument("--seconds", type=float, default=None, help="Seconds measured per cell.")
    parser.add_argument("--clients", default="1,8,32", help="Comma-separated client counts.")
    parser.add_argument("--postgres-url", default=None, help="An admin URL of a PostgreSQL server to use.")
    parser.add_argument("--skip-postgres", action="store_true", help="Measure SQLite only.")
    args = parser.parse_args(argv)
    seconds = args.seconds or (1.5 if args.quick else 4.0)
    client_counts = [int(c) for c in args.clients.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="oppertune-bench-"))
    cluster = None
    backends: list[tuple[str, Any]] = [("sqlite", lambda tag: f"sqlite:///{workdir / (tag + '.db')}")]
    if not args.skip_postgres:
        admin = args.postgres_url
        if admin is None:
            cluster = _postgres_cluster()
            admin = cluster.url
        backends.append(("postgresql", lambda tag: _fresh_postgres_database(admin, f"oppertune_bench_{tag}")))

    print(
        f"Tuning service round trips/s (predict + set_reward), loopback, {os.cpu_count()} cores, {seconds:g} s a cell"
    )
    print("yardstick: Optuna ask + tell/s (RandomSampler, RDBStorage) on the same database, same concurrency\n")
    header = f"{'database':<11} {'servers':>7} {'clients':>7} {'oppertune/s':>12} {'optuna/s':>9} {'ratio':>7}"
    print(f"load average (1, 5, 15 min) at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(header)
    print("-" * len(header))
    try:
        for backend, make_db in backends:
            for clients in client_counts:  # the yardstick right before, so both see the same machine load
                yardstick = measure_optuna(make_db(f"optuna_{clients}"), clients, seconds)
                for servers in (1, 2):
                    rate = measure_oppertune(make_db(f"svc_{servers}_{clients}"), servers, clients, seconds)
                    ratio = f"{rate / yardstick:.1f}x" if yardstick > 0 else "-"
                    print(f"{backend:<11} {servers:>7} {clients:>7} {rate:>12.0f} {yardstick:>9.0f} {ratio:>7}",
                          flush=True)  # fmt: skip
        print(f"\nload average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        if cluster is not None:
            cluster.stop()
        for path in workdir.glob("*"):
            path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()
