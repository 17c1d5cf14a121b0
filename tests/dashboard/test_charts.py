"""`oppertune.charts`: the chart data the dashboard and `oppertune report` share, checked against brute force."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import pytest

from oppertune.algorithms import create_tuning_instance
from oppertune.charts import SERVED_BY, Rounds, build, contexts

PARAMETERS = [
    {"type": "integer", "name": "workers", "val": 8, "min": 1, "max": 64, "step": 1},
    {"type": "real", "name": "ratio", "val": 0.5, "min": 0.0, "max": 1.0},
    {"type": "categorical", "name": "mode", "val": "a", "categories": ["a", "b", 1, True]},
    {"type": "real", "name": "fixed", "val": 2.0, "min": 2.0, "max": 2.0},
]


def history(n: int, seed: int = 0, contexts_: int = 1) -> tuple[Rounds, list[dict]]:
    rng = random.Random(seed)
    rounds = Rounds(PARAMETERS)
    played = []
    for i in range(1, n + 1):
        config = {"workers": rng.randint(1, 64), "ratio": rng.random(), "mode": rng.choice(["a", "b", 1, True]),
                  "fixed": 2.0}  # fmt: skip
        reward = rng.gauss(0, 1)
        cid = str(i % contexts_)
        rounds.append(i, reward, config, cid, {"c": cid}, {"served_by": rng.choice(SERVED_BY)})
        played.append({"round": i, "reward": reward, "config": config, "context_id": cid})
    return rounds, played


def test_a_short_history_is_drawn_round_by_round() -> None:
    rounds, played = history(50)
    chart = build(rounds, points=100)
    assert chart["points"] == chart["rounds"] == 50 and not chart["downsampled"]
    assert chart["x"] == list(range(1, 51))
    assert chart["reward"]["mean"] == chart["reward"]["min"] == [p["reward"] for p in played]
    assert [p["name"] for p in chart["parameters"]] == ["workers", "ratio", "mode"]  # constants are left out
    json.dumps(chart, allow_nan=False)


@pytest.mark.parametrize(("n", "points"), [(1000, 600), (100_003, 600), (7, 3), (600, 600)])
def test_downsampling_keeps_every_round_in_one_bucket_with_its_extremes(n: int, points: int) -> None:
    rounds, played = history(n, seed=n)
    chart = build(rounds, points=points)
    assert chart["points"] == min(n, points) and chart["downsampled"] == (n > points)
    x = chart["x"]
    assert x[0] == 1 and all(a < b for a, b in itertools.pairwise(x))
    bounds = [*x, n + 1]
    rewards = [p["reward"] for p in played]
    for b in range(0, len(x), max(1, len(x) // 25)):  # brute force on a sample of buckets
        bucket = rewards[bounds[b] - 1 : bounds[b + 1] - 1]
        assert chart["reward"]["min"][b] == min(bucket) and chart["reward"]["max"][b] == max(bucket)
        assert chart["reward"]["mean"][b] == pytest.approx(math.fsum(bucket) / len(bucket))
        assert chart["best"][b] == max(rewards[: bounds[b + 1] - 1])
        workers = [p["config"]["workers"] for p in played[bounds[b] - 1 : bounds[b + 1] - 1]]
        assert chart["parameters"][0]["max"][b] == max(workers)
        modes = [p["config"]["mode"] for p in played[bounds[b] - 1 : bounds[b + 1] - 1]]
        shares = [row[b] for row in chart["parameters"][2]["shares"]]
        expected = [sum(json.dumps(m) == json.dumps(c) for m in modes) / len(modes) for c in ["a", "b", 1, True]]
        assert shares == pytest.approx(expected, abs=1e-4)  # 1 and True are different categories
        assert sum(row[b] for row in chart["served_by"]["shares"]) == pytest.approx(1.0, abs=1e-3)
    assert min(chart["reward"]["min"]) == min(rewards) and max(chart["reward"]["max"]) == max(rewards)


def test_a_context_is_charted_alone() -> None:
    rounds, played = history(300, contexts_=3)
    chart = build(rounds, points=1000, context_id="2")
    mine = [p for p in played if p["context_id"] == "2"]
    assert chart["rounds"] == 100 and chart["x"] == [p["round"] for p in mine]
    assert build(rounds, context_id="nope")["rounds"] == 0
    items, total = contexts(rounds)
    assert total == 3 and sorted(i["context_id"] for i in items) == ["0", "1", "2"]
    for item in items:
        theirs = [p for p in played if p["context_id"] == item["context_id"]]
        best = max(theirs, key=lambda p: p["reward"])
        assert item["best_reward"] == best["reward"] and item["best_round"] == best["round"]
        assert item["best_configuration"] == best["config"] and item["context"] == {"c": item["context_id"]}
        assert item["last_reward"] == theirs[-1]["reward"] and item["rounds"] == 100
    assert len(contexts(rounds, limit=2)[0]) == 2


def test_baseline_threshold_events_and_best_so_far_follow_the_rails() -> None:
    safety = {"baseline_rounds": 3, "relative_margin": 0.2, "dedicated_baseline": True}
    tuner = create_tuning_instance(PARAMETERS[:2], "bluefin", {"random_seed": 4}, safety=safety)
    rounds = Rounds(PARAMETERS[:2])
    for i in range(1, 301):
        prediction, _ = tuner.predict()
        metadata = tuner.get_tuning_requests()[-1].metadata
        reward = (1.0 if i < 150 else 3.0) + 0.2 * prediction["ratio"] - (4.0 if i in (40, 41, 42) else 0.0)
        tuner.set_reward(reward)
        rounds.append(i, reward, prediction, metadata=metadata)
    events = tuner.events()
    chart = build(rounds, points=100, events=events, safety=safety)
    assert chart["baseline"][0] == {"round": 4, "value": pytest.approx(1.1)}  # the starting configuration, 3 rounds
    assert chart["threshold"][0]["value"] == pytest.approx(1.1 - 0.2 * 1.1)
    kinds = [e["kind"] for e in chart["events"]]
    assert "regression" in kinds and "clamped" not in kinds
    assert {e["round"] for e in chart["events"]} <= set(range(1, 302))
    assert chart["event_counts"]["regression"] == kinds.count("regression")
    drifts = [e["round"] for e in chart["events"] if e["kind"] == "drift"]
    if drifts:  # the best so far starts again after a drift, and the baseline is measured again
        assert len(chart["baseline"]) >= 2 and chart["baseline"][1]["round"] > drifts[0]
    explicit = build(rounds, safety={"baseline": 2.0, "margin": 0.5})
    assert explicit["baseline"] == [{"round": 1, "value": 2.0}] and explicit["threshold"][0]["value"] == 1.5
    assert build(rounds)["baseline"] == [] and build(rounds)["threshold"] == []


def test_a_run_of_pulled_back_rounds_counts_its_rounds_and_a_collapse_is_marked() -> None:
    rounds, _ = history(20)
    events = [
        {"round": 3, "context_id": "", "kind": "collapse", "reason": "fell over"},
        {"round": 4, "context_id": "", "kind": "avoided", "reason": "pulled back (7 rounds)", "rounds": 7},
        {"round": 12, "context_id": "", "kind": "clamped", "reason": "limited workers"},
    ]
    chart = build(rounds, events=events)
    assert chart["event_counts"] == {"collapse": 1, "avoided": 7, "clamped": 1}
    assert [(e["kind"], e["major"]) for e in chart["events"]] == [("collapse", True)]  # the routine: only counted


def test_resets_restart_the_best_so_far_and_failed_runs_are_apart() -> None:
    rounds = Rounds([])
    for i, (reward, ok) in enumerate([(5.0, True), (1.0, True), (9.0, False), (2.0, True), (3.0, True)], start=1):
        rounds.append(i, reward, {}, ok=ok)
    chart = build(rounds, resets=[4])
    assert chart["best"] == [5.0, 5.0, 5.0, 2.0, 3.0]
    assert chart["reward"]["mean"][2] is None
    assert chart["failed"] == {"count": [0, 0, 1, 0, 0], "reward": [None, None, 9.0, None, None]}


def test_bad_arguments_are_refused() -> None:
    rounds, _ = history(10)
    for points in (0, 5001, 2.5, True):
        with pytest.raises(ValueError, match="'points' argument of build"):
            build(rounds, points=points)  # type: ignore[arg-type]


def test_the_report_draws_the_same_data(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from oppertune.plots import reward_chart, tuner_chart

    rounds, _ = history(5000, contexts_=2)
    chart = build(rounds, points=300, safety={"baseline": 0.0, "margin": 1.0},
                  events=[{"round": 10, "context_id": "", "kind": "freeze", "reason": "x"}])  # fmt: skip
    assert tuner_chart(tmp_path / "t.png", chart).stat().st_size > 10_000
    assert reward_chart(tmp_path / "r.png", [1, 2, 3], [1.0, 0.5, 2.0], [True, False, True], markers=[(2, "x")],
                        baseline=1.0, log_y=True).stat().st_size > 5_000  # fmt: skip


def test_baseline_measured_over_rounds_that_are_not_consecutive() -> None:
    """The default tuner's first rounds measure the baseline; rounds trying another category do not count."""
    rounds = Rounds(PARAMETERS[:2])
    served = ["baseline", "learner", "baseline", "baseline", "learner", "baseline", "learner", "learner"]
    for i, (who, reward) in enumerate(zip(served, [1.0, 9.0, 2.0, 3.0, 9.0, 4.0, 5.0, 6.0]), start=1):
        rounds.append(i, reward, {"workers": 8, "ratio": 0.5}, metadata={"served_by": who})
    chart = build(rounds, safety={"baseline_rounds": 4, "relative_margin": 0.1})
    assert chart["baseline"] == [{"round": 7, "value": pytest.approx(2.5)}]
    assert chart["threshold"][0]["value"] == pytest.approx(2.25)


@pytest.mark.parametrize("seed", range(12))
def test_the_baseline_drawn_is_the_one_the_rails_measured(seed: int) -> None:
    parameters = [{"type": "real", "name": "ratio", "val": 0.5, "min": 0.0, "max": 1.0},
                  {"type": "categorical", "name": "mode", "val": "a", "categories": ["a", "b", "c"]}]  # fmt: skip
    tuner = create_tuning_instance(parameters, algorithm_args={"random_seed": seed}, safety={})
    rounds, rng = Rounds(parameters), random.Random(seed)
    for i in range(1, 61):
        prediction, _ = tuner.predict()
        metadata = tuner.get_tuning_requests()[-1].metadata
        reward = (2.0 if prediction["mode"] == "b" else 1.0) + prediction["ratio"] + rng.gauss(0.0, 0.1)
        tuner.set_reward(reward)
        rounds.append(i, reward, prediction, metadata=metadata)
    # an event recorded while round k (from 1) is learnt carries k - 1; its baseline applies from round k + 1
    measured = [(e["round"] + 2, e["value"]) for e in tuner.events() if e["kind"] == "baseline"]
    drawn = [(s["round"], s["value"]) for s in build(rounds, safety={})["baseline"]]
    assert drawn == [(r, pytest.approx(v)) for r, v in measured]
