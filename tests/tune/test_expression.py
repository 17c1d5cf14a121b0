"""The reward expression language: arithmetic, functions, metric names, and clear errors."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oppertune.tune.expression import Expression, ExpressionError


@pytest.mark.parametrize(
    ("source", "metrics", "expected"),
    [
        ("throughput / (1 + p95_ms / 100)", {"throughput": 200, "p95_ms": 100}, 100.0),
        ("2 + 3 * 4", {}, 14.0),
        ("(2 + 3) * 4", {}, 20.0),
        ("-2 ** 2", {}, -4.0),
        ("2 ** -1", {}, 0.5),
        ("2 ** 3 ** 2", {}, 512.0),
        ("7 % 4 - 1", {}, 2.0),
        ("min(a, b, 3) + max(1, 2)", {"a": 5, "b": 4}, 5.0),
        ("clip(x, 0, 1) + abs(-2)", {"x": 7}, 3.0),
        ("log(exp(2)) + log2(8) + log10(100) + sqrt(16)", {}, 11.0),
        ("1e3 + .5 + 2.", {}, 1002.5),
        ("db.tps * 2", {"db.tps": 1.5}, 3.0),
    ],
)
def test_values(source: str, metrics: dict, expected: float) -> None:
    assert math.isclose(Expression(source).evaluate(metrics), expected)


def test_names_are_the_metrics_read() -> None:
    assert Expression("a + min(b, 2) * c.d").names == {"a", "b", "c.d"}


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("", "empty"),
        ("1 +", "found the end of the expression at column 4"),
        ("(1", "expected ')'"),
        ("foo(1)", "unknown function 'foo'"),
        ("a $ b", "unexpected character '$' at column 3"),
        ("min", "is a function"),
        ("sqrt(1, 2)", "sqrt() takes 1 argument(s), got 2"),
        ("1 2", "unexpected '2'"),
        ("__import__('os')", "unexpected character"),
        ("a.__class__", None),
        ("(" * 5000, "at most 2000 characters"),
        ("(" * 1500 + "1" + ")" * 1500, "at most 2000"),
        ("-" * 1999 + "1", "nested too deeply"),
    ],
)
def test_parse_errors(source: str, fragment: str | None) -> None:
    if fragment is None:
        Expression(source)  # parses: a metric name / deep unary chain, never code
        return
    with pytest.raises(ExpressionError) as info:
        Expression(source)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("source", "metrics", "fragment"),
    [
        ("a / b", {"a": 1, "b": 0}, "division by zero"),
        ("a", {"b": 1}, "metric 'a' is missing (metrics present: b)"),
        ("log(a)", {"a": -1}, "log() failed"),
        ("(-8) ** 0.5", {}, "fractional exponent"),
        ("exp(a)", {"a": 1e6}, "exp() failed"),
        ("10 ** 400", {}, "power failed"),
    ],
)
def test_evaluation_errors(source: str, metrics: dict, fragment: str) -> None:
    with pytest.raises(ExpressionError, match=None) as info:
        Expression(source).evaluate(metrics)
    assert fragment in str(info.value)


def test_not_a_string() -> None:
    with pytest.raises(ExpressionError, match="must be a string"):
        Expression(3)  # type: ignore[arg-type]


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(0.5, 1e3))
def test_matches_python_arithmetic(a: float, b: float, c: float) -> None:
    got = Expression("a * b - a / c + (b - a) * 2").evaluate({"a": a, "b": b, "c": c})
    assert math.isclose(got, a * b - a / c + (b - a) * 2, rel_tol=1e-9, abs_tol=1e-6)


@given(st.text(max_size=40))
def test_arbitrary_text_never_crashes(source: str) -> None:
    try:
        expression = Expression(source)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        expression.evaluate(dict.fromkeys(expression.names, 1.0))
