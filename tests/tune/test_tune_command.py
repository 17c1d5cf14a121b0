"""`oppertune tune` and `oppertune report` end to end, as a user runs them: real processes, real files."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from oppertune.tune.history import RunStore

PROGRAM = textwrap.dedent("""\
    import json, math, os, sys, time
    x, workers = float(sys.argv[1]), int(sys.argv[2])
    mode = os.environ["MODE"]
    config = open(sys.argv[3]).read()
    assert f"workers={workers}" in config, config
    time.sleep(float(os.environ.get("SLEEP", "0")))
    behaviour = os.environ.get("BEHAVIOUR", "")
    if behaviour == "crash" and x > 3:
        print("boom", file=sys.stderr); sys.exit(3)
    if behaviour == "silent":
        print("nothing to see"); sys.exit(0)
    if behaviour == "nan":
        print(json.dumps({"tps": float("nan")})); sys.exit(0)
    if behaviour == "hang":
        time.sleep(60)
    tps = 1000 - 50 * (x - 4) ** 2 - abs(workers - 12) * 5 + (100 if mode == "fast" else 0)
    print("starting up")
    print(json.dumps({"tps": tps, "p95_ms": 10 + workers, "label": "ignored"}))
""")

SPEC = textwrap.dedent("""\
    parameters:
      - {type: real, name: x, val: 1.0, min: 0.0, max: 6.0}
      - {type: integer, name: workers, val: 2, min: 1, max: 32}
      - {type: categorical, name: mode, val: slow, categories: [slow, fast]}
    algorithm_args:
      categorical_algorithm_args: {random_seed: 1}
      numerical_algorithm_args: {random_seed: 1}
    rounds: 12
    run:
      env: {MODE: "{mode}"}
      config_file: {template: app.conf.in, path: app.conf}
      timeout_s: 5
    metrics: {json_line: true}
    reward: "tps / (1 + p95_ms / 100) / 1000"
    failed_reward: -1
""")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "prog.py").write_text(PROGRAM)
    (tmp_path / "spec.yaml").write_text(SPEC)
    (tmp_path / "app.conf.in").write_text("workers={workers}\nround={round}\n")
    return tmp_path


def oppertune(workdir: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "oppertune.cli", *args],
        cwd=workdir, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


TUNE = ("tune", "spec.yaml", "--", sys.executable, "prog.py", "{x}", "{workers}", "{config_file}")


def test_tunes_resumes_and_reports(workdir: Path) -> None:
    first = oppertune(workdir, *TUNE[:2], "--rounds", "5", *TUNE[2:])
    assert first.returncode == 0, first.stderr
    assert "Best configuration" in first.stdout and (workdir / "spec.run.png").stat().st_size > 1000
    with RunStore.open_existing(workdir / "spec.run.sqlite") as store:
        assert [r.round for r in store.rounds()] == [1, 2, 3, 4, 5]
        assert all(r.ok and r.metrics and "label" not in r.metrics for r in store.rounds())
        assert store.load_tuner().iteration == 5

    second = oppertune(workdir, *TUNE)
    assert second.returncode == 0, second.stderr
    assert "Resuming from spec.run.sqlite: 5 round(s) already recorded." in second.stdout
    with RunStore.open_existing(workdir / "spec.run.sqlite") as store:
        rounds = store.rounds()
    assert [r.round for r in rounds] == list(range(1, 13))
    assert (workdir / "app.conf").read_text().startswith(f"workers={rounds[-1].configuration['workers']}\nround=12")

    report = oppertune(workdir, "report", "spec.run.sqlite", "--last", "3", "--plot", "r.png")
    assert report.returncode == 0, report.stderr
    assert "History (last 3 of 12)" in report.stdout and "Best configuration" in report.stdout
    assert (workdir / "r.png").exists()


def test_resumed_run_matches_an_uninterrupted_one(workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("other")
    for name in ("prog.py", "spec.yaml", "app.conf.in"):
        (other / name).write_text((workdir / name).read_text())
    assert oppertune(workdir, *TUNE[:2], "--rounds", "4", *TUNE[2:]).returncode == 0
    assert oppertune(workdir, *TUNE).returncode == 0
    assert oppertune(other, *TUNE).returncode == 0
    configs = []
    for folder in (workdir, other):
        with RunStore.open_existing(folder / "spec.run.sqlite") as store:
            configs.append([r.configuration for r in store.rounds()])
    assert configs[0] == configs[1]


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("crash", "exited with code 3: boom"),
        ("silent", "printed no JSON object line on stdout"),
        ("nan", "metric 'tps' is nan"),
        ("hang", "timed out after 1 s"),
    ],
)
def test_failed_rounds_are_recorded_not_fatal(workdir: Path, behaviour: str, message: str) -> None:
    spec = (
        (workdir / "spec.yaml").read_text().replace("timeout_s: 5", "timeout_s: 1").replace("rounds: 12", "rounds: 3")
    )
    (workdir / "spec.yaml").write_text(spec)
    if behaviour == "crash":
        (workdir / "spec.yaml").write_text(spec.replace("val: 1.0, min: 0.0", "val: 5.0, min: 0.0"))
    result = oppertune(workdir, *TUNE, env={"BEHAVIOUR": behaviour})
    assert result.returncode == 0, result.stderr
    with RunStore.open_existing(workdir / "spec.run.sqlite") as store:
        failed = [r for r in store.rounds() if not r.ok]
    assert failed, "expected failed rounds"
    assert all(r.reward == -1.0 and message in r.message for r in failed), [r.message for r in failed]


def test_reward_naming_a_metric_the_program_does_not_print(workdir: Path) -> None:
    spec = (
        (workdir / "spec.yaml").read_text().replace("p95_ms / 100", "p99_ms / 100").replace("rounds: 12", "rounds: 2")
    )
    (workdir / "spec.yaml").write_text(spec)
    assert oppertune(workdir, *TUNE).returncode == 0
    with RunStore.open_existing(workdir / "spec.run.sqlite") as store:
        assert all("metric 'p99_ms' is missing" in r.message for r in store.rounds())


def test_spec_errors_exit_2_with_the_line(workdir: Path) -> None:
    (workdir / "spec.yaml").write_text(SPEC.replace("rounds: 12", "rounds: 12\ncolour: red"))
    result = oppertune(workdir, *TUNE)
    assert result.returncode == 2
    assert "spec.yaml:9: colour: unknown key 'colour'" in result.stderr


def test_command_not_found(workdir: Path) -> None:
    result = oppertune(workdir, "tune", "spec.yaml", "--", "no-such-program-xyz", "{x}")
    assert result.returncode == 2 and "command not found: 'no-such-program-xyz'" in result.stderr


def test_no_command(workdir: Path) -> None:
    result = oppertune(workdir, "tune", "spec.yaml")
    assert result.returncode == 2 and "no command to run" in result.stderr


def test_changed_spec_needs_fresh(workdir: Path) -> None:
    assert oppertune(workdir, *TUNE[:2], "--rounds", "2", *TUNE[2:]).returncode == 0
    (workdir / "spec.yaml").write_text(SPEC.replace("max: 32", "max: 16"))
    refused = oppertune(workdir, *TUNE)
    assert refused.returncode == 2 and "holds a run of a different spec" in refused.stderr
    fresh = oppertune(workdir, *TUNE[:2], "--fresh", "--rounds", "2", *TUNE[2:])
    assert fresh.returncode == 0, fresh.stderr
    with RunStore.open_existing(workdir / "spec.run.sqlite") as store:
        assert store.rounds_done() == 2


def test_ctrl_c_stops_cleanly_and_resumes(workdir: Path) -> None:
    import os

    process = subprocess.Popen(
        [sys.executable, "-m", "oppertune.cli", *TUNE], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "SLEEP": "0.4"},
    )  # fmt: skip
    state = workdir / "spec.run.sqlite"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if state.exists():
            with sqlite3.connect(state) as db:
                try:
                    if db.execute("SELECT count(*) FROM rounds").fetchone()[0] >= 2:
                        break
                except sqlite3.OperationalError:
                    pass
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "run the same command again to resume" in out
    with RunStore.open_existing(state) as store:
        done = store.rounds_done()
        assert 2 <= done < 12 and store.load_tuner().iteration == done
    again = oppertune(workdir, *TUNE)
    assert again.returncode == 0 and f"{done} round(s) already recorded" in again.stdout


def test_report_errors(workdir: Path) -> None:
    missing = oppertune(workdir, "report", "nope.sqlite")
    assert missing.returncode == 2 and "no run file" in missing.stderr
    (workdir / "junk.sqlite").write_text("not a database at all, just text" * 10)
    junk = oppertune(workdir, "report", "junk.sqlite")
    assert junk.returncode == 2 and "not an OPPerTune run file" in junk.stderr


def test_help_documents_every_command(workdir: Path) -> None:
    result = oppertune(workdir, "--help")
    for command in ("tune", "report", "demo"):
        assert command in result.stdout


def test_safety_rails_from_the_spec(workdir: Path) -> None:
    spec = SPEC.replace("rounds: 12", "rounds: 8\nsafety: {baseline_rounds: 2, limits: {workers: {max: 4}}}")
    (workdir / "spec.yaml").write_text(spec)
    result = oppertune(workdir, *TUNE)
    assert result.returncode == 0, result.stderr
    with RunStore.open_existing(workdir / "spec.run.sqlite") as store:
        rounds = store.rounds()
        # BlueFin's pairs straddle the start: its rounds that keep the starting mode measure the baseline
        measuring = [r for r in rounds if r.metadata["served_by"] == "baseline"]
        assert measuring and {r.configuration["mode"] for r in measuring} == {"slow"}
        assert all(r.configuration["workers"] <= 4 for r in rounds)
        decisions = [e["kind"] for e in store.load_tuner().events() if e["kind"] != "clamped"]
        assert decisions[0] == "baseline"  # measured before the rails decide anything else
    report = oppertune(workdir, "report", "spec.run.sqlite")
    assert "safety rails" in report.stdout and "baseline" in report.stdout


def test_bad_safety_settings_name_the_line(workdir: Path) -> None:
    (workdir / "spec.yaml").write_text(SPEC.replace("rounds: 12", "rounds: 12\nsafety: {limits: {workers: {max: 99}}}"))
    result = oppertune(workdir, *TUNE)
    assert result.returncode == 2 and "spec.yaml:9: safety:" in result.stderr and "must satisfy" in result.stderr
