"""Tune two cluster-autoscaler knobs per job type with AutoScope against a simulated cluster.

Four job types share a cluster, and each wants the autoscaler set differently:

* ``batch`` and ``ml-training`` tolerate slow scale-up and want few, well-packed nodes,
* ``web`` needs pods scheduled fast,
* ``streaming`` sits in between.

Every simulated hour each job type runs once with the configuration AutoScope predicts for its
context, so four predictions are outstanding at a time; each reward goes back with its own
context. The example runs twice: once with split weights given and frozen (``batch`` and
``ml-training`` share a leaf, the others get one each) and once learning the splits. Each run
stops when every job type has earned a reward of at least 0.95 and prints the best configuration
found per job type.
"""

from __future__ import annotations

import random
from typing import Any

from oppertune.algorithms.autoscope import AutoScope
from oppertune.core.types import Context
from oppertune.core.values import Integer

MAX_HOURS = 200
GOAL = 0.95
JOB_TYPES = ("batch", "ml-training", "web", "streaming")
# (max-total-unready-percentage, scan-interval) each job type does best with.
OPTIMA = {"batch": (70, 95), "ml-training": (70, 95), "web": (25, 10), "streaming": (45, 30)}
# Height 2: nodes 0 (root), 1 (left), 2 (right); inputs: one per job type, then the bias.
# Root: batch and ml-training left, web and streaming right; node 1 sends everything left
# (leaf 0); node 2 sends web left (leaf 2) and streaming right (leaf 3).
FROZEN_WEIGHTS = [
    [-1.0, -1.0, 1.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, -1.0],
    [0.0, 0.0, -1.0, 1.0, 0.0],
]


class SimulatedCluster:
    """An hour of one job type's work, scored from 0 to 1 by how close the autoscaler was to what it needs."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def run_hour(self, job_type: str, config: dict[str, Any]) -> float:
        best_unready, best_scan = OPTIMA[job_type]
        miss = ((config["max-total-unready-percentage"] - best_unready) / 100.0) ** 2
        miss += ((config["scan-interval"] - best_scan) / 115.0) ** 2
        return 1.0 - 2.0 * miss + self._rng.gauss(0.0, 0.003)


def main(learn_splits: bool = True, seed: int = 7, verbose: bool = True) -> dict[str, Any]:
    """Tune until every job type has earned reward >= 0.95.

    Returns:
        ``{"hours": ..., "best": {job type: (reward, configuration)}, "leaves": {job type: leaf}}``.
    """
    parameters = [
        Integer(name="max-total-unready-percentage", val=50, min=0, max=100),
        Integer(name="scan-interval", val=60, min=5, max=120),
    ]
    tuner = AutoScope(
        parameters,
        features=[{"name": "jobtype", "values": JOB_TYPES}],
        leaf_algorithm="bluefin",
        leaf_algorithm_args={"feedback": 2, "eta": 0.05, "delta": 0.1},
        height=2,
        internal_weights=None if learn_splits else FROZEN_WEIGHTS,
        fix_internal_weights=not learn_splits,
        random_seed=seed,
    )
    cluster = SimulatedCluster(seed)
    contexts = {job: Context({"jobtype": job}) for job in JOB_TYPES}
    best: dict[str, tuple[float, dict[str, Any]]] = {}
    title = "learning the splits" if learn_splits else "frozen splits"
    for hour in range(1, MAX_HOURS + 1):
        predictions = {job: tuner.predict(context).prediction for job, context in contexts.items()}
        for job, context in contexts.items():
            reward = cluster.run_hour(job, predictions[job])
            tuner.set_reward(reward, context_id=context.id)
            if job not in best or reward > best[job][0]:
                best[job] = (reward, predictions[job])
        if all(job in best and best[job][0] >= GOAL for job in JOB_TYPES):
            leaves = {job: tuner.leaf_of(context) for job, context in contexts.items()}
            if verbose:
                print(f"AutoScope, {title}: every job type reached reward >= {GOAL} after {hour} hours")
                for job in JOB_TYPES:
                    reward, config = best[job]
                    print(f"  {job:<12} leaf {leaves[job]}  best reward {reward:.3f}  {config}")
            return {"hours": hour, "best": best, "leaves": leaves}
    worst = min(JOB_TYPES, key=lambda job: best[job][0])
    raise RuntimeError(
        f"AutoScope ({title}) did not bring every job type to reward {GOAL} within {MAX_HOURS} hours "
        f"(worst: {worst} at {best[worst][0]:.3f})"
    )


if __name__ == "__main__":
    main(learn_splits=False)
    print()
    main(learn_splits=True)
