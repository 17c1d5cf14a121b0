"""Server-side aggregation: close a round once enough replicas reported, or once it is old enough.

A tuner created with a policy lets replicas call only ``predict`` and ``store_reward``: the server
aggregates the stored rewards of a round (mean, median or min) and applies ``set_reward`` itself.

* ``after_rewards=N``: the round closes in the same transaction as the store_reward that brings
  its number of stored rewards to N.
* ``after_seconds=T``: a round opened (first predicted) at t closes at the first call on the tuner
  at or after t + T, provided it holds at least one stored reward (a round without rewards waits
  for its first one, which then closes it at once). No background thread is needed for this:
  every state-changing call checks first. The server also runs a sweeper (``--sweep-interval``)
  so that idle tuners close their rounds on time too.

Both may be given: whichever comes first closes the round.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from oppertune.core.types import TuningRequest

__all__ = ["STATISTICS", "Policy", "aggregate", "group_by_context"]

STATISTICS = ("mean", "median", "min")


@dataclass(frozen=True, slots=True)
class Policy:
    """When the server closes a round by itself, and how it aggregates the stored rewards."""

    after_rewards: int | None = None
    after_seconds: float | None = None
    statistic: str = "mean"

    def __post_init__(self) -> None:
        if self.after_rewards is None and self.after_seconds is None:
            raise ValueError("An aggregation policy needs 'after_rewards' or 'after_seconds' (or both).")
        if self.after_rewards is not None and self.after_rewards < 1:
            raise ValueError(f"'after_rewards' must be at least 1. Got {self.after_rewards!r} instead.")
        if self.after_seconds is not None and not (math.isfinite(self.after_seconds) and self.after_seconds > 0):
            raise ValueError(f"'after_seconds' must be a positive number. Got {self.after_seconds!r} instead.")
        if self.statistic not in STATISTICS:
            raise ValueError(f"'statistic' must be one of {list(STATISTICS)}. Got {self.statistic!r} instead.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (the API's ``aggregation`` object)."""
        return {"after_rewards": self.after_rewards, "after_seconds": self.after_seconds, "statistic": self.statistic}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Policy | None:
        """Inverse of `to_dict`; None stays None."""
        if data is None:
            return None
        return cls(data.get("after_rewards"), data.get("after_seconds"), data.get("statistic", "mean"))

    def is_due(self, n_rewards: int, opened_at: float, now: float) -> bool:
        """Whether a round with ``n_rewards`` stored rewards, opened at ``opened_at``, closes now."""
        if n_rewards == 0:
            return False
        if self.after_rewards is not None and n_rewards >= self.after_rewards:
            return True
        return self.after_seconds is not None and now >= opened_at + self.after_seconds

    def deadline(self, n_rewards: int, opened_at: float) -> float | None:
        """When the time rule closes the round, or None if it has no reward yet or no time rule."""
        if self.after_seconds is None or n_rewards == 0:
            return None
        return opened_at + self.after_seconds


def aggregate(values: list[float], statistic: str) -> float:
    """The mean, median or min of a round's stored rewards (at least one)."""
    if statistic == "mean":
        return math.fsum(values) / len(values)
    if statistic == "median":
        return float(statistics.median(values))
    return min(values)


def group_by_context(requests: Iterable[TuningRequest]) -> dict[str, list[TuningRequest]]:
    """The requests of the open rounds, by context id (one entry per open round)."""
    rounds: dict[str, list[TuningRequest]] = {}
    for q in requests:
        rounds.setdefault(q.context.id, []).append(q)
    return rounds
