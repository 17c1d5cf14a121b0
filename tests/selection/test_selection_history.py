"""Ranking from logged rounds: finds the planted parameters, and says clearly what it cannot use."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planted import PLANTED, planted_history, planted_parameters, planted_score, random_configuration

from oppertune.core.values import Categorical, Real
from oppertune.selection import (
    History,
    HistoryRow,
    InsufficientDataError,
    SelectionError,
    load_history,
    select,
)


def test_ranking_finds_the_planted_parameters(parameters) -> None:
    result = select(parameters, history=planted_history(300, seed=0), seed=0)
    assert set(result.selected) == PLANTED
    assert {r.name for r in result.ranking[:5]} == PLANTED
    assert all(r.significant for r in result.ranking[:5])
    assert not any(r.significant for r in result.ranking[5:])
    assert all(r.uncertainty > 0 for r in result.ranking)
    # p and q matter only together: their interaction is found
    assert ("p", "q") in {tuple(sorted((i.first, i.second))) for i in result.interactions}
    assert result.method == "history" and result.n_rows == 300 and 0.3 < result.explained <= 1.0
    # 'fixed' is constant: neither ranked nor unranked
    assert "fixed" not in {r.name for r in result.ranking} | {n for n, _ in result.unranked}


def test_same_seed_same_result(parameters) -> None:
    history = planted_history(150, seed=3)
    first, second = (select(parameters, history=history, seed=5) for _ in range(2))
    assert first.ranking == second.ranking and first.selected == second.selected


def test_fixed_k_and_rules(parameters) -> None:
    history = planted_history(300, seed=0)
    top2 = select(parameters, history=history, k=2, seed=0)
    assert top2.selected == tuple(r.name for r in top2.ranking[:2]) and top2.rule == "fixed k = 2"
    everything = select(parameters, history=history, k=11, seed=0)
    assert len(everything.selected) == 11
    assert any("not distinguishable from noise" in n for n in everything.notes)
    significant = select(parameters, history=history, rule="significant", seed=0)
    assert set(significant.selected) == PLANTED
    narrow = select(parameters, history=history, coverage=0.5, seed=0)
    assert 1 <= len(narrow.selected) < len(PLANTED)


def test_context_is_modelled_and_reported(parameters) -> None:
    rng = random.Random(1)
    rows = []
    for _ in range(200):
        c = random_configuration(parameters, rng)
        context = rng.choice(["batch", "web"])
        rows.append({"configuration": c, "context": context,
                     "reward": planted_score(c) + (2.0 if context == "web" else 0.0) + rng.gauss(0, 0.05)})  # fmt: skip
    result = select(parameters, history=rows, seed=0)
    assert {"x", "w", "mode"} <= set(result.selected)
    assert any(n.startswith("The context accounts for") for n in result.notes)
    assert any("2 contexts" in n for n in result.notes)


def _write_csv(path: Path, rows: list[dict], extra: dict | None = None) -> None:
    names = [p.name for p in planted_parameters()]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["round", *names, "reward", "tps"])
        for i, row in enumerate(rows):
            writer.writerow([i, *(row["configuration"][n] for n in names), row["reward"], 1.0])


def test_csv_json_and_service_page_files(tmp_path: Path, parameters) -> None:
    rows = planted_history(300, seed=0)
    _write_csv(tmp_path / "h.csv", rows)
    from_csv = select(parameters, history=tmp_path / "h.csv", seed=0)
    assert set(from_csv.selected) == PLANTED
    assert any("Ignored column(s) that are not parameters: round, tps" in n for n in from_csv.notes)

    page = {"items": [{"round": i + 1, "context_id": "", "prediction": r["configuration"], "reward": r["reward"],
                       "at": "2026-01-01T00:00:00Z"} for i, r in enumerate(rows)], "next_cursor": None}  # fmt: skip
    (tmp_path / "page.json").write_text(json.dumps(page))
    from_json = select(parameters, history=str(tmp_path / "page.json"), seed=0)
    assert from_json.ranking == select(parameters, history=rows, seed=0).ranking
    loaded = load_history(tmp_path / "page.json")
    assert loaded.rows[0].label == "row 0" and not loaded.flat


def test_run_file_history_brings_its_parameters(tmp_path: Path, parameters) -> None:
    from oppertune.algorithms import create_tuning_instance
    from oppertune.core.values import to_dict
    from oppertune.tune.history import RoundRecord, RunStore

    rows = planted_history(200, seed=2)
    with RunStore(tmp_path / "spec.run.sqlite") as store:
        tuner = create_tuning_instance(parameters)
        store.start("f" * 16, tuner, {"parameters": [to_dict(p) for p in parameters]})
        for i, row in enumerate(rows, start=1):
            ok = i % 50 != 0
            store.record(RoundRecord(i, 0.0, 0.1, row["configuration"], None, row["reward"] if ok else -1.0, ok,
                                     None if ok else "exited with code 3"), tuner)  # fmt: skip
    result = select(None, history=tmp_path / "spec.run.sqlite", seed=0)
    assert {"x", "w", "mode"} <= set(result.selected)
    assert [d.label for d in result.dropped] == ["round 50", "round 100", "round 150", "round 200"]
    assert all(d.reason == "failed round (exited with code 3)" for d in result.dropped)
    assert result.n_rows == 196


# ---------------------------------------------------------------------- bad input
def test_missing_column_names_it(tmp_path: Path, parameters) -> None:
    rows = planted_history(30)
    for row in rows:
        row["configuration"]["wx"] = row["configuration"].pop("w")
    flat = [{**r["configuration"], "reward": r["reward"]} for r in rows]
    with pytest.raises(SelectionError, match=r"no column for parameter\(s\) \['w'\].*match no parameter: \['wx'\]"):
        select(parameters, history=History(tuple(HistoryRow(f, f.pop("reward")) for f in flat), flat=True))
    (tmp_path / "h.csv").write_text("x,w\n0.1,3\n")
    with pytest.raises(SelectionError, match="no 'reward' column"):
        select(parameters, history=tmp_path / "h.csv")


def test_unknown_parameter_names_are_an_error(parameters) -> None:
    rows = planted_history(30)
    rows[3]["configuration"]["bogus"] = 1
    with pytest.raises(SelectionError, match=r"unknown parameter\(s\) \['bogus'\]"):
        select(parameters, history=rows)
    absent = planted_history(30)
    for row in absent:
        del row["configuration"]["q"]
    with pytest.raises(SelectionError, match=r"no configuration holds a value for parameter\(s\) \['q'\]"):
        select(parameters, history=absent)


def test_constant_columns_are_unranked_and_held(parameters) -> None:
    rows = planted_history(300, seed=0)
    for row in rows:
        row["configuration"]["n2"] = 50
    result = select(parameters, history=rows, seed=0)
    assert ("n2", "never varied in the history (always 50)") in result.unranked
    assert "n2" not in {r.name for r in result.ranking}
    assert next(p for p in result.parameters() if p.name == "n2").is_constant
    assert any(line.startswith("Not ranked: n2") for line in result.describe())


def test_too_few_rows_says_so(parameters) -> None:
    rows = planted_history(14)
    rows[0]["reward"] = float("nan")
    rows[1]["reward"] = None
    rows[2]["reward"] = "n/a"
    with pytest.raises(InsufficientDataError, match=r"only 11 usable row\(s\) \(3 dropped: .*at least 12"):
        select(parameters, history=rows)
    with pytest.raises(InsufficientDataError, match="holds no rows"):
        select(parameters, history=[])


def test_nan_rewards_and_bad_values_are_dropped_and_reported(parameters) -> None:
    rows = planted_history(300, seed=0)
    rows[5]["reward"] = float("nan")
    rows[6]["reward"] = math.inf
    rows[7]["configuration"]["mode"] = "turbo"
    rows[8]["configuration"]["x"] = 7.5
    rows[9]["configuration"]["w"] = 2.5
    rows[10]["configuration"]["n0"] = None
    result = select(parameters, history=rows, seed=0)
    reasons = {d.label: d.reason for d in result.dropped}
    assert reasons == {
        "row 5": "the reward is NaN",
        "row 6": "the reward is inf",
        "row 7": "'mode' = 'turbo' is not one of the categories ['a', 'b', 'c']",
        "row 8": "'x' = 7.5 is outside [0.0, 1.0]",
        "row 9": "'w' = 2.5 is not a whole number",
        "row 10": "no value for 'n0'",
    }
    assert result.n_rows == 294
    assert any(line.startswith("Dropped 6 row(s)") for line in result.describe())


def test_constant_reward_and_pure_noise_say_so(parameters) -> None:
    rows = planted_history(50)
    for row in rows:
        row["reward"] = 1.0
    with pytest.raises(InsufficientDataError, match="the reward never varies"):
        select(parameters, history=rows)
    rng = random.Random(0)
    for row in rows:
        row["reward"] = rng.gauss(0, 1)
    with pytest.raises(InsufficientDataError, match="no parameter shows an effect on the reward beyond noise"):
        select(parameters, history=rows, seed=0)


def test_bad_arguments(parameters) -> None:
    rows = planted_history(30)
    for kwargs, message in [
        ({}, "exactly one of 'history'"),
        ({"history": rows, "evaluate": lambda c: 1.0}, "exactly one of 'history'"),
        ({"history": rows, "k": 0}, "'k' argument of select must be a positive integer"),
        ({"history": rows, "coverage": 1.5}, "'coverage' argument of select must be a number in"),
        ({"history": rows, "rule": "best"}, "'rule' argument of select must be one of cumulative, significant"),
        ({"history": rows, "seed": -1}, "'seed' argument"),
        ({"history": {"x": 1}}, "'history' argument of select must be a file path"),
    ]:
        with pytest.raises(SelectionError, match=message):
            select(parameters, **kwargs)
    with pytest.raises(SelectionError, match="pass 'parameters'"):
        select(None, history=rows)
    with pytest.raises(SelectionError, match="more than once"):
        select([*parameters, Real("x", 0.1, 0.0, 1.0)], history=rows)
    with pytest.raises(SelectionError, match="every parameter is constant"):
        select([Categorical("c", "a", ["a"])], history=rows)
    with pytest.raises(SelectionError, match="k=20 but only 12"):
        select(parameters, history=planted_history(300), k=20, seed=0)
    with pytest.raises(SelectionError, match="no history file"):
        select(parameters, history="/nonexistent/history.csv")


_CORRUPTIONS = st.sampled_from(["nan", "none", "text", "inf", "category", "range", "ok"])


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 79), _CORRUPTIONS), max_size=30))
def test_every_row_is_used_or_reported(corruptions: list[tuple[int, str]]) -> None:
    parameters = planted_parameters()
    rows = planted_history(80, seed=4)
    for index, kind in corruptions:
        row = rows[index]
        if kind == "nan":
            row["reward"] = float("nan")
        elif kind == "none":
            row["reward"] = None
        elif kind == "text":
            row["reward"] = "oops"
        elif kind == "inf":
            row["reward"] = -math.inf
        elif kind == "category":
            row["configuration"]["mode"] = "zzz"
        elif kind == "range":
            row["configuration"]["n1"] = -3.0
    try:
        result = select(parameters, history=rows, seed=0, k=3)
    except InsufficientDataError:
        return
    assert result.n_rows + len(result.dropped) == len(rows)
    assert len({d.label for d in result.dropped}) == len(result.dropped)
