"""Values that travel through the tuning loop: contexts, predictions and tuning requests."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

__all__ = ["Context", "PredictResponse", "TuningRequest", "context_id_of"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _check_context_data(data: Mapping[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise TypeError(f"Context keys must be strings. Got {key!r} instead.")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise TypeError(
                f"Context feature {key!r} must be a str, int, float, bool or None. Got {type(value).__name__} instead."
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"Context feature {key!r} must be finite. Got {value!r} instead.")
        checked[key] = value
    return checked


def _derive_id(data: Mapping[str, Any]) -> str:
    if not data:
        return ""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Context:
    """Immutable description of the situation a prediction is made for.

    Args:
        data: Feature names to scalar values, e.g. ``{"jobtype": "batch", "load": 0.7}``.
        id: Optional explicit id; by default a stable hash of ``data`` (equal data, equal id),
            and the empty string when there is no data.
    """

    __slots__ = ("_data", "_id")

    def __init__(self, data: Mapping[str, Any] | None = None, id: str | None = None) -> None:
        if data is None:
            plain: dict[str, Any] = {}
        elif isinstance(data, Mapping):
            plain = _check_context_data(data)
        else:
            raise TypeError(f"Context 'data' must be a mapping of feature names to values. Got {data!r} instead.")
        checked = MappingProxyType(plain) if plain else _EMPTY
        if id is None:
            id = _derive_id(plain)
        elif not isinstance(id, str):
            raise TypeError(f"Context 'id' must be a string. Got {id!r} instead.")
        object.__setattr__(self, "_data", checked)
        object.__setattr__(self, "_id", id)

    @property
    def data(self) -> Mapping[str, Any]:
        """The context's features (read-only)."""
        return self._data

    @property
    def id(self) -> str:
        """The context's id."""
        return self._id

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Context is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Context) and self._id == other._id and dict(self._data) == dict(other._data)

    def __hash__(self) -> int:
        return hash(self._id)

    def __repr__(self) -> str:
        return f"Context({dict(self._data)!r}, id={self._id!r})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return {"data": dict(self._data), "id": self._id}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Context:
        """Inverse of `to_dict`."""
        return cls(d.get("data") or None, d.get("id"))


NO_CONTEXT = Context()


def context_id_of(context: Context | str | None) -> str:
    """The id of a context given as a Context, an id string, or None (no context)."""
    if context is None:
        return ""
    if isinstance(context, Context):
        return context.id
    if isinstance(context, str):
        return context
    raise TypeError(f"'context_id' must be a string or a Context. Got {context!r} instead.")


class PredictResponse(NamedTuple):
    """A configuration to deploy and the id to report its reward under."""

    prediction: dict[str, Any]
    request_id: str


@dataclass(slots=True)
class TuningRequest:
    """One call of ``predict``: its id, the context, and the reward stored for it (None until stored).

    ``metadata`` holds what the tuner decided for the round (e.g. the safety rails' decision).
    """

    id: str
    context: Context
    prediction: dict[str, Any]
    reward: float | None = None
    reward_data: dict[str, Any] | None = field(default=None)
    metadata: dict[str, Any] | None = field(default=None)
