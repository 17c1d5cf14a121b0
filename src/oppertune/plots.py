"""Charts of tuning runs, drawn with matplotlib (the ``plot`` extra), imported only when drawing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["importance_chart", "reward_chart"]


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib
    except ImportError:
        raise ImportError("Plots need matplotlib; install it with: pip install 'oppertune[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def reward_chart(
    path: str | Path,
    rounds: Sequence[int],
    rewards: Sequence[float],
    ok: Sequence[bool] | None = None,
    title: str = "Reward per round",
    markers: Sequence[tuple[int, str]] = (),
    baseline: float | None = None,
    log_y: bool = False,
) -> Path:
    """Write a PNG of reward per round with the running best; failed rounds as red crosses.

    Args:
        path: Where to write the PNG.
        rounds: Round numbers.
        rewards: Reward of each round.
        ok: Whether each round succeeded (all, when None).
        title: Chart title.
        markers: Vertical lines ``(round, label)``, e.g. where the workload changed; the best so far restarts there.
        baseline: A horizontal reference line, e.g. the starting configuration's reward.
        log_y: Logarithmic reward axis (for rewards that are ratios); non-positive rewards are left out.
    """
    plt = _pyplot()
    ok = list(ok) if ok is not None else [True] * len(rounds)
    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=110)
    good = [(r, y) for r, y, k in zip(rounds, rewards, ok, strict=True) if k]
    bad = [(r, y) for r, y, k in zip(rounds, rewards, ok, strict=True) if not k]
    if good:
        axes.plot([r for r, _ in good], [y for _, y in good], "o-", markersize=3, linewidth=1, label="reward")
        resets = sorted(at for at, _ in markers)
        best, running = float("-inf"), []
        for r, y in good:
            if resets and r >= resets[0]:
                best = float("-inf")  # the best so far starts again at each marker (e.g. a new workload)
                while resets and r >= resets[0]:
                    resets.pop(0)
            best = max(best, y)
            running.append(best)
        axes.plot([r for r, _ in good], running, "-", linewidth=2, alpha=0.7, label="best so far")
    if bad:
        axes.plot([r for r, _ in bad], [y for _, y in bad], "x", color="red", label="failed round")
    if baseline is not None:
        axes.axhline(baseline, color="grey", linestyle="--", linewidth=1, label="starting configuration")
    for at, label in markers:
        axes.axvline(at, color="black", linestyle=":", linewidth=1)
        axes.annotate(label, (at, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12),
                      textcoords="offset points", fontsize=8)  # fmt: skip
    if log_y and any(y > 0 for y in rewards):
        axes.set_yscale("log")
    axes.set_xlabel("round")
    axes.set_ylabel("reward")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    plt.close(figure)
    return target


def importance_chart(
    path: str | Path,
    names: Sequence[str],
    importance: Sequence[float],
    uncertainty: Sequence[float],
    selected: Sequence[bool],
    title: str = "Parameter importance",
) -> Path:
    """Write a PNG of horizontal bars, one per parameter (most important on top), with error bars.

    Args:
        path: Where to write the PNG.
        names: Parameter names, most important first.
        importance: Share of the reward's variance of each.
        uncertainty: Standard error of each share (bars show two of them).
        selected: Whether each was selected (drawn in a strong colour).
        title: Chart title.
    """
    plt = _pyplot()
    count = len(names)
    figure, axes = plt.subplots(figsize=(8, max(2.5, 0.3 * count + 1.2)), dpi=110)
    positions = list(range(count))[::-1]
    colours = ["tab:green" if s else "tab:gray" for s in selected]
    axes.barh(positions, [100 * v for v in importance], xerr=[200 * u for u in uncertainty], color=colours,
              error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "black"})  # fmt: skip
    axes.set_yticks(positions)
    axes.set_yticklabels(names, fontsize=8)
    axes.set_xlabel("share of the reward's variance (%), error bars: 2 standard errors")
    axes.set_xlim(left=0)
    axes.set_title(title)
    axes.grid(axis="x", alpha=0.3)
    if any(selected):
        from matplotlib.patches import Patch

        handles = [Patch(color="tab:green", label="selected"), Patch(color="tab:gray", label="held constant")]
        axes.legend(handles=handles, loc="lower right", fontsize=8)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    plt.close(figure)
    return target
