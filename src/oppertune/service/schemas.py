"""Request and response bodies of the HTTP API (``XCreate`` in, ``XPublic`` out), with their bounds.

Input models are strict (no string-to-number coercion, no unknown fields, finite numbers only).
Parameter specs and algorithm arguments are validated by the library itself, so its messages
reach the client unchanged; here they only have to be JSON objects without NaN or infinities.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from oppertune.algorithms import ALGORITHMS, DEFAULT_ALGORITHM
from oppertune.service.aggregation import STATISTICS

__all__ = [
    "AggregationPolicy",
    "BestPublic",
    "CurrentPredictionPublic",
    "ErrorPublic",
    "HealthPublic",
    "HistoryPublic",
    "IterationPublic",
    "PredictCreate",
    "PredictionPublic",
    "RewardCreate",
    "RoundPublic",
    "SetRewardCreate",
    "TunerCreate",
    "TunerPublic",
    "TunersPublic",
    "TuningRequestPublic",
    "TuningRequestsPublic",
]

MAX_NESTING = 32
_SAFE_INTEGER = 2**53


def _check_json(value: Any, depth: int = 0) -> Any:
    if depth > MAX_NESTING:
        raise ValueError(f"nested more than {MAX_NESTING} levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"numbers must be finite, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        raise ValueError("integers must fit in 64 bits")
    if isinstance(value, dict):
        for item in value.values():
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)
    return value


def _check_scalar(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        if abs(value) > _SAFE_INTEGER:
            raise ValueError(f"integers must lie within +-2**53, got {value}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"numbers must be finite, got {value!r}")
        return value
    raise ValueError(f"a context feature must be a string, number, boolean or null, got {type(value).__name__}")


JsonObject = Annotated[dict[str, Any], AfterValidator(_check_json)]
"""A JSON object with finite numbers only."""

ContextValue = Annotated[
    Any,
    AfterValidator(_check_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]

_NAME = {"type": "string", "minLength": 1}
_NUMBER = {"type": "number"}
_PARAMETER_SCHEMA = {
    "title": "ParameterSpec",
    "description": "A parameter in the dict form of `oppertune.core.values` (validated by the library).",
    "oneOf": [
        {
            "type": "object",
            "title": "CategoricalSpec",
            "properties": {
                "type": {"const": "categorical"},
                "name": _NAME,
                "val": {"type": ["string", "number", "boolean"]},
                "categories": {"type": "array", "items": {"type": ["string", "number", "boolean"]}, "minItems": 1},
            },
            "required": ["type", "name", "val", "categories"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "title": "IntegerSpec",
            "properties": {
                "type": {"const": "integer"},
                "name": _NAME,
                "val": {"type": "integer"},
                "min": {"type": "integer"},
                "max": {"type": "integer"},
                "step": {"type": "integer", "minimum": 1},
            },
            "required": ["type", "name", "val", "min", "max"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "title": "RealSpec",
            "properties": {
                "type": {"const": "real"},
                "name": _NAME,
                "val": _NUMBER,
                "min": _NUMBER,
                "max": _NUMBER,
                "step": {"type": "number", "exclusiveMinimum": 0},
            },
            "required": ["type", "name", "val", "min", "max"],
            "additionalProperties": False,
        },
    ],
}

ParameterSpec = Annotated[dict[str, Any], AfterValidator(_check_json), WithJsonSchema(_PARAMETER_SCHEMA)]

_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class AggregationPolicy(BaseModel):
    """Close a round on the server after N stored rewards and/or T seconds, with this statistic."""

    model_config = _STRICT

    after_rewards: int | None = Field(default=None, ge=1, le=1_000_000, description="Close after N stored rewards.")
    after_seconds: float | None = Field(
        default=None, gt=0, le=31_536_000, description="Close T seconds after the round opened (once it has a reward)."
    )
    statistic: Literal["mean", "median", "min"] = Field(default="mean", description=f"One of {list(STATISTICS)}.")

    @model_validator(mode="after")
    def _one_rule(self) -> AggregationPolicy:
        if self.after_rewards is None and self.after_seconds is None:
            raise ValueError("give 'after_rewards' or 'after_seconds' (or both)")
        return self


class TunerCreate(BaseModel):
    """A new tuner: parameters in the library's dict form, an algorithm and its arguments."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=200)
    parameters: list[ParameterSpec] = Field(min_length=1, max_length=1000)
    algorithm: Annotated[str, WithJsonSchema({"type": "string", "enum": list(ALGORITHMS)})] = DEFAULT_ALGORITHM
    algorithm_args: JsonObject = Field(default_factory=dict)
    aggregation: AggregationPolicy | None = None
    safety: JsonObject | None = Field(
        default=None,
        description="Safety rails (the settings of oppertune.safety.Guarded): baseline, margin, limits, ...",
    )


class TunerPublic(BaseModel):
    """A tuner's summary."""

    id: str
    name: str
    algorithm: str
    algorithm_args: dict[str, Any]
    parameters: list[dict[str, Any]]
    aggregation: AggregationPolicy | None
    safety: dict[str, Any] | None = Field(default=None, description="The safety rails' settings (null: none).")
    status: Literal["exploring", "frozen", "rolled_back"] = Field(
        default="exploring", description="What the safety rails are doing (always exploring without rails)."
    )
    iteration: int = Field(description="Completed rounds.")
    created_at: datetime
    updated_at: datetime


class TunersPublic(BaseModel):
    """A page of tuners; pass ``next_cursor`` as ``cursor`` for the next page (null at the end)."""

    items: list[TunerPublic]
    next_cursor: str | None


class PredictCreate(BaseModel):
    """The context of a prediction (null or omitted: no context)."""

    model_config = _STRICT

    context: dict[str, ContextValue] | None = Field(default=None, max_length=256)
    context_id: str | None = Field(
        default=None, max_length=200, description="An explicit context id (default: a hash of the context)."
    )


class PredictionPublic(BaseModel):
    """A configuration to deploy and the id to store its reward under."""

    prediction: dict[str, Any]
    request_id: str


class RewardCreate(BaseModel):
    """The reward observed for one request."""

    model_config = _STRICT

    request_id: str = Field(min_length=1, max_length=200)
    reward: float
    reward_data: JsonObject | None = None


class SetRewardCreate(BaseModel):
    """Close a context's round with its (aggregated) reward; null uses the stored rewards."""

    model_config = _STRICT

    reward: float | None = None
    context_id: str | None = Field(
        default=None, max_length=200, description="The round's context (null: the only open round)."
    )


class IterationPublic(BaseModel):
    """Completed rounds after the call."""

    iteration: int


class TuningRequestPublic(BaseModel):
    """One request of an open round, with its stored reward (null until stored)."""

    id: str
    context_id: str
    context: dict[str, Any]
    prediction: dict[str, Any]
    reward: float | None
    reward_data: dict[str, Any] | None
    metadata: dict[str, Any] | None = Field(default=None, description="The safety rails' decision for the round.")


class TuningRequestsPublic(BaseModel):
    """The requests of the open rounds."""

    items: list[TuningRequestPublic]


class CurrentPredictionPublic(BaseModel):
    """The configuration of the context's open round (null when it has none)."""

    prediction: dict[str, Any] | None


class RoundPublic(BaseModel):
    """A closed round: what was played, in which context, the reward learned from, and when."""

    round: int
    context_id: str
    context: dict[str, Any]
    prediction: dict[str, Any]
    reward: float | None
    n_rewards: int = Field(description="Rewards stored for the round with store_reward.")
    at: datetime
    metadata: dict[str, Any] | None = Field(
        default=None, description="The safety rails' decision: who served the round, what was clamped, the scale."
    )


class HistoryPublic(BaseModel):
    """A page of rounds; pass ``next_cursor`` as ``after`` for the next page (null at the end)."""

    items: list[RoundPublic]
    next_cursor: int | None


class BestPublic(BaseModel):
    """The highest-reward round of a context (nulls before the first round) and its number of rounds."""

    prediction: dict[str, Any] | None
    reward: float | None
    round: int | None
    rounds: int


class RailsPublic(BaseModel):
    """The safety rails after an operator action."""

    status: Literal["exploring", "frozen", "rolled_back"]
    exploration_scale: float = Field(description="Exploration relative to the learner's own (1 = full).")
    configuration: dict[str, Any] = Field(
        description="The incumbent (best-known) configuration served when not exploring."
    )


class EventPublic(BaseModel):
    """A decision of the safety rails."""

    round: int
    context_id: str
    kind: str = Field(description="baseline, incumbent, regression, widen, rollback, freeze, resume, drift, clamped.")
    reason: str
    configuration: dict[str, Any] | None = None


class EventsPublic(BaseModel):
    """The safety rails' recorded decisions (the last 1,000), oldest first."""

    items: list[EventPublic]


class HealthPublic(BaseModel):
    """Liveness and database reachability."""

    status: Literal["ok"]


class ErrorPublic(BaseModel):
    """Every error answer: a message naming the problem, and a stable code."""

    detail: str
    code: str
