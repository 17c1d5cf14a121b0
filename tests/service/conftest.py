"""Fixtures of the service tests: every storage and API test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from oppertune.service.app import create_app
from oppertune.service.settings import Settings
from oppertune.service.storage import Storage, api_keys, idempotency, rounds, tuners

from .service_helpers import create_database, drop_database

BACKENDS = ["sqlite", "postgresql"]


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def pg_url(postgres_cluster) -> Iterator[str]:
    """A fresh PostgreSQL database for the test module."""
    name, url = create_database(postgres_cluster.dsn)
    yield url
    drop_database(postgres_cluster.dsn, name)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend (SQLite file per test; PostgreSQL tables emptied per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'oppertune.db'}"
        return
    url = request.getfixturevalue("pg_url")
    storage = Storage(url)
    storage.migrate()
    with storage.engine.begin() as conn:
        for table in (rounds, idempotency, tuners, api_keys):
            conn.execute(delete(table))
    storage.close()
    yield url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def storage(database_url: str, clock: FakeClock) -> Iterator[Storage]:
    store = Storage(database_url, clock=clock)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def api_key(storage: Storage) -> str:
    """A key of project 'alpha' (its existence puts the server in key mode)."""
    return storage.create_api_key("alpha")


@pytest.fixture
def app(storage: Storage, database_url: str):
    return create_app(Settings(db=database_url, sweep_interval=0), storage=storage)


@pytest.fixture
def client(app, api_key: str):
    """A test client of the app, authenticated as project 'alpha'."""
    from fastapi.testclient import TestClient

    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client
