"""The safety benchmark: what the rails cost and buy, printed per problem."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from oppertune.bench import safety
from oppertune.bench.problems import PROBLEMS, get_problem
from oppertune.cli import app


def test_the_tables_cover_every_problem_and_the_other_tuners(capsys: pytest.CaptureFixture[str]) -> None:
    safety.main(["--seeds", "2", "--rounds", "30"])
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.split() and line.split()[0] in PROBLEMS]
    assert {row[0] for row in rows} == set(PROBLEMS)
    off = [row for row in rows if row[:2] == ["queue_cliff", "off"]]
    assert len(off) == 1 and "%" not in " ".join(off[0])  # the reference row has no cost
    prototype = [row for row in rows if row[1] in ("hybrid_solver,", "autoscope,")]
    stationary = {p for p in PROBLEMS if get_problem(p).phases == 1}
    assert {row[0] for row in prototype} == stationary and len(prototype) == 2 * len(stationary)  # off and rails
    assert all((row[1] == "autoscope,") == bool(get_problem(row[0]).contexts) for row in prototype)
    assert all(("%" in " ".join(row)) == (row[2] == "rails") for row in prototype)
    budget = next(line for line in lines if "rails + memory budget" in line)
    assert "%" in budget and budget.split()[-1] == "0.0"  # within the declared budget: no round in the cliff
    shift = next(line for line in lines if line.startswith("drifting_optimum") and " rails " in line)
    float(shift.split()[-1])  # drifting problems report the regret after the shift
    others = [line for line in lines if line.startswith("uniform_random")]
    assert len(others) == 2
    verdicts = [line.split()[0] for line in lines[lines.index("The rails' targets on these runs") + 1 :]]
    assert len(verdicts) >= 4 and set(verdicts) <= {"met", "NOT"}  # drops, cost, shift, cliff (per tuner that fell)


def _runs(cumulative: float, worst: float = 0.0, cliff: float = 0.0, after: float = 0.0) -> list[dict[str, float]]:
    run = {"cumulative": cumulative, "worst_drop": worst, "cliff_rounds": cliff, "after_shift": after}
    return [run, dict(run)]


def test_targets_are_judged_on_the_figures() -> None:
    measured = {
        "ridge": {"off": _runs(0.20, 0.30), "rails": _runs(0.21, 0.04)},
        "decoy": {"off": _runs(0.50, 0.30), "rails": _runs(0.60, 0.20)},
        "queue_cliff": {"off": _runs(0.2, cliff=1.0), "rails": _runs(0.2, 0.01, cliff=0.5)},
        "drifting_optimum": {"off": _runs(0.4), "rails": _runs(0.5, after=0.6),
                             "rails, no drift detection": _runs(0.9, after=1.5)},
    }  # fmt: skip
    others = {"uniform_random": {"off": _runs(1.7, cliff=80.0), "rails": _runs(0.3, cliff=2.0)}}
    verdicts = {what: (met, figures) for what, met, figures in safety.targets(measured, others)}
    assert verdicts["worst drop <= 0.05 with the rails on every stationary problem"] == (
        False,
        "1 of 3 over: decoy 0.20",
    )
    assert verdicts["regret cost <= +10% on every stationary problem"][0] is False  # decoy +20%
    assert verdicts["drifting_optimum: regret after the shift >= 30% lower with drift detection"][0] is True
    assert verdicts["default: rounds in the cliff cut by >= 90%"] == (False, "1.0 -> 0.5 per run (-50%)")
    assert verdicts["uniform_random: rounds in the cliff cut by >= 90%"][0] is True


def test_a_run_measures_the_cliff_and_the_shift() -> None:
    cliff = safety.run(get_problem("queue_cliff"), None, 0, 200, "uniform_random")
    assert cliff["cliff_rounds"] > 20  # random sampling falls over often without the rails
    guarded = safety.run(get_problem("queue_cliff"), {}, 0, 200, "uniform_random")
    assert guarded["cliff_rounds"] < cliff["cliff_rounds"] / 5
    drift = safety.run(get_problem("drifting_optimum"), {}, 0, 40)
    assert drift["after_shift"] == drift["after_shift"]  # measured (not NaN) on a problem with two phases


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "1"], "--seeds: must be at least 2 (got 1): the cost needs a spread over seeds"),
        (["--rounds", "0"], "--rounds: must be at least 1 (got 0)"),
        (["--seeds", "many"], "--seeds: expected a whole number, got 'many'"),
    ],
)
def test_bad_arguments_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        safety.main(argv)
    assert message in capsys.readouterr().err


def test_the_command_line_runs_it() -> None:
    result = CliRunner().invoke(app, ["bench", "safety", "--seeds", "2", "--rounds", "20"])
    assert result.exit_code == 0, result.output
    assert "rails + memory budget" in result.output and "uniform_random" in result.output
    refused = CliRunner().invoke(app, ["bench", "safety", "--seeds", "1"])
    assert refused.exit_code != 0
