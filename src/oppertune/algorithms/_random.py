"""Random draws fetched from a numpy Generator in blocks, so a round pays no numpy call overhead."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from oppertune.algorithms import _state as valid

_BLOCK = 256


def derived_seed(*parts: object) -> int:
    """A seed for a stream of its own, derived from ``parts`` (e.g. a tuner's seed and what the stream is for)."""
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:15], 16)


class BufferedDraws:
    """Standard normal or uniform [0, 1) draws, taken from blocks of ``_BLOCK`` numbers.

    The state is the generator's state at the start of the current block plus how many numbers of
    it were used, so it stays small and a restored stream continues with exactly the same numbers.
    """

    __slots__ = ("_block", "_block_start", "_kind", "_rng", "_used")

    def __init__(self, seed: int | None, kind: Literal["normal", "uniform"]) -> None:
        self._kind = kind
        self._rng = np.random.default_rng(seed)
        self._refill()

    def _refill(self) -> None:
        self._block_start = self._rng.bit_generator.state
        draws = self._rng.standard_normal(_BLOCK) if self._kind == "normal" else self._rng.random(_BLOCK)
        self._block: list[float] = draws.tolist()
        self._used = 0

    def take(self, n: int) -> list[float]:
        """The next ``n`` draws (``n`` at most the block size)."""
        if self._used + n > _BLOCK:
            self._refill()
        start = self._used
        self._used = start + n
        return self._block[start : start + n]

    def take_one(self) -> float:
        """The next draw."""
        if self._used >= _BLOCK:
            self._refill()
        self._used += 1
        return self._block[self._used - 1]

    def get_state(self) -> dict[str, Any]:
        """JSON-compatible state."""
        return {"block_start": self._block_start, "used": self._used}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore `get_state` output."""
        used = valid.non_negative_int(state["used"], "used")
        if used > _BLOCK:
            raise ValueError(f"'used' must be at most {_BLOCK}")
        self._rng = valid.generator(state["block_start"])
        self._refill()
        self._used = used
