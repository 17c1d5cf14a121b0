"""Tune three AKS cluster-autoscaler parameters with HybridSolver against a simulated cluster.

The parameters are the autoscaler's real knobs:

* ``expander`` — which node pool to grow when pods are pending,
* ``scan-interval`` — seconds between checks for pending pods,
* ``max-total-unready-percentage`` — above this share of unready nodes the autoscaler stops scaling.

The simulated cluster (the only stand-in) turns a configuration into the two metrics an operator
watches: how long pods wait to be scheduled and how much idle node capacity is paid for. Each
round deploys the predicted configuration for one simulated hour and rewards low waiting and
low waste, scaled to [0, 1].
"""

from __future__ import annotations

import math
import random
from typing import ClassVar

from oppertune.algorithms.hybrid_solver import HybridSolver
from oppertune.core.values import Categorical, Integer, Real

MAX_ROUNDS = 3000


class SimulatedCluster:
    """An hour of bursty traffic on a cluster with a few flaky nodes, as seen by the autoscaler."""

    WASTE_BY_EXPANDER: ClassVar[dict[str, float]] = {
        "random": 0.30,
        "most-pods": 0.22,
        "least-waste": 0.02,
        "priority": 0.18,
    }

    def __init__(self, seed: int = 7) -> None:
        self._rng = random.Random(seed)

    def run_hour(self, config: dict) -> dict[str, float]:
        scan = config["scan-interval"]
        unready = config["max-total-unready-percentage"]
        # Pods wait about half a scan interval plus node boot time before a new node is ready.
        wait_s = 0.5 * scan + 40.0
        # Too strict an unready limit halts scale-up during routine node churn (about 20% unready);
        # too loose a limit keeps adding nodes to a pool that cannot get healthy.
        halted = 1.0 / (1.0 + math.exp((unready - 20.0) / 1.5))
        runaway = max(0.0, unready - 40.0) / 60.0
        wait_s += 240.0 * halted
        waste = self.WASTE_BY_EXPANDER[config["expander"]] + 0.5 * runaway + 0.01 * (10.0 / scan)
        jitter = self._rng.gauss(0.0, 0.005)
        return {"pending_wait_s": wait_s, "idle_capacity": max(0.0, waste + jitter)}


def reward_of(metrics: dict[str, float]) -> float:
    """1.0 for pods scheduled as soon as a node can boot with no idle capacity; lower otherwise."""
    wait_score = 50.0 / max(50.0, metrics["pending_wait_s"])
    waste_score = 1.0 - min(1.0, metrics["idle_capacity"])
    return wait_score * waste_score


def main(seed: int = 123, verbose: bool = True) -> tuple[int, dict, float]:
    """Tune until one hour earns reward >= 0.95; return (rounds, configuration, reward)."""
    parameters = [
        Categorical(name="expander", val="random", categories=("random", "most-pods", "least-waste", "priority")),
        Integer(name="scan-interval", val=60, min=5, max=120, step=5),
        Real(name="max-total-unready-percentage", val=45.0, min=0.0, max=100.0),
    ]
    tuning_instance = HybridSolver(
        parameters,
        categorical_algorithm="exponential_weights_slates",
        categorical_algorithm_args={"random_seed": seed},
        numerical_algorithm="bluefin",
        numerical_algorithm_args={"feedback": 2, "eta": 0.01, "delta": 0.1, "random_seed": seed},
    )
    cluster = SimulatedCluster(seed)
    best: tuple[float, dict] = (-math.inf, {})
    for round_number in range(1, MAX_ROUNDS + 1):
        prediction, request_id = tuning_instance.predict()
        reward = reward_of(cluster.run_hour(prediction))
        tuning_instance.store_reward(request_id, reward)
        tuning_instance.set_reward(reward)
        best = max(best, (reward, prediction), key=lambda pair: pair[0])
        if verbose and (round_number == 1 or round_number % 25 == 0):
            print(f"round {round_number:4d}  reward {reward:.3f}  best {best[0]:.3f}  {prediction}")
        if reward >= 0.95:
            if verbose:
                print(f"\nreward {reward:.3f} >= 0.95 after {round_number} rounds with {prediction}")
            return round_number, prediction, reward
    raise RuntimeError(f"no configuration reached reward 0.95 in {MAX_ROUNDS} rounds (best {best[0]:.3f})")


if __name__ == "__main__":
    main()
