"""The optional algorithms: bayesian_optimization (bo), hopt (hopt), slates (slates) and ddpg (rl).

`make test` installs every extra, so nothing here is skipped. The contract suite covers what it can
(tests/test_algorithm_contract.py); this file covers the rest: the phases the suite cannot afford
(the Gaussian-process phase of bayesian_optimization, ATPE), contexts, arguments and missing extras.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import subprocess
import sys
from collections import Counter
from typing import Any

import numpy as np
import pytest
from grid_checks import assert_on_grid

from oppertune.algorithms import TuningInstance, create_tuning_instance, get_algorithm_class
from oppertune.algorithms.base import _checksum
from oppertune.core.errors import StateError
from oppertune.core.types import Context
from oppertune.core.values import Categorical, Integer, Real

MIXED = [
    Categorical("cat", "b", ("a", "b", "c")),
    Integer("int_step", 100, 100, 900, step=100),
    Integer("int", 7, 1, 64),
    Real("real", 0.45, 0.0, 1.0),
    Real("real_step", 2.5, 0.0, 10.0, step=0.5),
    Integer("const_int", 3, 3, 3),
]
QUADRATIC = [Real("x", 0.1, 0.0, 1.0)]
EXTRAS = {"bayesian_optimization": "bo", "hopt": "hopt", "slates": "slates", "ddpg": "rl"}
LIBRARIES = {"bayesian_optimization": "skopt", "hopt": "hyperopt", "slates": "vowpalwabbit", "ddpg": "torch"}
# GP phase after 3 random points; a cheap acquisition keeps a round near 0.1 s.
BO_FAST = {
    "n_initial_points": 3,
    "acq_func": "EI",
    "acq_optimizer": "sampling",
    "acq_optimizer_kwargs": {"n_points": 200},
}


def reward_of(prediction: dict[str, Any], context: Context | None = None) -> float:
    """A deterministic reward of every tuned parameter (and of the context's 'kind', when given)."""
    best_cat = "a" if context is not None and context.data.get("kind") == "batch" else "c"
    score = 1.0 if prediction.get("cat") == best_cat else 0.0
    score -= abs(prediction.get("int_step", 500) - 500) / 800
    score -= abs(prediction.get("int", 40) - 40) / 64
    score -= (prediction.get("real", 0.8) - 0.8) ** 2
    score -= abs(prediction.get("real_step", 7.5) - 7.5) / 10
    score -= (prediction.get("x", 0.8) - 0.8) ** 2
    return score


def run(tuner: TuningInstance, rounds: int, contexts: list[Any] | None = None) -> list[dict[str, Any]]:
    """Play ``rounds`` rounds, cycling through ``contexts``; returns the predictions."""
    seen = []
    for i in range(rounds):
        context = None if not contexts else Context(contexts[i % len(contexts)])
        prediction, request_id = tuner.predict(context)
        reward = reward_of(prediction, context)
        tuner.store_reward(request_id, reward)
        tuner.set_reward(reward, context)
        seen.append(prediction)
    return seen


def assert_continues_identically(
    tuner: TuningInstance, rounds: int, contexts: list[Any] | None = None, open_contexts: list[Any] | None = None
) -> None:
    """Reload mid-run (with open rounds in ``open_contexts``) and check both copies play the same."""
    for data in open_contexts or []:
        tuner.predict(None if data is None else Context(data))
    restored = TuningInstance.loads(tuner.dumps())
    assert restored.dumps() == tuner.dumps()
    for data in open_contexts or []:
        for t in (tuner, restored):
            t.set_reward(0.25, None if data is None else Context(data))
    assert run(restored, rounds, contexts) == run(tuner, rounds, contexts)
    assert restored.dumps() == tuner.dumps()


# ------------------------------------------------------------------------------------------ all four
@pytest.mark.parametrize("name", sorted(EXTRAS))
def test_missing_extra_names_the_extra(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, LIBRARIES[name], None)  # makes `import <library>` fail
    with pytest.raises(ImportError, match=rf"pip install 'oppertune\[{EXTRAS[name]}\]'"):
        create_tuning_instance(MIXED, name)


def test_atpe_without_lightgbm_says_what_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(ImportError, match=r"'atpe' algorithm needs lightgbm.*pip install 'oppertune\[hopt\]'"):
        create_tuning_instance(MIXED, "hopt", {"algo": "atpe"})


def test_modules_import_without_their_libraries() -> None:
    probe = (
        "import sys, oppertune.algorithms.bayesian_optimization, oppertune.algorithms.hopt,"
        " oppertune.algorithms.slates, oppertune.algorithms.ddpg;"
        "print(sorted(m for m in ('torch', 'skopt', 'sklearn', 'hyperopt', 'lightgbm', 'vowpalwabbit')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(EXTRAS))
def test_registered_and_usable_by_name(name: str) -> None:
    assert get_algorithm_class(name).name == name
    args = {"optimizer_args": BO_FAST} if name == "bayesian_optimization" else {}
    tuner = create_tuning_instance(MIXED, name, {**args, "random_seed": 1})
    for prediction in run(tuner, 5):
        assert_on_grid(MIXED, prediction)
    assert tuner.iteration == 5


@pytest.mark.parametrize("name", sorted(EXTRAS))
def test_only_constants_is_fine(name: str) -> None:
    tuner = create_tuning_instance([Integer("c", 3, 3, 3), Categorical("k", "x", ["x"])], name, {"random_seed": 1})
    assert run(tuner, 3) == [{"c": 3, "k": "x"}] * 3
    assert TuningInstance.loads(tuner.dumps()).dumps() == tuner.dumps()


# ------------------------------------------------------------------------------------------ bayesian_optimization
def test_bo_gp_phase_seeded_runs_repeat() -> None:
    args = {"optimizer_args": BO_FAST, "random_seed": 4}
    first = run(create_tuning_instance(MIXED, "bayesian_optimization", copy.deepcopy(args)), 8)
    assert first == run(create_tuning_instance(MIXED, "bayesian_optimization", args), 8)


@pytest.mark.parametrize(
    "optimizer_args",
    [BO_FAST, {"n_initial_points": 2, "acq_optimizer_kwargs": {"n_points": 100, "n_restarts_optimizer": 2}}],
    ids=["EI-sampling", "gp_hedge-lbfgs"],
)
@pytest.mark.parametrize("open_round", [False, True])
def test_bo_round_trip_in_gp_phase_continues_identically(optimizer_args: dict[str, Any], open_round: bool) -> None:
    tuner = create_tuning_instance(MIXED, "bayesian_optimization", {"optimizer_args": optimizer_args, "random_seed": 2})
    run(tuner, 4)
    assert tuner._optimizer.models  # the surrogate is in use
    assert_continues_identically(tuner, 3, open_contexts=[None] if open_round else None)


def test_bo_unseeded_tuner_reloads_exactly() -> None:
    tuner = create_tuning_instance(QUADRATIC, "bayesian_optimization", {"optimizer_args": BO_FAST})
    run(tuner, 4)
    assert_continues_identically(tuner, 2)


def test_bo_maximises_and_stays_on_the_grid_under_wild_rewards() -> None:
    tuner = create_tuning_instance(QUADRATIC, "bayesian_optimization", {"optimizer_args": BO_FAST, "random_seed": 0})
    run(tuner, 12)
    assert abs(tuner.best_configuration["x"] - 0.8) < 0.1
    wild = create_tuning_instance(MIXED, "bayesian_optimization", {"optimizer_args": BO_FAST, "random_seed": 0})
    rng = random.Random(0)
    for _ in range(8):
        prediction, _ = wild.predict()
        assert_on_grid(MIXED, prediction)
        wild.set_reward(rng.choice([rng.uniform(-1e9, 1e9), 0.0, 1e-300]))
    TuningInstance.loads(wild.dumps())


@pytest.mark.parametrize(
    ("optimizer_args", "error", "fragment"),
    [
        ({"n_calls": 5}, ValueError, "'optimizer_args' argument of BayesianOptimization has unknown key(s)"),
        ({"random_state": 5}, ValueError, "unknown key(s) ['random_state']"),
        ({"base_estimator": "GBRT"}, ValueError, "'optimizer_args['base_estimator']' argument of BayesianOptimization"),
        ({"acq_func": object()}, TypeError, "must hold only JSON-compatible values"),
        ({"acq_func": "best"}, ValueError, "was refused by scikit-optimize: expected acq_func"),
        ([("acq_func", "EI")], TypeError, "'optimizer_args' argument of BayesianOptimization must be a dict"),
    ],
)
def test_bo_bad_arguments(optimizer_args: Any, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        create_tuning_instance(MIXED, "bayesian_optimization", {"optimizer_args": optimizer_args})
    assert fragment in str(info.value)


# ------------------------------------------------------------------------------------------ hopt
@pytest.mark.parametrize("algo", ["tpe", "rand", "anneal", "atpe"])
def test_hopt_every_algo_repeats_and_round_trips(algo: str) -> None:
    args = {"algo": algo, "random_seed": 3, "fmin_args": {"n_startup_jobs": 3} if algo == "tpe" else {}}
    first = create_tuning_instance(MIXED, "hopt", copy.deepcopy(args))  # imports first: some imports draw
    python_state, numpy_state = random.getstate(), np.random.get_state()
    assert run(first, 12) == run(create_tuning_instance(MIXED, "hopt", args), 12)
    assert_continues_identically(first, 4, open_contexts=[None])
    # ATPE draws from the global generators: they are seeded for the call and restored after it
    assert random.getstate() == python_state
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state))


def test_hopt_points_to_evaluate_come_first_and_rewards_are_maximised() -> None:
    points = [{"cat": "a", "int": 40}, {"real": 0.8, "real_step": 7.5, "int_step": 900}]
    tuner = create_tuning_instance(MIXED, "hopt", {"fmin_args": {"points_to_evaluate": points}, "random_seed": 0})
    seen = run(tuner, 2)
    assert seen[0] == {"cat": "a", "int_step": 100, "int": 40, "real": 0.45, "real_step": 2.5, "const_int": 3}
    assert seen[1] == {"cat": "b", "int_step": 900, "int": 7, "real": 0.8, "real_step": 7.5, "const_int": 3}
    quadratic = create_tuning_instance(QUADRATIC, "hopt", {"fmin_args": {"n_startup_jobs": 5}, "random_seed": 0})
    run(quadratic, 40)
    assert abs(quadratic.best_configuration["x"] - 0.8) < 0.1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"algo": "bayes"}, "'algo' argument of HOpt must be one of 'tpe', 'rand', 'anneal', 'atpe'"),
        ({"fmin_args": {"max_evals": 10}}, "key(s) ['max_evals'] that steer fmin's own loop"),
        ({"fmin_args": {"shrink_coef": 0.1}}, "unknown key(s) ['shrink_coef'] for algo 'tpe'"),
        ({"algo": "rand", "fmin_args": {"gamma": 0.2}}, "unknown key(s) ['gamma'] for algo 'rand'"),
        ({"fmin_args": {"gamma": 2}}, "'fmin_args['gamma']' argument of HOpt must be a float in (0.0, 1.0)"),
        ({"fmin_args": {"n_startup_jobs": 0}}, "'fmin_args['n_startup_jobs']' argument of HOpt must be a positive"),
        ({"fmin_args": {"points_to_evaluate": [{"nope": 1}]}}, "names unknown parameter(s) ['nope']"),
        ({"fmin_args": {"points_to_evaluate": [{"int": 99}]}}, "has int=99, outside [1, 64]"),
        ({"fmin_args": {"points_to_evaluate": [{"cat": "z"}]}}, "has a bad value for 'cat'"),
        ({"fmin_args": {"points_to_evaluate": {"cat": "a"}}}, "must be a list of dicts"),
        ({"random_seed": -1}, "'random_seed' argument of HOpt must be None or a non-negative int"),
    ],
)
def test_hopt_bad_arguments(args: dict[str, Any], fragment: str) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        create_tuning_instance(MIXED, "hopt", args)
    assert fragment in str(info.value)


# ------------------------------------------------------------------------------------------ slates
def test_slates_discretises_numbers_on_their_grids() -> None:
    params = [
        Integer("coarse", 0, 0, 100, step=10),
        Integer("fine", 1, 1, 64),
        Real("cont", 0.0, -1.0, 1.0),
        Real("stepped", 0.0, 0.0, 9.0, step=0.5),
        Categorical("c", "x", ["x", "y"]),
    ]
    tuner = create_tuning_instance(params, "slates", {"n_discretized_values": 5})
    assert tuner.discretized_values == {
        "coarse": [0, 20, 50, 80, 100],
        "fine": [1, 17, 33, 48, 64],
        "cont": [-1.0, -0.5, 0.0, 0.5, 1.0],
        "stepped": [0.0, 2.0, 4.5, 7.0, 9.0],
        "c": ["x", "y"],
    }
    assert create_tuning_instance(params, "slates").discretized_values["coarse"] == list(range(0, 101, 10))


def test_slates_learns_per_context() -> None:
    tuner = create_tuning_instance([MIXED[0]], "slates", {"random_seed": 0})
    contexts = [{"kind": "batch", "load": 0.2}, {"kind": "web", "load": 0.9}]
    seen = run(tuner, 400, contexts)
    late = {kind: Counter(p["cat"] for p in seen[300 + i :: 2]) for i, kind in enumerate(("batch", "web"))}
    assert late["batch"].most_common(1)[0][0] == "a"
    assert late["web"].most_common(1)[0][0] == "c"


def test_slates_round_trip_with_open_rounds_in_two_contexts() -> None:
    tuner = create_tuning_instance(MIXED, "slates", {"n_discretized_values": 7, "random_seed": 5})
    contexts = [{"kind": "batch", "tenant": "a b|c:d", "ok": True, "none": None}, {"kind": "web", "load": 3}]
    run(tuner, 30, contexts)
    state = json.loads(tuner.dumps())
    model = base64.b64decode(state["learner"]["model"], validate=True)
    assert model[4:10] == b"9.11.9"  # Vowpal Wabbit's own model format, carried as base64 text
    assert_continues_identically(tuner, 30, contexts, open_contexts=contexts)


def test_slates_corrupt_model_is_a_state_error() -> None:
    tuner = create_tuning_instance(MIXED, "slates", {"random_seed": 5})
    run(tuner, 3)
    state = tuner.to_state()
    state["learner"]["model"] = base64.b64encode(b"not a model").decode()
    state["checksum"] = _checksum({k: v for k, v in state.items() if k != "checksum"})
    with pytest.raises(StateError, match="not a readable Vowpal Wabbit model"):
        TuningInstance.from_state(state)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"n_discretized_values": 1}, "'n_discretized_values' argument of Slates must be an int of at least 2"),
        ({"n_discretized_values": 2.5}, "'n_discretized_values' argument of Slates must be an int"),
        ({"n_discretized_values": True}, "'n_discretized_values' argument of Slates must be an int"),
        ({"vw_args": "-f model.vw"}, "'vw_args' argument of Slates must not set -f"),
        ({"vw_args": "--random_seed=3"}, "must not set --random_seed"),
        ({"vw_args": "--epsilon 'x"}, "'vw_args' argument of Slates cannot be parsed"),
        ({"vw_args": ["--epsilon", "0.1"]}, "'vw_args' argument of Slates must be a string"),
    ],
)
def test_slates_bad_arguments(args: dict[str, Any], fragment: str) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        create_tuning_instance(MIXED, "slates", args)
    assert fragment in str(info.value)


# ------------------------------------------------------------------------------------------ ddpg
STATE_CONFIG = [
    Real("load", 0.5, 0.0, 1.0),
    Categorical("tier", "gold", ["gold", "silver"]),
    {"type": "integer", "name": "queue", "val": 0, "min": 0, "max": 100},
]
DDPG_SMALL = {"state_config": STATE_CONFIG, "hidden_sizes": [16], "batch_size": 8, "updates_per_round": 2}
STATES = [{"load": 0.2, "tier": "gold", "queue": 10}, {"load": 0.9, "tier": "silver", "queue": 250}]


def test_ddpg_reads_its_state_vector_from_the_context() -> None:
    tuner = create_tuning_instance(MIXED, "ddpg", {**DDPG_SMALL, "random_seed": 0})
    with pytest.raises(ValueError, match=r"needs a value for each of \['load', 'tier', 'queue'\]"):
        tuner.predict()
    with pytest.raises(ValueError, match=r"Missing: \['queue'\]; unknown: \['extra'\]"):
        tuner.predict({"load": 0.1, "tier": "gold", "extra": 1})
    with pytest.raises(ValueError, match="State entry 'tier' must be one of the categories"):
        tuner.predict({"load": 0.1, "tier": "bronze", "queue": 1})
    with pytest.raises(TypeError, match="State entry 'load' must be a number"):
        tuner.predict({"load": "high", "tier": "gold", "queue": 1})
    assert tuner.iteration == 0 and not tuner.get_tuning_requests()
    assert tuner._state_vector(Context(STATES[1])) == [0.9, 0.0, 1.0, 1.0]  # queue 250 clipped to max
    without = create_tuning_instance(MIXED, "ddpg", {"random_seed": 0})
    with pytest.raises(ValueError, match="without a 'state_config' takes no context data"):
        without.predict({"load": 0.1})


def test_ddpg_learns_from_every_stored_reward_and_the_next_state() -> None:
    tuner = create_tuning_instance(MIXED, "ddpg", {**DDPG_SMALL, "gamma": 0.5, "random_seed": 0})
    first = Context(STATES[0])
    for reward in (0.1, 0.2, 0.3):
        tuner.store_reward(tuner.predict(first).request_id, reward)
    tuner.set_reward(context_id=first)
    assert [t[2] for t in tuner._buffer] == [0.1, 0.2, 0.3]
    assert all(t[3] is None for t in tuner._buffer) and tuner._n_open == 3
    tuner.predict(STATES[1])  # the next round's state completes the transitions
    assert all(t[3] == [0.9, 0.0, 1.0, 1.0] for t in tuner._buffer) and tuner._n_open == 0
    tuner.set_reward(0.5, Context(STATES[1]))
    assert len(tuner._buffer) == 4


@pytest.mark.parametrize("gamma", [0.0, 0.9])
def test_ddpg_round_trip_with_states_continues_identically(gamma: float) -> None:
    tuner = create_tuning_instance(MIXED, "ddpg", {**DDPG_SMALL, "gamma": gamma, "buffer_size": 20, "random_seed": 7})
    run(tuner, 25, STATES)
    assert len(tuner._buffer) == 20
    assert_continues_identically(tuner, 15, STATES, open_contexts=STATES)


def test_ddpg_seeded_runs_repeat_and_leave_torch_global_generator_alone() -> None:
    import torch

    before = torch.random.get_rng_state()
    args = {**DDPG_SMALL, "random_seed": 3}
    assert run(create_tuning_instance(MIXED, "ddpg", copy.deepcopy(args)), 20, STATES) == run(
        create_tuning_instance(MIXED, "ddpg", args), 20, STATES
    )
    assert torch.equal(torch.random.get_rng_state(), before)


def test_ddpg_state_is_plain_json_and_checked_on_load() -> None:
    tuner = create_tuning_instance(MIXED, "ddpg", {**DDPG_SMALL, "random_seed": 1})
    run(tuner, 10, STATES)
    state = tuner.to_state()
    learner = json.loads(json.dumps(state))["learner"]
    assert [len(learner[n]) for n in ("actor", "critic", "actor_target", "critic_target")] == [4, 4, 4, 4]
    assert len(learner["actor"][0]) == 16 and len(learner["actor"][0][0]) == 4  # 16 x (1 + 2 one-hot + 1)
    assert len(learner["actor_optimizer"]) == 4 and learner["actor_optimizer"][0]["step"] == 20.0
    learner["actor"][0] = learner["actor"][0][:-1]
    state["learner"] = learner
    state["checksum"] = _checksum({k: v for k, v in state.items() if k != "checksum"})
    with pytest.raises(StateError, match="'actor' must be finite numbers of shape"):
        TuningInstance.from_state(state)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"hidden_sizes": [0]}, "'hidden_sizes' argument of DDPG must be a positive int"),
        ({"hidden_sizes": "32"}, "'hidden_sizes' argument of DDPG must be a list of positive ints"),
        ({"gamma": 1.0}, "'gamma' argument of DDPG must be a float in [0.0, 1.0)"),
        ({"tau": 0}, "'tau' argument of DDPG must be a positive float"),
        ({"tau": 1.5}, "'tau' argument of DDPG must be a float in (0, 1]"),
        ({"epsilon": 1.5}, "'epsilon' argument of DDPG must be a float in [0, 1]"),
        ({"actor_lr": -1e-3}, "'actor_lr' argument of DDPG must be a positive float"),
        ({"buffer_size": 0}, "'buffer_size' argument of DDPG must be a positive int"),
        ({"batch_size": True}, "'batch_size' argument of DDPG must be a positive int"),
        ({"state_config": [Real("a", 0, 0, 1), Real("a", 0, 0, 1)]}, "names ['a'] more than once"),
        ({"state_config": {"name": "a"}}, "'state_config' argument of DDPG must be a list of parameter specs"),
    ],
)
def test_ddpg_bad_arguments(args: dict[str, Any], fragment: str) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        create_tuning_instance(MIXED, "ddpg", args)
    assert fragment in str(info.value)
