"""BlueFin: bandit gradient ascent over the numerical parameters.

Each round plays ``center ± delta * u`` for a random unit direction ``u`` and estimates the
gradient of the reward along ``u`` from one reward (``feedback=1``) or from the pair of
rewards at ``+`` and ``-`` (``feedback=2``), then takes an SGD or RMSprop ascent step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from oppertune.algorithms import _arguments as check
from oppertune.algorithms import _state as valid
from oppertune.algorithms._random import BufferedDraws
from oppertune.algorithms._space import NumericalSpace
from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context
from oppertune.core.values import Integer, Real, ValueType

__all__ = ["BlueFin"]

_OPTIMIZER_ARGS = {"sgd": {}, "rmsprop": {"alpha": 0.99, "eps": 1e-8}}


class BlueFin(TuningInstance):
    """Bandit gradient ascent for Integer and Real parameters.

    Args:
        parameters: The numerical parameters to tune.
        feedback: 1 to step after every reward, 2 to step after each ``+delta``/``-delta`` pair.
        eta: Learning rate, in units of the normalised [0, 1] space.
        delta: Exploration radius in the normalised space, in (0, 0.5).
        optimizer: ``"sgd"`` or ``"rmsprop"``.
        optimizer_args: For RMSprop, ``alpha`` (smoothing, default 0.99) and ``eps`` (default 1e-8).
        eta_decay_rate: ``rho`` in ``eta_t = eta / (1 + rho * t)``; delta shrinks as ``sqrt(eta_t / eta)``.
        random_seed: Seed for reproducible runs.
    """

    name = "bluefin"
    supported_parameter_types = (Integer, Real)

    def __init__(
        self,
        parameters: Iterable[ValueType | Mapping[str, Any]],
        feedback: int = 2,
        eta: float = 0.01,
        delta: float = 0.1,
        optimizer: str = "sgd",
        optimizer_args: Mapping[str, float] | None = None,
        eta_decay_rate: float = 0.0,
        random_seed: int | None = None,
    ) -> None:
        owner = type(self).__name__
        if isinstance(feedback, bool) or feedback not in (1, 2):
            raise ValueError(f"The 'feedback' argument of {owner} must be 1 or 2. Got {feedback!r} instead.")
        self.feedback = int(feedback)
        self.eta = check.positive_float(owner, "eta", eta)
        self.delta = check.float_in(owner, "delta", delta, 0.0, 0.5)
        self.optimizer = check.choice(owner, "optimizer", optimizer, tuple(_OPTIMIZER_ARGS))
        given = check.mapping(owner, "optimizer_args", optimizer_args, allowed=_OPTIMIZER_ARGS[optimizer])
        self.optimizer_args = given
        merged = {**_OPTIMIZER_ARGS[optimizer], **given}
        if optimizer == "rmsprop":
            self._alpha = check.float_in(owner, "optimizer_args['alpha']", merged["alpha"], 0.0, 1.0, closed_low=True)
            self._eps = check.positive_float(owner, "optimizer_args['eps']", merged["eps"])
        self.eta_decay_rate = check.non_negative_float(owner, "eta_decay_rate", eta_decay_rate)
        self.random_seed = check.seed(owner, random_seed)
        super().__init__(parameters)

        self._space = NumericalSpace([p for p in self._tuned if isinstance(p, (Integer, Real))])
        self._dim = self._space.dim
        self._exploration_scale = 1.0
        self._normals = BufferedDraws(self.random_seed, "normal")
        self._steps = 0
        self._sign = 1.0
        self._first_reward = 0.0
        lo, hi = self.delta, 1.0 - self.delta
        self._center = [min(hi, max(lo, x)) for x in self._space.initial_point()]
        self._direction = self._draw_direction() if self._dim else []
        self._square_avg = [0.0] * self._dim
        self._last_gradient: list[float] | None = None

    @property
    def center(self) -> dict[str, Any]:
        """The current centre of exploration, in parameter units."""
        return self._space.to_values(self._center)

    def _radius(self) -> float:
        """The exploration radius of the arguments (decayed with the steps), before any exploration scale."""
        return self.delta / math.sqrt(1.0 + self.eta_decay_rate * self._steps) if self.eta_decay_rate else self.delta

    def _current_delta(self) -> float:
        return self._radius() * self._exploration_scale

    def _set_exploration_scale(self, scale: float) -> frozenset[str]:
        """Scale the exploration radius. The gradient estimates keep dividing by the full radius: the reward
        difference of narrower points carries the same noise, and dividing it by less would make every step
        noisier exactly when the rails ask for caution."""
        self._exploration_scale = scale
        return frozenset(self._space.names)

    def _straddles_start(self) -> bool:
        return self.feedback == 2

    def _draw_direction(self) -> list[float]:
        u = self._normals.take(self._dim)
        norm = math.sqrt(math.fsum(x * x for x in u))
        if norm == 0.0:
            return [1.0] + [0.0] * (len(u) - 1)
        return [x / norm for x in u]

    def _predict(self, context: Context) -> dict[str, Any]:
        if not self._dim:
            return {}
        offset = self._sign * self._current_delta()
        return self._space.to_values([c + offset * u for c, u in zip(self._center, self._direction)])

    def _learn(self, reward: float | list[float], context: Context) -> None:
        if not self._dim:
            return
        r = float(reward)  # type: ignore[arg-type]
        if self.feedback == 1:
            scale = self._dim * r / self._radius()
        elif self._sign > 0:
            self._first_reward, self._sign = r, -1.0
            return
        else:
            difference = self._first_reward - r
            largest = max(abs(self._first_reward), abs(r))
            if largest > 0.0:
                difference /= largest
            scale = self._dim * difference / (2.0 * self._radius())
            self._sign = 1.0
        self._step([scale * u for u in self._direction])

    def _step(self, gradient: list[float]) -> None:
        eta = self.eta / (1.0 + self.eta_decay_rate * self._steps)
        if self.optimizer == "rmsprop":
            alpha, eps = self._alpha, self._eps
            self._square_avg = [
                alpha * v + (1.0 - alpha) * g * g for v, g in zip(self._square_avg, gradient, strict=True)
            ]
            update = [eta * g / (math.sqrt(v) + eps) for g, v in zip(gradient, self._square_avg, strict=True)]
        else:
            update = [eta * g for g in gradient]
        self._steps += 1
        lo = self._current_delta()
        hi = 1.0 - lo
        self._center = [min(hi, max(lo, c + du)) for c, du in zip(self._center, update, strict=True)]
        self._last_gradient = gradient
        self._direction = self._draw_direction()

    def _get_state(self) -> dict[str, Any]:
        return {
            "normals": self._normals.get_state(),
            "steps": self._steps,
            "sign": self._sign,
            "first_reward": self._first_reward,
            "center": list(self._center),
            "direction": list(self._direction),
            "square_avg": list(self._square_avg),
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        dim = self._dim
        center = valid.vector(state["center"], dim, "center")
        if np.any(center < 0.0) or np.any(center > 1.0):
            raise ValueError("'center' must lie in [0, 1]")
        direction = valid.vector(state["direction"], dim, "direction")
        square_avg = valid.vector(state["square_avg"], dim, "square_avg")
        if np.any(square_avg < 0.0):
            raise ValueError("'square_avg' must be non-negative")
        if state["sign"] not in (1.0, -1.0):
            raise ValueError("'sign' must be 1 or -1")
        self._steps = valid.non_negative_int(state["steps"], "steps")
        self._normals.set_state(state["normals"])
        self._sign = float(state["sign"])
        self._first_reward = valid.number(state["first_reward"], "first_reward")
        self._center, self._direction = center.tolist(), direction.tolist()
        self._square_avg = square_avg.tolist()
