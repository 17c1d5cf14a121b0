"""BlueFin's update rules, checked against the formulas of DESIGN §4."""

from __future__ import annotations

import math
import random

import pytest

from oppertune.algorithms.bluefin import BlueFin
from oppertune.core.values import Integer, Real

UNIT = [Real("x", 0.5, 0.0, 1.0), Real("y", 0.3, 0.0, 1.0)]


def offset(tuner: BlueFin, prediction: dict[str, float]) -> list[float]:
    return [prediction[n] - tuner.center[n] for n in ("x", "y")]


def test_feedback_1_step() -> None:
    tuner = BlueFin(UNIT, feedback=1, eta=0.01, delta=0.1, random_seed=0)
    center = tuner.center
    assert center == {"x": 0.5, "y": 0.3}
    prediction, _ = tuner.predict()
    u = [d / 0.1 for d in offset(tuner, prediction)]
    assert math.isclose(math.hypot(*u), 1.0)
    tuner.set_reward(0.8)
    for name, ui in zip(("x", "y"), u):
        assert math.isclose(tuner.center[name], center[name] + 0.01 * 2 * 0.8 * ui / 0.1)


def test_feedback_2_pairs_mirror_points_and_use_the_normalised_difference() -> None:
    tuner = BlueFin(UNIT, feedback=2, eta=0.01, delta=0.1, random_seed=0)
    center = tuner.center
    plus, _ = tuner.predict()
    tuner.set_reward(0.9)
    assert tuner.center == center
    minus, _ = tuner.predict()
    for n in ("x", "y"):
        assert math.isclose(plus[n] - center[n], center[n] - minus[n])
    u = [(plus[n] - center[n]) / 0.1 for n in ("x", "y")]
    tuner.set_reward(0.6)
    g_scale = 2 * ((0.9 - 0.6) / 0.9) / (2 * 0.1)
    for n, ui in zip(("x", "y"), u):
        assert math.isclose(tuner.center[n], center[n] + 0.01 * g_scale * ui)


def test_feedback_2_zero_rewards_do_not_divide_by_zero() -> None:
    tuner = BlueFin(UNIT, feedback=2, random_seed=0)
    center = tuner.center
    for _ in range(2):
        tuner.predict()
        tuner.set_reward(0.0)
    assert tuner.center == center


def test_rmsprop_first_step_size() -> None:
    tuner = BlueFin([Real("x", 0.5, 0.0, 1.0)], feedback=1, eta=0.01, optimizer="rmsprop", random_seed=0)
    prediction, _ = tuner.predict()
    sign = 1.0 if prediction["x"] > 0.5 else -1.0
    tuner.set_reward(3.0)
    # v = (1 - alpha) g^2, so the first step is eta / sqrt(1 - alpha) whatever the gradient's size
    assert math.isclose(tuner.center["x"] - 0.5, sign * 0.01 / math.sqrt(0.01), rel_tol=1e-6)


def test_decay_shrinks_eta_and_delta() -> None:
    tuner = BlueFin([Real("x", 0.5, 0.0, 1.0)], feedback=1, eta=0.01, delta=0.2, eta_decay_rate=1.0, random_seed=0)
    for step in range(4):
        prediction, _ = tuner.predict()
        assert math.isclose(abs(prediction["x"] - tuner.center["x"]), 0.2 / math.sqrt(1 + step))
        tuner.set_reward(0.0)


def test_center_stays_within_delta_of_the_bounds() -> None:
    tuner = BlueFin(UNIT, feedback=1, delta=0.1, random_seed=0)
    for _ in range(50):
        tuner.predict()
        tuner.set_reward(1e9)
    assert all(0.1 - 1e-12 <= v <= 0.9 + 1e-12 for v in tuner.center.values())


def test_initial_value_at_a_bound_is_pulled_inside() -> None:
    tuner = BlueFin([Integer("p2", 100, 100, 900, step=100)], delta=0.25)
    assert tuner.center == {"p2": 300}


def test_climbs_a_smooth_hill() -> None:
    params = [Real("a", 0.2, 0.0, 1.0), Real("b", 0.2, 0.0, 1.0)]
    tuner = BlueFin(params, feedback=2, eta=0.05, delta=0.1, random_seed=3)

    def distance(point: dict[str, float]) -> float:
        return math.hypot(point["a"] - 0.7, point["b"] - 0.6)

    start = distance(tuner.center)
    for _ in range(400):
        prediction, _ = tuner.predict()
        tuner.set_reward(1.0 - distance(prediction) ** 2)
    assert distance(tuner.center) < start / 4


def test_a_narrower_exploration_does_not_make_the_steps_noisier() -> None:
    full, narrow = (BlueFin(UNIT, feedback=2, eta=0.01, delta=0.1, random_seed=4) for _ in range(2))
    assert narrow._set_exploration_scale(0.25) == {"x", "y"}
    rewards = random.Random(4).choices([0.2, 0.5, 0.9], k=40)  # pure noise: the same rewards wherever it plays
    for r in rewards:
        for tuner, radius in ((full, 0.1), (narrow, 0.025)):
            prediction, _ = tuner.predict()
            assert math.isclose(math.dist(prediction.values(), tuner.center.values()), radius)
            tuner.set_reward(r)
    assert all(math.isclose(full.center[n], narrow.center[n]) for n in ("x", "y"))


def test_only_constants_is_a_no_op() -> None:
    tuner = BlueFin([Real("a", 0.2, 0.2, 0.2)])
    assert tuner.predict().prediction == {"a": 0.2}
    tuner.set_reward(1.0)
    assert tuner.iteration == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"feedback": 3}, ValueError, "The 'feedback' argument of BlueFin must be 1 or 2. Got 3 instead."),
        ({"feedback": True}, ValueError, "'feedback'"),
        ({"eta": -0.1}, ValueError, "The 'eta' argument of BlueFin must be a positive float. Got -0.1 instead."),
        ({"eta": "fast"}, TypeError, "'eta' argument of BlueFin must be a positive float"),
        ({"delta": 0.5}, ValueError, "'delta' argument of BlueFin must be a float in (0.0, 0.5)"),
        ({"delta": 0}, ValueError, "'delta'"),
        ({"optimizer": "adam"}, ValueError, "'optimizer' argument of BlueFin must be one of 'sgd', 'rmsprop'"),
        ({"optimizer_args": {"alpha": 0.9}}, ValueError, "unknown key(s) ['alpha']"),
        ({"optimizer": "rmsprop", "optimizer_args": {"alpha": 1.5}}, ValueError, "optimizer_args['alpha']"),
        ({"optimizer": "rmsprop", "optimizer_args": {"eps": 0}}, ValueError, "optimizer_args['eps']"),
        ({"optimizer_args": [1]}, TypeError, "'optimizer_args' argument of BlueFin must be a dict"),
        ({"eta_decay_rate": -1}, ValueError, "'eta_decay_rate'"),
        ({"random_seed": -1}, TypeError, "'random_seed' argument of BlueFin must be None or a non-negative int"),
        ({"random_seed": 1.5}, TypeError, "'random_seed'"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        BlueFin(UNIT, **kwargs)
    assert fragment in str(info.value)
