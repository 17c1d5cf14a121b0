"""Parameter types: every validation rule, dict forms, and the normalised space."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oppertune.core.values import Categorical, Integer, Real, inverse_transform, to_dict, to_value, transform


class TestCategorical:
    def test_valid(self) -> None:
        p = Categorical("p1", "medium", ("low", "medium", "high"))
        assert p.categories == ("low", "medium", "high")
        assert p.n_categories == 3 and not p.is_constant

    def test_single_category_is_constant(self) -> None:
        assert Categorical("p", "only", ["only"]).is_constant

    @pytest.mark.parametrize(
        ("kwargs", "error", "fragment"),
        [
            ({"name": "", "val": "a", "categories": ["a"]}, TypeError, "'name' must be a non-empty string"),
            ({"name": 3, "val": "a", "categories": ["a"]}, TypeError, "'name'"),
            ({"name": "p", "val": "a", "categories": []}, ValueError, "at least one category"),
            ({"name": "p", "val": "a", "categories": "abc"}, TypeError, "'categories' must be a list"),
            ({"name": "p", "val": "a", "categories": ["a", "b", "a"]}, ValueError, "must not repeat a value (repeated"),
            ({"name": "p", "val": "z", "categories": ["a", "b"]}, ValueError, "'val' must be one of the categories"),
            ({"name": "p", "val": "a", "categories": ["a", [1]]}, TypeError, "each category must be"),
            ({"name": "p", "val": "a", "categories": ["a", float("nan")]}, ValueError, "finite"),
        ],
    )
    def test_rules(self, kwargs: dict, error: type[Exception], fragment: str) -> None:
        with pytest.raises(error, match=None) as info:
            Categorical(**kwargs)
        assert fragment in str(info.value)
        if kwargs["name"] == "p":
            assert "'p'" in str(info.value)


class TestInteger:
    def test_valid_and_integer_like_floats(self) -> None:
        p = Integer("p2", 100.0, 100, 900.0, step=100)
        assert (p.val, p.min, p.max, p.step) == (100, 100, 900, 100)
        assert all(type(x) is int for x in (p.val, p.min, p.max, p.step))
        assert p.n_steps == 8

    def test_constant(self) -> None:
        assert Integer("p", 5, 5, 5).is_constant

    @pytest.mark.parametrize(
        ("kwargs", "error", "fragment"),
        [
            ({"val": 1.5, "min": 0, "max": 5}, ValueError, "'val' must be a whole number"),
            ({"val": 1, "min": 0, "max": 5, "step": 0}, ValueError, "'step' must be at least 1"),
            ({"val": 1, "min": 0, "max": 5, "step": 1.5}, ValueError, "'step' must be a whole number"),
            ({"val": 1, "min": 6, "max": 5}, ValueError, "'min' must not exceed 'max'"),
            ({"val": 9, "min": 0, "max": 5}, ValueError, "'val' must lie within [min, max]"),
            ({"val": 0, "min": 0, "max": 5, "step": 2}, ValueError, "'max' must be reachable from 'min'"),
            ({"val": 1, "min": 0, "max": 4, "step": 2}, ValueError, "'val' must be reachable from 'min'"),
            ({"val": "1", "min": 0, "max": 4}, TypeError, "'val' must be a number"),
            ({"val": True, "min": 0, "max": 4}, TypeError, "'val' must be a number"),
            ({"val": 1, "min": 0, "max": math.inf}, ValueError, "'max' must be finite"),
        ],
    )
    def test_rules(self, kwargs: dict, error: type[Exception], fragment: str) -> None:
        with pytest.raises(error) as info:
            Integer("p", **kwargs)
        assert fragment in str(info.value) and "'p'" in str(info.value)


class TestReal:
    def test_valid_with_and_without_step(self) -> None:
        assert Real("p3", 0.45, 0.0, 1.0).step is None
        stepped = Real("r", 0.3, 0.0, 1.0, step=0.1)
        assert stepped.n_steps == 10

    @pytest.mark.parametrize(
        ("kwargs", "fragment"),
        [
            ({"val": math.nan, "min": 0.0, "max": 1.0}, "'val' must be finite"),
            ({"val": 0.5, "min": -math.inf, "max": 1.0}, "'min' must be finite"),
            ({"val": 0.5, "min": 0.0, "max": 1.0, "step": -0.1}, "'step' must be positive"),
            ({"val": 0.5, "min": 0.0, "max": 1.0, "step": 0.3}, "'max' must be reachable"),
            ({"val": 0.55, "min": 0.0, "max": 1.0, "step": 0.1}, "'val' must be reachable"),
            ({"val": 2.0, "min": 0.0, "max": 1.0}, "'val' must lie within"),
        ],
    )
    def test_rules(self, kwargs: dict, fragment: str) -> None:
        with pytest.raises(ValueError) as info:
            Real("p", **kwargs)
        assert fragment in str(info.value) and "'p'" in str(info.value)


class TestDictForms:
    def test_seed_dict_forms_with_optional_step(self) -> None:
        assert to_value({"type": "integer", "name": "a", "val": 2, "min": 1, "max": 5}) == Integer("a", 2, 1, 5)
        assert to_value({"type": "real", "name": "b", "val": 0.5, "min": 0, "max": 1}) == Real("b", 0.5, 0, 1)
        assert to_value({"type": "real", "name": "b", "val": 0.5, "min": 0, "max": 1, "step": 0.5}).step == 0.5
        assert to_value({"type": "categorical", "name": "c", "val": "x", "categories": ["x", "y"]}).categories == (
            "x",
            "y",
        )

    def test_value_passes_through(self) -> None:
        p = Real("b", 0.5, 0, 1)
        assert to_value(p) is p

    @pytest.mark.parametrize(
        ("spec", "error", "fragment"),
        [
            ({"type": "float", "name": "x", "val": 1}, ValueError, "'type' must be one of"),
            ({"name": "x", "val": 1}, ValueError, "'type' must be one of"),
            ({"type": "integer", "name": "x", "val": 1, "min": 0}, ValueError, "missing field(s) ['max']"),
            ({"type": "integer", "name": "x", "val": 1, "min": 0, "max": 2, "mx": 3}, ValueError, "unknown field"),
            ({"type": "categorical", "name": "x", "val": 1, "categories": [1], "step": 1}, ValueError, "unknown"),
            ([1, 2], TypeError, "dict with a 'type' key"),
        ],
    )
    def test_bad_dicts(self, spec: object, error: type[Exception], fragment: str) -> None:
        with pytest.raises(error) as info:
            to_value(spec)  # type: ignore[arg-type]
        assert fragment in str(info.value)

    @given(
        st.integers(-1000, 1000),
        st.integers(1, 50),
        st.integers(0, 40),
        st.data(),
    )
    def test_integer_round_trip(self, lo: int, step: int, n: int, data: st.DataObject) -> None:
        val = lo + data.draw(st.integers(0, n)) * step
        p = Integer("x", val, lo, lo + n * step, step)
        assert to_value(to_dict(p)) == p

    @given(st.floats(-1e6, 1e6), st.floats(0.0, 1e6), st.floats(0.0, 1.0))
    def test_real_round_trip(self, lo: float, width: float, fraction: float) -> None:
        p = Real("x", lo + fraction * width if width else lo, lo, lo + width)
        assert to_value(to_dict(p)) == p


class TestNormalisedSpace:
    def test_categorical_maps_to_index(self) -> None:
        p = Categorical("c", "b", ["a", "b", "c"])
        assert transform(p, "c") == 2 and inverse_transform(p, 2) == "c"

    def test_real_maps_linearly(self) -> None:
        p = Real("r", 5.0, 0.0, 10.0)
        assert transform(p, 2.5) == 0.25
        assert inverse_transform(p, 0.25) == 2.5

    def test_clipped_to_bounds(self) -> None:
        p = Real("r", 5.0, 0.0, 10.0)
        assert inverse_transform(p, 1.7) == 10.0 and inverse_transform(p, -0.5) == 0.0

    @given(st.floats(-0.5, 1.5, allow_nan=False))
    def test_integer_lands_on_grid(self, x: float) -> None:
        p = Integer("p2", 100, 100, 900, step=100)
        value = inverse_transform(p, x)
        assert type(value) is int and 100 <= value <= 900 and value % 100 == 0

    @given(st.floats(-0.5, 1.5, allow_nan=False))
    def test_stepped_real_lands_on_grid(self, x: float) -> None:
        p = Real("r", 0.3, 0.0, 1.0, step=0.1)
        value = inverse_transform(p, x)
        assert 0.0 <= value <= 1.0 and abs(value * 10 - round(value * 10)) < 1e-9

    def test_round_trip_of_grid_points(self) -> None:
        p = Integer("p2", 100, 100, 900, step=100)
        for v in range(100, 901, 100):
            assert inverse_transform(p, transform(p, v)) == v

    def test_constant_numerical(self) -> None:
        p = Real("r", 2.0, 2.0, 2.0)
        assert transform(p, 2.0) == 0.0 and inverse_transform(p, 0.7) == 2.0
