"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

from postgres_cluster import PostgresCluster  # noqa: E402


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A real PostgreSQL server for the whole test session."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()
