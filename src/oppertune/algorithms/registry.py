"""Algorithm names, their classes (imported only when asked for), and `create_tuning_instance`."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from oppertune.core.values import ValueType

if TYPE_CHECKING:
    from oppertune.algorithms.base import TuningInstance

__all__ = ["ALGORITHMS", "DEFAULT_ALGORITHM", "create_tuning_instance", "get_algorithm_class"]

_CLASSES: dict[str, tuple[str, str]] = {
    "autoscope": ("oppertune.algorithms.autoscope", "AutoScope"),
    "bayesian_optimization": ("oppertune.algorithms.bayesian_optimization", "BayesianOptimization"),
    "bluefin": ("oppertune.algorithms.bluefin", "BlueFin"),
    "ddpg": ("oppertune.algorithms.ddpg", "DDPG"),
    "exponential_weights": ("oppertune.algorithms.exponential_weights", "ExponentialWeights"),
    "exponential_weights_slates": ("oppertune.algorithms.exponential_weights_slates", "ExponentialWeightsSlates"),
    "hopt": ("oppertune.algorithms.hopt", "HOpt"),
    "hybrid_solver": ("oppertune.algorithms.hybrid_solver", "HybridSolver"),
    "identity": ("oppertune.algorithms.identity", "Identity"),
    "paired_search": ("oppertune.algorithms.paired_search", "PairedSearch"),
    "slates": ("oppertune.algorithms.slates", "Slates"),
    "uniform_random": ("oppertune.algorithms.uniform_random", "UniformRandom"),
}

# Wrappers rebuild from a state like algorithms, but are made with their own arguments (e.g. ``safety``).
_WRAPPERS: dict[str, tuple[str, str]] = {"guarded": ("oppertune.algorithms.guarded", "Guarded")}

ALGORITHMS: tuple[str, ...] = tuple(sorted(_CLASSES))
"""Names accepted by `create_tuning_instance` and `get_algorithm_class`."""

DEFAULT_ALGORITHM = "hybrid_solver"


def get_algorithm_class(name: str) -> type[TuningInstance]:
    """The class registered under ``name``; raises ValueError listing the known names otherwise."""
    if not isinstance(name, str) or (name not in _CLASSES and name not in _WRAPPERS):
        raise ValueError(f"Unknown algorithm {name!r}; known algorithms: {', '.join(ALGORITHMS)}.")
    module_name, class_name = _CLASSES.get(name) or _WRAPPERS[name]
    return getattr(importlib.import_module(module_name), class_name)


def create_tuning_instance(
    parameters: Iterable[ValueType | Mapping[str, Any]],
    algorithm: str = DEFAULT_ALGORITHM,
    algorithm_args: Mapping[str, Any] | None = None,
    safety: Mapping[str, Any] | None = None,
) -> TuningInstance:
    """Build a tuner for ``parameters`` with the named algorithm and its constructor arguments.

    With ``safety`` (the settings of `oppertune.safety.Guarded`), the tuner is wrapped in safety rails.
    """
    if algorithm in _WRAPPERS:
        raise ValueError(f"{algorithm!r} is not an algorithm; pass safety={{...}} to add safety rails.")
    cls = get_algorithm_class(algorithm)
    if algorithm_args is None:
        algorithm_args = {}
    if not isinstance(algorithm_args, Mapping):
        raise TypeError(f"'algorithm_args' must be a dict. Got {algorithm_args!r} instead.")
    accepted = [n for n in inspect.signature(cls.__init__).parameters if n not in ("self", "parameters")]
    unknown = sorted(set(algorithm_args) - set(accepted))
    if unknown:
        raise TypeError(
            f"Unknown argument(s) {unknown} for algorithm {algorithm!r}; it accepts: {', '.join(accepted) or 'none'}."
        )
    tuner = cls(parameters, **algorithm_args)
    if safety is None:
        return tuner
    from oppertune.algorithms.guarded import guard

    return guard(tuner, safety)
