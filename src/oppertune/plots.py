"""Charts of tuning runs, drawn with matplotlib (the ``plot`` extra), imported only when drawing.

Reward and parameter charts draw the data of `oppertune.charts.build`, the module the dashboard's
charts come from too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from oppertune.charts import EVENT_COLOURS

__all__ = ["importance_chart", "reward_chart", "tuner_chart"]


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib
    except ImportError:
        raise ImportError("Plots need matplotlib; install it with: pip install 'oppertune[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_BAND_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")


def _steps(x: Sequence[int], steps: Sequence[Mapping[str, float]]) -> list[float]:
    """Piecewise-constant steps ``{"round", "value"}`` evaluated at each x (NaN before the first)."""
    out, j = [], -1
    for r in x:
        while j + 1 < len(steps) and steps[j + 1]["round"] <= r:
            j += 1
        out.append(steps[j]["value"] if j >= 0 else float("nan"))
    return out


def _nan(values: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def _draw_reward(axes: Any, chart: Mapping[str, Any], log_y: bool = False) -> None:
    """The reward panel of `oppertune.charts.build` data: reward (band of min-max when downsampled),
    best so far, failed runs, the rails' baseline and threshold, and their events."""
    x = chart["x"]
    reward = chart["reward"]
    if chart["downsampled"]:
        axes.fill_between(x, _nan(reward["min"]), _nan(reward["max"]), step="post", alpha=0.18, linewidth=0,
                          label="reward (min-max per bucket)")  # fmt: skip
        axes.plot(x, _nan(reward["mean"]), "-", linewidth=1, label="reward (mean per bucket)")
    elif x:
        style = "o-" if len(x) <= 200 else "-"
        axes.plot(x, _nan(reward["mean"]), style, markersize=3, linewidth=1, label="reward")
    if any(v is not None for v in chart["best"]):
        axes.plot(x, _nan(chart["best"]), "-", drawstyle="steps-post", linewidth=2, alpha=0.7, label="best so far")
    failed = chart["failed"]
    if failed:
        bad = [(r, y) for r, n, y in zip(x, failed["count"], failed["reward"], strict=True) if n and y is not None]
        axes.plot([r for r, _ in bad], [y for _, y in bad], "x", color="red", label="failed round")
    if chart["baseline"]:
        axes.plot(x, _steps(x, chart["baseline"]), "--", drawstyle="steps-post", color="grey", linewidth=1.2,
                  label="baseline")  # fmt: skip
        axes.plot(x, _steps(x, chart["threshold"]), ":", drawstyle="steps-post", color="#d62728", linewidth=1,
                  label="violation threshold")  # fmt: skip
    seen: set[str] = set()
    for event in chart["events"]:
        kind = event["kind"]
        colour = EVENT_COLOURS.get(kind, "black")
        label = None if kind in seen else kind
        seen.add(kind)
        if event["major"]:
            axes.axvline(event["round"], color=colour, linestyle="--", linewidth=1, label=label)
        else:
            axes.axvline(event["round"], ymin=0.96, ymax=1.0, color=colour, linewidth=1.5, label=label)
    if log_y and any(v is not None and v > 0 for v in reward["mean"]):
        axes.set_yscale("log")
    axes.set_ylabel("reward")
    axes.grid(alpha=0.3)


def _draw_bands(axes: Any, x: Sequence[int], categories: Sequence[Any], shares: Sequence[Sequence[float]]) -> None:
    colours = [_BAND_COLOURS[k % len(_BAND_COLOURS)] for k in range(len(categories))]
    axes.stackplot(x, *shares, labels=[str(c) for c in categories], colors=colours, step="post", alpha=0.85)
    axes.set_ylim(0, 1)
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)


def tuner_chart(path: str | Path, chart: Mapping[str, Any], title: str = "Reward per round") -> Path:
    """Write a PNG of `oppertune.charts.build` data: the reward panel, then each parameter and who served.

    The dashboard draws the same data (``GET /v1/dashboard/tuners/{id}``) in the browser.
    """
    plt = _pyplot()
    panels = [("reward", 3.0)] + [(p["name"], 1.1) for p in chart["parameters"]]
    if chart["served_by"]:
        panels.append(("served by", 0.9))
    heights = [h for _, h in panels]
    figure, axes = plt.subplots(len(panels), 1, figsize=(10, sum(heights) + 1.2), dpi=110, sharex=True,
                                gridspec_kw={"height_ratios": heights}, squeeze=False)  # fmt: skip
    axes = axes[:, 0]
    x = chart["x"]
    _draw_reward(axes[0], chart)
    note = f" ({chart['rounds']:,} rounds in {chart['points']} buckets)" if chart["downsampled"] else ""
    axes[0].set_title(title + note)
    axes[0].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    for ax, p in zip(axes[1:], chart["parameters"], strict=False):
        if p["type"] == "numeric":
            if chart["downsampled"]:
                ax.fill_between(x, _nan(p["min"]), _nan(p["max"]), step="post", alpha=0.2, color="#6a3d9a",
                                linewidth=0)  # fmt: skip
            ax.plot(x, _nan(p["mean"]), "-", color="#6a3d9a", linewidth=1)
            ax.set_ylim(p["min_value"], p["max_value"])
        else:
            _draw_bands(ax, x, p["categories"], p["shares"])
        ax.set_ylabel(p["name"], fontsize=8)
        ax.grid(alpha=0.3)
    if chart["served_by"]:
        _draw_bands(axes[-1], x, chart["served_by"]["categories"], chart["served_by"]["shares"])
        axes[-1].set_ylabel("served by", fontsize=8)
    axes[-1].set_xlabel("round")
    figure.tight_layout()
    return _save(plt, figure, path)


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

    The data go through `oppertune.charts.build` (downsampled past its points, as on the dashboard).

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
    from oppertune.charts import Rounds, build

    plt = _pyplot()
    history = Rounds([])
    for i, (r, y) in enumerate(zip(rounds, rewards, strict=True)):
        history.append(r, y, {}, ok=True if ok is None else bool(ok[i]))
    chart = build(history, resets=[at for at, _ in markers])
    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=110)
    _draw_reward(axes, chart, log_y)
    if baseline is not None:
        axes.axhline(baseline, color="grey", linestyle="--", linewidth=1, label="starting configuration")
    for at, label in markers:
        axes.axvline(at, color="black", linestyle=":", linewidth=1)
        axes.annotate(label, (at, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12),
                      textcoords="offset points", fontsize=8)  # fmt: skip
    axes.set_xlabel("round")
    axes.set_title(title)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return _save(plt, figure, path)


def _save(plt: Any, figure: Any, path: str | Path) -> Path:
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
