"""Spec validation: every mistake is reported with the file, the line and what is wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from oppertune.tune.spec import SpecError, load_spec, parse_spec, render

GOOD = """\
parameters:
  - {type: real, name: x, val: 1.0, min: 0.0, max: 6.0}
  - {type: integer, name: workers, val: 4, min: 1, max: 64}
algorithm: hybrid_solver
algorithm_args: {numerical_algorithm_args: {random_seed: 1}}
rounds: 20
run:
  command: [./app, --workers, "{workers}"]
  env: {X: "{x}"}
  timeout_s: 5
metrics: {regex: {tps: "tps = ([0-9.]+)", p95: "p95 = ([0-9.]+)"}}
reward: "tps / (1 + p95 / 100)"
failed_reward: -1
"""


def test_good_spec() -> None:
    spec = parse_spec(GOOD, source="s.yaml")
    assert [p.name for p in spec.parameters] == ["x", "workers"]
    assert spec.rounds == 20 and spec.failed_reward == -1.0
    assert spec.run.command == ("./app", "--workers", "{workers}") and spec.run.env == {"X": "{x}"}
    assert spec.reward.names == {"tps", "p95"}
    assert len(spec.fingerprint) == 16


def test_json_spec_works_too(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(
        '{"parameters": [{"type": "integer", "name": "w", "val": 1, "min": 1, "max": 4}],'
        ' "run": {"command": ["true"]}, "metrics": {"json_line": true}, "reward": "tps"}'
    )
    spec = load_spec(path)
    assert spec.algorithm == "hybrid_solver" and spec.rounds == 50 and spec.metrics.json_line


def edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (edit("rounds: 20", "roundz: 20"), 6, "unknown key 'roundz'"),
        (edit("max: 6.0}", "max: 0.5}"), 2, "Parameter 'x': 'val' must lie within"),
        (edit("val: 4, min: 1", "val: 4, mn: 1"), 3, "missing field(s) ['min']"),
        (edit("name: workers", "name: x"), 3, "used more than once"),
        (edit("algorithm: hybrid_solver", "algorithm: magic"), 4, "Unknown algorithm 'magic'"),
        (edit("{random_seed: 1}}", "{random_seed: 1}, colour: red}"), 5, "Unknown argument(s) ['colour']"),
        (edit("rounds: 20", "rounds: 0"), 6, "rounds: must be a positive integer"),
        (edit('"{workers}"]', '"{workrs}"]'), 8, "unknown placeholder(s) ['workrs']"),
        (edit('X: "{x}"', 'X: "{y}"'), 9, "run.env.X: unknown placeholder(s) ['y']"),
        (edit("timeout_s: 5", "timeout_s: -5"), 10, "run.timeout_s"),
        (edit("timeout_s: 5", "timeout: 5"), 10, "unknown key 'timeout'"),
        (edit('p95: "p95 = ([0-9.]+)"', 'p95: "p95 = [0-9.]+"'), 11, "exactly one group"),
        (edit('p95: "p95 = ([0-9.]+)"', 'p95: "p95 = ([0-9.]+"'), 11, "does not compile"),
        (edit('reward: "tps / (1 + p95 / 100)"', 'reward: "tps / (1 + p95 / "'), 12, "does not parse"),
        (edit('reward: "tps / (1 + p95 / 100)"', 'reward: "tps * latency"'), 12, "unknown metric(s) ['latency']"),
        (edit("failed_reward: -1", "failed_reward: .nan"), 13, "failed_reward: must be a finite number"),
        (edit("metrics: {regex", "metrics: {json_line: true, regex"), 11, "exactly one of"),
        (
            edit('command: [./app, --workers, "{workers}"]', "command: ./app --workers 4"),
            8,
            "run.command: must be a list",
        ),
        (edit("  env:", "  x: 1\n  env:"), 9, "run.x: unknown key 'x'"),
        (edit("rounds: 20\n", "rounds: 20\n  bad indent: 1\n"), 7, "not valid YAML/JSON"),
    ],
)
def test_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text, source="s.yaml")
    message = str(info.value)
    assert message.startswith(f"s.yaml:{line}:"), message
    assert fragment in message, message


def test_missing_required_keys() -> None:
    with pytest.raises(SpecError, match="missing required key 'reward'"):
        parse_spec(GOOD.replace('reward: "tps / (1 + p95 / 100)"\n', ""))


def test_not_a_mapping() -> None:
    with pytest.raises(SpecError, match="must be a mapping"):
        parse_spec("- 1\n- 2\n")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the spec"):
        load_spec(tmp_path / "missing.yaml")


def test_config_file_template(tmp_path: Path) -> None:
    (tmp_path / "app.conf.in").write_text("workers = {workers}\nliteral = {{braces}}\n")
    spec_text = GOOD.replace(
        "  timeout_s: 5\n", "  timeout_s: 5\n  config_file: {template: app.conf.in, path: app.conf}\n"
    )
    spec = parse_spec(spec_text, base=tmp_path)
    assert spec.run.config_file is not None
    assert render(spec.run.config_file.template, {"workers": 8}) == "workers = 8\nliteral = {braces}\n"
    (tmp_path / "app.conf.in").write_text("workers = {threads}\n")
    with pytest.raises(SpecError, match="template uses unknown placeholder"):
        parse_spec(spec_text, base=tmp_path)


def test_yaml_tags_cannot_build_objects() -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_spec(
            textwrap.dedent("""\
            parameters: !!python/object/apply:os.system ["echo pwned"]
            """)
        )
