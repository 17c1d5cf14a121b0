"""The shared tuning loop: requests, rounds, rewards, contexts, and errors that change nothing."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from oppertune.algorithms import create_tuning_instance
from oppertune.algorithms.bluefin import BlueFin
from oppertune.algorithms.hybrid_solver import HybridSolver
from oppertune.core.errors import NoPendingPredictionError, RoundClosedError, UnknownRequestError
from oppertune.core.types import Context
from oppertune.core.values import Categorical, Integer, Real

PARAMETERS = [
    Categorical(name="p1", val="medium", categories=("low", "medium", "high")),
    Integer(name="p2", val=100, min=100, max=900, step=100),
    Real(name="p3", val=0.45, min=0.0, max=1.0),
]


def make_tuner() -> HybridSolver:
    return HybridSolver(
        PARAMETERS,
        categorical_algorithm_args={"random_seed": 1},
        numerical_algorithm_args={"feedback": 2, "random_seed": 1},
    )


def test_repeated_predict_returns_same_configuration_with_new_ids() -> None:
    tuner = make_tuner()
    first, id1 = tuner.predict()
    second, id2 = tuner.predict()
    assert first == second and id1 != id2
    assert [r.id for r in tuner.get_tuning_requests()] == [id1, id2]


def test_prediction_keeps_parameter_order_and_includes_constants() -> None:
    params = [Real("a", 0.5, 0, 1), Categorical("const", "x", ["x"]), Integer("b", 3, 1, 9), Integer("k", 4, 4, 4)]
    prediction, _ = create_tuning_instance(params, "hybrid_solver").predict()
    assert list(prediction) == ["a", "const", "b", "k"]
    assert prediction["const"] == "x" and prediction["k"] == 4


def test_store_reward_is_listed_and_set_reward_without_value_uses_the_mean() -> None:
    tuner, twin = make_tuner(), make_tuner()
    _, a = tuner.predict()
    _, b = tuner.predict()
    tuner.store_reward(a, 0.2)
    tuner.store_reward(b, 0.6, reward_data={"p95_ms": 12})
    requests = {r.id: r for r in tuner.get_tuning_requests()}
    assert requests[a].reward == 0.2 and requests[b].reward_data == {"p95_ms": 12}
    tuner.set_reward()
    twin.predict()
    twin.set_reward(0.4)
    assert tuner.iteration == twin.iteration == 1
    assert tuner.predict().prediction == twin.predict().prediction
    assert tuner.get_tuning_requests()[0].reward is None


def test_round_bookkeeping() -> None:
    tuner = make_tuner()
    assert tuner.iteration == 0 and tuner.get_current_prediction() is None
    prediction, request_id = tuner.predict()
    assert tuner.get_current_prediction() == prediction
    tuner.set_reward(1.0)
    assert tuner.iteration == 1 and tuner.get_current_prediction() is None and tuner.get_tuning_requests() == []
    with pytest.raises(RoundClosedError, match="already closed"):
        tuner.store_reward(request_id, 1.0)


def test_mutating_returned_values_does_not_touch_the_tuner() -> None:
    tuner = make_tuner()
    prediction, _ = tuner.predict()
    original = dict(prediction)
    prediction["p2"] = -1
    tuner.get_tuning_requests()[0].prediction["p2"] = -1
    assert tuner.predict().prediction == original


def test_inputs_are_not_mutated() -> None:
    params = [{"type": "real", "name": "r", "val": 0.5, "min": 0, "max": 1}]
    args = {"numerical_algorithm_args": {"eta": 0.05, "random_seed": 3}}
    before = copy.deepcopy((params, args))
    tuner = create_tuning_instance(params, "hybrid_solver", args)
    for _ in range(5):
        tuner.predict()
        tuner.set_reward(0.5)
    assert (params, args) == before


def test_numpy_rewards_are_accepted() -> None:
    tuner = make_tuner()
    _, rid = tuner.predict()
    tuner.store_reward(rid, np.float32(0.5))
    tuner.set_reward(np.int64(1))
    assert tuner.iteration == 1


def test_context_given_as_dict_or_context() -> None:
    tuner = make_tuner()
    prediction, _ = tuner.predict({})
    assert tuner.predict(Context()).prediction == prediction
    tuner.set_reward(0.5, context_id="")


class TestErrorsChangeNothing:
    """Every bad call raises a clear error and leaves the whole state as it was."""

    @pytest.fixture
    def tuner(self) -> HybridSolver:
        tuner = make_tuner()
        for r in (0.3, 0.5, 0.7):
            tuner.predict()
            tuner.set_reward(r)
        _, self.request_id = tuner.predict()
        return tuner

    @pytest.mark.parametrize(
        ("reward", "error", "fragment"),
        [
            (math.nan, ValueError, "must be finite"),
            (math.inf, ValueError, "must be finite"),
            (-math.inf, ValueError, "must be finite"),
            ("0.5", TypeError, "must be a real number"),
            (True, TypeError, "must be a real number"),
            ([0.5], TypeError, "must be a real number"),
        ],
    )
    def test_bad_rewards(self, tuner: HybridSolver, reward: object, error: type[Exception], fragment: str) -> None:
        before = tuner.dumps()
        with pytest.raises(error, match=fragment):
            tuner.set_reward(reward)  # type: ignore[arg-type]
        with pytest.raises(error, match=fragment):
            tuner.store_reward(self.request_id, reward)  # type: ignore[arg-type]
        assert tuner.dumps() == before

    def test_set_reward_without_value_or_stored_rewards(self, tuner: HybridSolver) -> None:
        before = tuner.dumps()
        with pytest.raises(ValueError, match="no reward was stored"):
            tuner.set_reward()
        assert tuner.dumps() == before

    def test_set_reward_without_outstanding_prediction(self) -> None:
        tuner = make_tuner()
        before = tuner.dumps()
        with pytest.raises(NoPendingPredictionError, match="no outstanding prediction"):
            tuner.set_reward(0.5)
        with pytest.raises(NoPendingPredictionError, match="context 'nope'"):
            tuner.set_reward(0.5, context_id="nope")
        assert tuner.dumps() == before

    def test_unknown_request_ids(self, tuner: HybridSolver) -> None:
        before = tuner.dumps()
        with pytest.raises(UnknownRequestError, match="never issued"):
            tuner.store_reward("someone-else-0", 0.5)
        with pytest.raises(TypeError, match="'request_id' must be a string"):
            tuner.store_reward(7, 0.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="'reward_data' must be a dict"):
            tuner.store_reward(self.request_id, 0.5, reward_data=[1])  # type: ignore[arg-type]
        assert tuner.dumps() == before

    def test_context_of_wrong_shape(self, tuner: HybridSolver) -> None:
        before = tuner.dumps()
        with pytest.raises(TypeError, match="must be a Context, a dict of features or None"):
            tuner.predict(["jobtype"])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="learns one configuration for every context"):
            tuner.predict(Context({"jobtype": "batch"}))
        with pytest.raises(TypeError, match="'context_id' must be a string or a Context"):
            tuner.set_reward(0.5, context_id=3)  # type: ignore[arg-type]
        assert tuner.dumps() == before


class TestBadConstruction:
    def test_empty_parameter_list(self) -> None:
        with pytest.raises(ValueError, match="at least one parameter"):
            BlueFin([])

    def test_duplicate_names(self) -> None:
        with pytest.raises(ValueError, match="names 'a' more than once"):
            BlueFin([Real("a", 0.5, 0, 1), Integer("a", 1, 0, 3)])

    def test_parameters_not_a_list(self) -> None:
        with pytest.raises(TypeError, match="must be a list of parameters"):
            BlueFin(Real("a", 0.5, 0, 1))  # type: ignore[arg-type]

    def test_unsupported_parameter_type(self) -> None:
        with pytest.raises(TypeError, match="does not tune Categorical parameters \\(parameter 'c'\\)"):
            BlueFin([Real("a", 0.5, 0, 1), Categorical("c", "x", ["x", "y"])])

    def test_constant_of_any_type_is_allowed(self) -> None:
        tuner = BlueFin([Real("a", 0.5, 0, 1), Categorical("c", "x", ["x"])])
        assert tuner.predict().prediction["c"] == "x"

    def test_unknown_constructor_argument(self) -> None:
        with pytest.raises(TypeError, match=r"Unknown argument\(s\) \['etaa'\] for algorithm 'bluefin'"):
            create_tuning_instance([Real("a", 0.5, 0, 1)], "bluefin", {"etaa": 0.1})
        with pytest.raises(TypeError, match="etaa"):
            BlueFin([Real("a", 0.5, 0, 1)], etaa=0.1)  # type: ignore[call-arg]

    def test_algorithm_args_not_a_dict(self) -> None:
        with pytest.raises(TypeError, match="'algorithm_args' must be a dict"):
            create_tuning_instance([Real("a", 0.5, 0, 1)], "bluefin", [("eta", 1)])  # type: ignore[arg-type]
