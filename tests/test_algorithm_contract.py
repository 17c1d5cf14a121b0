"""One contract for every registered algorithm: reproducible, resumable, in bounds, and safe on bad input."""

from __future__ import annotations

import copy
import gzip
import json
import math
import random
from typing import Any

import pytest
from grid_checks import assert_on_grid

from oppertune.algorithms import ALGORITHMS, TuningInstance, create_tuning_instance
from oppertune.core.values import Categorical, Integer, Real, ValueType

MIXED = [
    Categorical("cat", "b", ("a", "b", "c")),
    Categorical("flag", "on", ("on", "off")),
    Integer("int_step", 100, 100, 900, step=100),
    Integer("int", 7, 1, 64),
    Real("real", 0.45, 0.0, 1.0),
    Real("real_step", 2.5, 0.0, 10.0, step=0.5),
    Categorical("const_cat", "x", ("x",)),
    Integer("const_int", 3, 3, 3),
]
NUMERICAL = [p for p in MIXED if not isinstance(p, Categorical) or p.is_constant]
CATEGORICAL = [p for p in MIXED if isinstance(p, Categorical) or p.is_constant]

CASES: dict[str, list[tuple[list[ValueType], dict[str, Any]]]] = {
    "bluefin": [
        (NUMERICAL, {"feedback": 1, "random_seed": 5}),
        (NUMERICAL, {"feedback": 2, "optimizer": "rmsprop", "eta_decay_rate": 0.01, "random_seed": 5}),
    ],
    "exponential_weights": [(CATEGORICAL, {"random_seed": 5})],
    "exponential_weights_slates": [(CATEGORICAL, {"random_seed": 5})],
    "paired_search": [
        (MIXED, {"random_seed": 5}),
        (NUMERICAL, {"delta": 0.2, "eta": 0.5, "random_seed": 5}),
        (CATEGORICAL, {"explore": 0.9, "random_seed": 5}),
    ],
    "hybrid_solver": [
        (MIXED, {"random_seed": 5}),
        (MIXED, {"categorical_algorithm_args": {"random_seed": 5}, "numerical_algorithm_args": {"random_seed": 5}}),
        (
            MIXED,
            {
                "categorical_algorithm": "exponential_weights",
                "categorical_algorithm_args": {"random_seed": 9},
                "numerical_algorithm_args": {"feedback": 1, "optimizer": "rmsprop", "random_seed": 9},
            },
        ),
    ],
    "uniform_random": [(MIXED, {"random_seed": 5})],
    "identity": [(MIXED, {})],
    # Optional extras (`make test` installs them all). Small settings keep the suite fast.
    "hopt": [
        (MIXED, {"fmin_args": {"n_startup_jobs": 5, "n_EI_candidates": 8}, "random_seed": 5}),
        (MIXED, {"algo": "anneal", "random_seed": 5}),
    ],
    "slates": [(MIXED, {"n_discretized_values": 5, "random_seed": 5})],
    # Its random initial phase only: one Gaussian-process fit per round (~0.2 s) would make this suite's
    # ~1,150 rounds per case take minutes. tests/test_extras.py takes the GP phase through the same checks.
    "bayesian_optimization": [(MIXED, {"optimizer_args": {"n_initial_points": 400}, "random_seed": 5})],
    "ddpg": [
        (MIXED, {"hidden_sizes": [8], "batch_size": 4, "updates_per_round": 1, "random_seed": 5}),
        (MIXED, {"hidden_sizes": [8, 8], "gamma": 0.5, "epsilon": 0.5, "batch_size": 4, "random_seed": 5}),
    ],
}
PARAMS = [
    pytest.param(name, params, args, id=f"{name}-{i}") for name, cases in CASES.items() for i, (params, args) in
    enumerate(cases)
]  # fmt: skip


def test_every_registered_algorithm_has_a_contract_case() -> None:
    assert set(CASES) == set(ALGORITHMS) - {"autoscope"}


def reward_of(prediction: dict[str, Any]) -> float:
    """A deterministic reward that depends on every tuned parameter."""
    score = 0.0
    score += {"a": 0.1, "b": 0.3, "c": 1.0}.get(prediction.get("cat"), 0.0)
    score += 0.5 if prediction.get("flag") == "off" else 0.0
    score -= abs(prediction.get("int_step", 500) - 500) / 800
    score -= abs(prediction.get("int", 40) - 40) / 64
    score -= (prediction.get("real", 0.8) - 0.8) ** 2
    score -= abs(prediction.get("real_step", 7.5) - 7.5) / 10
    return score


def run(tuner: TuningInstance, rounds: int) -> list[dict[str, Any]]:
    seen = []
    for _ in range(rounds):
        prediction, request_id = tuner.predict()
        reward = reward_of(prediction)
        tuner.store_reward(request_id, reward)
        tuner.set_reward(reward)
        seen.append(prediction)
    return seen


@pytest.mark.parametrize(("name", "params", "args"), PARAMS)
def test_same_seed_same_run(name: str, params: list[ValueType], args: dict[str, Any]) -> None:
    first = run(create_tuning_instance(params, name, copy.deepcopy(args)), 80)
    second = run(create_tuning_instance(params, name, copy.deepcopy(args)), 80)
    assert first == second


@pytest.mark.parametrize(("name", "params", "args"), PARAMS)
def test_inside_the_rails_it_names_what_it_shrinks_and_a_seeded_run_repeats(
    name: str, params: list[ValueType], args: dict[str, Any]
) -> None:
    tuner = create_tuning_instance(params, name, copy.deepcopy(args))
    shrunk = tuner._set_exploration_scale(0.5)  # the hook the rails call: the rails pull the other parameters
    assert isinstance(shrunk, frozenset) and shrunk <= {p.name for p in params}
    assert isinstance(tuner._straddles_start(), bool)
    first = run(create_tuning_instance(params, name, copy.deepcopy(args), safety={"start_scale": 0.25}), 60)
    assert all(p.name in x for x in first for p in params)
    # the rails' own draws are seeded from the tuner's arguments
    assert run(create_tuning_instance(params, name, copy.deepcopy(args), safety={"start_scale": 0.25}), 60) == first


@pytest.mark.parametrize(("name", "params", "args"), PARAMS)
@pytest.mark.parametrize("rounds_before", [0, 1, 7, 8])
@pytest.mark.parametrize("open_round", [False, True])
def test_state_round_trip_continues_identically(
    name: str, params: list[ValueType], args: dict[str, Any], rounds_before: int, open_round: bool
) -> None:
    original = create_tuning_instance(params, name, args)
    run(original, rounds_before)
    if open_round:
        original.predict()
    restored = TuningInstance.loads(original.dumps())
    assert type(restored) is type(original)
    assert restored.iteration == original.iteration
    assert restored.get_current_prediction() == original.get_current_prediction()
    if open_round:
        assert restored.get_tuning_requests() == original.get_tuning_requests()
        for tuner in (original, restored):
            tuner.set_reward(0.25)
    assert run(restored, 40) == run(original, 40)
    assert restored.dumps() == original.dumps()


@pytest.mark.parametrize(("name", "params", "args"), PARAMS)
def test_dumps_is_the_json_of_to_state_at_every_stage(name: str, params: list[ValueType], args: dict[str, Any]) -> None:
    tuner = create_tuning_instance(params, name, args)
    for _ in range(3):  # dumps keeps the unchanging parts encoded: they must stay equal to to_state's
        assert tuner.dumps() == json.dumps(tuner.to_state(), separators=(",", ":"), allow_nan=False)
        run(tuner, 4)
        tuner.predict()
        assert tuner.dumps() == json.dumps(tuner.to_state(), separators=(",", ":"), allow_nan=False)
        tuner.set_reward(0.5)


@pytest.mark.parametrize(("name", "params", "args"), PARAMS)
def test_file_round_trip_plain_and_compressed(
    name: str, params: list[ValueType], args: dict[str, Any], tmp_path: Any
) -> None:
    tuner = create_tuning_instance(params, name, args)
    run(tuner, 5)
    for filename in ("state.json", "state.json.gz"):
        path = tmp_path / filename
        tuner.dump(path)
        assert (path.read_bytes()[:2] == b"\x1f\x8b") == filename.endswith(".gz")
        assert TuningInstance.load(path).dumps() == tuner.dumps()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.gz"]
    if filename.endswith(".gz"):
        assert gzip.decompress(path.read_bytes()).decode() == tuner.dumps()


@pytest.mark.parametrize(("name", "params", "args"), PARAMS)
def test_predictions_in_bounds_on_grid_with_constants(name: str, params: list[ValueType], args: dict[str, Any]) -> None:
    tuner = create_tuning_instance(params, name, args)
    rng = random.Random(0)
    for _ in range(300):
        prediction, request_id = tuner.predict()
        assert list(prediction) == [p.name for p in params]
        assert_on_grid(params, prediction)
        for p in params:
            if p.is_constant:
                assert prediction[p.name] == p.val
        # wild rewards, including huge and negative ones, must never break the learner
        reward = rng.choice([rng.uniform(-1, 1), rng.uniform(-1e9, 1e9), 0.0, 1e-300])
        tuner.store_reward(request_id, reward)
        tuner.set_reward(reward)
    TuningInstance.loads(tuner.dumps())


@pytest.mark.parametrize(("name", "params", "args"), PARAMS)
def test_bad_rewards_leave_state_unchanged(name: str, params: list[ValueType], args: dict[str, Any]) -> None:
    tuner = create_tuning_instance(params, name, args)
    run(tuner, 3)
    _, request_id = tuner.predict()
    before = tuner.dumps()
    for bad in (math.nan, math.inf, "1", None, True):
        with pytest.raises((TypeError, ValueError)):
            tuner.set_reward(bad)  # type: ignore[arg-type]
        if bad is not None:
            with pytest.raises((TypeError, ValueError)):
                tuner.store_reward(request_id, bad)  # type: ignore[arg-type]
    assert tuner.dumps() == before


@pytest.mark.parametrize(("name", "params", "args"), PARAMS)
def test_inputs_not_mutated(name: str, params: list[ValueType], args: dict[str, Any]) -> None:
    params_copy, args_copy = copy.deepcopy(params), copy.deepcopy(args)
    run(create_tuning_instance(params_copy, name, args_copy), 10)
    assert params_copy == params and args_copy == args


@pytest.mark.parametrize(("name", "params", "args"), PARAMS)
def test_repr_names_the_arguments(name: str, params: list[ValueType], args: dict[str, Any]) -> None:
    text = repr(create_tuning_instance(params, name, args))
    assert all(f"{key}=" in text for key in args)
