"""Ranking from a history: a random forest of the reward, and the variance each parameter accounts for.

The forest (scikit-learn) is fitted by cross-fitting: the rows are split into folds and each fold is
predicted by a forest that never saw it. On a held-out row, the values of a set ``u`` of parameters
are replaced by those of a randomly drawn other row:

* *importance* of a parameter: how much the squared error of the held-out prediction rises, divided
  by ``2 Var(reward)``. For a model that has learned the reward this is the parameter's total Sobol
  index times the explained variance: the share of the reward's variance that depends on it, main
  effect and interactions together. A parameter the model only fits noise with gains nothing on
  held-out rows, so the figure is validated, and irrelevant parameters come out near zero.
* *pairwise interaction* of ``i`` and ``j``: the rises of ``i`` alone plus ``j`` alone minus the rise
  of both together (``T_i + T_j - T_ij``, the variance only the pair explains), validated the same way.
* *main effect*: split off the importance in the ratio ``S_i / T_i`` of the model's own Sobol indices
  (Jansen estimators from the squared change of its prediction: ``V S_i = V - V T_~i``).

Each held-out row gives one estimate, so the standard errors come from their spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ForestRanking", "rank_history"]

N_TREES = 60
MIN_SAMPLES_LEAF = 2


@dataclass
class ForestRanking:
    """Shares of the reward's variance per feature, with standard errors."""

    importance: np.ndarray
    uncertainty: np.ndarray
    main: dict[int, tuple[float, float]]
    pairs: dict[tuple[int, int], tuple[float, float]]
    explained: float


def _regressor(seed: int):  # type: ignore[no-untyped-def]
    try:
        from sklearn.ensemble import RandomForestRegressor
    except ImportError:
        raise ImportError(
            "Ranking parameters from a history needs scikit-learn; install it with: pip install 'oppertune[select]'"
        ) from None
    return RandomForestRegressor(n_estimators=N_TREES, min_samples_leaf=MIN_SAMPLES_LEAF, max_features=0.5,
                                 random_state=seed)  # fmt: skip


def rank_history(
    x: np.ndarray, y: np.ndarray, seed: int, n_folds: int = 5, repeats: int = 3, top: int = 8
) -> ForestRanking:
    """Rank the columns of ``x`` by the share of ``y``'s variance that depends on each.

    Args:
        x: Rows x features (numbers; categories as their index).
        y: Rewards.
        seed: Seed of the folds, forests and replacement draws.
        n_folds: Cross-fitting folds.
        repeats: Replacement draws per held-out row and feature set.
        top: Main effects and pairwise interactions are computed for this many most important features.
    """
    rng = np.random.default_rng(seed)
    n, p = x.shape
    n_folds = max(2, min(n_folds, n // 4))
    folds = np.array_split(rng.permutation(n), n_folds)
    donors = rng.integers(0, n, size=(repeats, n))
    models = []
    base = np.empty(n)
    for f, test in enumerate(folds):
        train = np.setdiff1d(np.arange(n), test)
        model = _regressor(seed + f).fit(x[train], y[train])
        models.append(model)
        base[test] = model.predict(x[test])
    base_loss = (y - base) ** 2

    def increases(builds: list) -> list[tuple[np.ndarray, np.ndarray]]:  # type: ignore[type-arg]
        """For each way of altering the held-out rows, ``build(rows, donors)``, per row: the mean rise of the
        squared error, and half the mean squared change of the prediction.

        All alterations of a fold go through the forest in one call (a call has a fixed cost).
        """
        out = [(np.zeros(n), np.zeros(n)) for _ in builds]
        for model, test in zip(models, folds):
            batch = np.vstack([build(test, donors[r, test]) for build in builds for r in range(repeats)])
            pred = model.predict(batch).reshape(len(builds), repeats, len(test))
            for b in range(len(builds)):
                out[b][0][test] = ((y[test] - pred[b]) ** 2).mean(axis=0) - base_loss[test]
                out[b][1][test] = ((base[test] - pred[b]) ** 2).mean(axis=0) / 2
        return out

    def replace(columns: list[int]):  # type: ignore[no-untyped-def]
        def build(rows: np.ndarray, donor: np.ndarray) -> np.ndarray:
            altered = x[rows].copy()
            altered[:, columns] = x[donor][:, columns]
            return altered

        return build

    def keep(column: int):  # type: ignore[no-untyped-def]
        def build(rows: np.ndarray, donor: np.ndarray) -> np.ndarray:
            altered = x[donor].copy()
            altered[:, column] = x[rows, column]
            return altered

        return build

    def share(values: np.ndarray, scale: float) -> tuple[float, float]:
        return float(values.mean() / scale), float(values.std(ddof=1) / math.sqrt(n) / scale)

    variance = float(np.var(y))
    singles = increases([replace([j]) for j in range(p)])
    stats = [share(rise, 2 * variance) for rise, _ in singles]
    importance = np.array([s[0] for s in stats])
    uncertainty = np.array([s[1] for s in stats])
    order = [int(j) for j in np.argsort(-importance)[: min(top, p)]]
    pair_keys = [(min(a, b), max(a, b)) for i, a in enumerate(order) for b in order[i + 1 :]]
    builds = [lambda rows, donor: x[donor]] + [keep(j) for j in order] + [replace([a, b]) for a, b in pair_keys]
    rises = increases(builds) if order else []
    main: dict[int, tuple[float, float]] = {}
    for i, j in enumerate(order):
        total = float(singles[j][1].mean())
        first = float((rises[0][1] - rises[1 + i][1]).mean())
        ratio = min(1.0, max(0.0, first / total)) if total > 0 else 0.0
        main[j] = (ratio * importance[j], ratio * uncertainty[j])
    pairs = {
        (a, b): share(singles[a][0] + singles[b][0] - rises[1 + len(order) + i][0], 2 * variance)
        for i, (a, b) in enumerate(pair_keys)
    }
    explained = 1.0 - float(base_loss.mean() / np.var(y))
    return ForestRanking(importance, uncertainty, main, pairs, explained)
