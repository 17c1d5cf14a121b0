"""A small service with planted relevant parameters, shared by the selection tests."""

from __future__ import annotations

import random
from typing import Any

from oppertune.core.values import Categorical, Integer, Real, ValueType

PLANTED = {"x", "w", "mode", "p", "q"}
"""x, w: main effects; mode: categorical; p and q: only through their interaction (zero main effect)."""


def planted_parameters() -> list[ValueType]:
    """Five relevant parameters and seven irrelevant ones, of every type."""
    return [
        Real("x", 0.3, 0.0, 1.0),
        Integer("w", 9, 1, 33, 2),
        Categorical("mode", "a", ["a", "b", "c"]),
        Real("p", 0.25, 0.0, 1.0),
        Real("q", 75.0, 0.0, 100.0, 5.0),
        Real("n0", 0.5, 0.0, 1.0),
        Real("n1", 10.0, 0.0, 20.0),
        Integer("n2", 50, 0, 100),
        Integer("n3", 3, 1, 9),
        Categorical("n4", "on", ["on", "off"]),
        Categorical("n5", 2, [1, 2, 4, 8]),
        Real("n6", 0.1, 0.0, 1.0, 0.05),
        Categorical("fixed", "z", ["z"]),
    ]


def planted_score(c: dict[str, Any]) -> float:
    """Noise-free reward: 2x - |w - 21| / 10 + [mode = c] + 8 (p - 1/2)(q/100 - 1/2)."""
    return (
        2.0 * c["x"]
        - abs(c["w"] - 21) / 10
        + (1.0 if c["mode"] == "c" else 0.0)
        + 8.0 * (c["p"] - 0.5) * (c["q"] / 100 - 0.5)
    )


def random_configuration(parameters: list[ValueType], rng: random.Random) -> dict[str, Any]:
    """A configuration drawn uniformly over the whole space (on the grids)."""
    out: dict[str, Any] = {}
    for p in parameters:
        if isinstance(p, Categorical):
            out[p.name] = rng.choice(p.categories)
        else:
            out[p.name] = p.from_unit(rng.random())
    return out


def planted_history(rows: int, seed: int = 0, noise: float = 0.05) -> list[dict[str, Any]]:
    """Rows ``{"configuration", "reward"}`` of uniformly random configurations of the planted service."""
    rng = random.Random(seed)
    parameters = planted_parameters()
    out = []
    for _ in range(rows):
        c = random_configuration(parameters, rng)
        out.append({"configuration": c, "reward": planted_score(c) + rng.gauss(0.0, noise)})
    return out
