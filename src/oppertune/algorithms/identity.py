"""Baseline: always the initial configuration."""

from __future__ import annotations

from typing import Any

from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context

__all__ = ["Identity"]


class Identity(TuningInstance):
    """Always predicts the parameters' initial values; useful as a control and for canary rounds.

    Args:
        parameters: The parameters, of any type.
    """

    name = "identity"

    def _predict(self, context: Context) -> dict[str, Any]:
        return {p.name: p.val for p in self._tuned}

    def _learn(self, reward: float | list[float], context: Context) -> None:
        pass
