"""Slates: Vowpal Wabbit's slates contextual bandit, one slot per tuned parameter (extra ``slates``).

Every tuned parameter is a slot whose actions are its values: the categories of a Categorical, or
``n_discretized_values`` points of an Integer or Real (on its step grid). Each round Vowpal Wabbit
picks one action per slot, explores with its own seeded sampler, and learns from the slate's cost
(``-reward``: VW minimises, we maximise) and the probabilities it played with.

Context: optional. The features of a `Context` are VW shared features (namespace ``c``) that
interact with every action (``--interactions ca``): a str or bool value is the indicator feature
``name=value``, an int or float value the numeric feature ``name:value``; None is left out. Spaces,
``:`` and ``|`` in names and values become ``_``.
"""

from __future__ import annotations

import base64
import importlib
import re
import secrets
import shlex
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from oppertune.algorithms import _arguments as check
from oppertune.algorithms import _state as valid
from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context
from oppertune.core.values import Categorical, Real, ValueType

__all__ = ["Slates"]

# Options that would make VW read or write files of its own, or clash with the options we set.
_REFUSED_OPTIONS = frozenset(
    {"-i", "--initial_regressor", "-f", "--final_regressor", "-d", "--data", "-c", "--cache", "--cache_file",
     "-p", "--predictions", "-r", "--raw_predictions", "--readable_model", "--invert_hash", "--daemon", "--port",
     "--slates", "--random_seed", "--predict_only_model", "--json", "--dsjson", "-t", "--testonly",
     "--save_per_pass", "--output_model_config", "--audit_regressor", "--extra_metrics", "--dictionary_path"}
)  # fmt: skip
_UNSAFE = re.compile(r"[\s:|]")


def _import_vowpalwabbit() -> ModuleType:
    try:
        return importlib.import_module("vowpalwabbit")
    except ImportError as exc:
        raise ImportError(
            "The 'slates' algorithm needs vowpalwabbit (9.11); install it with: pip install 'oppertune[slates]'"
        ) from exc


def _token(value: Any) -> str:
    return _UNSAFE.sub("_", str(value))


def _context_features(context: Context) -> str:
    features = []
    for key, value in sorted(context.data.items()):
        if value is None:
            continue
        if isinstance(value, (str, bool)):
            features.append(f"{_token(key)}={_token(value)}")
        else:
            features.append(f"{_token(key)}:{float(value)!r}")
    return " ".join(features)


class Slates(TuningInstance):
    """Vowpal Wabbit's slates contextual bandit over all parameter types, optionally per context.

    Args:
        parameters: The parameters to tune, of any type.
        n_discretized_values: Values offered for each Integer or Real (evenly spread over its range and
            on its step grid; all grid points when there are fewer). At least 2.
        vw_args: Extra Vowpal Wabbit options, e.g. ``"--epsilon 0.1 -l 0.5"``. Options that read or
            write files, or that this class sets itself (``--slates``, ``--random_seed``), are refused.
        random_seed: Seed for reproducible runs (VW's ``--random_seed``).
    """

    name = "slates"
    uses_context = True

    def __init__(
        self,
        parameters: Iterable[ValueType | Mapping[str, Any]],
        n_discretized_values: int = 20,
        vw_args: str = "",
        random_seed: int | None = None,
    ) -> None:
        owner = type(self).__name__
        if isinstance(n_discretized_values, bool) or not isinstance(n_discretized_values, int):
            raise TypeError(
                f"The 'n_discretized_values' argument of {owner} must be an int of at least 2. "
                f"Got {n_discretized_values!r} instead."
            )
        if n_discretized_values < 2:
            raise ValueError(
                f"The 'n_discretized_values' argument of {owner} must be an int of at least 2. "
                f"Got {n_discretized_values!r} instead."
            )
        self.n_discretized_values = n_discretized_values
        if not isinstance(vw_args, str):
            raise TypeError(f"The 'vw_args' argument of {owner} must be a string. Got {vw_args!r} instead.")
        try:
            options = shlex.split(vw_args)
        except ValueError as exc:
            raise ValueError(f"The 'vw_args' argument of {owner} cannot be parsed: {exc}. Got {vw_args!r}.") from None
        refused = sorted({o.split("=")[0] for o in options} & _REFUSED_OPTIONS)
        if refused:
            raise ValueError(
                f"The 'vw_args' argument of {owner} must not set {', '.join(refused)} (file options and the "
                f"options this class sets itself are refused). Got {vw_args!r} instead."
            )
        self.vw_args = vw_args
        self.random_seed = check.seed(owner, random_seed)
        super().__init__(parameters)

        self._vw_module = _import_vowpalwabbit()
        self._values: list[list[Any]] = [self._slot_values(p) for p in self._tuned]
        self._action_lines = [
            f"slates action {slot} |a p{slot}={index}"
            for slot, values in enumerate(self._values)
            for index in range(len(values))
        ]
        self._slot_lines = [f"slates slot |s slot{slot}" for slot in range(len(self._values))]
        seed = self.random_seed if self.random_seed is not None else secrets.randbits(31)
        self._options = " ".join(["--slates", "--interactions", "ca", "--quiet", *options])
        self._vw: Any = self._vw_module.Workspace(f"{self._options} --random_seed {seed}") if self._values else None
        # chosen action index and its probability, per slot, for each context with an open round
        self._pending: dict[str, list[tuple[int, float]]] = {}

    def _slot_values(self, p: ValueType) -> list[Any]:
        if isinstance(p, Categorical):
            return list(p.categories)
        n = self.n_discretized_values
        if isinstance(p, Real) and p.step is None:
            return [p.from_unit(i / (n - 1)) for i in range(n)]
        steps = p.n_steps
        if steps + 1 <= n:
            return [p.from_unit(i / steps) for i in range(steps + 1)]
        indices = sorted({round(i * steps / (n - 1)) for i in range(n)})
        return [p.from_unit(i / steps) for i in indices]

    @property
    def discretized_values(self) -> dict[str, list[Any]]:
        """The values offered for each tuned parameter."""
        return {p.name: list(values) for p, values in zip(self._tuned, self._values)}

    def _example(self, context: Context, label: str, chosen: list[tuple[int, float]] | None) -> list[str]:
        shared = f"slates shared {label}|c {_context_features(context)}".rstrip()
        if chosen is None:
            slots = self._slot_lines
        else:
            slots = [f"slates slot {a}:{p!r} |s slot{i}" for i, (a, p) in enumerate(chosen)]
        return [shared, *self._action_lines, *slots]

    def _predict(self, context: Context) -> dict[str, Any]:
        if self._vw is None:
            return {}
        slots = self._vw.predict(self._example(context, "", None))
        # VW samples the action it plays and lists it first, with its probability.
        chosen = [(int(pdf[0][0]), float(pdf[0][1])) for pdf in slots]
        self._pending[context.id] = chosen
        return {p.name: values[a] for p, values, (a, _) in zip(self._tuned, self._values, chosen)}

    def _learn(self, reward: float | list[float], context: Context) -> None:
        chosen = self._pending.pop(context.id, None)
        if self._vw is None or chosen is None:
            return
        self._vw.learn(self._example(context, f"{-float(reward)!r} ", chosen))  # type: ignore[arg-type]

    # ----------------------------------------------------------------- state
    def _model_bytes(self) -> bytes:
        with tempfile.TemporaryDirectory(prefix="oppertune-vw-") as folder:
            path = Path(folder) / "model.vw"
            self._vw.save(str(path))
            return path.read_bytes()

    def _get_state(self) -> dict[str, Any]:
        return {
            "model": None if self._vw is None else base64.b64encode(self._model_bytes()).decode("ascii"),
            "pending": {cid: [[a, p] for a, p in chosen] for cid, chosen in self._pending.items()},
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        pending: dict[str, list[tuple[int, float]]] = {}
        for cid, chosen in state["pending"].items():
            if not isinstance(chosen, list) or len(chosen) != len(self._values):
                raise ValueError(f"'pending' of context {cid!r} must hold one action per slot")
            pending[cid] = []
            for (action, probability), values in zip(chosen, self._values):
                index = valid.non_negative_int(action, "pending action")
                p = valid.number(probability, "pending probability")
                if index >= len(values) or not 0.0 < p <= 1.0:
                    raise ValueError(f"'pending' of context {cid!r} holds an impossible action {chosen!r}")
                pending[cid].append((index, p))
        if self._vw is not None:
            if not isinstance(state["model"], str):
                raise ValueError("'model' must be the base64 text of a Vowpal Wabbit model")
            self._vw = self._load_model(base64.b64decode(state["model"], validate=True))
        self._pending = pending

    def _load_model(self, data: bytes) -> Any:
        with tempfile.TemporaryDirectory(prefix="oppertune-vw-") as folder:
            path = Path(folder) / "model.vw"
            path.write_bytes(data)
            try:
                # The model carries its own options (and the sampler's state as its random seed).
                vw = self._vw_module.Workspace(f"--quiet --preserve_performance_counters -i {shlex.quote(str(path))}")
            except RuntimeError as exc:
                raise ValueError(f"'model' is not a readable Vowpal Wabbit model: {exc}") from None
        if "--slates" not in vw.get_arguments():
            raise ValueError("'model' is not a Vowpal Wabbit slates model")
        return vw
