"""Live screening: finds the planted parameters within 2N evaluations and never leaves the delta-neighbourhood."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planted import PLANTED, planted_parameters, planted_score

from oppertune.core.values import Categorical, Integer, Real, ValueType
from oppertune.selection import InsufficientDataError, SelectionError, neighbourhood, select


class Recorder:
    """An evaluation function that remembers every configuration it was asked for."""

    def __init__(self, score: Any, noise: float = 0.02, seed: int = 0) -> None:
        self.score, self.noise, self.rng = score, noise, random.Random(seed)
        self.seen: list[dict[str, Any]] = []

    def __call__(self, configuration: dict[str, Any]) -> float:
        self.seen.append(dict(configuration))
        return self.score(configuration) + self.rng.gauss(0.0, self.noise)


def assert_in_neighbourhood(parameters: list[ValueType], configuration: dict[str, Any], delta: float) -> None:
    """The rule screening promises, checked from the definitions (not from `neighbourhood`)."""
    assert list(configuration) == [p.name for p in parameters]
    for p in parameters:
        v = configuration[p.name]
        if isinstance(p, Categorical):
            assert v in p.categories
            continue
        assert p.min <= v <= p.max, (p, v)
        reach = delta * (p.max - p.min)
        if p.step is not None:
            reach = max(reach, p.step)
            index = (v - p.min) / p.step
            assert abs(index - round(index)) < 1e-9, (p, v)
        if isinstance(p, Integer):
            assert isinstance(v, int)
        assert abs(v - p.val) <= reach + 1e-9 * max(1.0, p.max - p.min), (p, v, reach)


def test_screening_finds_the_planted_parameters_within_2n(parameters) -> None:
    evaluate = Recorder(planted_score)
    result = select(parameters, evaluate=evaluate, seed=0)
    assert set(result.selected) == PLANTED
    assert result.method == "screening"
    tunable = sum(not p.is_constant for p in parameters)
    assert len(evaluate.seen) == result.n_evaluations <= 2 * tunable
    for configuration in evaluate.seen:
        assert_in_neighbourhood(parameters, configuration, 0.15)
        assert configuration["fixed"] == "z"
    assert ("p", "q") in {(i.first, i.second) for i in result.interactions} or {"p", "q"} <= set(result.selected)


def test_screening_is_repeatable(parameters) -> None:
    first = select(parameters, evaluate=Recorder(planted_score), seed=4)
    second = select(parameters, evaluate=Recorder(planted_score), seed=4)
    assert first.ranking == second.ranking
    assert [e.configuration for e in first.evaluations] == [e.configuration for e in second.evaluations]


def test_many_parameters_need_far_fewer_evaluations() -> None:
    parameters = planted_parameters() + [Real(f"extra{i}", 0.5, 0.0, 1.0) for i in range(60)]
    evaluate = Recorder(planted_score)
    result = select(parameters, evaluate=evaluate, seed=1)
    assert set(result.selected) == PLANTED
    assert result.n_evaluations < 2 * 72
    assert any(n.startswith("Stopped after") for n in result.notes)


def test_neighbourhood() -> None:
    assert neighbourhood(Real("r", 0.5, 0.0, 1.0), 0.1) == pytest.approx((0.4, 0.6))
    assert neighbourhood(Real("r", 0.95, 0.0, 1.0), 0.1) == pytest.approx((0.85, 1.0))
    assert neighbourhood(Integer("i", 4, 1, 8), 0.1) == (3, 5)  # one grid step at least
    assert neighbourhood(Integer("i", 40, 0, 100, 10), 0.25) == (20, 60)
    assert neighbourhood(Real("s", 0.5, 0.0, 1.0, 0.25), 0.1) == (0.25, 0.75)
    assert neighbourhood(Categorical("c", "a", ["a", "b"]), 0.1) == ("a", "b")


_PARAMETER = st.one_of(
    st.builds(
        lambda lo, span, at: Real("r", lo + at * span, lo, lo + span),
        st.floats(-1e3, 1e3),
        st.floats(0.01, 1e3),
        st.floats(0, 1),
    ),
    st.builds(
        lambda lo, n, at, step: Integer("i", lo + round(at * n) * step, lo, lo + n * step, step),
        st.integers(-50, 50),
        st.integers(1, 40),
        st.floats(0, 1),
        st.integers(1, 7),
    ),
    st.builds(
        lambda n, at, step: Real("s", round(at * n) * step, 0.0, n * step, step),
        st.integers(1, 30),
        st.floats(0, 1),
        st.sampled_from([0.1, 0.25, 0.5, 2.0]),
    ),
    st.builds(
        lambda n, at: Categorical("c", f"v{at % n}", [f"v{i}" for i in range(n)]), st.integers(1, 5), st.integers(0, 10)
    ),
)


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PARAMETER, min_size=2, max_size=8), st.floats(0.02, 0.5), st.integers(8, 24))
def test_never_leaves_the_neighbourhood_or_the_grid(kinds: list[ValueType], delta: float, budget: int) -> None:
    from oppertune.core.values import to_dict, to_value

    parameters = [to_value({**to_dict(p), "name": f"{p.name}{i}"}) for i, p in enumerate(kinds)]
    if all(p.is_constant for p in parameters):
        return
    evaluate = Recorder(lambda c: sum(hash(str(v)) % 7 for v in c.values()), noise=0.5)
    try:
        result = select(parameters, evaluate=evaluate, budget=budget, delta=delta, seed=0, k=1)
        assert result.n_evaluations <= budget
    except InsufficientDataError:
        pass
    assert 0 < len(evaluate.seen) <= budget
    for configuration in evaluate.seen:
        assert_in_neighbourhood(parameters, configuration, delta)


def test_failed_evaluations_are_left_out_and_reported(parameters) -> None:
    calls = {"n": 0}

    def flaky(configuration: dict[str, Any]) -> float:
        calls["n"] += 1
        if calls["n"] % 7 == 0:
            return math.nan
        return planted_score(configuration)

    result = select(parameters, evaluate=flaky, seed=0)
    failed = [e for e in result.evaluations if not e.ok]
    assert failed and all(e.reward is None and e.message == "the evaluation returned nan" for e in failed)
    assert result.n_rows == result.n_evaluations - len(failed)
    assert any("gave no reward and were left out" in n for n in result.notes)
    assert {"x", "w", "mode"} <= set(result.selected)

    with pytest.raises(SelectionError, match=r"only 0 of .* evaluations gave a reward \(the evaluation returned None"):
        select(parameters, evaluate=lambda c: None, seed=0)


def test_a_flat_reward_says_so(parameters) -> None:
    with pytest.raises(InsufficientDataError, match="the reward was 1 in all 24 evaluations"):
        select(parameters, evaluate=lambda c: 1.0, seed=0)
    with pytest.raises(InsufficientDataError, match="beyond noise"):
        select(parameters, evaluate=Recorder(lambda c: 0.0, noise=1.0), seed=0)


def test_bad_screening_arguments(parameters) -> None:
    for kwargs, message in [
        ({"delta": 0.0}, "'delta' argument of select must be a number in"),
        ({"delta": 0.7}, "'delta' argument"),
        ({"budget": 3}, "'budget' argument of select must be an integer of at least 8"),
        ({"evaluate": 42}, "'evaluate' argument of select must be a function"),
    ]:
        with pytest.raises(SelectionError, match=message):
            select(parameters, **{"evaluate": Recorder(planted_score), **kwargs})
