"""EXP3 learners: exploration schedule, learning, numerical safety, and the arm limit."""

from __future__ import annotations

import math

import pytest

from oppertune.algorithms._exp3 import Exp3
from oppertune.algorithms.exponential_weights import ExponentialWeights
from oppertune.algorithms.exponential_weights_slates import ExponentialWeightsSlates
from oppertune.core.values import Categorical

COLOURS = Categorical("colour", "red", ("red", "green", "blue"))
SIZES = Categorical("size", "s", ("s", "m", "l", "xl"))


def test_explores_uniformly_while_gamma_is_one() -> None:
    learner = Exp3(4)
    assert learner.probabilities() == [0.25] * 4
    learner._played, learner._played_probability = 2, 0.25
    learner.learn(1.0)
    assert learner.probabilities() == [0.25] * 4  # gamma = min(1, sqrt(4 / 2)) = 1


def test_probabilities_follow_the_weights_once_gamma_decays() -> None:
    learner = Exp3(2)
    for _ in range(50):
        learner.draw(0.99)
        learner.learn(1.0 if learner._played == 1 else 0.0)
    q = learner.probabilities()
    assert math.isclose(sum(q), 1.0) and q[1] > q[0]
    gamma = math.sqrt(2 / 51)
    assert min(q) >= gamma / 2 - 1e-12


def test_update_matches_the_formula() -> None:
    learner = Exp3(3)
    learner.draw(0.5)
    arm, q = learner._played, learner._played_probability
    learner.learn(0.6)
    eta = math.sqrt(math.log(3) / 3)
    assert math.isclose(learner._weights[arm], math.exp(eta * 0.6 / q))


def test_lowest_reward_scales_the_learning_rate() -> None:
    learner = Exp3(3)
    learner.draw(0.1)
    learner.learn(-4.0)
    arm, q = learner._played, learner._played_probability
    assert math.isclose(learner._weights[arm], math.exp(math.sqrt(math.log(3) / 3) / 4 * -4.0 / q))


def test_huge_rewards_rescale_instead_of_overflowing() -> None:
    tuner = ExponentialWeightsSlates([COLOURS, SIZES], random_seed=1)
    for _ in range(100):
        tuner.predict()
        tuner.set_reward(1e12)
    state = tuner.to_state()["learner"]["exp3"]
    for learner in state:
        assert all(math.isfinite(w) and w >= 0 for w in learner["weights"]) and max(learner["weights"]) <= 1e150


def test_joint_learner_finds_the_best_combination() -> None:
    tuner = ExponentialWeights([COLOURS, SIZES], random_seed=2)
    for _ in range(600):
        prediction, _ = tuner.predict()
        tuner.set_reward(1.0 if prediction == {"colour": "blue", "size": "m"} else 0.2)
    assert tuner.best_configuration == {"colour": "blue", "size": "m"}


def test_slates_learn_each_parameter() -> None:
    tuner = ExponentialWeightsSlates([COLOURS, SIZES], random_seed=2)
    for _ in range(600):
        prediction, _ = tuner.predict()
        tuner.set_reward((prediction["colour"] == "green") + 0.5 * (prediction["size"] == "xl"))
    assert tuner.best_configuration == {"colour": "green", "size": "xl"}


def test_joint_arm_limit_points_to_slates() -> None:
    many = [Categorical(f"c{i}", "0", [str(j) for j in range(10)]) for i in range(7)]
    with pytest.raises(ValueError, match=r"10000000 arms.*exponential_weights_slates"):
        ExponentialWeights(many)
    ExponentialWeightsSlates(many).predict()
