"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import testpaths  # noqa: F401  (makes examples/ importable)
from postgres_cluster import PostgresCluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A real PostgreSQL server for the whole test session."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()
