"""A real server with tuners tuned live by background clients, and Debian's Chromium driven by Playwright.

`make test` installs Chromium (``.ci/system-deps.sh``) and Playwright (the ``test`` extra); without
them these tests fail rather than skip. Screenshots go to ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from service.service_helpers import ServerProcess  # tests/ is on sys.path (see tests/conftest.py)

from oppertune.algorithms.guarded import Guarded
from oppertune.bench.dashboard import (
    JOB_PARAMETERS,
    JOB_TYPES,
    QUEUE_PARAMETERS,
    job_reward,
    launch_chromium,
    queue_reward,
    random_job,
    seed_tuner,
)
from oppertune.core.types import Context
from oppertune.service.client import RemoteTuner
from oppertune.service.storage import Storage

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
PROJECT = "ops"


@dataclass
class Site:
    """The server under test and what is on it."""

    url: str
    key: str
    log: Path
    ids: dict[str, str]
    names: list[str]
    errors: list[BaseException] = field(default_factory=list)


def _tune_live(
    site: Site, tuner_id: str, stop: threading.Event, reward: Callable[..., float], contexts: Callable | None = None
) -> None:
    """A replica's loop through the client: predict, store the reward, close the round with the stored rewards."""
    rng = random.Random(tuner_id)
    try:
        with RemoteTuner(site.url, tuner_id, site.key) as tuner:
            number = 0
            while not stop.is_set():
                number += 1
                data = contexts(rng, number) if contexts else None
                prediction, request_id = tuner.predict(data)
                tuner.store_reward(request_id, reward(prediction, data, number, rng))
                stop.wait(0.02)  # the round stays open a moment, its stored reward on the page
                tuner.set_reward(None, Context(data).id if data else None)
                stop.wait(0.02)
    except BaseException as exc:  # reported by the fixture
        site.errors.append(exc)


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server (real uvicorn process, SQLite, API keys) with seeded tuners and two tuned live."""
    folder = tmp_path_factory.mktemp("dashboard")
    db = f"sqlite:///{folder / 'dashboard.db'}"
    storage = Storage(db)
    storage.migrate()
    key = storage.create_api_key(PROJECT)
    ids = {
        "long": seed_tuner(storage, PROJECT, "long-history", QUEUE_PARAMETERS, safety={"baseline_rounds": 3},
                           rounds=3000, seed=1),
        "scoped": seed_tuner(storage, PROJECT, "jobs-autoscope", JOB_PARAMETERS, algorithm="autoscope",
                             algorithm_args={"features": [{"name": "jobtype", "values": JOB_TYPES}], "height": 2},
                             rounds=200, reward=job_reward, contexts=random_job, seed=2),
    }  # fmt: skip
    names = ["long-history", "jobs-autoscope"]
    for i in range(8):
        seed_tuner(storage, PROJECT, f"svc-{i}", QUEUE_PARAMETERS[:2], algorithm="bluefin",
                   safety={"baseline_rounds": 2} if i % 2 else None, rounds=5 + i, seed=10 + i,
                   then=Guarded.freeze if i == 3 else None)  # fmt: skip
        names.append(f"svc-{i}")
    storage.close()
    server = ServerProcess(db, log=folder / "server.log").start()
    safety = {"baseline_rounds": 3, "relative_margin": 0.15, "cooldown": 200}  # a rollback lasts ~10 s
    live = RemoteTuner.create(server.url, key, "live-checkout", QUEUE_PARAMETERS, algorithm_args={"random_seed": 5},
                              safety=safety)  # fmt: skip
    ids["live"] = live.tuner_id
    live.close()
    names.append("live-checkout")
    result = Site(server.url, key, folder / "server.log", ids, names)
    stop = threading.Event()
    threads = [
        threading.Thread(target=_tune_live, args=(result, ids["live"], stop, queue_reward), daemon=True),
        threading.Thread(target=_tune_live, args=(result, ids["scoped"], stop, job_reward, random_job), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield result
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        server.stop()
    assert not result.errors, result.errors


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's Chromium (never a browser that Playwright downloads)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab (own sessionStorage); fails the test on a script error or a console error."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" and "401" not in m.text else None)
    tab.set_default_timeout(20_000)
    yield tab
    context.close()
    assert not problems, problems


def shoot(tab: Any, name: str, full_page: bool = True) -> Path:
    """A screenshot into test-artifacts/dashboard/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    tab.screenshot(path=str(path), full_page=full_page)
    return path
