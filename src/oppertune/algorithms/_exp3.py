"""EXP3 over K arms: the learner behind exponential_weights and exponential_weights_slates."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

import numpy as np

from oppertune.algorithms import _state as valid

_RESCALE_ABOVE = 1e150
_MAX_EXPONENT = 300.0


class Exp3:
    """Exponential weights with decaying exploration.

    Plays arm ``i`` with probability ``q_i = (1 - gamma_t) p_i + gamma_t / K`` where ``p`` is the
    normalised weight vector and ``gamma_t = min(1, sqrt(K / (t + 1)))``. On reward ``r`` the played
    arm's weight is multiplied by ``exp(eta_t * r / q_i)`` with
    ``eta_t = sqrt(ln K / (K (t + 1))) / max(1, |lowest reward seen|)``.

    Weights are kept relative (only their ratios matter) in a plain list: per round this costs a
    few C-level passes over K floats, which for the usual handful of categories is far cheaper than
    numpy calls. They are rescaled whenever the largest grows past 1e150.
    """

    __slots__ = ("_eta_scale", "_lowest_reward", "_played", "_played_probability", "_t", "_weights", "n_arms")

    def __init__(self, n_arms: int) -> None:
        self.n_arms = n_arms
        self._eta_scale = math.log(n_arms) / n_arms
        self._weights = [1.0] * n_arms
        self._t = 0
        self._lowest_reward = 0.0
        self._played = -1
        self._played_probability = 1.0

    def _gamma(self) -> float:
        return min(1.0, math.sqrt(self.n_arms / (self._t + 1)))

    def probabilities(self) -> list[float]:
        """The sampling distribution ``q`` of the next round."""
        gamma, total = self._gamma(), math.fsum(self._weights)
        return [(1.0 - gamma) * w / total + gamma / self.n_arms for w in self._weights]

    def best_arm(self) -> int:
        """The arm with the largest weight."""
        weights = self._weights
        return weights.index(max(weights))

    def draw(self, u: float) -> int:
        """Pick the arm for this round from a uniform draw ``u`` in [0, 1); remember it for `learn`."""
        k, weights = self.n_arms, self._weights
        gamma = min(1.0, math.sqrt(k / (self._t + 1)))
        total = sum(weights)
        if u < gamma:
            arm = min(int(u / gamma * k), k - 1)
        else:
            target = (u - gamma) / (1.0 - gamma) * total
            arm = min(bisect_right(list(accumulate(weights)), target), k - 1)
        self._played = arm
        self._played_probability = (1.0 - gamma) * weights[arm] / total + gamma / k
        return arm

    def learn(self, reward: float) -> None:
        """Update the weight of the arm last drawn."""
        if reward < self._lowest_reward:
            self._lowest_reward = reward
        eta = math.sqrt(self._eta_scale / (self._t + 1)) / max(1.0, -self._lowest_reward)
        exponent = eta * reward / self._played_probability
        weights, arm = self._weights, self._played
        self._t += 1
        if exponent < _MAX_EXPONENT:
            weights[arm] *= math.exp(exponent)
            if weights[arm] < _RESCALE_ABOVE:
                return
        elif weights[arm] > 0.0:
            # exp(exponent) alone would overflow: rescale in the log domain.
            log_new = math.log(weights[arm]) + exponent
            self._weights = [math.exp(math.log(w) - log_new) if w > 0.0 else 0.0 for w in weights]
            self._weights[arm] = 1.0
            return
        else:
            return
        largest = weights[arm]
        self._weights = [w / largest for w in weights]

    def soften(self) -> None:
        """Explore again after a change: a quarter of the elapsed rounds, and weights flattened (square root)."""
        self._t //= 4
        largest = max(self._weights)
        self._weights = [math.sqrt(w / largest) for w in self._weights]

    def get_state(self) -> dict[str, Any]:
        """JSON-compatible state."""
        return {
            "weights": list(self._weights),
            "t": self._t,
            "lowest_reward": self._lowest_reward,
            "played": self._played,
            "played_probability": self._played_probability,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore `get_state` output, checking every field."""
        weights = valid.vector(state["weights"], self.n_arms, "weights")
        if np.any(weights < 0.0) or not np.any(weights > 0.0):
            raise ValueError("'weights' must be non-negative with at least one positive")
        played = state["played"]
        if isinstance(played, bool) or not isinstance(played, int) or not -1 <= played < self.n_arms:
            raise ValueError(f"'played' must be an arm index below {self.n_arms}")
        probability = valid.number(state["played_probability"], "played_probability")
        if not 0.0 < probability <= 1.0:
            raise ValueError("'played_probability' must lie in (0, 1]")
        self._t = valid.non_negative_int(state["t"], "t")
        self._lowest_reward = min(0.0, valid.number(state["lowest_reward"], "lowest_reward"))
        self._weights, self._played, self._played_probability = weights.tolist(), played, probability
