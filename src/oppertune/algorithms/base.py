"""The tuning loop shared by every algorithm: requests, rounds, rewards and state.

Public methods validate and keep the books once; each algorithm writes three small hooks:

* ``_predict(context)`` returns the values of the tuned parameters for a new round,
* ``_learn(reward, context)`` learns from the reward of that round,
* ``_get_state()`` / ``_set_state(state)`` expose the learned state as JSON-compatible data.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import inspect
import json
import math
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from oppertune.core.errors import NoPendingPredictionError, RoundClosedError, StateError, UnknownRequestError
from oppertune.core.types import Context, PredictResponse, TuningRequest, context_id_of
from oppertune.core.values import Categorical, Integer, Real, ValueType, to_dict, to_value

__all__ = ["TuningInstance"]

STATE_FORMAT = "oppertune.state"
STATE_VERSION = 1
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(slots=True)
class _Round:
    context: Context
    prediction: dict[str, Any]
    request_ids: list[str]


def _check_parameters(owner: str, parameters: Iterable[Any], supported: tuple[type, ...]) -> tuple[ValueType, ...]:
    if isinstance(parameters, (str, bytes, Mapping)) or not isinstance(parameters, Iterable):
        raise TypeError(f"The 'parameters' argument of {owner} must be a list of parameters. Got {parameters!r}.")
    values = tuple(to_value(p) for p in parameters)
    if not values:
        raise ValueError(f"The 'parameters' argument of {owner} must hold at least one parameter. Got an empty list.")
    seen: set[str] = set()
    for v in values:
        if v.name in seen:
            raise ValueError(f"The 'parameters' argument of {owner} names {v.name!r} more than once.")
        seen.add(v.name)
        if not v.is_constant and not isinstance(v, supported):
            kinds = ", ".join(t.__name__ for t in supported)
            raise TypeError(
                f"{owner} does not tune {type(v).__name__} parameters (parameter {v.name!r}); it supports {kinds}. "
                "Use 'hybrid_solver' for mixed parameter types."
            )
    return values


def _check_reward(reward: Any) -> float:
    if type(reward) is float and math.isfinite(reward):
        return reward
    if isinstance(reward, bool) or not isinstance(reward, (int, float, np.integer, np.floating)):
        raise TypeError(f"The reward must be a real number. Got {reward!r} ({type(reward).__name__}) instead.")
    value = float(reward)
    if not math.isfinite(value):
        raise ValueError(f"The reward must be finite. Got {reward!r} instead.")
    return value


def _to_context(context: Any) -> Context:
    if context is None:
        return _NO_CONTEXT
    if isinstance(context, Context):
        return context
    if isinstance(context, Mapping):
        return Context(context)
    raise TypeError(f"The context must be a Context, a dict of features or None. Got {context!r} instead.")


_NO_CONTEXT = Context()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _checksum(body: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(_canonical(body).encode()).hexdigest()


class TuningInstance:
    """Base class of every tuning algorithm.

    Args:
        parameters: The parameters to tune, as `Categorical`/`Integer`/`Real` or their dict forms.
    """

    name: ClassVar[str] = ""
    supported_parameter_types: ClassVar[tuple[type, ...]] = (Categorical, Integer, Real)
    uses_context: ClassVar[bool] = False
    learns_from_stored_rewards: ClassVar[bool] = False

    def __init__(self, parameters: Iterable[ValueType | Mapping[str, Any]]) -> None:
        owner = type(self).__name__
        self.parameters: tuple[ValueType, ...] = _check_parameters(owner, parameters, self.supported_parameter_types)
        self._tuned: tuple[ValueType, ...] = tuple(p for p in self.parameters if not p.is_constant)
        self._names: tuple[str, ...] = tuple(p.name for p in self.parameters)
        self._constants: dict[str, Any] = {p.name: p.val for p in self.parameters if p.is_constant}
        self._iteration = 0
        self._request_prefix = secrets.token_hex(4)
        self._request_count = 0
        self._rounds: dict[str, _Round] = {}
        self._requests: dict[str, TuningRequest] = {}

    # ----------------------------------------------------------------- hooks for algorithms
    def _predict(self, context: Context) -> Mapping[str, Any]:
        """Values of the tuned parameters for a new round in ``context``."""
        raise NotImplementedError

    def _learn(self, reward: float | list[float], context: Context) -> None:
        """Learn from the reward of the round last predicted for ``context``."""
        raise NotImplementedError

    def _check_context(self, context: Context) -> None:
        """Raise if the algorithm cannot route ``context``; context-free algorithms accept only no context."""
        if context.data and not self.uses_context:
            raise ValueError(
                f"{type(self).__name__} learns one configuration for every context, so predict() takes no context "
                f"data. Got {dict(context.data)!r}. Use 'autoscope' to tune per context."
            )

    def _set_exploration_scale(self, scale: float) -> frozenset[str]:
        """Shrink (scale < 1) or restore (1) how far the learner explores; the names of the parameters whose
        exploration it scales itself (the rails pull the others towards the incumbent)."""
        return frozenset()

    def _straddles_start(self) -> bool:
        """Whether the learner plays mirrored pairs of rounds around a centre that starts at the starting
        configuration (or next to it, near a bound), so that the mean of its first pairs estimates that
        configuration's reward (for the rails)."""
        return False

    def _reexplore(self) -> None:
        """Forget what makes the learner stop exploring, after the environment changed (optional)."""

    def _shifts(self, context: Context) -> int:
        """How many changes of the workload the learner has noticed by itself for ``context`` (for the rails)."""
        return 0

    def _recentre(self, config: Mapping[str, Any], context: Context) -> None:
        """Search on from ``config`` for ``context``, e.g. after the rails rolled back to it (optional)."""

    def _get_state(self) -> dict[str, Any]:
        return {}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        if state:
            raise ValueError(f"unexpected learner state keys {sorted(state)}")

    # ----------------------------------------------------------------- the tuning loop
    @property
    def iteration(self) -> int:
        """Number of completed rounds (calls of ``set_reward``)."""
        return self._iteration

    def predict(self, context: Context | Mapping[str, Any] | None = None) -> PredictResponse:
        """Return a configuration to deploy and a request id to store its reward under.

        Until ``set_reward`` closes the round, further calls for the same context return the same
        configuration with a new request id, so many replicas can run one configuration.
        """
        ctx = _NO_CONTEXT if context is None else _to_context(context)
        current = self._rounds.get(ctx._id)
        if current is None:
            self._check_context(ctx)
            tuned = self._predict(ctx)
            constants = self._constants
            if constants:
                prediction = {n: (constants[n] if n in constants else tuned[n]) for n in self._names}
            else:
                prediction = {n: tuned[n] for n in self._names}
            current = self._rounds[ctx.id] = _Round(ctx, prediction, [])
        request_id = f"{self._request_prefix}-{self._request_count}"
        self._request_count += 1
        current.request_ids.append(request_id)
        self._requests[request_id] = TuningRequest(request_id, ctx, current.prediction)
        return PredictResponse(dict(current.prediction), request_id)

    def store_reward(self, request_id: str, reward: float, reward_data: Mapping[str, Any] | None = None) -> None:
        """Store the reward observed for one request, to be aggregated before ``set_reward``."""
        request = self._lookup_request(request_id)
        value = _check_reward(reward)
        if reward_data is not None and not isinstance(reward_data, Mapping):
            raise TypeError(f"'reward_data' must be a dict or None. Got {reward_data!r} instead.")
        request.reward = value
        request.reward_data = dict(reward_data) if reward_data is not None else None

    def get_tuning_requests(self, context_id: str | Context | None = None) -> list[TuningRequest]:
        """The requests of the open rounds (of one context when ``context_id`` is given)."""
        if context_id is None:
            requests = self._requests.values()
        else:
            round_ = self._rounds.get(context_id_of(context_id))
            requests = [] if round_ is None else [self._requests[r] for r in round_.request_ids]
        return [replace(q, prediction=dict(q.prediction)) for q in requests]

    def set_reward(self, reward: float | None = None, context_id: str | Context | None = None) -> None:
        """Close the open round of a context with its (aggregated) reward, and learn from it.

        Args:
            reward: The round's reward. When None, the rewards stored with ``store_reward`` for the
                round are used (their mean, or the whole list for algorithms that take a sequence).
            context_id: The context of the round; may be omitted when exactly one round is open.
        """
        rounds = self._rounds
        round_ = (
            next(iter(rounds.values())) if context_id is None and len(rounds) == 1 else self._open_round(context_id)
        )
        if reward is None:
            stored = [self._requests[r].reward for r in round_.request_ids]
            values = [r for r in stored if r is not None]
            if not values:
                raise ValueError(
                    "set_reward() was called without a reward and no reward was stored for this round; "
                    "pass a reward or call store_reward() first."
                )
            learned: float | list[float] = (
                values if self.learns_from_stored_rewards else math.fsum(values) / len(values)
            )
        else:
            learned = _check_reward(reward)
            if self.learns_from_stored_rewards:
                learned = [learned]
        self._learn(learned, round_.context)
        self._iteration += 1
        del rounds[round_.context._id]
        requests = self._requests
        for r in round_.request_ids:
            del requests[r]

    def get_current_prediction(self, context_id: str | Context | None = None) -> dict[str, Any] | None:
        """The configuration of the open round of a context, or None if it has no open round."""
        round_ = self._rounds.get(context_id_of(context_id))
        return None if round_ is None else dict(round_.prediction)

    def _open_round(self, context_id: str | Context | None) -> _Round:
        if context_id is None:
            if len(self._rounds) == 1:
                return next(iter(self._rounds.values()))
            if not self._rounds:
                raise NoPendingPredictionError(
                    "set_reward() was called with no outstanding prediction; call predict()."
                )
            raise NoPendingPredictionError(
                f"set_reward() needs a context_id: {len(self._rounds)} contexts have outstanding predictions "
                f"({sorted(self._rounds)})."
            )
        cid = context_id_of(context_id)
        round_ = self._rounds.get(cid)
        if round_ is None:
            raise NoPendingPredictionError(
                f"set_reward() was called for context {cid!r}, which has no outstanding prediction; "
                "call predict() first."
            )
        return round_

    def _lookup_request(self, request_id: str) -> TuningRequest:
        request = self._requests.get(request_id) if isinstance(request_id, str) else None
        if request is not None:
            return request
        if not isinstance(request_id, str):
            raise TypeError(f"'request_id' must be a string. Got {request_id!r} instead.")
        prefix, _, number = request_id.partition("-")
        if prefix == self._request_prefix and number.isdigit() and int(number) < self._request_count:
            raise RoundClosedError(f"Request {request_id!r} belongs to a round that set_reward() already closed.")
        raise UnknownRequestError(f"Unknown request id {request_id!r}: this tuner never issued it.")

    # ----------------------------------------------------------------- arguments and state
    def get_arguments(self) -> dict[str, Any]:
        """The constructor arguments (other than ``parameters``) this instance was built with."""
        return {n: getattr(self, n) for n in _argument_names(type(self))}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_arguments().items())
        return f"{type(self).__name__}({len(self.parameters)} parameters, {args})"

    def to_state(self) -> dict[str, Any]:
        """The whole tuner (parameters, arguments, learned state, open rounds) as JSON-compatible data."""
        body = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "algorithm": self.name,
            "parameters": [to_dict(p) for p in self.parameters],
            "arguments": _jsonable(self.get_arguments()),
            "loop": self._loop_state(),
            "learner": self._get_state(),
        }
        return {**body, "checksum": _checksum(body)}

    def _loop_state(self) -> dict[str, Any]:
        rounds = [
            {
                "context": r.context.to_dict(),
                "prediction": r.prediction,
                "requests": [
                    {"id": q.id, "reward": q.reward, "reward_data": q.reward_data, "metadata": q.metadata}
                    for q in (self._requests[i] for i in r.request_ids)
                ],
            }
            for r in self._rounds.values()
        ]
        return {
            "iteration": self._iteration,
            "request_prefix": self._request_prefix,
            "request_count": self._request_count,
            "rounds": rounds,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TuningInstance:
        """Rebuild a tuner from `to_state` output; raises `StateError` when it is corrupt or foreign."""
        from oppertune.algorithms.registry import get_algorithm_class

        if not isinstance(state, Mapping):
            raise StateError(f"A tuner state must be a JSON object. Got {type(state).__name__}.")
        if state.get("format") != STATE_FORMAT:
            raise StateError(f"Not an OPPerTune state: 'format' is {state.get('format')!r}, not {STATE_FORMAT!r}.")
        if state.get("version") != STATE_VERSION:
            raise StateError(f"Unsupported state version {state.get('version')!r}; this release reads {STATE_VERSION}.")
        body = {k: v for k, v in state.items() if k != "checksum"}
        try:
            expected = _checksum(body)
        except (TypeError, ValueError) as exc:
            raise StateError(f"The state holds values that are not plain JSON: {exc}") from None
        if state.get("checksum") != expected:
            raise StateError("The state's checksum does not match its content: the file was modified or damaged.")
        try:
            algorithm_class = get_algorithm_class(state["algorithm"])
        except ValueError as exc:
            raise StateError(str(exc)) from None
        if cls is not TuningInstance and not issubclass(algorithm_class, cls):
            raise StateError(f"The state is of algorithm {state['algorithm']!r}, not {cls.name!r}.")
        try:
            instance = algorithm_class._from_arguments(state["parameters"], state["arguments"])
            instance._set_loop_state(state["loop"])
            instance._set_state(state["learner"])
        except StateError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise StateError(f"The state of {state['algorithm']!r} is inconsistent: {exc}") from None
        return instance

    @classmethod
    def _from_arguments(cls, parameters: list[Any], arguments: Mapping[str, Any]) -> TuningInstance:
        """Build an instance from the ``parameters`` and ``arguments`` of a state."""
        return cls(parameters, **arguments)

    def _set_loop_state(self, loop: Mapping[str, Any]) -> None:
        iteration, count, prefix = loop["iteration"], loop["request_count"], loop["request_prefix"]
        if not (isinstance(iteration, int) and iteration >= 0 and isinstance(count, int) and count >= 0):
            raise ValueError("'iteration' and 'request_count' must be non-negative integers")
        if not isinstance(prefix, str) or "-" in prefix:
            raise ValueError("'request_prefix' must be a string without '-'")
        self._iteration, self._request_count, self._request_prefix = iteration, count, prefix
        self._rounds, self._requests = {}, {}
        restored: list[TuningRequest] = []
        for r in loop["rounds"]:
            ctx = Context.from_dict(r["context"])
            prediction = dict(r["prediction"])
            if list(prediction) != list(self._names):
                raise ValueError(
                    f"an open round's prediction has keys {list(prediction)}, expected {list(self._names)}"
                )
            round_ = self._rounds[ctx.id] = _Round(ctx, prediction, [])
            for q in r["requests"]:
                reward = None if q["reward"] is None else _check_reward(q["reward"])
                round_.request_ids.append(q["id"])
                restored.append(TuningRequest(q["id"], ctx, prediction, reward, q["reward_data"], q.get("metadata")))
        # Listed in the order they were issued, across rounds, as before the dump.
        restored.sort(key=lambda q: _issue_number(q.id))
        self._requests = {q.id: q for q in restored}

    def dumps(self) -> str:
        """The tuner's state as a JSON string: ``json.dumps(to_state())``, byte for byte.

        The parameters and arguments never change, so their JSON (as written and in the checksum's
        sorted form) is encoded once and spliced in; only the loop and the learner are encoded each time.
        """
        static = self.__dict__.get("_static_json")
        if static is None:
            parameters, arguments = [to_dict(p) for p in self.parameters], _jsonable(self.get_arguments())
            static = self._static_json = (
                _compact(self.name),
                _compact(parameters),
                _compact(arguments),
                _canonical(parameters),
                _canonical(arguments),
            )
        name, parameters, arguments, sorted_parameters, sorted_arguments = static
        loop, learner = self._loop_state(), self._get_state()
        canonical = (
            f'{{"algorithm":{name},"arguments":{sorted_arguments},"format":"{STATE_FORMAT}",'
            f'"learner":{_canonical(learner)},"loop":{_canonical(loop)},"parameters":{sorted_parameters},'
            f'"version":{STATE_VERSION}}}'
        )
        checksum = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
        return (
            f'{{"format":"{STATE_FORMAT}","version":{STATE_VERSION},"algorithm":{name},"parameters":{parameters},'
            f'"arguments":{arguments},"loop":{_compact(loop)},"learner":{_compact(learner)},"checksum":"{checksum}"}}'
        )

    @classmethod
    def loads(cls, text: str | bytes) -> TuningInstance:
        """Rebuild a tuner from `dumps` output."""
        try:
            state = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StateError(f"The state is not valid JSON (truncated or damaged?): {exc}") from None
        return cls.from_state(state)

    def dump(self, path: str | os.PathLike[str], compress: bool | None = None) -> None:
        """Write the state to ``path`` (gzip-compressed when ``compress`` or the name ends in ``.gz``).

        The file is written to a temporary name and renamed, so a crash never leaves half a file.
        """
        target = Path(path)
        data = self.dumps().encode()
        if compress or (compress is None and target.suffix == ".gz"):
            data = gzip.compress(data, mtime=0)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TuningInstance:
        """Rebuild a tuner from a file written by `dump` (compressed or not)."""
        data = Path(path).read_bytes()
        if data[:2] == _GZIP_MAGIC:
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise StateError(f"The compressed state file {str(path)!r} is damaged: {exc}") from None
        return cls.loads(data)


@functools.cache
def _argument_names(cls: type) -> tuple[str, ...]:
    """The constructor's argument names other than ``self`` and ``parameters`` (cached: state is dumped often)."""
    return tuple(n for n in inspect.signature(cls.__init__).parameters if n not in ("self", "parameters"))


def _issue_number(request_id: str) -> int:
    number = request_id.rpartition("-")[2]
    return int(number) if number.isdigit() else -1


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
