"""The selection's outputs: a parameter list that tuners and tune specs accept, a table, a chart."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from planted import PLANTED, planted_history

from oppertune.algorithms import create_tuning_instance
from oppertune.core.values import Categorical, Integer, Real, to_value
from oppertune.selection import SelectionResult, constant_at_current, select


@pytest.fixture(scope="module")
def result() -> SelectionResult:
    from planted import planted_parameters

    return select(planted_parameters(), history=planted_history(300, seed=0), seed=0)


def test_unselected_parameters_are_constant_at_their_current_value(result: SelectionResult) -> None:
    chosen = result.parameters()
    assert [p.name for p in chosen] == [p.name for p in result.base]
    for before, after in zip(result.base, chosen):
        if before.name in PLANTED:
            assert after == before
        else:
            assert after.is_constant and after.val == before.val
    assert constant_at_current(Integer("i", 6, 0, 10, 2)) == Integer("i", 6, 6, 6, 2)
    assert constant_at_current(Real("r", 0.5, 0.0, 1.0, 0.25)) == Real("r", 0.5, 0.5, 0.5)
    assert constant_at_current(Categorical("c", 2, [1, 2])) == Categorical("c", 2, [2])


def test_round_trip_through_create_tuning_instance(result: SelectionResult, tmp_path: Path) -> None:
    current = {p.name: p.val for p in result.base}
    for parameters in (result.parameters(), result.parameter_dicts()):
        tuner = create_tuning_instance(parameters, "hybrid_solver", {"numerical_algorithm_args": {"random_seed": 1}})
        for _ in range(5):
            prediction, _ = tuner.predict()
            assert list(prediction) == list(current)
            assert all(prediction[n] == v for n, v in current.items() if n not in result.selected)
            tuner.set_reward(1.0)
    for name in ("selected.yaml", "selected.json"):
        path = result.write_parameters(tmp_path / name)
        data = json.loads(path.read_text()) if name.endswith(".json") else yaml.safe_load(path.read_text())
        assert [to_value(d) for d in data] == result.parameters()
        create_tuning_instance(data)


def test_round_trip_through_a_tune_spec(result: SelectionResult, tmp_path: Path) -> None:
    from oppertune.tune.spec import load_spec

    result.write_parameters(tmp_path / "params.yaml")
    listed = textwrap.indent((tmp_path / "params.yaml").read_text(), "  ")
    spec = f"parameters:\n{listed}run: {{command: [echo, '{{x}}']}}\nmetrics: {{json_line: true}}\nreward: score\n"
    (tmp_path / "spec.yaml").write_text(spec)
    loaded = load_spec(tmp_path / "spec.yaml")
    assert list(loaded.parameters) == result.parameters()


def test_table_describe_chart_and_summary(result: SelectionResult, tmp_path: Path) -> None:
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(result.table(limit=5))
    text = console.export_text()
    assert "Parameter importance (history" in text and "tune" in text and "7 more parameter(s) below" in text
    assert result.describe()[0].startswith("Selected 5 of 12 tunable parameter(s)")
    path = result.chart(tmp_path / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["selected"] == list(result.selected) and len(summary["ranking"]) == 12
