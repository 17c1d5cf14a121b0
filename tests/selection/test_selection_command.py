"""`oppertune select` end to end, as a user runs it: real processes, real files."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from planted import PLANTED, planted_history, planted_parameters

from oppertune.core.values import to_dict, to_value

PROGRAM = textwrap.dedent("""\
    import json, sys
    x, w, mode, n0 = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    if x > 0.9:
        sys.exit("x too large")
    print(json.dumps({"tps": 100 * x - abs(w - 20) + (40 if mode == "fast" else 0), "p95_ms": 10}))
""")

SPEC = textwrap.dedent("""\
    parameters:
      - {type: real, name: x, val: 0.5, min: 0.0, max: 1.0}
      - {type: integer, name: w, val: 8, min: 1, max: 32}
      - {type: categorical, name: mode, val: slow, categories: [slow, fast]}
      - {type: real, name: n0, val: 0.5, min: 0.0, max: 1.0}
      - {type: integer, name: n1, val: 5, min: 0, max: 10}
      - {type: categorical, name: n2, val: a, categories: [a, b, c]}
    run: {command: ["%s", prog.py, "{x}", "{w}", "{mode}", "{n0}"], timeout_s: 20}
    metrics: {json_line: true}
    reward: "tps / (1 + p95_ms / 100)"
    failed_reward: -10
""")


def oppertune(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oppertune.cli", *args],
        cwd=workdir, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "150"},
    )  # fmt: skip


def _write_history(tmp_path: Path) -> None:
    names = [p.name for p in planted_parameters()]
    with (tmp_path / "rounds.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["round", *names, "reward"])
        for i, row in enumerate(planted_history(300, seed=0)):
            writer.writerow([i, *(row["configuration"][n] for n in names), "nan" if i == 7 else row["reward"]])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump([to_dict(p) for p in planted_parameters()]))


def test_select_from_a_csv(tmp_path: Path) -> None:
    _write_history(tmp_path)
    done = oppertune(tmp_path, "select", "rounds.csv", "--params", "params.yaml")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Parameter importance (history" in done.stdout
    assert "Dropped 1 row(s): 1 x the reward is NaN (line 9)." in done.stdout
    assert "Ignored column(s) that are not parameters: round." in done.stdout
    written = [to_value(d) for d in yaml.safe_load((tmp_path / "rounds.selected-parameters.yaml").read_text())]
    assert {p.name for p in written if not p.is_constant} == PLANTED
    assert (tmp_path / "rounds.selection.png").read_bytes()[:4] == b"\x89PNG"


def test_select_bad_input_exits_with_a_message(tmp_path: Path) -> None:
    _write_history(tmp_path)
    no_spec = oppertune(tmp_path, "select", "rounds.csv")
    assert no_spec.returncode == 2 and "pass 'parameters'" in no_spec.stdout
    lines = (tmp_path / "rounds.csv").read_text().splitlines()[:8]
    (tmp_path / "short.csv").write_text("\n".join(lines) + "\n")
    short = oppertune(tmp_path, "select", "short.csv", "--params", "params.yaml")
    assert short.returncode == 1 and "Cannot select: short.csv: only 7 usable row(s)" in short.stdout


def test_select_from_a_run_file(tmp_path: Path) -> None:
    from oppertune.algorithms import create_tuning_instance
    from oppertune.tune.history import RoundRecord, RunStore

    parameters = planted_parameters()
    with RunStore(tmp_path / "spec.run.sqlite") as store:
        tuner = create_tuning_instance(parameters)
        store.start("0" * 16, tuner, {"parameters": [to_dict(p) for p in parameters], "algorithm": "hybrid_solver"})
        for i, row in enumerate(planted_history(300, seed=1), start=1):
            store.record(RoundRecord(i, 0.0, 0.01, row["configuration"], {"m": 1.0}, row["reward"], True, None), tuner)
    done = oppertune(tmp_path, "select", "spec.run.sqlite", "--rule", "significant")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Ranked from 300 row(s) of spec.run.sqlite." in done.stdout
    written = yaml.safe_load((tmp_path / "spec.selected-parameters.yaml").read_text())
    assert {d["name"] for d in written if not to_value(d).is_constant} == PLANTED
    fixed = oppertune(tmp_path, "select", "spec.run.sqlite", "--k", "2", "--out", "two.json", "--plot", "two.png")
    assert fixed.returncode == 0, fixed.stderr + fixed.stdout
    assert "fixed k = 2" in fixed.stdout and (tmp_path / "two.json").exists() and (tmp_path / "two.png").exists()


def test_screen_a_program_through_its_spec(tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(PROGRAM)
    (tmp_path / "spec.yaml").write_text(SPEC % sys.executable)
    done = oppertune(tmp_path, "select", "--screen", "spec.yaml", "--budget", "16", "--delta", "0.2")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Parameter importance (screening, 16 evaluations" in done.stdout
    assert "within delta=0.2 of the current values" in done.stdout
    from oppertune.tune.spec import load_spec

    selected = load_spec(tmp_path / "spec.selected.yaml")
    assert {p.name for p in selected.parameters if not p.is_constant} == {"x", "w", "mode"}
    assert selected.run.command[1] == "prog.py" and selected.reward.source == "tps / (1 + p95_ms / 100)"

    # the command after '--' replaces the spec's; a failing program gets the spec's failed_reward
    failing = oppertune(tmp_path, "select", "--screen", "--spec", "spec.yaml", "--budget", "8", "--", sys.executable,
                        "prog.py", "0.95", "{w}", "{mode}", "{n0}")  # fmt: skip
    assert failing.returncode == 1, failing.stderr + failing.stdout
    assert "the reward was -10 in all 8 evaluations" in failing.stdout
    usage = oppertune(tmp_path, "select", "--screen")
    assert usage.returncode == 2 and "--screen needs a spec" in usage.stdout
