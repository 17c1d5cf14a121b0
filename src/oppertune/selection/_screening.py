"""Live screening: evaluate small, bounded perturbations of the current configuration and see what moves the reward.

Neighbourhood. A numerical parameter only takes values within ``delta`` of its range around its current
value (at least one grid step when it has a grid, so that a coarse grid can move at all), on its grid and
within its bounds; a categorical parameter keeps its category or tries another one.

Design (random-balance group screening with foldover). Each run splits the parameters at random into two
groups: one moved up (categoricals: to another category), the other moved down (categoricals: kept).
The next run is its mirror image, with the groups swapped, so each pair of runs is an elementary effect
of the whole split, and main effects are never confounded with two-parameter interactions. With ``M``
runs every parameter is compared over all ``M`` of them, not over a few of its own, which is why a
budget of about ``2N`` runs is enough for ``N`` parameters.

Analysis. A linear model of the reward in the coded perturbations is built by forward selection: at
each step the term (a parameter's main effect; later a pair's product) that explains the most of the
remaining variation enters if its F-test passes a Holm-Bonferroni threshold over the candidates, so the
chance of letting in any irrelevant term stays below ``alpha``. A parameter's importance is the share
of the reward's variance (over the runs) carried by its terms; pair terms count for both members.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oppertune.core.values import Categorical, Integer, Real, ValueType
from oppertune.selection._errors import InsufficientDataError, SelectionError

__all__ = ["Evaluation", "ScreeningModel", "neighbourhood", "screen"]

_GRID_SLACK = 1e-9
MAX_PAIR_CANDIDATES = 50_000
MIN_NOISE_DF = 5
MIN_STOP_DF = 10
LOOKS = 4


@dataclass(frozen=True)
class Evaluation:
    """One configuration evaluated while screening.

    Args:
        configuration: Every parameter's value, constants included.
        reward: The reward; None when the evaluation gave none (then it is left out of the analysis).
        ok: False when the evaluation failed (a spec's program failing gets the spec's ``failed_reward``).
        message: Why it failed.
    """

    configuration: dict[str, Any]
    reward: float | None
    ok: bool = True
    message: str | None = None


def neighbourhood(parameter: ValueType, delta: float) -> tuple[Any, ...]:
    """The values screening may give ``parameter``: ``(low, high)`` for a number, the categories otherwise.

    A number stays within ``delta * (max - min)`` of its current value (at least one grid step for an
    Integer or a Real with a step), on its grid and within its bounds.
    """
    if isinstance(parameter, Categorical):
        return parameter.categories
    span = parameter.max - parameter.min
    if parameter.step is None:
        return (max(parameter.min, parameter.val - delta * span), min(parameter.max, parameter.val + delta * span))
    n_steps = parameter.n_steps
    assert n_steps is not None
    here = round((parameter.val - parameter.min) / parameter.step)
    reach = max(1, math.floor(delta * span / parameter.step + _GRID_SLACK))
    low, high = max(0, here - reach), min(n_steps, here + reach)
    return _grid_value(parameter, low), _grid_value(parameter, high)


def _grid_value(parameter: Integer | Real, index: int) -> float | int:
    assert parameter.step is not None
    if isinstance(parameter, Integer):
        return parameter.min + index * parameter.step
    return min(parameter.max, round(parameter.min + index * parameter.step, 12))


@dataclass
class _Factor:
    """A tunable parameter as screened: its two levels, or its categories."""

    parameter: ValueType
    low: Any = None
    high: Any = None
    others: tuple[Any, ...] = ()

    @property
    def categorical(self) -> bool:
        return isinstance(self.parameter, Categorical)


def _factors(parameters: Sequence[ValueType], delta: float) -> list[_Factor]:
    factors = []
    for p in parameters:
        if p.is_constant:
            continue
        if isinstance(p, Categorical):
            factors.append(_Factor(p, others=tuple(c for c in p.categories if c != p.val)))
        else:
            low, high = neighbourhood(p, delta)
            factors.append(_Factor(p, low, high))
    return factors


def _signs(
    rows: int, columns: int, rng: np.random.Generator, gram: np.ndarray | None = None, sweeps: int = 60
) -> np.ndarray:
    """Random +-1 rows whose columns are made nearly orthogonal by single-sign exchanges.

    Each sweep flips, in each row, the sign that most reduces the sum of squared inner products between
    columns (a coordinate exchange); it stops when a sweep improves nothing. ``gram`` is the inner
    product matrix of rows drawn before (updated in place), so that the design stays balanced as a whole.
    """
    signs = np.where(rng.random((rows, columns)) < 0.5, -1, 1)
    if gram is None:
        gram = np.zeros((columns, columns), dtype=int)
    gram += signs.T @ signs
    for _ in range(sweeps):
        improved = False
        for r in rng.permutation(rows):
            row = signs[r]
            # change of sum_{c != j} gram[c, j]^2 / 2 when row[c] flips
            change = -4 * row * (gram @ row - np.diag(gram) * row) + 4 * (columns - 1)
            c = int(np.argmin(change))
            if change[c] >= 0:
                continue
            update = -2 * row[c] * row
            update[c] = 0
            gram[c, :] += update
            gram[:, c] += update
            row[c] = -row[c]
            improved = True
        if not improved:
            break
    return signs


def _design(
    factors: list[_Factor], runs: int, rng: np.random.Generator, gram: np.ndarray | None = None
) -> tuple[np.ndarray, list[list[Any]]]:
    """Sign matrix (runs x factors; mirror pairs in consecutive rows) and the value each run gives each factor."""
    half = _signs(runs // 2, len(factors), rng, gram)
    signs = np.empty((2 * half.shape[0], len(factors)), dtype=int)
    signs[0::2], signs[1::2] = half, -half
    values: list[list[Any]] = []
    for row in signs:
        run = []
        for f, s in zip(factors, row):
            if f.categorical:
                run.append(f.parameter.val if s < 0 else f.others[int(rng.integers(len(f.others)))])
            else:
                run.append(f.high if s > 0 else f.low)
        values.append(run)
    return signs, values


def _columns(factor: _Factor, values: Sequence[Any]) -> np.ndarray:
    """The factor's columns in the model: its displacement, or one indicator per other category."""
    if factor.categorical:
        return np.column_stack([[1.0 if v == c else 0.0 for v in values] for c in factor.others])
    p = factor.parameter
    assert isinstance(p, (Integer, Real))
    reach = max(abs(float(factor.high) - p.val), abs(p.val - float(factor.low))) or 1.0
    return np.array([(float(v) - p.val) / reach for v in values])[:, None]


def _moved(factor: _Factor, values: Sequence[Any]) -> np.ndarray:
    """A single centred code of the factor's move, used to form pair products."""
    if factor.categorical:
        code = np.array([0.0 if v == factor.parameter.val else 1.0 for v in values])
    else:
        code = _columns(factor, values)[:, 0]
    return code - code.mean()


def _fdist_sf(f: np.ndarray, q: int | np.ndarray, d: int) -> np.ndarray:
    try:
        from scipy.special import fdtrc
    except ImportError:
        raise ImportError("Screening needs SciPy; install it with: pip install 'oppertune[select]'") from None
    return fdtrc(q, d, np.maximum(f, 0.0))


def _orthonormal(basis: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the part of ``columns`` orthogonal to ``basis``."""
    rest = columns - basis @ (basis.T @ columns)
    rest = rest - basis @ (basis.T @ rest)
    u, s, _ = np.linalg.svd(rest, full_matrices=False)
    return u[:, s > 1e-8 * math.sqrt(columns.shape[0])]


@dataclass
class _Term:
    key: tuple[int, ...]  # (factor,) or (factor_a, factor_b)
    columns: np.ndarray


def _forward(
    y: np.ndarray, basis: np.ndarray, candidates: list[_Term], alpha: float, noise: tuple[float, int] | None
) -> tuple[np.ndarray, list[_Term]]:
    """Forward selection with a Holm-Bonferroni step-down threshold over ``candidates``.

    Each F-test divides by the smaller of the current residual mean square and ``noise`` (a variance
    estimate with its degrees of freedom, e.g. from the model with every main effect), so that early
    steps are not blinded by the effects still outside the model.
    """
    chosen: list[_Term] = []
    remaining = list(candidates)
    family = len(candidates)
    singles = [t for t in remaining if t.columns.shape[1] == 1]
    stack = np.column_stack([t.columns[:, 0] for t in singles]) if singles else np.empty((len(y), 0))
    single_index = {id(t): i for i, t in enumerate(singles)}
    active = np.ones(len(singles), dtype=bool)
    while remaining:
        residual = y - basis @ (basis.T @ y)
        rss = float(residual @ residual)
        df = len(y) - basis.shape[1]
        best: tuple[float, _Term | None] = (1.0, None)

        def p_of(gain: np.ndarray, q: int, rss: float = rss, df: int = df) -> np.ndarray:
            current = np.maximum(rss - gain, 1e-300) / max(df - q, 1)
            if noise is not None:
                use_noise = noise[0] < current
                variance = np.where(use_noise, noise[0], current)
                dfd = np.where(use_noise, noise[1], max(df - q, 1))
            else:
                variance, dfd = current, np.full_like(current, max(df - q, 1))
            return _fdist_sf(gain / q / np.maximum(variance, 1e-300), q, dfd)

        if singles and active.any():
            rest = stack - basis @ (basis.T @ stack)
            norm = (rest * rest).sum(axis=0)
            ok = active & (norm > 1e-12 * len(y))
            gain = np.zeros(len(singles))
            gain[ok] = (rest[:, ok].T @ residual) ** 2 / norm[ok]
            p_values = np.where(ok, p_of(gain, 1), 1.0)
            i = int(np.argmin(p_values))
            if ok[i]:
                best = (float(p_values[i]), singles[i])
        for term in remaining:
            if term.columns.shape[1] == 1:
                continue
            extra = _orthonormal(basis, term.columns)
            q = extra.shape[1]
            if q == 0 or df - q < 1:
                continue
            gain_q = float(((extra.T @ residual) ** 2).sum())
            p_value = float(p_of(np.array([gain_q]), q)[0])
            if p_value < best[0]:
                best = (p_value, term)
        p_value, term = best
        if term is None or df < 3 or p_value >= alpha / (family - len(chosen)):
            break
        extra = _orthonormal(basis, term.columns)
        if extra.shape[1] == 0:
            break
        basis = np.column_stack([basis, extra])
        chosen.append(term)
        remaining.remove(term)
        if id(term) in single_index:
            active[single_index[id(term)]] = False
    return basis, chosen


@dataclass
class ScreeningModel:
    """What screening found, per factor (tunable parameter) and per pair."""

    names: list[str]
    importance: np.ndarray
    uncertainty: np.ndarray
    main: np.ndarray
    interaction: np.ndarray
    significant: np.ndarray
    pairs: dict[tuple[int, int], tuple[float, float]]
    explained: float


def _shares(x: np.ndarray, y: np.ndarray, groups: list[slice]) -> tuple[list[float], list[float], float]:
    """Least squares of ``y`` on ``[1, x]``; each column group's share of Var(y) and its standard error."""
    design = np.column_stack([np.ones(len(y)), x])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ beta
    rank = np.linalg.matrix_rank(design)
    df = max(len(y) - rank, 1)
    sigma2 = float(((y - fitted) ** 2).sum()) / df
    covariance = sigma2 * np.linalg.pinv(design.T @ design)
    total = float(np.var(y))
    shares, errors = [], []
    for g in groups:
        cols = slice(g.start + 1, g.stop + 1)
        centred = design[:, cols] - design[:, cols].mean(axis=0)
        gram = centred.T @ centred / len(y)
        b = beta[cols]
        shares.append(float(b @ gram @ b) / total)
        gradient = 2.0 * gram @ b / total
        errors.append(math.sqrt(max(float(gradient @ covariance[cols, cols] @ gradient), 0.0)))
    explained = 1.0 - float(((y - fitted) ** 2).sum()) / (total * len(y))
    return shares, errors, explained


def analyse(
    factors: list[_Factor], values: list[list[Any]], y: np.ndarray, alpha: float, interactions: bool
) -> ScreeningModel:
    """Forward selection of main effects, then of pairwise products; shares of the reward's variance."""
    n_factors = len(factors)
    by_factor = [[run[i] for run in values] for i in range(n_factors)]
    mains = [_Term((i,), _columns(f, by_factor[i])) for i, f in enumerate(factors)]
    yc = y - y.mean()
    basis = np.ones((len(y), 1)) / math.sqrt(len(y))
    noise = _full_model_noise(mains, yc, basis)
    basis, chosen = _forward(yc, basis, mains, alpha, noise)
    chosen_pairs: list[_Term] = []
    if interactions and n_factors > 1:
        moved = [_moved(f, by_factor[i]) for i, f in enumerate(factors)]
        in_model = {t.key[0] for t in chosen}
        keys = [(a, b) for a in range(n_factors) for b in range(a + 1, n_factors)]
        if len(keys) > MAX_PAIR_CANDIDATES:
            keys = [(a, b) for a, b in keys if a in in_model or b in in_model]
        pair_terms = [_Term((a, b), (moved[a] * moved[b])[:, None]) for a, b in keys]
        basis, chosen_pairs = _forward(yc, basis, pair_terms, alpha, noise)

    model_terms = chosen + chosen_pairs
    significant = np.zeros(n_factors, dtype=bool)
    for t in model_terms:
        significant[list(t.key)] = True
    main = np.zeros(n_factors)
    main_se = np.zeros(n_factors)
    interaction = np.zeros(n_factors)
    interaction_var = np.zeros(n_factors)
    pairs: dict[tuple[int, int], tuple[float, float]] = {}
    x_model, groups = _stack(model_terms)
    explained = 0.0
    if model_terms:
        shares, errors, explained = _shares(x_model, y, groups)
        for t, s, e in zip(model_terms, shares, errors):
            if len(t.key) == 1:
                main[t.key[0]], main_se[t.key[0]] = s, e
            else:
                pairs[(t.key[0], t.key[1])] = (s, e)
                for i in t.key:
                    interaction[i] += s
                    interaction_var[i] += e * e
    in_model = {t.key[0] for t in chosen}
    for i in range(n_factors):
        if i in in_model:
            continue
        extended = np.column_stack([x_model, mains[i].columns]) if model_terms else mains[i].columns
        shares, errors, _ = _shares(extended, y, [*groups, slice(x_model.shape[1], extended.shape[1])])
        main[i], main_se[i] = shares[-1], errors[-1]
    importance = main + interaction
    uncertainty = np.sqrt(main_se**2 + interaction_var)
    names = [f.parameter.name for f in factors]
    return ScreeningModel(names, importance, uncertainty, main, interaction, significant, pairs, explained)


def _full_model_noise(mains: list[_Term], y: np.ndarray, basis: np.ndarray) -> tuple[float, int] | None:
    """Residual variance and degrees of freedom of the model with every main effect, when it leaves enough."""
    full = np.column_stack([basis, *(t.columns for t in mains)])
    rank = np.linalg.matrix_rank(full)
    df = len(y) - rank
    if df < MIN_NOISE_DF:
        return None
    coefficients, *_ = np.linalg.lstsq(full, y, rcond=None)
    residual = y - full @ coefficients
    return float(residual @ residual) / df, df


def _stack(terms: list[_Term]) -> tuple[np.ndarray, list[slice]]:
    groups, start = [], 0
    for t in terms:
        groups.append(slice(start, start + t.columns.shape[1]))
        start += t.columns.shape[1]
    if not terms:
        return np.empty((0, 0)), []
    return np.column_stack([t.columns for t in terms]), groups


Evaluator = Callable[[dict[str, Any]], Any]


def _evaluate(evaluate: Any, configuration: dict[str, Any], number: int) -> Evaluation:
    run = getattr(evaluate, "evaluate_configuration", None)
    if run is not None:
        return run(configuration, number)
    value = evaluate(dict(configuration))
    if isinstance(value, bool) or value is None:
        return Evaluation(configuration, None, False, f"the evaluation returned {value!r}, not a number")
    try:
        reward = float(value)
    except (TypeError, ValueError):
        return Evaluation(configuration, None, False, f"the evaluation returned {value!r}, not a number")
    if not math.isfinite(reward):
        return Evaluation(configuration, None, False, f"the evaluation returned {reward}")
    return Evaluation(configuration, reward)


def _blocks(budget: int, looks: int) -> list[int]:
    """Sizes of the design blocks (even, at least 4 runs each) that add up to ``budget`` rounded down to even."""
    total = budget - budget % 2
    count = max(1, min(looks, total // 4))
    sizes = [2 * (total // 2 // count)] * count
    sizes[-1] += total - sum(sizes)
    return sizes


def settled(model: ScreeningModel, previous: set[str] | None, runs: int, columns: int, min_importance: float) -> bool:
    """Whether more runs are unlikely to change the selection.

    True when the selected set is non-empty and the same as at the previous look, the model leaves at
    least ``MIN_STOP_DF`` residual degrees of freedom, and no parameter outside it could carry
    ``min_importance`` of the variance (importance plus two standard errors stays below it).
    """
    chosen = {n for n, s in zip(model.names, model.significant) if s}
    if not chosen or chosen != previous or runs - columns < MIN_STOP_DF:
        return False
    outside = ~model.significant
    return bool(np.all(model.importance[outside] + 2 * model.uncertainty[outside] < min_importance))


def screen(
    parameters: Sequence[ValueType],
    evaluate: Evaluator,
    *,
    delta: float,
    budget: int,
    seed: int | None,
    alpha: float,
    interactions: bool,
    min_importance: float,
    early_stop: bool = True,
    on_evaluation: Callable[[int, int, Evaluation], None] | None = None,
) -> tuple[ScreeningModel, list[Evaluation]]:
    """Evaluate the screening design around the current values, in blocks, and analyse it.

    The design comes in ``LOOKS`` blocks, each a foldover design of its own. With ``early_stop``, the
    runs so far are analysed after each block and screening ends once the selection is `settled`.

    Raises:
        SelectionError: When fewer than half the evaluations gave a reward.
        InsufficientDataError: When the reward never changed.
    """
    factors = _factors(parameters, delta)
    rng = np.random.default_rng(seed)
    names = [f.parameter.name for f in factors]
    evaluations: list[Evaluation] = []
    values: list[list[Any]] = []
    sizes = _blocks(budget, LOOKS if early_stop else 1)
    previous: set[str] | None = None
    model: ScreeningModel | None = None
    gram = np.zeros((len(factors), len(factors)), dtype=int)
    for block, size in enumerate(sizes):
        _, block_values = _design(factors, size, rng, gram)
        for run in block_values:
            chosen: Mapping[str, Any] = dict(zip(names, run))
            configuration = {p.name: chosen.get(p.name, p.val) for p in parameters}
            evaluation = _evaluate(evaluate, configuration, len(evaluations) + 1)
            evaluations.append(evaluation)
            values.append(run)
            if on_evaluation is not None:
                on_evaluation(len(evaluations), budget, evaluation)
        last = block == len(sizes) - 1
        usable = [i for i, e in enumerate(evaluations) if e.reward is not None]
        if not last and len(usable) < 2 * MIN_STOP_DF:
            continue
        if len(usable) < max(4, len(evaluations) // 2):
            if not last:
                continue
            reasons = sorted({e.message or "no reward" for e in evaluations if e.reward is None})
            raise SelectionError(
                f"only {len(usable)} of {len(evaluations)} evaluations gave a reward ({'; '.join(reasons)[:500]})"
            )
        y = np.array([evaluations[i].reward for i in usable], dtype=float)
        if np.ptp(y) == 0:
            if not last:
                continue
            raise InsufficientDataError(
                f"the reward was {y[0]:g} in all {len(y)} evaluations: no parameter changed it within delta={delta:g}; "
                "try a larger delta"
            )
        model = analyse(factors, [values[i] for i in usable], y, alpha, interactions)
        if last:
            break
        columns = 1 + sum(_width(f) for f, s in zip(factors, model.significant) if s) + len(model.pairs)
        if settled(model, previous, len(usable), columns, min_importance):
            break
        previous = {n for n, s in zip(model.names, model.significant) if s}
    assert model is not None
    return model, evaluations


def _width(factor: _Factor) -> int:
    return len(factor.others) if factor.categorical else 1
