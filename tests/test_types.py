"""Context, PredictResponse and TuningRequest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oppertune.core.types import Context, PredictResponse

features = st.dictionaries(
    st.text(min_size=1, max_size=8), st.one_of(st.text(max_size=5), st.integers(), st.booleans())
)


def test_no_data_means_empty_id() -> None:
    assert Context().id == "" and Context({}).id == "" and dict(Context().data) == {}


@given(features)
def test_equal_data_equal_id_regardless_of_order(data: dict) -> None:
    reordered = dict(reversed(list(data.items())))
    assert Context(data).id == Context(reordered).id
    assert Context(data) == Context(reordered)


def test_different_data_different_id() -> None:
    assert Context({"jobtype": "a"}).id != Context({"jobtype": "b"}).id


def test_explicit_id() -> None:
    assert Context({"x": 1}, id="mine").id == "mine"


def test_immutable() -> None:
    ctx = Context({"jobtype": "batch"})
    with pytest.raises(AttributeError):
        ctx.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ctx.data["jobtype"] = "x"  # type: ignore[index]


def test_caller_dict_changes_do_not_leak() -> None:
    data = {"jobtype": "batch"}
    ctx = Context(data)
    data["jobtype"] = "web"
    assert ctx.data["jobtype"] == "batch"


@pytest.mark.parametrize(
    ("data", "error", "fragment"),
    [
        ([1, 2], TypeError, "mapping"),
        ({1: "a"}, TypeError, "keys must be strings"),
        ({"a": [1]}, TypeError, "feature 'a'"),
        ({"a": float("inf")}, ValueError, "feature 'a' must be finite"),
    ],
)
def test_bad_data(data: object, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        Context(data)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_round_trip_dict() -> None:
    ctx = Context({"a": 1, "b": "x"})
    assert Context.from_dict(ctx.to_dict()) == ctx


def test_predict_response_unpacks() -> None:
    prediction, request_id = PredictResponse({"a": 1}, "r-0")
    assert prediction == {"a": 1} and request_id == "r-0"
