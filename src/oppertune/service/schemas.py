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
    "ChartsPublic",
    "CurrentPredictionPublic",
    "ErrorPublic",
    "HealthPublic",
    "HistoryPublic",
    "IterationPublic",
    "OverviewPublic",
    "PredictCreate",
    "PredictionPublic",
    "RewardCreate",
    "RoundPublic",
    "SetRewardCreate",
    "TunerCreate",
    "TunerPublic",
    "TunerRowPublic",
    "TunerRowsPublic",
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
    last_reward: float | None = Field(default=None, description="The reward of the last closed round.")
    best_reward: float | None = Field(default=None, description="The highest reward of a closed round.")


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


def request_item(q: Any) -> dict[str, Any]:
    """A library `TuningRequest` as a `TuningRequestPublic` dict."""
    return {
        "id": q.id,
        "context_id": q.context.id,
        "context": dict(q.context.data),
        "prediction": q.prediction,
        "reward": q.reward,
        "reward_data": q.reward_data,
        "metadata": q.metadata,
    }


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
    kind: str = Field(
        description="baseline, incumbent, regression, widen, rollback, freeze, resume, drift, clamped, "
        "collapse, lifted (a collapse judged again as an outlier) or avoided."
    )
    reason: str
    configuration: dict[str, Any] | None = None
    rounds: int | None = Field(
        default=None, description="clamped and avoided: rounds in a row this event stands for (from its round on)."
    )
    last_round: int | None = Field(default=None, description="clamped and avoided: the last of those rounds.")


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


# ---------------------------------------------------------------------- the dashboard's views
Status = Literal["exploring", "frozen", "rolled_back"]


class TunerRowPublic(BaseModel):
    """A tuner in the dashboard's list."""

    id: str
    name: str
    algorithm: str
    status: Status
    iteration: int = Field(description="Completed rounds.")
    last_reward: float | None = Field(description="The reward of the last closed round.")
    best_reward: float | None = Field(description="The highest reward of a closed round.")
    created_at: datetime
    updated_at: datetime = Field(description="The last change (a prediction, a reward, an operator action).")
    rails: bool = Field(description="Whether the tuner has safety rails.")


class StatusCountsPublic(BaseModel):
    """How many of the project's tuners are in each status."""

    exploring: int
    frozen: int
    rolled_back: int


class TunerRowsPublic(BaseModel):
    """A sorted, filtered page of tuners, the number that match, and the project's tuners per status."""

    items: list[TunerRowPublic]
    total: int
    counts: StatusCountsPublic


Series = list[float | None]


class NumericSeriesPublic(BaseModel):
    """A numerical parameter's value per bucket of rounds."""

    name: str
    type: Literal["numeric"]
    min_value: float
    max_value: float
    mean: Series
    min: Series
    max: Series


class CategoricalSeriesPublic(BaseModel):
    """A categorical parameter (or who served): per category, the share of each bucket's rounds."""

    name: str = ""
    type: Literal["categorical"] = "categorical"
    categories: list[Any]
    shares: list[list[float]]


class EnvelopePublic(BaseModel):
    """Mean, min and max per bucket of rounds."""

    mean: Series
    min: Series
    max: Series


class FailedPublic(BaseModel):
    """Failed runs per bucket (``oppertune tune`` runs only)."""

    count: list[int]
    reward: Series


class StepPublic(BaseModel):
    """A value that holds from a round on."""

    round: int
    value: float


class MarkerPublic(BaseModel):
    """A safety-rail event on the chart: on the round it concerns."""

    round: int
    kind: str
    reason: str
    context_id: str
    major: bool = Field(description="Drawn across the whole chart (a regression, collapse, rollback, drift, ...).")


class ChartsPublic(BaseModel):
    """The chart data of `oppertune.charts.build`: at most ``points`` buckets of consecutive rounds."""

    rounds: int = Field(description="Rounds charted (of the chosen context, if any).")
    points: int = Field(description="Buckets (points per series).")
    downsampled: bool
    context_id: str | None
    x: list[int] = Field(description="Each bucket's first round.")
    reward: EnvelopePublic
    best: Series = Field(description="The best reward so far at each bucket's end (restarts after a drift).")
    failed: FailedPublic | None
    baseline: list[StepPublic] = Field(description="The rails' baseline (one context only).")
    threshold: list[StepPublic] = Field(description="Rewards below it violate the rails.")
    events: list[MarkerPublic]
    event_counts: dict[str, int]
    parameters: list[NumericSeriesPublic | CategoricalSeriesPublic]
    served_by: CategoricalSeriesPublic | None


class ContextBestPublic(BaseModel):
    """A context's rounds and best configuration."""

    context_id: str
    context: dict[str, Any]
    rounds: int
    best_reward: float | None
    best_round: int | None
    best_configuration: dict[str, Any] | None
    last_reward: float | None


class ContextsPublic(BaseModel):
    """The contexts with most rounds (up to 50) and how many there are."""

    items: list[ContextBestPublic]
    total: int


class RoutedContextPublic(BaseModel):
    """A context seen and the leaf it routes to now."""

    context_id: str
    context: dict[str, Any]
    rounds: int


class LeafPublic(BaseModel):
    """An AutoScope leaf: its centre of exploration and the contexts routed to it."""

    leaf: int
    center: dict[str, Any] | None
    contexts: list[RoutedContextPublic]


class RoutingPublic(BaseModel):
    """AutoScope's learned routing (``splits()``: one readable split per internal node)."""

    height: int
    features: list[dict[str, Any]]
    leaves: list[LeafPublic]
    splits: list[dict[str, Any]]


class RailsStatePublic(BaseModel):
    """The safety rails now, with their latest events (newest first)."""

    status: Status
    exploration_scale: float
    events: list[EventPublic]


class OverviewPublic(BaseModel):
    """Everything the dashboard's tuner page shows, in one answer."""

    tuner: TunerPublic
    version: int = Field(description="The tuner's state version: changes with every change of the tuner.")
    rails: RailsStatePublic | None
    charts: ChartsPublic
    contexts: ContextsPublic
    routing: RoutingPublic | None = Field(description="AutoScope only.")
    requests: list[TuningRequestPublic] = Field(description="The open rounds' requests (the last 50).")
    recent: list[RoundPublic] = Field(description="The last 20 closed rounds, newest first.")
