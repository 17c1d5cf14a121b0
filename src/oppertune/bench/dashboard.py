"""Dashboard render times in a real browser: the list of 1,000 tuners, and a tuner with 100,000 rounds.

    python -m oppertune.bench.dashboard [--tuners 1000] [--rounds 100000] [--repeat 5] [--screenshots docs/]

Seeds a fresh SQLite database (in a temporary folder) with real tuners: each is run by the library
in this process against a synthetic service model, then stored as the service stores it (state,
rounds with the rails' decisions, last and best reward). Starts ``oppertune serve`` on it with an
API key, signs in through the login form in Debian's Chromium (driven by Playwright) and prints
the times the pages report (``performance.now()`` around fetch and render, the layout included)
and the wall time Playwright sees from the action to the drawn page. ``--screenshots DIR`` also
writes the README's screenshots. Needs the ``server`` and ``test`` extras and ``/usr/bin/chromium``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from oppertune.algorithms import TuningInstance
from oppertune.algorithms.guarded import Guarded
from oppertune.core.types import Context

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "QUEUE_PARAMETERS",
    "launch_chromium",
    "queue_reward",
    "seed",
    "seed_tuner",
    "sign_in",
    "wait_until",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
"""Debian's Chromium, headless, as root, on a machine without outside network (no background calls)."""

QUEUE_PARAMETERS = [
    {"type": "integer", "name": "workers", "val": 8, "min": 1, "max": 64},
    {"type": "real", "name": "cache_mb", "val": 128.0, "min": 16.0, "max": 1024.0},
    {"type": "categorical", "name": "policy", "val": "fifo", "categories": ["fifo", "lru", "lfu"]},
]
JOB_PARAMETERS = [
    {"type": "integer", "name": "batch_size", "val": 32, "min": 1, "max": 256},
    {"type": "real", "name": "timeout_s", "val": 5.0, "min": 0.5, "max": 30.0},
]
JOB_TYPES = ["web", "batch", "etl", "ml"]
_JOB_OPTIMA = {"web": (8, 2.0), "batch": (200, 25.0), "etl": (180, 20.0), "ml": (64, 10.0)}


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium through Playwright (never a browser Playwright downloads)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


# ---------------------------------------------------------------------- synthetic workloads
def queue_reward(
    configuration: Mapping[str, Any], context: Mapping[str, Any] | None, round: int, rng: random.Random
) -> float:
    """A service's score: best near 24 workers and 400 MB of LFU cache; over 48 workers it thrashes.

    From round 600 on the load grows by half: the optimum moves and every score drops (a drift).
    """
    load = 1.0 if round < 600 else 1.5
    workers, cache = configuration.get("workers", 8), configuration.get("cache_mb", 128.0)
    score = 1.0 - ((workers - 24 * load) / 40) ** 2 - ((cache - 400) / 900) ** 2
    score += {"fifo": 0.0, "lru": 0.08, "lfu": 0.12}[configuration.get("policy", "fifo")]
    if workers > 48:
        score -= 0.9  # thrashing
    return score * (0.8 if load > 1 else 1.0) + rng.gauss(0, 0.03)


def job_reward(
    configuration: Mapping[str, Any], context: Mapping[str, Any] | None, round: int, rng: random.Random
) -> float:
    """Each job type has its own best batch size and timeout."""
    batch, timeout = _JOB_OPTIMA[(context or {}).get("jobtype", "web")]
    score = (
        1.0 - ((configuration["batch_size"] - batch) / 256) ** 2 - ((configuration["timeout_s"] - timeout) / 30) ** 2
    )
    return score + rng.gauss(0, 0.02)


def random_job(rng: random.Random, _round: int) -> dict[str, Any]:
    """A context: one of the job types."""
    return {"jobtype": rng.choice(JOB_TYPES)}


# ---------------------------------------------------------------------- seeding
def seed_tuner(
    storage: Any,
    project: str,
    name: str,
    parameters: list[dict[str, Any]],
    *,
    algorithm: str = "hybrid_solver",
    algorithm_args: Mapping[str, Any] | None = None,
    safety: Mapping[str, Any] | None = None,
    rounds: int = 100,
    reward: Callable[..., float] = queue_reward,
    contexts: Callable[[random.Random, int], dict[str, Any]] | None = None,
    seed: int = 0,
    ended_at: float | None = None,
    seconds_per_round: float = 1.0,
    then: Callable[[TuningInstance], Any] | None = None,
) -> str:
    """Create a tuner in ``storage`` and give it ``rounds`` real rounds, played by the library in this process.

    The tuner is created through the storage (as ``POST /v1/tuners`` does), run locally (predict,
    the rails' decision, ``reward(configuration, context, round, rng)``, set_reward), then its
    state and rounds are written as the service writes them, in one transaction. ``then`` may act
    on the tuner at the end (e.g. ``Guarded.freeze``). Returns the tuner's id.
    """
    from sqlalchemy import insert, update

    from oppertune.service.storage import rounds as rounds_table
    from oppertune.service.storage import tuners

    args = {"random_seed": seed, **(algorithm_args or {})}
    tuner_id = storage.create_tuner(project, name, parameters, algorithm, args, safety=safety)["id"]
    instance = TuningInstance.loads(storage.read_state(project, tuner_id)[1])
    rng = random.Random(seed)
    ended_at = time.time() if ended_at is None else ended_at
    started_at = ended_at - rounds * seconds_per_round
    rows = []
    for number in range(1, rounds + 1):
        data = contexts(rng, number) if contexts is not None else None
        context = Context(data) if data else None
        prediction, request_id = instance.predict(context)
        request = next(q for q in instance.get_tuning_requests() if q.id == request_id)
        value = reward(prediction, data, number, rng)
        instance.set_reward(value, request.context.id)
        rows.append(
            {
                "tuner_seq": None, "round": number, "context_id": request.context.id, "context": _dumps(data or {}),
                "prediction": _dumps(prediction), "reward": value, "n_rewards": 0,
                "at": started_at + number * seconds_per_round,
                "metadata": None if request.metadata is None else _dumps(request.metadata),
            }
        )  # fmt: skip
    if then is not None:
        then(instance)
    rewards = [r["reward"] for r in rows]
    with storage.engine.begin() as conn:
        seq = conn.execute(tuners.select().with_only_columns(tuners.c.seq).where(tuners.c.id == tuner_id)).scalar()
        conn.execute(
            update(tuners)
            .where(tuners.c.seq == seq)
            .values(
                state=instance.dumps(), version=2, iteration=instance.iteration, created_at=started_at,
                updated_at=ended_at,
                status=instance.status if isinstance(instance, Guarded) else "exploring",
                last_reward=rewards[-1] if rewards else None, best_reward=max(rewards) if rewards else None,
            )
        )  # fmt: skip
        for start in range(0, len(rows), 10_000):
            chunk = rows[start : start + 10_000]
            for row in chunk:
                row["tuner_seq"] = seq
            conn.execute(insert(rounds_table), chunk)
    return tuner_id


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def _replicas_reporting(tuner: TuningInstance) -> None:
    """Leave a round open with three replicas serving it, two of which have stored a reward."""
    rng = random.Random(0)
    requests = [tuner.predict()[1] for _ in range(3)]
    for request_id in requests[:2]:
        tuner.store_reward(request_id, 0.8 + rng.gauss(0, 0.03))


def seed(storage: Any, project: str, tuners: int, big_rounds: int, seed: int = 0) -> dict[str, str]:
    """The benchmark's database: ``tuners`` tuners of many kinds and states, plus showcase tuners.

    Returns the ids of the showcase tuners: ``big`` (``big_rounds`` rounds with rails), ``rails``
    (a service tuned through a load change, with regressions, a drift and a rollback) and
    ``autoscope`` (per-job-type tuning with learned routing).
    """
    rng = random.Random(seed)
    now = time.time()
    ids = {}
    ids["rails"] = seed_tuner(
        storage, project, "checkout-latency", QUEUE_PARAMETERS, safety={"baseline_rounds": 3, "relative_margin": 0.15},
        rounds=900, seed=seed + 1, ended_at=now - 2, seconds_per_round=2.0, then=_replicas_reporting,
    )  # fmt: skip
    ids["autoscope"] = seed_tuner(
        storage, project, "job-runner (AutoScope)", JOB_PARAMETERS, algorithm="autoscope",
        algorithm_args={"features": [{"name": "jobtype", "values": JOB_TYPES}], "height": 2}, rounds=600,
        reward=job_reward, contexts=random_job, seed=seed + 2, ended_at=now - 5, safety={"baseline_rounds": 3},
    )  # fmt: skip
    if big_rounds:
        ids["big"] = seed_tuner(
            storage, project, "search-ranking (100k rounds)", QUEUE_PARAMETERS, safety={"baseline_rounds": 3},
            rounds=big_rounds, seed=seed + 3, ended_at=now - 1, seconds_per_round=0.5,
        )  # fmt: skip
    services = ["checkout", "search", "cart", "auth", "feed", "ads", "mail", "media", "billing", "ingest"]
    knobs = ["pool", "cache", "batching", "gc", "threads"]
    for i in range(max(0, tuners - len(ids))):
        algorithm = rng.choice(["hybrid_solver", "bluefin", "hybrid_solver", "exponential_weights_slates"])
        parameters = QUEUE_PARAMETERS if algorithm == "hybrid_solver" else QUEUE_PARAMETERS[:2]
        if algorithm == "exponential_weights_slates":
            parameters = QUEUE_PARAMETERS[2:]
        rails = rng.random() < 0.6
        action = rng.random()
        then = None
        if rails and action < 0.08:
            then = Guarded.freeze
        elif rails and action < 0.14:
            then = Guarded.rollback
        seed_tuner(
            storage, project, f"{rng.choice(services)}-{rng.choice(knobs)}-{i:04d}", parameters, algorithm=algorithm,
            safety={"baseline_rounds": 2} if rails else None, rounds=rng.randint(5, 60), seed=seed + 10 + i,
            ended_at=now - rng.expovariate(1 / 3600), seconds_per_round=rng.choice([1.0, 10.0, 60.0]), then=then,
        )  # fmt: skip
    return ids


# ---------------------------------------------------------------------- a server and a browser
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(db: str, log: Path | None = None) -> Iterator[str]:
    """``oppertune serve`` on ``db`` in a subprocess on a free loopback port; yields its URL."""
    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    command = [
        sys.executable,
        "-m",
        "oppertune.cli",
        "serve",
        "--db",
        db,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with code {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v1/health", timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 30 s")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if log:
            out.close()  # type: ignore[union-attr]


def sign_in(page: Any, url: str, key: str) -> None:
    """Open the dashboard and sign in through its login form."""
    page.goto(url + "/#/")
    page.fill("#login-key", key)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#tuners[data-renders]")


def wait_until(page: Any, expression: str, timeout: float = 20.0, poll: float = 0.01) -> Any:
    """Wait until the JS ``expression`` is truthy in the page and return its value.

    Playwright's ``wait_for_function`` evaluates strings inside the page, which the dashboard's
    Content-Security-Policy forbids (no ``unsafe-eval``); ``evaluate`` goes through the debugging
    protocol instead, so this polls with it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout} s: {expression}")
        time.sleep(poll)


def _timed(page: Any, action: Callable[[], Any], ready: str) -> tuple[float, dict[str, float]]:
    """Run ``action`` and wait for the JS condition ``ready``; wall milliseconds and the page's own timings."""
    started = time.perf_counter()
    action()
    wait_until(page, ready, timeout=60)
    wall = (time.perf_counter() - started) * 1000
    return wall, page.evaluate("window.oppertuneDashboard.timings")


def measure(page: Any, url: str, big_id: str, repeat: int) -> list[tuple[str, list[float], list[dict[str, float]]]]:
    """Time the list with every tuner on one page, and the big tuner's page with the server's cache warm."""
    results = []
    walls, timings = [], []
    for _ in range(repeat):
        page.goto(url + "/#/")
        page.wait_for_selector("#tuners[data-renders]")
        renders = page.evaluate("window.oppertuneDashboard.renders")
        wall, t = _timed(
            page,
            lambda: page.select_option("#page-size", "1000"),
            f"window.oppertuneDashboard.renders > {renders} && "
            "document.querySelector('#tuners').dataset.rows === '1000'",
        )
        walls.append(wall)
        timings.append(t["list"])
    results.append(("tuners list, 1,000 rows on one page", walls, timings))
    open_big(page, url, big_id)  # fills this server's cache of the history
    walls, timings = [], []
    for _ in range(repeat):
        wall, t = open_big(page, url, big_id)
        walls.append(wall)
        timings.append(t)
    results.append(("tuner page, 100,000 rounds, warm", walls, timings))
    return results


def open_big(page: Any, url: str, big_id: str) -> tuple[float, dict[str, float]]:
    """From the list, open the big tuner's page; wall and page timings of its first render."""
    page.goto(url + "/#/")
    page.wait_for_selector("#tuners[data-renders]")
    wall, t = _timed(
        page,
        lambda: page.evaluate(f"location.hash = '#/tuners/{big_id}'"),
        "document.querySelector('#tuner[data-renders]') !== null",
    )
    return wall, t["tuner"]


def main(argv: list[str] | None = None) -> None:
    """Seed, serve, measure in Chromium and print the table."""
    parser = argparse.ArgumentParser(prog="python -m oppertune.bench.dashboard", description=__doc__.split("\n")[0])
    parser.add_argument("--tuners", type=int, default=1000, help="tuners in the database (default 1000)")
    parser.add_argument("--rounds", type=int, default=100_000, help="rounds of the big tuner (default 100000)")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per warm case (default 5)")
    parser.add_argument("--cold", type=int, default=3, help="cold measurements, each on a new server (default 3)")
    parser.add_argument("--screenshots", type=Path, default=None, help="write the README's screenshots here")
    options = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from oppertune.service.storage import Storage

    with tempfile.TemporaryDirectory(prefix="oppertune-dashboard-") as folder:
        db = f"sqlite:///{Path(folder) / 'bench.db'}"
        storage = Storage(db)
        storage.migrate()
        key = storage.create_api_key("bench")
        started = time.perf_counter()
        ids = seed(storage, "bench", options.tuners, options.rounds)
        storage.close()
        print(f"seeded {options.tuners} tuners and one of {options.rounds:,} rounds in "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        log = Path(folder) / "server.log"
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            results = []
            if options.rounds:
                walls, timings = [], []
                for _ in range(options.cold):  # a new server each time: its cache of histories is empty
                    with serve(db, log) as url:
                        sign_in(page, url, key)
                        wall, t = open_big(page, url, ids["big"])
                        walls.append(wall)
                        timings.append(t)
                results.append(("tuner page, 100,000 rounds, new server (cold)", walls, timings))
            with serve(db, log) as url:
                sign_in(page, url, key)
                if options.screenshots is not None:
                    screenshots(page, url, ids, options.screenshots)
                if options.rounds:
                    results[:0] = measure(page, url, ids["big"], options.repeat)
            browser.close()
    print(f"\nChromium ({CHROMIUM}), {os.cpu_count()} cores. Medians in ms. page: performance.now() in the page "
          "around fetch + render (layout included); wall: Playwright, from the action to the drawn page.")  # fmt: skip
    print(f"{'case':62} {'fetch':>7} {'render':>7} {'page':>7} {'wall':>7}  runs")
    for label, walls, timings in results:
        fetch = statistics.median(t["fetch"] for t in timings)
        render = statistics.median(t["render"] for t in timings)
        total = statistics.median(t["total"] for t in timings)
        points = f" ({int(timings[0]['points'])} points)" if "points" in timings[0] else ""
        wall = statistics.median(walls)
        print(f"{label + points:62} {fetch:7.0f} {render:7.0f} {total:7.0f} {wall:7.0f}  {len(walls)}")


def screenshots(page: Any, url: str, ids: Mapping[str, str], out: Path) -> None:
    """The README's screenshots: the list, a tuner with rail events, AutoScope's routing."""
    out.mkdir(parents=True, exist_ok=True)
    page.goto(url + "/#/")
    page.wait_for_selector("#tuners[data-renders]")
    page.screenshot(path=str(out / "dashboard-tuners.png"))
    page.evaluate(f"location.hash = '#/tuners/{ids['rails']}'")
    page.wait_for_selector("#tuner[data-renders]")
    page.screenshot(path=str(out / "dashboard-tuner.png"), full_page=True)
    page.evaluate(f"location.hash = '#/tuners/{ids['autoscope']}'")
    page.wait_for_selector("#routing:not([hidden])")
    top = page.locator("#contexts").bounding_box()
    bottom = page.locator("#routing").bounding_box()
    clip = {"x": 0, "y": top["y"] - 16, "width": 1400, "height": bottom["y"] + bottom["height"] - top["y"] + 32}
    page.screenshot(path=str(out / "dashboard-autoscope.png"), full_page=True, clip=clip)
    print(f"screenshots written to {out}", flush=True)


if __name__ == "__main__":
    main()
