"""The seed README's tuning loop (its section 9), run against a simulated application.

Everything from ``def calculate_reward`` down is the seed's code, unchanged. Only the two
stand-ins above it are ours: ``app`` (a service whose throughput depends on p1, p2 and p3)
and ``metrics_monitor`` (which reports what the last deployment achieved).
"""

import math

MAX_DEPLOYMENTS = 5000


class _SimulatedApp:
    """A service whose throughput per unit latency peaks at p1="high", p2=500, p3=0.7 (ratio 1.0)."""

    def __init__(self) -> None:
        self.config: dict = {}
        self.deployments = 0
        self.metrics = {"latency": 1.0, "throughput": 0.0}

    def set_config(self, config: dict) -> None:
        self.config = dict(config)

    def deploy(self) -> None:
        self.deployments += 1
        if self.deployments > MAX_DEPLOYMENTS:
            raise RuntimeError(f"no configuration reached reward 0.95 in {MAX_DEPLOYMENTS} deployments")
        level = {"low": 0.6, "medium": 0.85, "high": 1.0}[self.config["p1"]]
        distance = ((self.config["p2"] - 500) / 800) ** 2 + (self.config["p3"] - 0.7) ** 2
        latency_ms = 10.0
        self.metrics = {"latency": latency_ms, "throughput": latency_ms * level * math.exp(-distance / 0.5)}


class _MetricsMonitor:
    def start(self) -> None:
        pass

    def stop(self) -> dict:
        return dict(app.metrics)


app = _SimulatedApp()
metrics_monitor = _MetricsMonitor()

# ---- the seed's code from here on ------------------------------------------------------------

from oppertune.algorithms.hybrid_solver import HybridSolver  # noqa: E402
from oppertune.core.values import Categorical, Integer, Real  # noqa: E402


def calculate_reward(metrics):
    latency = metrics["latency"]
    throughput = metrics["throughput"]

    # Higher the throughput, higher the reward
    # Lower the latency, higher the reward
    reward = throughput / latency

    # (Optional) You can scale the reward to [0, 1]
    # reward = sigmoid(reward)
    return reward


def main():
    parameters = [
        Categorical(name="p1", val="medium", categories=("low", "medium", "high")),
        Integer(name="p2", val=100, min=100, max=900, step=100),
        Real(name="p3", val=0.45, min=0.0, max=1.0),
    ]

    tuning_instance = HybridSolver(
        parameters,
        categorical_algorithm="exponential_weights_slates",  # For the categorical parameters
        categorical_algorithm_args=dict(
            random_seed=123,  # For reproducibility
        ),
        numerical_algorithm="bluefin",  # For the numerical (integer and real) parameters
        numerical_algorithm_args=dict(
            feedback=2,
            eta=0.01,
            delta=0.1,
            random_seed=123,  # For reproducibility
        ),
    )

    while True:
        prediction, request_id = tuning_instance.predict()
        app.set_config(prediction)

        metrics_monitor.start()  # To start monitoring the metrics of concern
        app.deploy()  # Using the new parameter values. Wait till the app finishes the job.
        metrics = metrics_monitor.stop()

        reward = calculate_reward(metrics)

        tuning_instance.store_reward(request_id, reward)

        tuning_instance.set_reward(reward)

        # Optionally, you can stop once the metrics are good enough
        # which is indicated by a high reward
        if reward >= 0.95:  # Assuming the reward lies in [0, 1]
            break


if __name__ == "__main__":
    main()
    print(f"reward >= 0.95 after {app.deployments} deployments with {app.config}")
