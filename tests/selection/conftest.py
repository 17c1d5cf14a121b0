"""Fixtures of the selection tests."""

from __future__ import annotations

import pytest
from planted import planted_parameters

from oppertune.core.values import ValueType


@pytest.fixture
def parameters() -> list[ValueType]:
    return planted_parameters()
