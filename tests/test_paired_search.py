"""PairedSearch: pairs, bounded perturbations, categorical switching, and invariance to reward scale."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from state_edits import resealed

from oppertune.algorithms import create_tuning_instance
from oppertune.algorithms.hybrid_solver import HybridSolver
from oppertune.algorithms.paired_search import PairedSearch
from oppertune.bench.problems import get_problem
from oppertune.core.errors import StateError
from oppertune.core.values import Categorical, Integer, Real, transform

PARAMS = [
    Categorical("mode", "x", ("x", "y", "z")),
    Real("a", 0.2, 0.0, 1.0),
    Real("b", 0.8, 0.0, 10.0),
    Integer("n", 2, 1, 3),
]


def score(p: dict) -> float:
    return {"x": 0.0, "y": 0.2, "z": 1.0}[p["mode"]] - (p["a"] - 0.7) ** 2 - ((p["b"] - 3.0) / 10) ** 2


def _one_pair(tuner: PairedSearch, reward: Callable[[dict], float]) -> tuple[dict, dict, dict]:
    """Play one pair: the centre before it and both configurations played."""
    center = tuner.center
    first, _ = tuner.predict()
    tuner.set_reward(reward(first))
    second, _ = tuner.predict()
    tuner.set_reward(reward(second))
    return center, first, second


def test_pairs_share_categories_and_mirror_numbers() -> None:
    tuner = PairedSearch(PARAMS, random_seed=1)
    incumbent_pairs = 0
    for _ in range(40):
        center, first, second = _one_pair(tuner, score)
        assert first["mode"] == second["mode"]
        assert first["n"] != second["n"]  # a coarse grid still moves by a whole step
        if first["mode"] == center["mode"]:  # the incumbent's pairs mirror around the centre itself
            incumbent_pairs += 1
            assert math.isclose(first["a"] - center["a"], center["a"] - second["a"], abs_tol=1e-9) or {
                first["a"],
                second["a"],
            } & {0.0, 1.0}
    assert incumbent_pairs > 20


@pytest.mark.parametrize("seed", range(8))
def test_the_first_pair_measures_the_incumbent_before_any_category_is_tried(seed: int) -> None:
    tuner = PairedSearch(PARAMS, random_seed=seed)
    _, first, second = _one_pair(tuner, score)
    assert first["mode"] == second["mode"] == "x"  # an exploring pair needs the incumbent's level to be judged
    modes = {_one_pair(tuner, score)[1]["mode"] for _ in range(10)}
    assert modes != {"x"}  # then exploration starts


def test_perturbations_of_the_incumbent_stay_near_the_center() -> None:
    tuner = PairedSearch(PARAMS, delta=0.05, random_seed=2)
    checked = 0
    for _ in range(100):
        center = tuner.center
        prediction, _ = tuner.predict()
        if prediction["mode"] == center["mode"]:
            checked += 1
            for p in PARAMS[1:3]:
                distance = abs(transform(p, prediction[p.name]) - transform(p, center[p.name]))
                assert distance <= 0.05 / math.sqrt(3) + 1e-9
        tuner.set_reward(score(prediction))
    assert checked > 50


SHIFTED = [Categorical("mode", "x", ("x", "y")), Real("a", 0.2, 0.0, 1.0), Real("b", 0.5, 0.0, 1.0)]


def shifted(p: dict) -> float:
    """``y`` is worse than ``x`` at ``x``'s best numbers (a = 0.2) and better at its own (a = 0.8)."""
    best_a, base = {"x": (0.2, 0.0), "y": (0.8, 0.2)}[p["mode"]]
    return base - 2.0 * (p["a"] - best_a) ** 2 - (p["b"] - 0.5) ** 2


def test_switches_to_a_category_that_only_wins_at_its_own_numbers() -> None:
    """An explored category carries numbers of its own, so it is judged near its optimum, not the incumbent's."""
    switched = 0
    for seed in range(20):
        tuner = PairedSearch(SHIFTED, random_seed=seed)
        for _ in range(400):
            prediction, _ = tuner.predict()
            tuner.set_reward(shifted(prediction))
        switched += tuner.center["mode"] == "y" and abs(tuner.center["a"] - 0.8) < 0.15
    assert switched >= 10  # 13 of 20 (none when a category is judged at the incumbent's numbers)


def test_an_explored_category_is_played_at_numbers_of_its_own() -> None:
    tuner = PairedSearch(SHIFTED, random_seed=4)
    gaps = []
    for _ in range(300):
        center, first, second = _one_pair(tuner, shifted)
        if center["mode"] == "x" and first["mode"] == "y":
            gaps.append(0.5 * (first["a"] + second["a"]) - center["a"])
    assert len(gaps) >= 3 and gaps[0] == pytest.approx(0.0)  # first tried at the incumbent's numbers
    assert max(gaps) > 0.1  # then at numbers that moved toward y's own best a


def test_switches_to_a_clearly_better_category_and_climbs() -> None:
    tuner = PairedSearch(PARAMS, random_seed=3)
    for _ in range(300):
        prediction, _ = tuner.predict()
        tuner.set_reward(score(prediction))
    center = tuner.center
    assert center["mode"] == "z"
    assert abs(center["a"] - 0.7) < 0.1 and abs(center["b"] - 3.0) < 1.5


def test_categorical_only_rounds_are_single() -> None:
    tuner = PairedSearch([Categorical("c", "a", ("a", "b"))], random_seed=0)
    for _ in range(30):
        prediction, _ = tuner.predict()
        tuner.set_reward(1.0 if prediction["c"] == "b" else 0.0)
    assert tuner.center == {"c": "b"}


@settings(max_examples=25, deadline=None)
@given(st.floats(1e-3, 1e3), st.floats(-1e6, 1e6))
def test_invariant_to_affine_reward_scale(scale: float, offset: float) -> None:
    plain, scaled = PairedSearch(PARAMS, random_seed=4), PairedSearch(PARAMS, random_seed=4)
    for _ in range(60):
        p1, _ = plain.predict()
        p2, _ = scaled.predict()
        assert p1["mode"] == p2["mode"] and p1["n"] == p2["n"]
        assert math.isclose(p1["a"], p2["a"], abs_tol=1e-6) and math.isclose(p1["b"], p2["b"], abs_tol=1e-5)
        plain.set_reward(score(p1))
        scaled.set_reward(offset + scale * score(p1))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"delta": 0.6}, "'delta' argument of PairedSearch must be a float in (0.0, 0.5)"),
        ({"eta": 0}, "'eta' argument of PairedSearch must be a positive float"),
        ({"explore": 1.0}, "'explore' argument of PairedSearch must be a float in [0.0, 1.0)"),
    ],
)
def test_bad_arguments(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        PairedSearch(PARAMS, **kwargs)
    assert fragment in str(info.value)


def test_hybrid_default_mode_is_paired_search() -> None:
    default = create_tuning_instance(PARAMS, algorithm_args={"random_seed": 7})
    direct = PairedSearch(PARAMS, random_seed=7)
    assert isinstance(default, HybridSolver)
    for _ in range(20):
        a, _ = default.predict()
        b, _ = direct.predict()
        assert a == b
        default.set_reward(score(a))
        direct.set_reward(score(b))


def test_hybrid_with_any_learner_argument_uses_the_prototype_learners() -> None:
    tuner = HybridSolver(PARAMS, numerical_algorithm_args={"feedback": 1}, random_seed=3)
    seeded = HybridSolver(
        PARAMS,
        categorical_algorithm="exponential_weights_slates",
        categorical_algorithm_args={"random_seed": 3},
        numerical_algorithm="bluefin",
        numerical_algorithm_args={"feedback": 1, "random_seed": 3},
    )
    for _ in range(10):
        a, _ = tuner.predict()
        b, _ = seeded.predict()
        assert a == b
        tuner.set_reward(score(a))
        seeded.set_reward(score(b))


def test_default_mode_keeps_a_learner_per_context() -> None:
    from oppertune.core.types import Context

    tuner = HybridSolver(PARAMS, random_seed=5)
    optimum = {"fast": "z", "slow": "y"}
    for _ in range(150):
        for job in ("fast", "slow"):
            context = Context({"job": job})
            prediction, _ = tuner.predict(context)
            reward = 1.0 if prediction["mode"] == optimum[job] else 0.0
            tuner.set_reward(reward - (prediction["a"] - 0.5) ** 2, context_id=context.id)
    restored = type(tuner).loads(tuner.dumps())
    for job in ("fast", "slow"):
        context = Context({"job": job})
        assert restored.predict(context).prediction == tuner.predict(context).prediction
    learners = tuner._per_context
    assert {learners[Context({"job": j}).id].center["mode"] for j in optimum} == {"z", "y"}


def test_default_mode_caps_the_number_of_contexts(monkeypatch: pytest.MonkeyPatch) -> None:
    import oppertune.algorithms.hybrid_solver as hybrid
    from oppertune.core.types import Context

    monkeypatch.setattr(hybrid, "MAX_CONTEXTS", 2)
    tuner = HybridSolver(PARAMS)
    for i in range(2):
        tuner.predict(Context({"i": i}))
    before = tuner.dumps()
    with pytest.raises(ValueError, match=r"at most 2 distinct contexts.*autoscope"):
        tuner.predict(Context({"i": 99}))
    assert tuner.dumps() == before


def _play_pairs(tuner: PairedSearch, pairs: int, reward: Callable[[dict], float]) -> None:
    for _ in range(2 * pairs):
        prediction, _ = tuner.predict()
        tuner.set_reward(reward(prediction))


def test_step_gain_grows_on_a_steady_slope_and_shrinks_on_noise() -> None:
    reals = [Real(n, 0.1, 0.0, 1.0) for n in "abc"]
    slope = PairedSearch(reals, random_seed=11)
    _play_pairs(slope, 15, lambda p: p["a"] + p["b"] + p["c"])
    assert slope._gain > 1.0
    rng = random.Random(0)
    noise = PairedSearch(reals, random_seed=11)
    _play_pairs(noise, 60, lambda p: rng.gauss(0.0, 1.0))
    assert noise._gain < 1.0
    assert PairedSearch.loads(noise.dumps())._gain == noise._gain


def test_one_outlier_does_not_freeze_the_search() -> None:
    reals = [Real(n, 0.2, 0.0, 1.0) for n in "ab"]

    def climb(outlier_at: int | None) -> float:
        tuner, rounds = PairedSearch(reals, random_seed=5), 0

        def reward(p: dict) -> float:
            nonlocal rounds
            rounds += 1
            return -((p["a"] - 0.8) ** 2) - (p["b"] - 0.8) ** 2 + (1e6 if rounds == outlier_at else 0.0)

        _play_pairs(tuner, 40, reward)
        return abs(tuner.center["a"] - 0.8) + abs(tuner.center["b"] - 0.8)

    assert climb(outlier_at=11) < 0.1 + climb(outlier_at=None)


def test_finds_a_combination_that_only_pays_when_two_categories_change_together() -> None:
    params = [Categorical(n, "a", ("a", "b", "c")) for n in ("p", "q", "r", "s")]

    def reward(p: dict) -> float:
        changed = (p["p"] != "a") + (p["q"] != "a")
        return 1.0 if (p["p"], p["q"]) == ("c", "c") else (0.5 if changed == 0 else 0.3)

    found = 0
    for seed in range(30):
        tuner = PairedSearch(params, random_seed=seed)
        _play_pairs(tuner, 150, reward)  # 300 rounds: without numbers a "pair" is one round
        found += (tuner.center["p"], tuner.center["q"]) == ("c", "c")
    assert found >= 18  # 21 of 30; 9 when exploration decayed with the single changes only


def test_a_joint_change_whose_numbers_lie_elsewhere_is_found() -> None:
    """The best pair of categories is worse than the incumbent's at the incumbent's numbers; its numbers must
    move along (offsets) while it keeps being tried (exploration held up while it looks promising)."""
    problem = get_problem("mixed_interactions")
    found = 0
    for seed in range(30):
        tuner = PairedSearch(problem.parameters, random_seed=seed)
        noise = random.Random(seed)
        _play_pairs(tuner, 100, lambda p, rng=noise: problem.reward(problem.score(p), rng))
        found += (tuner.center["compression"], tuner.center["io_mode"]) == ("zstd", "mmap")
    assert found >= 15  # 19 of 30; 9 while exploration decayed regardless and joint changes moved offsets by half


def test_categories_whose_effects_add_up_get_no_extra_joint_exploration() -> None:
    """Where every joint change is worth the sum of its halves, exploration decays as usual: late rounds keep
    the incumbent categories, as they do where the learner has no joint changes to consider at all."""
    params = [Categorical("p", "a", ("a", "b", "c", "d")), Categorical("q", "a", ("a", "b", "c", "d")),
              Real("x", 0.5, 0.0, 1.0)]  # fmt: skip
    effect = {"a": 0.0, "b": 0.3, "c": -0.2, "d": -0.4}

    def additive(x: dict) -> float:
        return 1.0 + effect[x["p"]] + effect[x["q"]] - (x["x"] - 0.7) ** 2

    late_changes = []
    for seed in range(20):
        tuner = PairedSearch(params, random_seed=seed)
        noise = random.Random(seed)
        played = []
        for _ in range(300):
            prediction, _ = tuner.predict()
            tuner.set_reward(additive(prediction) + noise.gauss(0.0, 0.03))
            played.append(prediction)
        assert (tuner.center["p"], tuner.center["q"]) == ("b", "b")
        late_changes.append(sum((x["p"], x["q"]) != ("b", "b") for x in played[200:]))
    # 8.7 of the last 100 rounds try other categories (8.6 without any joint rule; 10.7 when untried joint changes
    # got extra exploration too)
    assert sum(late_changes) / len(late_changes) < 10


def test_exploration_scale_shrinks_the_perturbations_not_the_steps() -> None:
    params = [Real("a", 0.5, 0.0, 1.0), Real("b", 0.5, 0.0, 1.0)]
    moves = {}
    for scale in (1.0, 0.5):
        tuner = PairedSearch(params, random_seed=3)
        tuner._set_exploration_scale(scale)
        plus, _ = tuner.predict()
        tuner.set_reward(plus["a"] + plus["b"])
        minus, _ = tuner.predict()
        tuner.set_reward(minus["a"] + minus["b"])
        moves[scale] = (plus["a"] - minus["a"], tuner.center["a"] - 0.5)
    assert math.isclose(moves[0.5][0], 0.5 * moves[1.0][0])
    assert moves[1.0][1] > 0.0 and math.isclose(moves[0.5][1], moves[1.0][1])  # the first step: the same gradient


def test_grid_parameters_keep_exploring_below_one_grid_step() -> None:
    tuner = PairedSearch([Integer("n", 8, 0, 16, step=4)], random_seed=5)  # the perturbation is one grid step
    tuner._set_exploration_scale(0.25)
    perturbed = 0
    for _ in range(200):
        plus, _ = tuner.predict()
        tuner.set_reward(1.0)
        minus, _ = tuner.predict()
        tuner.set_reward(1.0)
        assert abs(plus["n"] - minus["n"]) in (0, 8) and tuner.center["n"] == 8
        perturbed += plus["n"] != minus["n"]
    assert 30 <= perturbed <= 70  # about a quarter of the pairs, one grid step either side


def _newer_fields_are_optional_and_checked(
    rounds: int, newer: tuple[str, ...], bad: tuple[tuple[str, Any], ...]
) -> str:
    """Play ``rounds``; a state without the ``newer`` fields (saved before they existed) loads to the same centre, and
    each ``bad`` (field, value) is refused naming the field. Returns the state."""
    tuner = PairedSearch(SHIFTED, random_seed=2)
    for _ in range(rounds):
        prediction, _ = tuner.predict()
        tuner.set_reward(shifted(prediction))
    state = json.loads(tuner.dumps())
    older = json.loads(tuner.dumps())
    for field in newer:
        del older["learner"][field]
    assert PairedSearch.loads(resealed(older)).center == tuner.center
    for field, value in bad:
        edited = json.loads(json.dumps(state))
        edited["learner"][field] = value
        with pytest.raises(StateError, match=field):
            PairedSearch.loads(resealed(edited))
    return tuner.dumps()


def test_states_without_category_offsets_load_and_bad_offsets_are_refused() -> None:
    bad = (("offsets", [[[0.0, 0.0]]]), ("offsets", [[[0.0, 0.0], [2.0, 0.0]]]), ("shift", [0.0]))
    _newer_fields_are_optional_and_checked(60, ("offsets", "shift"), bad)


def _engine_after_a_shift(shift_threshold: float | None, seed: int) -> str:
    """Engine "b" is best until round 150; then the workload changes, "b" becomes the worst and "c" the best."""
    params = [Categorical("engine", "a", ("a", "b", "c")), Real("x", 0.5, 0.0, 1.0)]
    tuner = PairedSearch(params, shift_threshold=shift_threshold, random_seed=seed)
    noise = random.Random(seed)
    for t in range(300):
        prediction, _ = tuner.predict()
        base = {"a": 0.0, "b": 0.3, "c": 0.1} if t < 150 else {"a": 0.0, "b": -0.4, "c": 0.2}
        tuner.set_reward(1.0 + base[prediction["engine"]] - (prediction["x"] - 0.6) ** 2 + noise.gauss(0.0, 0.05))
    return tuner.center["engine"]


def test_a_lasting_drop_in_reward_makes_the_learner_explore_its_categories_again() -> None:
    noticed = sum(_engine_after_a_shift(8.0, seed) == "c" for seed in range(20))
    unnoticed = sum(_engine_after_a_shift(None, seed) == "c" for seed in range(20))
    assert noticed == 20 and unnoticed <= 16  # 15 of 20 find "c" without the detector, by the usual exploration


def test_shift_detector_state_round_trips_and_older_states_load() -> None:
    bad = (("drop", -1.0), ("shifts", -1), ("shifts", 1.5), ("level_updates", -2))
    state = _newer_fields_are_optional_and_checked(40, ("drop", "shifts", "level_updates"), bad)
    assert PairedSearch.loads(state).dumps() == state
    for threshold in (0.0, -1.0, float("nan"), "8"):
        with pytest.raises((ValueError, TypeError), match="shift_threshold"):
            PairedSearch(SHIFTED, shift_threshold=threshold)  # type: ignore[arg-type]
