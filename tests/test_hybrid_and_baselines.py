"""HybridSolver composition, the baselines, and the registry."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from oppertune.algorithms import ALGORITHMS, DEFAULT_ALGORITHM, create_tuning_instance, get_algorithm_class
from oppertune.algorithms.hybrid_solver import HybridSolver
from oppertune.algorithms.identity import Identity
from oppertune.algorithms.uniform_random import UniformRandom
from oppertune.core.values import Categorical, Integer, Real

MIXED = [Categorical("c", "a", ["a", "b"]), Integer("i", 10, 0, 100, step=10), Real("r", 0.5, 0, 1, step=0.25)]


def test_hybrid_handles_one_kind_only() -> None:
    for params in ([MIXED[0]], MIXED[1:]):
        tuner = HybridSolver(params)
        tuner.predict()
        tuner.set_reward(1.0)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"categorical_algorithm": "bluefin"}, "'categorical_algorithm' argument of HybridSolver must name"),
        ({"numerical_algorithm": "exponential_weights"}, "'numerical_algorithm' argument of HybridSolver must"),
        ({"numerical_algorithm": "bluefn"}, "Unknown algorithm 'bluefn'; known algorithms: "),
        ({"numerical_algorithm_args": {"eta": -1}}, "'eta' argument of BlueFin"),
        ({"categorical_algorithm_args": 5}, "'categorical_algorithm_args' argument of HybridSolver must be a dict"),
    ],
)
def test_hybrid_bad_arguments(kwargs: dict, fragment: str) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        HybridSolver(MIXED, **kwargs)
    assert fragment in str(info.value)


def test_uniform_random_honours_steps_and_covers_the_grid() -> None:
    tuner = UniformRandom(MIXED, random_seed=0)
    seen: dict[str, set] = {"c": set(), "i": set(), "r": set()}
    for _ in range(400):
        prediction, _ = tuner.predict()
        tuner.set_reward(0.0)
        for name, value in prediction.items():
            seen[name].add(value)
    assert seen == {"c": {"a", "b"}, "i": set(range(0, 101, 10)), "r": {0.0, 0.25, 0.5, 0.75, 1.0}}


def test_uniform_random_continuous_real() -> None:
    tuner = UniformRandom([Real("r", 2.5, 2.0, 3.0)], random_seed=0)
    values = set()
    for _ in range(50):
        values.add(tuner.predict().prediction["r"])
        tuner.set_reward(0.0)
    assert len(values) == 50 and all(2.0 <= v <= 3.0 for v in values)


def test_identity_always_returns_the_initial_values() -> None:
    tuner = Identity(MIXED)
    for reward in (0.0, 1.0, -5.0):
        assert tuner.predict().prediction == {"c": "a", "i": 10, "r": 0.5}
        tuner.set_reward(reward)


def test_registry_names_modules_and_default() -> None:
    expected = {"bluefin", "exponential_weights", "exponential_weights_slates", "hybrid_solver", "identity"}
    assert expected | {"uniform_random"} <= set(ALGORITHMS)
    for name in ALGORITHMS:
        cls = get_algorithm_class(name)
        assert cls.name == name
        assert getattr(importlib.import_module(f"oppertune.algorithms.{name}"), cls.__name__) is cls
    assert DEFAULT_ALGORITHM == "hybrid_solver"
    assert isinstance(create_tuning_instance(MIXED), HybridSolver)


def test_unknown_algorithm_lists_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        create_tuning_instance(MIXED, "simulated_annealing")
    assert "Unknown algorithm 'simulated_annealing'" in str(info.value)
    assert all(name in str(info.value) for name in ALGORITHMS)


def test_import_stays_light() -> None:
    probe = (
        "import sys, oppertune.algorithms, oppertune.core.values, oppertune.core.types;"
        "print(sorted(m for m in ('torch', 'scipy', 'sklearn', 'optuna', 'pandas', 'hyperopt', 'skopt',"
        " 'vowpalwabbit', 'oppertune.algorithms.bluefin') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
