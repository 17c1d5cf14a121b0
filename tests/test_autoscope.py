"""AutoScope: routing, shared leaves, split learning, bad input, state round trips and the example."""

from __future__ import annotations

import copy
import json
import math
import random
import runpy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from state_edits import resealed_state
from testpaths import EXAMPLES

from oppertune.algorithms import TuningInstance, create_tuning_instance
from oppertune.algorithms.autoscope import MAX_HEIGHT, AutoScope, AutoScopeFeature
from oppertune.core.errors import StateError
from oppertune.core.types import Context
from oppertune.core.values import Categorical, Integer, Real

PARAMETERS = [
    Integer("max-total-unready-percentage", 50, 0, 100),
    Integer("scan-interval", 60, 5, 120),
    Real("ratio", 0.5, 0.0, 1.0),
    Integer("constant", 3, 3, 3),
]
JOBS = ["batch", "ml", "web", "stream"]
JOB_FEATURE: AutoScopeFeature = {"name": "jobtype", "values": JOBS}
MIXED_FEATURES: list[AutoScopeFeature] = [JOB_FEATURE, {"name": "load", "values": None}]
# Height 2, inputs batch, ml, web, stream, bias: batch and ml -> leaf 0, web -> leaf 2, stream -> leaf 3.
FROZEN = [[-1.0, -1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, -1.0], [0.0, 0.0, -1.0, 1.0, 0.0]]


def make(**kwargs: Any) -> AutoScope:
    args: dict[str, Any] = {"features": [JOB_FEATURE], "height": 2, "random_seed": 3}
    args.update(kwargs)
    return AutoScope(PARAMETERS, **args)


def score(context: Context, prediction: dict[str, Any]) -> float:
    """A deterministic reward whose optimum depends on the job type (and load)."""
    job = context.data["jobtype"]
    target = {"batch": (70, 95), "ml": (70, 95), "web": (20, 10), "stream": (45, 30)}[job]
    load = context.data.get("load", 0.0)
    miss = ((prediction["max-total-unready-percentage"] - target[0] - 10 * load) / 100) ** 2
    miss += ((prediction["scan-interval"] - target[1]) / 115) ** 2 + (prediction["ratio"] - 0.3) ** 2
    return 1.0 - miss


def contexts_for(features: list[AutoScopeFeature]) -> list[Context]:
    if len(features) == 1:
        return [Context({"jobtype": j}) for j in JOBS]
    return [Context({"jobtype": j, "load": x}) for j in JOBS for x in (-0.5, 0.5)]


def drive(tuner: AutoScope, contexts: list[Context], rounds: int, seed: int) -> list[Any]:
    """Interleaved predictions and rewards over several contexts; returns everything predicted."""
    rng = random.Random(seed)
    seen: list[Any] = []
    for _ in range(rounds):
        context = rng.choice(contexts)
        prediction, _ = tuner.predict(context)
        seen.append((context.id, prediction))
        if rng.random() < 0.6:
            open_ids = sorted({q.context.id for q in tuner.get_tuning_requests()})
            chosen = rng.choice(open_ids)
            request = tuner.get_tuning_requests(chosen)[0]
            reward = score(request.context, request.prediction)
            if rng.random() < 0.5:
                tuner.store_reward(request.id, reward)
                tuner.set_reward(context_id=chosen)
            else:
                tuner.set_reward(reward, context_id=chosen)
    return seen


# --------------------------------------------------------------------- construction and registry
def test_registered_and_built_through_the_registry() -> None:
    tuner = create_tuning_instance(PARAMETERS, "autoscope", {"features": [JOB_FEATURE], "height": 2})
    assert isinstance(tuner, AutoScope) and tuner.name == "autoscope" and tuner.uses_context


def test_design_example_runs() -> None:
    tuner = AutoScope(
        PARAMETERS[:2],
        features=[{"name": "jobtype", "values": ("batch", "ml", "web", "stream")}],
        height=2,
    )
    context = Context({"jobtype": "web"})
    prediction, request_id = tuner.predict(context)
    assert list(prediction) == ["max-total-unready-percentage", "scan-interval"]
    tuner.store_reward(request_id, 0.5)
    tuner.set_reward(0.5, context_id=context.id)
    assert tuner.iteration == 1
    assert tuner.features == [{"name": "jobtype", "values": ["batch", "ml", "web", "stream"]}]


def test_arguments_are_kept_json_compatible_and_rebuild() -> None:
    tuner = make(internal_weights=FROZEN, optimizer="rmsprop", optimizer_args={"alpha": 0.9}, eta=0.1, delta=0.5)
    arguments = tuner.get_arguments()
    assert json.loads(json.dumps(arguments)) == arguments
    assert arguments["internal_weights"] == FROZEN and arguments["leaf_algorithm"] == "bluefin"
    rebuilt = AutoScope(PARAMETERS, **arguments)
    assert rebuilt.split_weights == tuner.split_weights
    assert all(f"{name}=" in repr(tuner) for name in arguments)


def test_default_tree_spreads_distinct_values_over_distinct_leaves() -> None:
    tuner = make()
    assert [tuner.leaf_of({"jobtype": j}) for j in JOBS] == [0, 1, 2, 3]
    six = AutoScope(PARAMETERS, features=[{"name": "j", "values": list("abcdef")}], height=3)
    assert len({six.leaf_of({"j": v}) for v in "abcdef"}) == 6
    mixed = make(features=MIXED_FEATURES, height=3)
    leaves = {mixed.leaf_of(c) for c in contexts_for(MIXED_FEATURES)}
    assert len(leaves) == 8  # four job types, each split by the sign of the load


def test_given_weights_route_as_given_and_predict_the_leafs_configuration() -> None:
    tuner = make(internal_weights=FROZEN, fix_internal_weights=True)
    assert [tuner.leaf_of({"jobtype": j}) for j in JOBS] == [0, 0, 2, 3]
    assert tuner.leaf_of(Context({"jobtype": "web"})) == 2
    batch, _ = tuner.predict({"jobtype": "batch"})
    ml, _ = tuner.predict({"jobtype": "ml"})
    web, _ = tuner.predict({"jobtype": "web"})
    assert batch == ml  # one leaf, one open leaf round, one configuration
    assert batch["constant"] == 3
    for prediction in (batch, web):
        assert 0 <= prediction["max-total-unready-percentage"] <= 100 and 5 <= prediction["scan-interval"] <= 120


def test_inspection_api() -> None:
    tuner = make(internal_weights=FROZEN, fix_internal_weights=True)
    centers = tuner.leaf_centers
    assert len(centers) == 4
    assert centers[0] == {"max-total-unready-percentage": 50, "scan-interval": 60, "ratio": 0.5}
    splits = tuner.splits()
    assert [s["node"] for s in splits] == [0, 1, 2] and [s["depth"] for s in splits] == [0, 1, 1]
    assert splits[0]["categorical"]["jobtype"]["left"] == ["batch", "ml"]
    assert splits[0]["categorical"]["jobtype"]["right"] == ["web", "stream"]
    assert splits[2]["categorical"]["jobtype"]["right"] == ["stream"]
    assert splits[1]["bias"] == -1.0 and splits[0]["categorical"]["jobtype"]["weights"]["web"] == 1.0
    mixed = make(features=MIXED_FEATURES, height=2)
    assert set(mixed.splits()[0]["numeric"]) == {"load"}
    assert tuner.split_weights == FROZEN and tuner.split_steps == 0


# --------------------------------------------------------------------- learning
def test_frozen_weights_never_change_but_leaves_learn() -> None:
    tuner = make(internal_weights=FROZEN, fix_internal_weights=True)
    drive(tuner, contexts_for([JOB_FEATURE]), 200, seed=1)
    assert tuner.split_weights == FROZEN and tuner.split_steps == 0
    assert tuner.leaf_centers[0] != {"max-total-unready-percentage": 50, "scan-interval": 60, "ratio": 0.5}


def test_split_learning_moves_the_weights() -> None:
    tuner = make(features=MIXED_FEATURES, height=3, eta=0.5)
    before = tuner.split_weights
    drive(tuner, contexts_for(MIXED_FEATURES), 300, seed=2)
    assert tuner.split_steps > 0 and tuner.split_weights != before
    assert all(math.isfinite(w) for row in tuner.split_weights for w in row)


def test_split_step_follows_the_documented_gradient() -> None:
    """Height 1, one served context, feedback=1: W[0] += eta * (g.c_right - g.c_left) * [x, 1]."""
    weights = [[0.3, -0.2, 0.0]]  # a -> right (z = 0.3), b -> left
    tuner = AutoScope(
        PARAMETERS[:2],
        features=[{"name": "job", "values": ["a", "b"]}],
        height=1,
        eta=0.1,
        internal_weights=weights,
        leaf_algorithm_args={"feedback": 1, "eta": 0.05},
        random_seed=0,
    )
    # Teach the left leaf first so that the two centres differ.
    for _ in range(3):
        tuner.predict({"job": "b"})
        tuner.set_reward(0.2, context_id=Context({"job": "b"}))
    left, right = tuner._leaves
    assert tuner.split_weights != weights  # b's steps moved its own weight
    w = tuner.split_weights
    tuner.predict({"job": "a"})
    tuner.set_reward(0.7, context_id=Context({"job": "a"}))
    g = right._last_gradient
    ascent = sum(gi * ci for gi, ci in zip(g, right._center)) - sum(gi * ci for gi, ci in zip(g, left._center))
    assert ascent != 0.0
    expected = [w[0][0] + 0.1 * ascent, w[0][1], w[0][2] + 0.1 * ascent]
    assert tuner.split_weights[0] == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_no_split_update_outside_the_window() -> None:
    tuner = make(internal_weights=[[5.0, 5.0, -5.0, -5.0, 0.0], [0.0] * 5, [0.0] * 5], delta=1.0)
    batch = Context({"jobtype": "batch"})
    for _ in range(20):
        prediction, _ = tuner.predict(batch)
        tuner.set_reward(score(batch, prediction), context_id=batch)
    weights = tuner.split_weights
    assert weights[0] == [5.0, 5.0, -5.0, -5.0, 0.0]  # |z| = 5 > delta: no gradient through the root
    assert tuner.split_steps > 0  # node 2 (|z| = 0) still learned


def test_rerouted_context_teaches_its_leaf_but_not_the_splits() -> None:
    tuner = make(leaf_algorithm_args={"feedback": 1})
    context = Context({"jobtype": "batch"})
    tuner.predict(context)
    leaf = tuner.leaf_of(context)
    learner_before = json.dumps(tuner._leaves[leaf]._get_state())
    # Another context's learning (simulated here directly) now sends batch elsewhere.
    tuner._weights[0][0] = -tuner._weights[0][0]
    assert tuner.leaf_of(context) != leaf
    weights = tuner.split_weights
    tuner.set_reward(0.9, context_id=context)
    assert json.dumps(tuner._leaves[leaf]._get_state()) != learner_before  # the leaf learned
    assert tuner.split_weights == weights and tuner.split_steps == 0  # the splits did not


@pytest.mark.parametrize("leaf_algorithm", ["uniform_random", "identity"])
def test_gradient_free_leaves_need_frozen_weights(leaf_algorithm: str) -> None:
    with pytest.raises(ValueError, match="fix_internal_weights=True"):
        make(leaf_algorithm=leaf_algorithm)
    tuner = make(leaf_algorithm=leaf_algorithm, internal_weights=FROZEN, fix_internal_weights=True)
    drive(tuner, contexts_for([JOB_FEATURE]), 60, seed=4)
    assert tuner.split_weights == FROZEN
    assert tuner.leaf_centers == [None] * 4
    TuningInstance.loads(tuner.dumps())


def test_wild_rewards_never_break_the_tuner() -> None:
    tuner = make(features=MIXED_FEATURES, height=3, leaf_algorithm_args={"feedback": 1}, eta=1.0)
    rng = random.Random(0)
    contexts = contexts_for(MIXED_FEATURES)
    for _ in range(300):
        context = rng.choice(contexts)
        tuner.predict(context)
        reward = rng.choice([rng.uniform(-1, 1), rng.uniform(-1e9, 1e9), 0.0, 1e-300, 1e308, -1e308])
        tuner.set_reward(reward, context_id=context)
    assert all(math.isfinite(w) for row in tuner.split_weights for w in row)
    TuningInstance.loads(tuner.dumps())


# --------------------------------------------------------------------- shared leaves, several contexts
def shared_leaf_tuner() -> tuple[AutoScope, Context, Context, Any]:
    tuner = make(internal_weights=FROZEN, fix_internal_weights=True, leaf_algorithm_args={"feedback": 2})
    return tuner, Context({"jobtype": "batch"}), Context({"jobtype": "ml"}), tuner._leaves[0]


def test_contexts_sharing_a_feedback2_leaf_share_its_round_and_it_learns_once_per_round() -> None:
    tuner, batch, ml, leaf = shared_leaf_tuner()
    plus_batch, _ = tuner.predict(batch)
    plus_ml, _ = tuner.predict(ml)
    assert plus_batch == plus_ml
    tuner.set_reward(0.2, context_id=batch)
    assert leaf._sign == 1.0  # waits for ml, which joined the round
    tuner.set_reward(0.6, context_id=ml)
    assert leaf._sign == -1.0 and leaf._first_reward == pytest.approx(0.4)  # the mean, once
    minus_batch, _ = tuner.predict(batch)
    minus_ml, _ = tuner.predict(ml)
    assert minus_batch == minus_ml != plus_batch
    tuner.set_reward(0.3, context_id=ml)
    tuner.set_reward(0.5, context_id=batch)
    assert leaf._steps == 1 and leaf._sign == 1.0
    assert tuner.iteration == 4


def test_late_joiner_adds_to_the_mean_or_is_dropped_when_the_round_closed() -> None:
    tuner, batch, ml, leaf = shared_leaf_tuner()
    tuner.predict(batch)
    tuner.predict(ml)
    tuner.set_reward(0.2, context_id=batch)
    again, _ = tuner.predict(batch)  # late: same configuration, does not hold the round open
    assert again == tuner.get_current_prediction(ml)
    tuner.set_reward(0.5, context_id=batch)  # arrives before the round closes: joins the mean
    tuner.set_reward(0.8, context_id=ml)  # the last member: the leaf learns from (0.2 + 0.5 + 0.8) / 3
    assert leaf._first_reward == pytest.approx(0.5)

    tuner.predict(batch)
    tuner.predict(ml)
    tuner.set_reward(0.1, context_id=ml)
    tuner.predict(ml)  # late joiner of a round that batch still holds open
    tuner.set_reward(0.3, context_id=batch)  # closes the round: the leaf steps
    state = json.dumps(leaf._get_state())
    tuner.set_reward(0.9, context_id=ml)  # too late: dropped, and nothing breaks
    assert json.dumps(leaf._get_state()) == state
    assert tuner.get_tuning_requests() == [] and tuner.iteration == 6


def test_each_reward_goes_to_its_own_contexts_leaf() -> None:
    tuner = make(internal_weights=FROZEN, fix_internal_weights=True, leaf_algorithm_args={"feedback": 1})
    web, stream = Context({"jobtype": "web"}), Context({"jobtype": "stream"})
    tuner.predict(web)
    tuner.predict(stream)
    web_state = json.dumps(tuner._leaves[2]._get_state())
    tuner.set_reward(0.9, context_id=stream)
    assert json.dumps(tuner._leaves[2]._get_state()) == web_state
    assert tuner._leaves[3]._steps == 1 and tuner._leaves[2]._steps == 0
    tuner.set_reward(0.1, context_id=web)
    assert tuner._leaves[2]._steps == 1


# --------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("data", "error", "needle"),
    [
        ({}, ValueError, "'jobtype'"),
        (None, ValueError, "'jobtype'"),
        ({"load": 0.1}, ValueError, "'jobtype'"),
        ({"jobtype": "web"}, ValueError, "'load'"),
        ({"jobtype": "gpu", "load": 0.1}, ValueError, "'gpu'"),
        ({"jobtype": 3, "load": 0.1}, ValueError, "'jobtype'"),
        ({"jobtype": "web", "load": "high"}, ValueError, "'load'"),
        ({"jobtype": "web", "load": True}, ValueError, "'load'"),
        ({"jobtype": "web", "load": None}, ValueError, "'load'"),
        ({"jobtype": "web", "load": 10**400}, ValueError, "'load'"),
        ({"jobtype": "web", "load": 0.1, "zone": "eu"}, ValueError, "'zone'"),
    ],
)
def test_bad_contexts_are_rejected_with_state_unchanged(data: Any, error: type, needle: str) -> None:
    tuner = make(features=MIXED_FEATURES, height=3)
    drive(tuner, contexts_for(MIXED_FEATURES), 30, seed=5)
    tuner.predict({"jobtype": "web", "load": 0.5})  # at least one open round
    before = tuner.dumps()
    with pytest.raises(error, match=needle):
        tuner.predict(data)
    with pytest.raises(error, match=needle):
        tuner.leaf_of(data or {})
    assert tuner.dumps() == before


def bad_constructor_cases() -> list[Any]:
    two_by_five = [[0.0] * 5] * 2
    return [
        ({"features": [{"name": "jobtype", "values": ["only"]}]}, ValueError, "at least two values"),
        ({"features": [{"name": "jobtype", "values": []}]}, ValueError, "at least two values"),
        ({"features": [{"name": "jobtype", "values": ["a", "a"]}]}, ValueError, "distinct"),
        ({"features": [{"name": "jobtype", "values": ["a", 1]}]}, TypeError, "strings"),
        ({"features": [{"name": "jobtype", "values": "ab"}]}, TypeError, "'jobtype'"),
        ({"features": [JOB_FEATURE, {"name": "jobtype", "values": None}]}, ValueError, "'jobtype' more than once"),
        ({"features": []}, ValueError, "at least one feature"),
        ({"features": [{"name": "x"}]}, TypeError, "'name' and 'values'"),
        ({"features": [{"name": "", "values": None}]}, TypeError, "non-empty string"),
        ({"features": "jobtype"}, TypeError, "'features'"),
        ({"internal_weights": two_by_five}, ValueError, r"3 rows .* of 5 finite numbers.*\(2, 5\)"),
        ({"internal_weights": [[0.0] * 4] * 3}, ValueError, "'internal_weights'.*shape"),
        ({"internal_weights": [[0.0] * 5, [0.0] * 5, [0.0] * 4]}, ValueError, "'internal_weights'"),
        ({"internal_weights": [[math.nan] + [0.0] * 4] * 3}, ValueError, "non-finite"),
        ({"internal_weights": [[math.inf] + [0.0] * 4] * 3}, ValueError, "non-finite"),
        ({"internal_weights": [["a"] * 5] * 3}, ValueError, "'internal_weights'"),
        ({"height": 0}, ValueError, "'height'"),
        ({"height": MAX_HEIGHT + 1}, ValueError, "'height'"),
        ({"height": 2.0}, ValueError, "'height'"),
        ({"height": True}, ValueError, "'height'"),
        ({"leaf_algorithm": "nope"}, ValueError, "'leaf_algorithm'.*Unknown algorithm 'nope'"),
        ({"leaf_algorithm": "exponential_weights"}, ValueError, "'leaf_algorithm'.*exponential_weights"),
        ({"leaf_algorithm": "autoscope"}, ValueError, "'leaf_algorithm'"),
        ({"leaf_algorithm": "hybrid_solver"}, ValueError, "'leaf_algorithm'.*fix_internal_weights=True"),
        ({"leaf_algorithm_args": {"random_seed": 1}}, ValueError, "'leaf_algorithm_args'.*random_seed"),
        ({"leaf_algorithm_args": {"speed": 1}}, ValueError, r"'leaf_algorithm_args'.*\['speed'\]"),
        ({"leaf_algorithm_args": {"eta": -1.0}}, ValueError, "'eta' argument of BlueFin"),
        ({"eta": -0.1}, ValueError, "The 'eta' argument of AutoScope must be a positive float. Got -0.1 instead."),
        ({"delta": 0}, ValueError, "'delta'"),
        ({"optimizer": "adam"}, ValueError, "'optimizer'"),
        ({"optimizer_args": {"alpha": 0.9}}, ValueError, "'optimizer_args'"),
        ({"optimizer": "rmsprop", "optimizer_args": {"alpha": 2.0}}, ValueError, "alpha"),
        ({"fix_internal_weights": "yes"}, TypeError, "'fix_internal_weights'"),
        ({"random_seed": -1}, TypeError, "'random_seed'"),
    ]


@pytest.mark.parametrize(("kwargs", "error", "needle"), bad_constructor_cases())
def test_bad_arguments_are_rejected_naming_them(kwargs: dict[str, Any], error: type, needle: str) -> None:
    with pytest.raises(error, match=needle):
        make(**kwargs)


def test_categorical_parameters_are_rejected() -> None:
    with pytest.raises(
        TypeError, match=r"leaf_algorithm 'bluefin' does not tune Categorical parameters \(parameter 'mode'\)"
    ):
        AutoScope([*PARAMETERS, Categorical("mode", "a", ("a", "b"))], features=[JOB_FEATURE])
    AutoScope([*PARAMETERS, Categorical("fixed", "a", ("a",))], features=[JOB_FEATURE])  # a constant is fine


def test_bad_rewards_and_unknown_contexts_leave_state_unchanged() -> None:
    tuner = make()
    tuner.predict({"jobtype": "web"})
    before = tuner.dumps()
    for bad in (math.nan, math.inf, "1", True):
        with pytest.raises((TypeError, ValueError)):
            tuner.set_reward(bad, context_id=Context({"jobtype": "web"}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no outstanding prediction"):
        tuner.set_reward(0.5, context_id=Context({"jobtype": "batch"}))
    assert tuner.dumps() == before


def test_inputs_not_mutated() -> None:
    features = [{"name": "jobtype", "values": ["a", "b"]}, {"name": "load", "values": None}]
    weights = [[0.1, 0.2, 0.3, 0.4]]
    leaf_args = {"feedback": 1, "eta": 0.1}
    copies = copy.deepcopy((features, weights, leaf_args))
    tuner = AutoScope(PARAMETERS, features=features, height=1, internal_weights=weights, leaf_algorithm_args=leaf_args)
    for i in range(20):
        context = Context({"jobtype": "ab"[i % 2], "load": 0.3})
        tuner.predict(context)
        tuner.set_reward(0.1 * i, context_id=context)
    assert (features, weights, leaf_args) == copies


# --------------------------------------------------------------------- reproducibility and state
@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_same_seed_same_run(optimizer: str) -> None:
    contexts = contexts_for(MIXED_FEATURES)
    runs = [
        drive(make(features=MIXED_FEATURES, height=3, optimizer=optimizer, eta=0.3), contexts, 200, 9) for _ in "ab"
    ]
    assert runs[0] == runs[1]
    other = drive(make(features=MIXED_FEATURES, height=3, random_seed=4), contexts, 200, 9)
    assert other != runs[0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"features": MIXED_FEATURES, "height": 3, "eta": 0.3},
        {"features": MIXED_FEATURES, "height": 2, "optimizer": "rmsprop", "eta": 0.05},
        {"internal_weights": FROZEN, "fix_internal_weights": True},
        {"internal_weights": FROZEN, "leaf_algorithm_args": {"feedback": 1}, "eta": 0.5},
        {"leaf_algorithm": "uniform_random", "fix_internal_weights": True},
    ],
)
@pytest.mark.parametrize("rounds_before", [0, 5, 37])
def test_state_round_trip_mid_run_continues_identically(kwargs: dict[str, Any], rounds_before: int) -> None:
    contexts = contexts_for(kwargs.get("features", [JOB_FEATURE]))
    original = make(**kwargs)
    drive(original, contexts, rounds_before, seed=11)
    # Outstanding predictions in several contexts, sharing leaves and (for feedback=2) mid pair.
    for context in contexts[::2]:
        original.predict(context)
    restored = TuningInstance.loads(original.dumps())
    assert isinstance(restored, AutoScope)
    assert restored.dumps() == original.dumps()
    by_id = lambda requests: sorted(requests, key=lambda q: q.id)  # noqa: E731
    assert by_id(restored.get_tuning_requests()) == by_id(original.get_tuning_requests())
    assert drive(restored, contexts, 250, seed=12) == drive(original, contexts, 250, seed=12)
    assert restored.dumps() == original.dumps()
    assert restored.split_weights == original.split_weights


def test_round_trip_with_a_leaf_mid_pair_and_a_late_joiner() -> None:
    tuner, batch, ml, _ = shared_leaf_tuner()
    web = Context({"jobtype": "web"})
    tuner.predict(batch)
    tuner.predict(ml)
    tuner.predict(web)
    tuner.set_reward(0.4, context_id=batch)
    tuner.predict(batch)  # late joiner
    restored = TuningInstance.loads(tuner.dumps())
    for t in (tuner, restored):
        t.set_reward(0.6, context_id=ml)
        t.set_reward(0.7, context_id=batch)
        t.set_reward(0.1, context_id=web)
    assert restored.dumps() == tuner.dumps()
    contexts = [batch, ml, web, Context({"jobtype": "stream"})]
    assert drive(restored, contexts, 100, seed=3) == drive(tuner, contexts, 100, seed=3)


def tampered(tuner: AutoScope, change: Any) -> dict[str, Any]:
    state = tuner.to_state()
    change(state["learner"])
    return resealed_state(state)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["weights"].pop(),
        lambda s: s["weights"][0].__setitem__(0, "x"),
        lambda s: s["square_avg"][0].__setitem__(0, -1.0),
        lambda s: s["leaves"].pop(),
        lambda s: s["leaf_rounds"].__setitem__(0, None),
        lambda s: s["leaf_rounds"][2].__setitem__("waiting", 5),
        lambda s: s["leaf_rounds"][2]["config"].pop("ratio"),
        lambda s: s["tickets"].clear(),
        lambda s: next(iter(s["tickets"].values())).__setitem__("leaf", 99),
        lambda s: next(iter(s["tickets"].values())).__setitem__("blocking", False),
        lambda s: s["contributors"].__setitem__(0, [[[[99, 1.0]], 1]]),
        lambda s: s.__setitem__("next_round_id", 0),
    ],
)
def test_inconsistent_state_is_rejected(change: Any) -> None:
    tuner = make(internal_weights=FROZEN, fix_internal_weights=True)
    tuner.predict({"jobtype": "batch"})
    tuner.predict({"jobtype": "web"})
    with pytest.raises(StateError):
        TuningInstance.from_state(tampered(tuner, change))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.tuples(st.integers(0, 7), st.booleans(), st.floats(-2, 2)), min_size=1, max_size=60),
    height=st.integers(1, 3),
    feedback=st.sampled_from([1, 2]),
)
def test_any_interleaving_keeps_state_valid_and_resumable(steps: list[Any], height: int, feedback: int) -> None:
    tuner = make(features=MIXED_FEATURES, height=height, eta=0.5, leaf_algorithm_args={"feedback": feedback})
    contexts = contexts_for(MIXED_FEATURES)
    for index, reward_now, reward in steps:
        context = contexts[index]
        prediction, _ = tuner.predict(context)
        assert list(prediction) == [p.name for p in PARAMETERS]
        if reward_now:
            tuner.set_reward(reward, context_id=context)
    restored = TuningInstance.loads(tuner.dumps())
    assert restored.dumps() == tuner.dumps()
    for context in contexts:
        if tuner.get_current_prediction(context) is not None:
            for t in (tuner, restored):
                t.set_reward(0.5, context_id=context)
    assert restored.dumps() == tuner.dumps()


# --------------------------------------------------------------------- the example
def test_example_reaches_its_goal_with_frozen_and_learned_splits() -> None:
    namespace = runpy.run_path(str(EXAMPLES / "autoscope.py"))
    frozen = namespace["main"](learn_splits=False, verbose=False)
    learned = namespace["main"](learn_splits=True, verbose=False)
    for result in (frozen, learned):
        assert result["hours"] <= namespace["MAX_HOURS"]
        assert set(result["best"]) == set(namespace["JOB_TYPES"])
        assert all(reward >= namespace["GOAL"] for reward, _ in result["best"].values())
    assert frozen["leaves"]["batch"] == frozen["leaves"]["ml-training"]
    assert len(set(frozen["leaves"].values())) == 3
    assert len(set(learned["leaves"].values())) == 4


def test_example_runs_as_a_script(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / "autoscope.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "frozen splits: every job type reached reward >= 0.95" in out
    assert "learning the splits: every job type reached reward >= 0.95" in out


def test_hybrid_leaves_tune_categorical_parameters_per_context() -> None:
    params = [*PARAMETERS, Categorical("mode", "a", ("a", "b"))]
    tuner = AutoScope(params, features=[JOB_FEATURE], height=2, leaf_algorithm="hybrid_solver",
                      fix_internal_weights=True, random_seed=1)  # fmt: skip
    for _ in range(20):
        for job in JOB_FEATURE["values"]:
            context = Context({"jobtype": job})
            prediction, _ = tuner.predict(context)
            assert prediction["mode"] in ("a", "b")
            tuner.set_reward(1.0 if prediction["mode"] == "b" else 0.0, context_id=context.id)
    restored = TuningInstance.loads(tuner.dumps())
    context = Context({"jobtype": JOB_FEATURE["values"][0]})
    assert restored.predict(context).prediction == tuner.predict(context).prediction
