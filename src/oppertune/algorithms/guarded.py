"""Safety rails for live tuning: bounded exploration, regression guard, rollback, freeze and drift.

`Guarded` wraps any tuner and keeps its ``predict``/``store_reward``/``set_reward`` API. Per
context it learns the baseline (the reward of the starting configuration, given or measured
first), keeps an incumbent backed by repeated evidence, and decides every round who serves:

* ``baseline``: a round that measures the baseline: by default one of the learner's first rounds that
  keeps the starting categories (a learner exploring in pairs around its centre straddles the starting
  configuration, so the mean of its first pairs estimates its reward, and no round is spent on it), or
  the starting configuration itself (``dedicated_baseline``, and for learners that do not explore in pairs:
  the default and BlueFin with ``feedback=2``, alone, in a HybridSolver or as AutoScope's leaves, do);
* ``learner``: the wrapped tuner's proposal, clamped to the hard limits and the maximum change
  per round;
* ``incumbent``: the best-known configuration — after a regression or a collapse, during a
  rollback or a freeze, and every ``probe_every`` rounds as a probe for the drift detector;
* ``confirm``: a promising configuration (one that beat the incumbent by more than the reward
  noise; the best such round since the last confirmation, as the learner moves on) served again in
  the next probe slot instead of the incumbent, so that the incumbent rests on at least two rounds
  rather than one lucky one. Probes and confirmations together take one round in ``probe_every``. A
  learner round that serves a candidate again (a categorical space, a grid) counts as evidence for
  it too, at no cost.

A round whose reward falls below ``baseline - margin`` by more than ``noise_allowance`` standard deviations of
the measured reward noise is a violation: a single round cannot tell a smaller drop from noise. The noise is
the spread of repeated rounds of one configuration (the incumbent's probes, the confirmations, the learner's
rounds of a configuration it served lately), pooled over contexts until a context has its own; until there are
three, the spread of the learner's rounds that measured the baseline (rough: they vary with the learner's
perturbations too, so it errs towards tolerance). Exploration starts at ``start_scale`` of the learner's own
(the learner's perturbations shrink; the parameters a learner cannot shrink itself, e.g. the categories of the
prototype's HybridSolver, are pulled towards the incumbent instead); ``recover_after`` good rounds in a row
double it, up to the full size. When ``k`` of the last ``n`` rounds violate (2 of 2 by default), or one round
collapses (below), the next round serves the incumbent and exploration halves.
``rollback_after`` such triggers within ``rollback_window`` rounds roll back automatically: the
incumbent is served for ``cooldown`` rounds, then exploring resumes at a quarter of its full size, from the
incumbent (a learner that can, e.g. the default, searches on from it rather than from where it had gone). A
two-sided CUSUM on the rewards of incumbent rounds, standardised by their spread (with the same doubt
as for collapses, below, while few rounds measured it), detects a sustained shift (so does a
learner that notices one itself, unless a round collapsed, below, at most two rounds before: a fall
of the service drags the learner's pair means down too, and is no change of the workload); then the
baseline is measured again, stale evidence is dropped
(not the unsafe regions below) and the learner explores anew.

A round that falls ``collapse`` times further below the baseline than a violation (the service fell
over; while few rounds have measured the noise, with up to 1.5 times the measured noise, since a
spread from a handful of rounds is often far too small and one outlier would otherwise condemn a
region) marks an unsafe region: the collapsed configuration, and the directions to it from the
incumbent of the time and from the starting configuration (one collapse tells the direction of the
edge only roughly). The next round serves the incumbent, and from then on a learner's proposal that
goes further in either direction than halfway to the collapse, and further than the incumbent does
or away from it (past halfway, only configurations four times nearer the incumbent than the
collapse are safe), is pulled back towards the incumbent, or replaced by it; when the collapse
changed categories, only proposals with all of those categories are (a joint change that collapsed
condemns the combination, not each of its halves, which may be on the way to the optimum). A collapse seen
before repeated rounds ever measured the noise (while only the rough spread was known) is provisional: when
they first do, it is judged again with the measured noise, and its region is lifted (a ``lifted`` event) if
its reward no longer falls below the collapse line. Every
decision is recorded in `events` and in the round's request metadata (in `events`, rounds clamped or
pulled back one after another, with nothing else recorded between them, are one event with their count).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from oppertune.algorithms import _arguments as check
from oppertune.algorithms import _state as valid
from oppertune.algorithms._random import BufferedDraws, derived_seed
from oppertune.algorithms.base import TuningInstance
from oppertune.core.types import Context, PredictResponse
from oppertune.core.values import Categorical, Integer, Real, transform

__all__ = ["Guarded", "SafetyEvent", "guard"]

SafetyEvent = dict[str, Any]
"""One recorded decision: ``{"round", "context_id", "kind", "reason", ...}``."""

_MIN_SCALE = 1.0 / 16.0
_ROLLBACK_SCALE = 0.25  # exploration resumes at this scale after a rollback's cooldown
_MAX_EVENTS = 1000
_MAX_CANDIDATES = 8
_CUSUM_SLACK = 0.5
_MAX_UNSAFE = 16
_NOISE_DOUBT = 1.5  # at most this factor on the noise for collapses and drifts while few rounds measured it
_PULLBACKS = 3
_RECENT = 16  # configurations remembered per context to measure the noise when the learner serves one again
_FALL_ECHO = 2  # rounds after a collapse in which a learner that notices a shift is noticing the collapse
_NEAR = 0.25  # past halfway to a collapse, a configuration this much nearer the incumbent than the collapse is safe
# from an origin to a collapse: its terms in order and its squared length (see `Guarded._direction`)
_Direction = tuple[list[tuple[str, float | None, Any]], float]

_RAIL_ARGUMENTS = (
    "baseline", "baseline_rounds", "dedicated_baseline", "margin", "relative_margin", "violations", "recover_after",
    "rollback_after", "rollback_window", "cooldown", "limits", "max_step", "max_step_fraction", "budgets",
    "probe_every", "drift_threshold", "noise_allowance", "collapse", "start_scale", "random_seed",
)  # fmt: skip


# states saved before these fields existed load with their defaults
_NEWER_FIELDS = frozenset({"fell_at", "learner_shifts", "recent", "rough_noise", "uncounted", "unsafe"})


class _ContextRails:
    """What the rails know about one context."""

    FIELDS = (
        "baseline", "baseline_samples", "candidates", "confirm", "cusum_high", "cusum_low", "good_streak",
        "guard_next", "incumbent", "last_served", "learner_shifts", "pending", "rough_noise", "since_probe", "spread",
        "spread_n", "uncounted", "unsafe", "window", "fell_at", "recent",
    )  # fmt: skip
    __slots__ = (*FIELDS, "regions")

    def __init__(self, baseline: float | None) -> None:
        self.baseline = baseline
        self.baseline_samples: list[float] = []
        # each candidate: [configuration, count, mean, sum of squared deviations]; index 0: the starting configuration
        self.candidates: list[list[Any]] = []
        self.incumbent = 0
        self.confirm: int | None = None
        self.window: list[bool] = []
        self.good_streak = 0
        self.guard_next = False
        self.since_probe = 0
        self.cusum_high = 0.0
        self.cusum_low = 0.0
        self.spread = 0.0  # running sum of squared deviations of repeated rounds from their configuration's mean
        self.spread_n = 0
        self.rough_noise = 0.0  # variance of the learner's rounds that measured the baseline, until repeats measure it
        self.uncounted = 0  # learner rounds that changed a starting category while the baseline was being measured
        self.learner_shifts = 0  # changes of the workload the learner had noticed by itself, as last seen
        self.last_served: dict[str, Any] | None = None
        # the open round: who served, the configuration, what was clamped, whether the learner proposed it
        self.pending: tuple[str, dict[str, Any], list[str], bool] | None = None
        # each unsafe region: [collapsed configuration, the incumbent when it collapsed], and the collapsed reward
        # while the region is provisional (the noise had never been measured on repeated rounds)
        self.unsafe: list[list[dict[str, Any]]] = []
        self.fell_at: int | None = None  # the round of the last collapse
        # the configurations the learner served last (not candidates), by their values: [rounds, mean reward]
        self.recent: dict[tuple[Any, ...], list[float]] = {}
        # not state: the unsafe list the regions were computed from, and the regions in unit space
        self.regions: tuple[list[Any] | None, list[Any]] = (None, [])

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.FIELDS}
        data["recent"] = [[list(values), *seen] for values, seen in self.recent.items()]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _ContextRails:
        rails = cls(None)
        for name in cls.FIELDS:
            setattr(rails, name, data[name] if name in data or name not in _NEWER_FIELDS else getattr(rails, name))
        if isinstance(rails.recent, list):
            rails.recent = {tuple(values): [count, mean] for values, count, mean in rails.recent}
        if rails.pending is not None:
            source, config, clamped, *proposed = rails.pending  # older states: only learner rounds were proposed
            proposed_by_learner = bool(proposed[0]) if proposed else source == "learner"
            rails.pending = (source, dict(config), list(clamped), proposed_by_learner)
        return rails


class Guarded(TuningInstance):
    """Wraps a tuner with safety rails; same API, plus `rollback`, `freeze`, `resume` and `events`.

    Args:
        tuner: The tuner to guard (any algorithm; it should not have served rounds yet).
        baseline: The starting configuration's reward, when known; otherwise measured first.
        baseline_rounds: Rounds that measure the baseline: the learner's first rounds that keep the starting
            categories (its first pairs straddle the starting configuration, so their mean estimates its reward),
            or with ``dedicated_baseline`` rounds of the starting configuration itself. Once the learner has
            changed a starting category in this many rounds, two such rounds are enough; with fewer, the rails
            serve the starting configuration for the rest.
        dedicated_baseline: Serve the starting configuration itself to measure the baseline. None (default): only
            when the tuner does not explore in pairs around its centre (PairedSearch does, HybridSolver by
            default, and BlueFin with ``feedback=2``, also as a HybridSolver's numerical learner or as AutoScope's
            leaves).
        margin: A round violates when its reward is below ``baseline - margin`` (absolute units).
        relative_margin: Or ``baseline - relative_margin * |baseline|``; used when ``margin`` is None.
        violations: ``(k, n)``: a regression is declared when ``k`` of the last ``n`` rounds violate (by default
            2 of 2: an exploring round just below the line is often the learner's own miss, which it leaves by
            itself; ``(1, 1)`` answers every single one). A collapse is a regression at once.
        recover_after: Good rounds in a row after which exploration doubles again (up to its full size).
        rollback_after: Regressions within ``rollback_window`` rounds that trigger an automatic rollback;
            exploring resumes after it at a quarter of the full size.
        rollback_window: See ``rollback_after``.
        cooldown: Rounds the incumbent is served after a rollback before exploring resumes.
        limits: Hard limits narrower than a parameter's range: ``{"name": {"min": x, "max": y}}``
            (numerical), or ``{"name": {"allowed": [...]}}`` (categorical).
        max_step: Largest change per exploring round, in parameter units: ``{"name": units}``. Returning
            to the incumbent (a configuration already served) is never limited.
        max_step_fraction: Largest change per exploring round as a fraction of every numerical range.
        budgets: Linear limits over several numerical parameters that the operator knows, e.g. a memory
            budget: ``[{"weights": {"threads": 24, "cache_mb": 1}, "max": 1024}]`` keeps
            ``24 * threads + cache_mb <= 1024``. A proposal beyond one is pulled back towards the incumbent
            to the budget's edge (on the parameters' grids). The starting configuration must be within them.
        probe_every: Every this many rounds the incumbent is served as a probe for drift detection.
        drift_threshold: CUSUM threshold, in standard deviations of the incumbent's reward.
        noise_allowance: Standard deviations of the reward noise a round may fall below ``baseline - margin``
            before it counts as a violation.
        collapse: A round whose drop below the baseline is this many times a violation's (margin plus noise
            allowance) is a collapse: a regression by itself, and its neighbourhood becomes unsafe. Must be > 1.
        start_scale: The exploration scale of the first rounds, in [1/16, 1]; it doubles after every
            ``recover_after`` good rounds.
        random_seed: Seed of the rails' own random choices (a category pulled back to the incumbent's or not); None:
            derived from the tuner's arguments, so that the run of a seeded tuner (its own seed or its learners')
            repeats.
    """

    name = "guarded"
    uses_context = True

    def __init__(
        self,
        tuner: TuningInstance,
        baseline: float | None = None,
        baseline_rounds: int = 4,
        dedicated_baseline: bool | None = None,
        margin: float | None = None,
        relative_margin: float | None = 0.1,
        violations: tuple[int, int] | list[int] = (2, 2),
        recover_after: int = 2,
        rollback_after: int = 3,
        rollback_window: int = 20,
        cooldown: int = 5,
        limits: Mapping[str, Mapping[str, Any]] | None = None,
        max_step: Mapping[str, float] | None = None,
        max_step_fraction: float | None = None,
        budgets: list[Mapping[str, Any]] | None = None,
        probe_every: int = 15,
        drift_threshold: float = 5.0,
        noise_allowance: float = 2.0,
        collapse: float = 3.0,
        start_scale: float = 0.5,
        random_seed: int | None = None,
    ) -> None:
        owner = type(self).__name__
        if not isinstance(tuner, TuningInstance):
            raise TypeError(f"The 'tuner' argument of {owner} must be a tuning instance. Got {tuner!r} instead.")
        if isinstance(tuner, Guarded):
            raise TypeError(f"The 'tuner' argument of {owner} is already guarded.")
        if tuner.iteration or tuner._rounds:
            raise ValueError(f"The 'tuner' argument of {owner} must be a fresh tuner (it has served rounds).")
        self.tuner = tuner
        self.baseline = None if baseline is None else _finite(owner, "baseline", baseline)
        self.baseline_rounds = _int_at_least(owner, "baseline_rounds", baseline_rounds, 1)
        if dedicated_baseline is not None and not isinstance(dedicated_baseline, bool):
            raise TypeError(
                f"The 'dedicated_baseline' argument of {owner} must be a bool or None. "
                f"Got {dedicated_baseline!r} instead."
            )
        self.dedicated_baseline = dedicated_baseline
        if margin is None and relative_margin is None:
            raise ValueError(f"{owner} needs a 'margin' or a 'relative_margin' to recognise a regression.")
        self.margin = None if margin is None else check.non_negative_float(owner, "margin", margin)
        self.relative_margin = (
            None if relative_margin is None else check.non_negative_float(owner, "relative_margin", relative_margin)
        )
        if (
            isinstance(violations, (str, bytes))
            or not isinstance(violations, (tuple, list))
            or len(violations) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in violations)
            or not 1 <= violations[0] <= violations[1]
        ):
            raise ValueError(
                f"The 'violations' argument of {owner} must be a pair (k, n) of ints with 1 <= k <= n. "
                f"Got {violations!r} instead."
            )
        self.violations = [int(violations[0]), int(violations[1])]
        self.recover_after = _int_at_least(owner, "recover_after", recover_after, 1)
        self.rollback_after = _int_at_least(owner, "rollback_after", rollback_after, 1)
        self.rollback_window = _int_at_least(owner, "rollback_window", rollback_window, 1)
        self.cooldown = _int_at_least(owner, "cooldown", cooldown, 0)
        self.probe_every = _int_at_least(owner, "probe_every", probe_every, 2)
        self.drift_threshold = check.positive_float(owner, "drift_threshold", drift_threshold)
        self.noise_allowance = check.non_negative_float(owner, "noise_allowance", noise_allowance)
        self.collapse = check.positive_float(owner, "collapse", collapse)
        if self.collapse <= 1.0:
            raise ValueError(
                f"The 'collapse' argument of {owner} must be > 1 (a collapse is a deeper drop than a violation). "
                f"Got {collapse!r} instead."
            )
        self.start_scale = _finite(owner, "start_scale", start_scale)
        if not _MIN_SCALE <= self.start_scale <= 1.0:
            raise ValueError(
                f"The 'start_scale' argument of {owner} must lie in [{_MIN_SCALE}, 1]. Got {start_scale!r} instead."
            )
        self.random_seed = check.seed(owner, random_seed)
        super().__init__(tuner.parameters)
        self.limits = self._check_limits(owner, limits)
        self.max_step = self._check_max_step(owner, max_step)
        self.max_step_fraction = (
            None
            if max_step_fraction is None
            else check.float_in(owner, "max_step_fraction", max_step_fraction, 0, 1.01)
        )
        self.budgets = self._check_budgets(owner, budgets)

        self._initial = {p.name: p.val for p in self._tuned}
        self._categorical = [p.name for p in self._tuned if isinstance(p, Categorical)]
        self._categories = frozenset(self._categorical)
        self._serve_start = not tuner._straddles_start() if dedicated_baseline is None else dedicated_baseline
        self._by_name = {p.name: p for p in self._tuned}
        self._contexts: dict[str, _ContextRails] = {}
        self._scale = self.start_scale
        # what the tuner cannot shrink itself, the rails pull towards the incumbent
        self._pulled = frozenset(p.name for p in self._tuned) - tuner._set_exploration_scale(self.start_scale)
        self._mode = "exploring"  # or "frozen" or "rolled_back"
        self._cooldown_left = 0
        self._triggers: list[int] = []
        self._events: list[SafetyEvent] = []
        seed = self.random_seed
        if seed is None:  # from the tuner's arguments, seeds included: a seeded run repeats inside the rails too
            seed = derived_seed("rails", tuner.name, json.dumps(tuner.get_arguments(), sort_keys=True, default=str))
        self._draws = BufferedDraws(seed, "uniform")
        self._last_metadata: dict[str, Any] = {}
        self._noise_measured = False  # by repeated rounds, once: collapses seen before are judged again then

    # ------------------------------------------------------------------ validation of the rails
    def _check_limits(self, owner: str, limits: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
        checked: dict[str, dict[str, Any]] = {}
        by_name = {p.name: p for p in self.parameters}
        for name, rule in check.mapping(owner, "limits", limits).items():
            if name not in by_name:
                raise ValueError(f"The 'limits' argument of {owner} names {name!r}, which is not a parameter.")
            p = by_name[name]
            if not isinstance(rule, Mapping):
                raise TypeError(f"The 'limits' argument of {owner}: the limits of {name!r} must be a dict.")
            if isinstance(p, Categorical):
                allowed = rule.get("allowed")
                if set(rule) != {"allowed"} or not isinstance(allowed, (list, tuple)) or not allowed:
                    raise ValueError(f"The limits of categorical {name!r} must be {{'allowed': [categories]}}.")
                unknown = [c for c in allowed if c not in p.categories]
                if unknown:
                    raise ValueError(f"The limits of {name!r} allow {unknown}, which are not among its categories.")
                if p.val not in allowed:
                    raise ValueError(f"The limits of {name!r} exclude its starting value {p.val!r}.")
                checked[name] = {"allowed": list(allowed)}
                continue
            if not set(rule) <= {"min", "max"} or not rule:
                raise ValueError(f"The limits of numerical {name!r} must be {{'min': x, 'max': y}} (either or both).")
            low = _finite(owner, f"limits['{name}']['min']", rule.get("min", p.min))
            high = _finite(owner, f"limits['{name}']['max']", rule.get("max", p.max))
            if not p.min <= low <= high <= p.max:
                raise ValueError(
                    f"The limits of {name!r} must satisfy {p.min} <= min <= max <= {p.max}. Got min={low}, max={high}."
                )
            if not low <= p.val <= high:
                raise ValueError(f"The limits of {name!r} exclude its starting value {p.val!r}.")
            checked[name] = {"min": low, "max": high}
        return checked

    def _check_max_step(self, owner: str, max_step: Mapping[str, float] | None) -> dict[str, float]:
        checked: dict[str, float] = {}
        by_name = {p.name: p for p in self.parameters}
        for name, step in check.mapping(owner, "max_step", max_step).items():
            p = by_name.get(name)
            if p is None or isinstance(p, Categorical):
                raise ValueError(
                    f"The 'max_step' argument of {owner} names {name!r}, which is not a numerical parameter."
                )
            checked[name] = check.positive_float(owner, f"max_step['{name}']", step)
        return checked

    def _check_budgets(self, owner: str, budgets: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
        if budgets is None:
            return []
        if isinstance(budgets, (str, bytes, Mapping)) or not isinstance(budgets, (list, tuple)):
            raise TypeError(f"The 'budgets' argument of {owner} must be a list of budgets. Got {budgets!r} instead.")
        by_name = {p.name: p for p in self.parameters}
        checked = []
        for i, budget in enumerate(budgets):
            field = f"budgets[{i}]"
            if not isinstance(budget, Mapping) or set(budget) != {"weights", "max"}:
                raise ValueError(f"The '{field}' setting of {owner} must be {{'weights': {{name: w}}, 'max': x}}.")
            weights = check.mapping(owner, f"{field}['weights']", budget["weights"])
            if not weights:
                raise ValueError(f"The '{field}' setting of {owner} must weigh at least one parameter.")
            for name, weight in weights.items():
                p = by_name.get(name)
                if p is None or isinstance(p, Categorical):
                    raise ValueError(
                        f"The '{field}' setting of {owner} names {name!r}, which is not a numerical parameter."
                    )
                if _finite(owner, f"{field}['weights']['{name}']", weight) == 0.0:
                    raise ValueError(f"The '{field}' setting of {owner} gives {name!r} a weight of 0.")
            limit = _finite(owner, f"{field}['max']", budget["max"])
            entry = {"weights": {name: float(w) for name, w in weights.items()}, "max": limit}
            used = _usage(entry, {p.name: p.val for p in self.parameters})
            if used > limit:
                raise ValueError(
                    f"The '{field}' setting of {owner} excludes the starting configuration "
                    f"(it uses {used:g} > {limit:g})."
                )
            checked.append(entry)
        return checked

    def _within_budgets(self, config: dict[str, Any], anchor: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """``config`` pulled towards ``anchor`` (within every budget) until it is within every budget too."""
        pulled = False
        for budget in self.budgets:
            used, limit = _usage(budget, config), budget["max"]
            if used <= limit:
                continue
            base = _usage(budget, anchor)
            t = (limit - base) / (used - base)  # used > limit >= base
            for name in budget["weights"]:
                p = self._by_name[name]
                target = anchor[name] + t * (config[name] - anchor[name])
                low, high = sorted((anchor[name], target))
                config[name] = _on_grid_within(p, target, low, high)
            if _usage(budget, config) > limit:  # the grids rounded away from the edge: keep the anchor's values
                for name in budget["weights"]:
                    config[name] = anchor[name]
            pulled = True
        return config, pulled

    # ------------------------------------------------------------------ operator actions
    def freeze(self) -> None:
        """Stop exploring: every context is served its incumbent until `resume`."""
        self._mode = "frozen"
        self._record("", "freeze", "frozen by the operator")

    def resume(self) -> None:
        """Explore again after `freeze` or `rollback`, starting from a halved exploration."""
        self._mode, self._cooldown_left = "exploring", 0
        self._set_scale(max(_MIN_SCALE, min(self._scale, 0.5)))
        self._record("", "resume", "resumed by the operator")

    def rollback(self, context: Context | Mapping[str, Any] | str | None = None) -> dict[str, Any]:
        """Serve the incumbent from the next round on (for ``cooldown`` rounds), then explore on from it; returns
        its configuration."""
        self._start_rollback("rolled back by the operator")
        return self.best_configuration(context)

    @property
    def status(self) -> str:
        """``exploring``, ``frozen`` or ``rolled_back``."""
        return self._mode

    @property
    def exploration_scale(self) -> float:
        """How far exploration currently reaches, relative to the learner's own (1 = full)."""
        return self._scale

    def events(self, context_id: str | None = None) -> list[SafetyEvent]:
        """The recorded decisions (the last 1,000), oldest first; of one context when given. A run of rounds clamped
        or pulled back from an unsafe region is one event with ``rounds`` and ``last_round``."""
        return [dict(e) for e in self._events if context_id is None or e["context_id"] in (context_id, "")]

    def best_configuration(self, context: Context | Mapping[str, Any] | str | None = None) -> dict[str, Any]:
        """The incumbent of a context (the starting configuration before any evidence), constants included."""
        if isinstance(context, Mapping):
            context = Context(context)
        cid = context if isinstance(context, str) else ("" if context is None else context.id)
        rails = self._contexts.get(cid)
        tuned = self._initial if rails is None or not rails.candidates else rails.candidates[rails.incumbent][0]
        return {p.name: tuned.get(p.name, p.val) for p in self.parameters}

    def round_metadata(self, request_id: str) -> dict[str, Any]:
        """What the rails decided for the round of an open request: who served, what was clamped, the scale."""
        return dict(self._lookup_request(request_id).metadata or {})

    # ------------------------------------------------------------------ the loop
    def predict(self, context: Context | Mapping[str, Any] | None = None) -> PredictResponse:
        response = super().predict(context)
        request = self._requests[response.request_id]
        ctx = request.context
        rails = self._contexts[ctx.id]
        if request.metadata is None and rails.pending is not None:
            source, _, clamped, _ = rails.pending
            request.metadata = {"served_by": source, "clamped": list(clamped), "scale": self._scale,
                                "status": self._mode}  # fmt: skip
        return response

    def _check_context(self, context: Context) -> None:
        self.tuner._check_context(context)

    def _rails(self, context: Context) -> _ContextRails:
        rails = self._contexts.get(context.id)
        if rails is None:
            rails = self._contexts[context.id] = _ContextRails(self.baseline)
            if self.baseline is not None:
                rails.candidates = [[dict(self._initial), 0, self.baseline, 0.0]]
        return rails

    def _predict(self, context: Context) -> dict[str, Any]:
        rails = self._rails(context)
        incumbent = rails.candidates[rails.incumbent][0] if rails.candidates else self._initial
        clamped: list[str] = []
        proposed = False
        if rails.baseline is None and (
            self._serve_start or self._mode != "exploring" or rails.uncounted >= self.baseline_rounds
        ):
            source, config = "baseline", dict(self._initial)
        elif self._mode != "exploring":
            source, config = "incumbent", dict(incumbent)
        elif rails.guard_next:
            source, config = "incumbent", dict(incumbent)
            rails.guard_next = False
        elif rails.since_probe >= self.probe_every:
            if rails.confirm is not None:
                source, config = "confirm", dict(rails.candidates[rails.confirm][0])
            else:
                source, config = "incumbent", dict(incumbent)
        else:
            source, proposed = "learner", True
            proposal = dict(self.tuner._predict(context))
            if self._pulled and self._scale < 1.0:
                proposal = self._pull_towards(proposal, incumbent, self._scale)
            config, clamped = self._clamp(proposal, rails.last_served)
            if self.budgets:
                config, pulled = self._within_budgets(config, incumbent)
                if pulled:
                    clamped = [*clamped, "budget"]
            if clamped:
                self._record_repeated(context.id, "clamped", f"limited {', '.join(clamped)}", configuration=config)
            if rails.unsafe and self._unsafe(rails, config, incumbent):
                config = self._keep_out(rails, config, incumbent)
                clamped = [*clamped, "unsafe region"]
                self._record_repeated(context.id, "avoided", "the proposal entered an unsafe region: pulled back",
                                      configuration=config)  # fmt: skip
            if rails.baseline is None and all(config[name] == self._initial[name] for name in self._categorical):
                source = "baseline"  # a learner round around the starting configuration: it measures the baseline
        rails.pending = (source, config, clamped, proposed)
        rails.last_served = config
        return config

    def _pull_towards(self, proposal: dict[str, Any], incumbent: Mapping[str, Any], scale: float) -> dict[str, Any]:
        """``proposal`` with the parameters the tuner does not scale itself pulled towards ``incumbent``."""
        pulled = {}
        for name, value in proposal.items():
            p = self._by_name[name]
            if name not in self._pulled:
                pulled[name] = value
            elif isinstance(p, Categorical):
                keep = value == incumbent[name] or self._draws.take_one() < scale
                pulled[name] = value if keep else incumbent[name]
            else:
                here, there = float(transform(p, incumbent[name])), float(transform(p, value))
                pulled[name] = p.from_unit(here + scale * (there - here))
        return pulled

    # ------------------------------------------------------------------ unsafe regions
    def _point(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` in unit space (categories as they are)."""
        return {name: value if name in self._categories else float(transform(self._by_name[name], value))
                for name, value in config.items()}  # fmt: skip

    def _regions(self, rails: _ContextRails) -> list[tuple[dict[str, Any], list[_Direction]]]:
        """The unsafe regions in unit space, each the collapsed point and its directions from the incumbent of the
        time and from the start; recomputed when the regions change."""
        source, regions = rails.regions
        if source is not rails.unsafe:
            start = self._point(self._initial)
            regions = []
            for collapsed, then, *_ in rails.unsafe:
                bad = self._point(collapsed)
                regions.append((bad, [self._direction(bad, self._point(then)), self._direction(bad, start)]))
            rails.regions = (rails.unsafe, regions)
        return regions

    def _direction(self, collapsed: Mapping[str, Any], origin: Mapping[str, Any]) -> _Direction:
        """From ``origin`` to ``collapsed``: its terms in order — (name, step, origin's value) for a number that
        moved, (name, None, collapsed category) for a category that changed — and its squared length."""
        terms: list[tuple[str, float | None, Any]] = []
        length = 0.0
        for name, bad in collapsed.items():
            start = origin[name]
            if name in self._categories:
                if bad != start:
                    terms.append((name, None, bad))
                    length += 1.0
                continue
            step = bad - start
            length += step * step
            if step:
                terms.append((name, step, start))
        return terms, length

    @staticmethod
    def _progress(point: Mapping[str, Any], collapsed: Mapping[str, Any], direction: _Direction) -> float:
        """How far ``point`` goes along ``direction`` towards ``collapsed`` (0: not at all, 1: as far), in unit space.

        Every categorical parameter that the collapse changed counts one unit; ``point`` makes no progress unless it
        shares all of their values."""
        terms, length = direction
        along = 0.0
        for name, step, value in terms:
            if step is None:
                if point[name] != value:  # a collapse after a joint change marks the combination, not each half
                    return 0.0
                along += 1.0
            else:
                along += step * (point[name] - value)
        return along / length if length > 0.0 else math.inf * (point == collapsed)

    def _unsafe(self, rails: _ContextRails, config: Mapping[str, Any], incumbent: Mapping[str, Any]) -> bool:
        """Whether ``config`` goes past halfway towards a collapse, and further than the (proven) incumbent or away
        from it. Halfway from where: from the incumbent of the time and from the starting configuration. A single
        collapse tells the direction of the edge only roughly (from a nearby incumbent it is the direction of one
        perturbation), and an incumbent past halfway may stand right at the edge."""
        return self._unsafe_point(rails, self._point(config), self._point(incumbent))

    def _unsafe_point(self, rails: _ContextRails, point: Mapping[str, Any], proven: Mapping[str, Any]) -> bool:
        categorical = self._categories
        for collapsed, directions in self._regions(rails):
            for direction in directions:
                progress = self._progress(point, collapsed, direction)
                if progress >= 0.5 and (
                    progress > self._progress(proven, collapsed, direction)
                    or _distance(point, proven, categorical) > _NEAR * _distance(point, collapsed, categorical)
                ):
                    return True
        return False

    def _keep_out(self, rails: _ContextRails, config: dict[str, Any], incumbent: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` pulled halfway to the incumbent until it leaves every unsafe region (else the incumbent)."""
        point, proven = self._point(config), self._point(incumbent)
        scale = 1.0
        for _ in range(_PULLBACKS):
            scale /= 2.0
            pulled: dict[str, Any] = {}
            for name, value in config.items():
                if name in self._categories:
                    if value != incumbent[name]:
                        self._draws.take_one()  # the draw pulling a category back takes: saved runs replay alike
                    pulled[name] = incumbent[name]
                else:
                    here = proven[name]
                    pulled[name] = self._by_name[name].from_unit(here + scale * (point[name] - here))
            if not self._unsafe_point(rails, self._point(pulled), proven):
                return pulled
        return dict(incumbent)

    def _clamp(self, proposal: dict[str, Any], previous: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
        config, clamped = dict(proposal), []
        for name, value in proposal.items():
            p = self._by_name[name]
            new = value
            rule = self.limits.get(name)
            if isinstance(p, Categorical):
                if rule is not None and new not in rule["allowed"]:
                    new = previous[name] if previous is not None and previous[name] in rule["allowed"] else p.val
            else:
                low, high = (rule["min"], rule["max"]) if rule else (p.min, p.max)
                step = self.max_step.get(name)
                if self.max_step_fraction is not None:
                    fraction = self.max_step_fraction * (p.max - p.min)
                    step = fraction if step is None else min(step, fraction)
                if step is not None and previous is not None:
                    low, high = max(low, previous[name] - step), min(high, previous[name] + step)
                if not low <= new <= high:
                    new = _on_grid_within(p, min(high, max(low, new)), low, high)
            if new != value:
                config[name] = new
                clamped.append(name)
        return config, clamped

    def _learn(self, reward: float | list[float], context: Context) -> None:
        r = float(reward)  # type: ignore[arg-type]
        rails = self._contexts[context.id]
        source, config, _, proposed = rails.pending  # type: ignore[misc]
        rails.pending = None
        if proposed:
            self.tuner._learn(reward, context)
            shifts = self.tuner._shifts(context)
            if shifts != rails.learner_shifts:  # the learner noticed a change of the workload by itself
                rails.learner_shifts = shifts
                if not self._fell(rails, r, config):  # a fall of the service is no change of workload
                    self._start_over(rails, context, "the learner's incumbent fell and stayed below its level: "
                                     "measuring the baseline again")  # fmt: skip
                    return
        if rails.baseline is None:
            if proposed:
                rails.uncounted += source == "learner"
            if source == "baseline":
                rails.baseline_samples.append(r)
            if baseline_measured(len(rails.baseline_samples), rails.uncounted, self.baseline_rounds):
                self._set_baseline(rails, context, proposed)
            return
        if source == "learner":
            known = next((i for i, c in enumerate(rails.candidates) if c[0] == config), None)
            if known is None:
                self._remember(rails, config, r)
                self._consider_candidate(rails, config, r)
            else:  # the learner served a candidate again: free evidence about it
                self._update_candidate(rails, known, r)
                self._choose_incumbent(rails, context)
            rails.since_probe += 1
        elif source == "confirm":
            self._update_candidate(rails, rails.confirm, r)  # type: ignore[arg-type]
            rails.confirm = None
            self._choose_incumbent(rails, context)
            rails.since_probe = 0
        else:
            rails.since_probe = 0
            if self._mode == "rolled_back":
                self._cooldown_left -= 1
                if self._cooldown_left <= 0:
                    self._mode = "exploring"
                    self._record(context.id, "resume", f"cooldown of {self.cooldown} rounds over")
            if self._drifted(rails, r, context):
                return
            self._update_candidate(rails, rails.incumbent, r)
        self._guard(rails, r, context, config)

    def _set_baseline(self, rails: _ContextRails, context: Context, proposed: bool) -> None:
        samples = rails.baseline_samples
        mean = math.fsum(samples) / len(samples)
        rails.baseline = mean
        squares = math.fsum((x - mean) ** 2 for x in samples)
        rails.candidates = [[dict(self._initial), len(samples), mean, 0.0 if proposed else squares]]
        rails.incumbent = 0
        if proposed:  # the learner's rounds vary with its perturbations too: a rough noise, until repeats measure it
            rails.rough_noise = squares / len(samples)
        else:
            rails.spread, rails.spread_n = squares, len(samples)
        rails.baseline_samples = []
        self._record(context.id, "baseline", f"baseline reward {mean:.6g} from {len(samples)} round(s)", value=mean)

    def _lines(self, rails: _ContextRails) -> tuple[float, float]:
        """The rewards below which a round violates (the baseline less the margin and the noise allowance) and
        collapses (``collapse`` times further down, allowing for a noise measured on few rounds: its upper 95%
        bound, at most ``_NOISE_DOUBT`` times the estimate, since a spread from a handful of rounds is often far too
        small and one heavy-tailed outlier would otherwise pass for a collapse and condemn a region for good)."""
        baseline = float(rails.baseline)  # type: ignore[arg-type]
        margin = self.margin if self.margin is not None else self.relative_margin * abs(baseline)  # type: ignore[operator]
        noise, count = self._measured_noise(rails)
        allowance = margin + self.noise_allowance * noise
        doubtful = margin + self.noise_allowance * noise * _noise_doubt(count - 1)
        return baseline - allowance, baseline - self.collapse * doubtful

    def _noise(self, rails: _ContextRails) -> float:
        return self._measured_noise(rails)[0]

    def _measured_noise(self, rails: _ContextRails) -> tuple[float, int]:
        """The reward noise and how many rounds measured it: the spread of repeated rounds of this context, or
        pooled over contexts until it has 3, or the rough noise of the learner's rounds that measured its baseline
        until the contexts have 3."""
        if rails.spread_n >= 3:
            return math.sqrt(rails.spread / rails.spread_n), rails.spread_n
        if self._rough(rails):
            return math.sqrt(rails.rough_noise), self.baseline_rounds
        count = sum(c.spread_n for c in self._contexts.values())
        return math.sqrt(sum(c.spread for c in self._contexts.values()) / count), count

    def _rough(self, rails: _ContextRails) -> bool:
        """Whether the noise is still the rough one of the learner's baseline rounds (too few repeated rounds)."""
        return rails.spread_n < 3 and sum(c.spread_n for c in self._contexts.values()) < 3

    def _judge_provisional(self) -> None:
        """Once repeated rounds have measured the noise, judge again the collapses seen before: a region whose
        collapse does not clear the collapse line drawn with the measured noise is lifted (under heavy-tailed noise,
        the learner's few baseline rounds often lie close together, and an outlier passed for a collapse)."""
        self._noise_measured = True
        for cid, rails in self._contexts.items():
            if not any(len(region) > 2 for region in rails.unsafe):
                continue
            line = self._lines(rails)[1] if rails.baseline is not None else math.inf
            kept = []
            for collapsed, then, *provisional in rails.unsafe:
                if provisional and provisional[0] >= line:
                    reason = f"reward {provisional[0]:.6g} is above the collapse line {line:.6g} drawn with the noise"
                    self._record(
                        cid, "lifted", f"{reason} now measured: an outlier, not a fall", configuration=collapsed
                    )
                else:
                    kept.append([collapsed, then])
            rails.unsafe = kept

    def _guard(self, rails: _ContextRails, r: float, context: Context, config: dict[str, Any]) -> None:
        k, n = self.violations
        if not self._noise_measured and not self._rough(rails):
            self._judge_provisional()
        threshold, collapse_line = self._lines(rails)
        violated, collapsed = r < threshold, r < collapse_line
        if collapsed and config != rails.candidates[rails.incumbent][0]:
            self._mark_unsafe(rails, r, context, config)
        rails.window = [*rails.window[-(n - 1) :], violated] if n > 1 else [violated]
        if not violated:
            rails.good_streak += 1
            if rails.good_streak >= self.recover_after and self._scale < 1.0 and self._mode == "exploring":
                rails.good_streak = 0
                self._set_scale(min(1.0, self._scale * 2.0))
                self._record(context.id, "widen", f"{self.recover_after} good rounds: exploration x{self._scale:g}")
            return
        rails.good_streak = 0
        repeated = sum(rails.window) >= k
        if not (repeated or collapsed):
            return
        rails.window = []
        rails.guard_next = True
        self._set_scale(max(_MIN_SCALE, self._scale / 2.0))
        why = f"in {k} of the last {n} round(s)" if repeated else "far enough to be a collapse"
        self._record(
            context.id, "regression",
            f"reward {r:.6g} below {threshold:.6g} {why}: serving the incumbent, exploration x{self._scale:g}",
        )  # fmt: skip
        now = self.iteration
        self._triggers = [t for t in self._triggers if now - t < self.rollback_window] + [now]
        if len(self._triggers) >= self.rollback_after and self._mode == "exploring":
            self._triggers = []
            self._start_rollback(f"{self.rollback_after} regressions within {self.rollback_window} rounds")

    def _fell(self, rails: _ContextRails, r: float, config: Mapping[str, Any]) -> bool:
        """Whether this round collapsed, or one did within ``_FALL_ECHO`` rounds: a fall drags down the learner's pair
        means, and its shift detector takes it for a change of the workload."""
        if rails.baseline is None:
            return False
        if rails.fell_at is not None and self.iteration - rails.fell_at <= _FALL_ECHO:
            return True
        return r < self._lines(rails)[1] and config != rails.candidates[rails.incumbent][0]

    def _mark_unsafe(self, rails: _ContextRails, r: float, context: Context, config: dict[str, Any]) -> None:
        # a new list, never changed in place: the regions in unit space are recomputed when the list is another one
        region: list[Any] = [dict(config), dict(rails.candidates[rails.incumbent][0])]
        if not self._noise_measured:
            region.append(r)
        rails.unsafe = [*rails.unsafe[-(_MAX_UNSAFE - 1) :], region]
        rails.guard_next = True
        rails.fell_at = self.iteration
        reason = f"reward {r:.6g} collapsed far below the baseline {rails.baseline:.6g}: its neighbourhood is unsafe"
        self._record(context.id, "collapse", reason, configuration=config)

    def _start_rollback(self, reason: str) -> None:
        self._mode, self._cooldown_left = "rolled_back", max(1, self.cooldown)
        for cid, rails in self._contexts.items():  # exploring resumes from where the service was rolled back to
            if rails.candidates:
                self.tuner._recentre(rails.candidates[rails.incumbent][0], Context(id=cid))
        self._set_scale(_ROLLBACK_SCALE)
        self._record("", "rollback", f"{reason}: serving the incumbent for {self._cooldown_left} round(s)")

    def _set_scale(self, scale: float) -> None:
        self._scale = scale
        self.tuner._set_exploration_scale(scale)

    # ------------------------------------------------------------------ incumbent and evidence
    def _update_candidate(self, rails: _ContextRails, index: int, r: float) -> None:
        entry = rails.candidates[index]
        squares = _add_round(entry, 1, r)
        entry[3] += squares
        if index == rails.incumbent or entry[1] >= 2:  # every repeated round measures the noise
            rails.spread += squares
            rails.spread_n += 1

    def _remember(self, rails: _ContextRails, config: Mapping[str, Any], r: float) -> None:
        """A learner round of a configuration it served lately measures the noise too, without the bias of the
        candidates' repeats (a candidate is served again because its first round was high). On grids the learner
        comes back often: on ``queue_cliff`` the median noise so measured is 4-9% above the true one from round 60
        on (at round 60, 9 runs in 10 within 1.4 times it), where from the candidates alone it was 16-22% above
        (1.9 times); with it, a fall of the service was taken for a mere violation 20 times in 600 runs, not 137."""
        key = tuple(config.values())
        seen = rails.recent.get(key)
        if seen is None:
            rails.recent[key] = [1, r]
            if len(rails.recent) > _RECENT:
                del rails.recent[next(iter(rails.recent))]
            return
        rails.spread += _add_round(seen, 0, r)
        rails.spread_n += 1

    def _consider_candidate(self, rails: _ContextRails, config: dict[str, Any], r: float) -> None:
        """A round that beats the incumbent by more than its noise becomes a candidate, to be served again; until
        then a later round that beats it too takes its place (the learner has moved on, and the old one is stale)."""
        if not rails.candidates or r <= rails.candidates[rails.incumbent][2] + self._noise(rails):
            return
        if rails.confirm is not None:
            pending = rails.candidates[rails.confirm]
            if pending[1] == 1 and r > pending[2]:  # once the learner served it again, it has evidence to keep
                rails.candidates[rails.confirm] = [dict(config), 1, r, 0.0]
            return
        rails.candidates.append([dict(config), 1, r, 0.0])
        if len(rails.candidates) > _MAX_CANDIDATES:
            weakest = min(
                (i for i in range(1, len(rails.candidates)) if i != rails.incumbent),
                key=lambda i: rails.candidates[i][2],
            )
            del rails.candidates[weakest]
            if rails.incumbent > weakest:
                rails.incumbent -= 1
        rails.confirm = len(rails.candidates) - 1

    def _choose_incumbent(self, rails: _ContextRails, context: Context) -> None:
        """The incumbent is the candidate with the best lower bound: mean less one standard error."""
        evidenced = [i for i, c in enumerate(rails.candidates) if c[1] >= 2 or i == 0]
        best = max(evidenced, key=lambda i: _lower_bound(rails.candidates[i]))
        if best != rails.incumbent:
            rails.incumbent = best
            rails.cusum_high = rails.cusum_low = 0.0
            mean, count = rails.candidates[best][2], rails.candidates[best][1]
            self._record(context.id, "incumbent", f"new incumbent: mean reward {mean:.6g} over {count} rounds",
                         configuration=rails.candidates[best][0])  # fmt: skip

    def _drifted(self, rails: _ContextRails, r: float, context: Context) -> bool:
        mean = rails.candidates[rails.incumbent][2]
        sigma = (
            math.sqrt(rails.spread / rails.spread_n) * _noise_doubt(rails.spread_n - 1) if rails.spread_n >= 2 else 0.0
        )
        if sigma <= 1e-12 * (1.0 + abs(mean)):
            return False
        z = (r - mean) / sigma
        rails.cusum_high = max(0.0, rails.cusum_high + z - _CUSUM_SLACK)
        rails.cusum_low = max(0.0, rails.cusum_low - z - _CUSUM_SLACK)
        if max(rails.cusum_high, rails.cusum_low) < self.drift_threshold:
            return False
        direction = "up" if rails.cusum_high >= self.drift_threshold else "down"
        self._start_over(rails, context, f"incumbent reward shifted {direction} (CUSUM): measuring the baseline again")
        self.tuner._reexplore()
        return True

    def _start_over(self, rails: _ContextRails, context: Context, reason: str) -> None:
        """After a drift: fresh rails for the context (the baseline measured again, stale evidence dropped)."""
        self._record(context.id, "drift", reason)
        fresh = _ContextRails(None)
        fresh.last_served = rails.last_served
        fresh.learner_shifts = rails.learner_shifts
        fresh.unsafe = rails.unsafe  # where the service fell over is kept: safer to assume it still would
        self._contexts[context.id] = fresh
        self._set_scale(1.0)

    def _record(self, context_id: str, kind: str, reason: str, **extra: Any) -> None:
        self._events.append({"round": self.iteration, "context_id": context_id, "kind": kind, "reason": reason,
                             **extra})  # fmt: skip
        if len(self._events) > _MAX_EVENTS:
            del self._events[: len(self._events) - _MAX_EVENTS]

    def _record_repeated(self, context_id: str, kind: str, reason: str, **extra: Any) -> None:
        """Record a decision that may repeat every round (clamped, avoided): a run of them with nothing else
        recorded in between is one event with its ``rounds`` and ``last_round``, so it cannot crowd the others out
        of the log. Each round's own decision is in its request metadata."""
        last = self._events[-1] if self._events else None
        if last is not None and last["kind"] == kind and last["context_id"] == context_id:
            rounds = last.get("rounds", 1) + 1
            last.update(extra, rounds=rounds, last_round=self.iteration)
            last["reason"] = f"{reason} ({rounds} rounds since round {last['round'] + 1})"
            return
        self._record(context_id, kind, reason, rounds=1, last_round=self.iteration, **extra)

    # ------------------------------------------------------------------ state
    def get_arguments(self) -> dict[str, Any]:
        """The inner tuner (algorithm and arguments) and every rail setting."""
        rails = {name: getattr(self, name) for name in _RAIL_ARGUMENTS}
        return {"tuner": {"algorithm": self.tuner.name, "arguments": self.tuner.get_arguments()}, **rails}

    @classmethod
    def _from_arguments(cls, parameters: list[Any], arguments: Mapping[str, Any]) -> TuningInstance:
        from oppertune.algorithms.registry import create_tuning_instance

        inner = arguments["tuner"]
        tuner = create_tuning_instance(parameters, inner["algorithm"], inner["arguments"])
        return cls(tuner, **{k: v for k, v in arguments.items() if k != "tuner"})

    def _get_state(self) -> dict[str, Any]:
        return {
            "tuner": self.tuner._get_state(),
            "contexts": {cid: rails.to_json() for cid, rails in self._contexts.items()},
            "scale": self._scale,
            "mode": self._mode,
            "cooldown_left": self._cooldown_left,
            "triggers": list(self._triggers),
            "events": [dict(e) for e in self._events],
            "draws": self._draws.get_state(),
            "noise_measured": self._noise_measured,
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        if state["mode"] not in ("exploring", "frozen", "rolled_back"):
            raise ValueError("'mode' must be exploring, frozen or rolled_back")
        scale = valid.number(state["scale"], "scale")
        if not _MIN_SCALE <= scale <= 1.0:
            raise ValueError("'scale' is out of range")
        contexts = state["contexts"]
        if not isinstance(contexts, Mapping):
            raise ValueError("'contexts' must be a mapping")
        parsed = {str(cid): _ContextRails.from_json(data) for cid, data in contexts.items()}
        for rails in parsed.values():
            if rails.candidates and not 0 <= rails.incumbent < len(rails.candidates):
                raise ValueError("an incumbent index is out of range")
        events = state["events"]
        if not isinstance(events, list):
            raise ValueError("'events' must be a list")
        self._set_scale(scale)  # before the learners load: what they saved was learnt at this scale
        self.tuner._set_state(state["tuner"])
        self._contexts, self._mode = parsed, state["mode"]
        self._cooldown_left = valid.non_negative_int(state["cooldown_left"], "cooldown_left")
        self._triggers = [valid.non_negative_int(t, "triggers") for t in state["triggers"]]
        self._events = [dict(e) for e in events]
        self._draws.set_state(state["draws"])
        self._noise_measured = bool(state.get("noise_measured", True))  # older states had no provisional regions


def baseline_measured(samples: int, uncounted: int, baseline_rounds: int) -> bool:
    """Whether ``samples`` baseline rounds are enough: ``baseline_rounds`` of them, or two once the learner changed
    a starting category in ``uncounted >= baseline_rounds`` rounds meanwhile (the charts redraw the rails by it)."""
    return samples >= baseline_rounds or (samples >= 2 and uncounted >= baseline_rounds)


def _add_round(entry: list[Any], at: int, r: float) -> float:
    """One more reward ``r`` in the running count and mean at ``entry[at]`` and ``entry[at + 1]`` (Welford); returns
    what it adds to their sum of squared deviations."""
    entry[at] += 1
    delta = r - entry[at + 1]
    entry[at + 1] += delta / entry[at]
    return delta * (r - entry[at + 1])


def _distance(a: Mapping[str, Any], b: Mapping[str, Any], categorical: frozenset[str]) -> float:
    """Euclidean distance between two points in unit space; a categorical parameter that differs counts one unit."""
    total = 0.0
    for name, value in b.items():
        total += (a[name] != value) if name in categorical else (a[name] - value) ** 2
    return math.sqrt(total)


def _noise_doubt(freedom: int) -> float:
    """How much larger the noise may be than a spread with ``freedom`` degrees of freedom says: the upper 95% bound
    of a standard deviation (Wilson-Hilferty's chi-square quantile), at most ``_NOISE_DOUBT``."""
    if freedom < 1:
        return _NOISE_DOUBT
    z = 2.0 / (9.0 * freedom)
    quantile = (1.0 - z - 1.645 * math.sqrt(z)) ** 3
    return _NOISE_DOUBT if quantile <= 1.0 / _NOISE_DOUBT**2 else 1.0 / math.sqrt(quantile)


def _lower_bound(candidate: list[Any]) -> float:
    _, count, mean, m2 = candidate
    if count < 2:
        return mean
    return mean - math.sqrt(m2 / (count - 1) / count)


def _finite(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"The '{name}' argument of {owner} must be a finite number. Got {value!r} instead.")
    return float(value)


def _int_at_least(owner: str, name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"The '{name}' argument of {owner} must be an int >= {low}. Got {value!r} instead.")
    return value


def _usage(budget: Mapping[str, Any], config: Mapping[str, Any]) -> float:
    return math.fsum(w * float(config[name]) for name, w in budget["weights"].items())


def _on_grid_within(p: Integer | Real, value: float, low: float, high: float) -> float:
    """The grid point of ``p`` nearest ``value`` that lies in [low, high] (``value`` when there is no grid)."""
    if isinstance(p, Real) and p.step is None:
        return value
    step = p.step
    index = round((value - p.min) / step)
    candidate = p.min + index * step
    if candidate > high:
        candidate -= step
    if candidate < low:
        candidate += step
    candidate = min(max(candidate, p.min), p.max)
    return int(candidate) if isinstance(p, Integer) else round(candidate, 12)


def guard(tuner: TuningInstance, safety: Mapping[str, Any] | None) -> TuningInstance:
    """``tuner`` wrapped in `Guarded` with the ``safety`` settings (unchanged when None)."""
    if safety is None:
        return tuner
    if not isinstance(safety, Mapping):
        raise TypeError(f"'safety' must be a dict of rail settings. Got {safety!r} instead.")
    unknown = sorted(set(safety) - set(_RAIL_ARGUMENTS))
    if unknown:
        raise TypeError(f"Unknown safety setting(s) {unknown}; known: {', '.join(_RAIL_ARGUMENTS)}.")
    return Guarded(tuner, **safety)
