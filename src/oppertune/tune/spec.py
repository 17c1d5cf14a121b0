"""The spec of a tuning run (YAML or JSON), validated with errors that name the line.

```yaml
parameters: [{type: integer, name: workers, val: 4, min: 1, max: 64}]
algorithm: hybrid_solver          # optional, with algorithm_args and safety (the rails' settings)
rounds: 100
run: {command: ["./app", "--workers", "{workers}"], env: {}, timeout_s: 60}
metrics: {json_line: true}        # or {regex: {throughput: "tps = ([0-9.]+)"}}
reward: "throughput / (1 + p95_ms / 100)"
failed_reward: 0.0
```
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from oppertune.algorithms import DEFAULT_ALGORITHM, create_tuning_instance, get_algorithm_class
from oppertune.core.values import ValueType, to_dict, to_value
from oppertune.tune.expression import Expression, ExpressionError

__all__ = ["ConfigFileSpec", "MetricsSpec", "RunSpec", "SpecError", "TuneSpec", "load_spec", "parse_spec"]

_TOP_KEYS = {
    "parameters", "algorithm", "algorithm_args", "safety", "rounds", "run", "metrics", "reward", "failed_reward",
}  # fmt: skip
_RUN_KEYS = {"command", "env", "config_file", "timeout_s", "cwd"}
_METRICS_KEYS = {"json_line", "regex", "source"}
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
RESERVED_PLACEHOLDERS = frozenset({"round", "config_file"})
MAX_SPEC_BYTES = 1_000_000


class SpecError(ValueError):
    """A spec that cannot be used; the message starts with ``file:line:`` when the line is known."""


@dataclass(frozen=True)
class ConfigFileSpec:
    """A config file rendered from ``template`` to ``path`` before each run."""

    template: str
    path: Path


@dataclass(frozen=True)
class RunSpec:
    """How to run the program and hand it the parameters."""

    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    config_file: ConfigFileSpec | None = None
    timeout_s: float = 60.0
    cwd: Path | None = None


@dataclass(frozen=True)
class MetricsSpec:
    """How metrics come back: the last JSON object line of the output, or named regexes."""

    json_line: bool
    regex: dict[str, re.Pattern[str]]
    source: str = "stdout"


@dataclass(frozen=True)
class TuneSpec:
    """A validated spec."""

    parameters: tuple[ValueType, ...]
    algorithm: str
    algorithm_args: dict[str, Any]
    rounds: int
    run: RunSpec
    metrics: MetricsSpec
    reward: Expression
    failed_reward: float
    path: Path | None = None
    safety: dict[str, Any] | None = None

    @property
    def fingerprint(self) -> str:
        """A hash of what a saved tuner depends on (parameters, algorithm and its arguments)."""
        what = {"parameters": [to_dict(p) for p in self.parameters], "algorithm": self.algorithm,
                "algorithm_args": self.algorithm_args, "safety": self.safety}  # fmt: skip
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


class _Lines:
    """Line numbers of every node of a YAML document, by path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[tuple[Any, ...], int] = {}

    def record(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
                self.record(value_node, (*path, key))
                self.lines.setdefault((*path, key, "<key>"), key_node.start_mark.line + 1)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.record(item, (*path, i))

    def error(self, path: tuple[Any, ...], message: str) -> SpecError:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        where = f"{self.source}:{line}" if line else self.source
        label = ".".join(str(p) for p in path if p != "<key>") or "the spec"
        return SpecError(f"{where}: {label}: {message}")


def load_spec(path: str | Path) -> TuneSpec:
    """Read and validate a spec file."""
    spec_path = Path(path)
    try:
        data = spec_path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{spec_path}: cannot read the spec: {exc.strerror}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{spec_path}: the spec is larger than {MAX_SPEC_BYTES} bytes")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise SpecError(f"{spec_path}: the spec is not UTF-8 text") from None
    return parse_spec(text, source=str(spec_path), base=spec_path.parent, path=spec_path)


def parse_spec(text: str, source: str = "<spec>", base: Path | None = None, path: Path | None = None) -> TuneSpec:
    """Validate spec text (YAML or JSON). Relative file names are resolved against ``base``."""
    lines = _Lines(source)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            raw = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise SpecError(f"{source}{line}: not valid YAML/JSON: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML/JSON: {exc}") from None
    if node is not None:
        lines.record(node, ())
    if not isinstance(raw, dict):
        raise lines.error((), "the spec must be a mapping with keys " + ", ".join(sorted(_TOP_KEYS)))
    _no_unknown_keys(lines, (), raw, _TOP_KEYS)
    for required in ("parameters", "run", "metrics", "reward"):
        if required not in raw:
            raise lines.error((), f"missing required key {required!r}")

    parameters = _parameters(lines, raw["parameters"])
    algorithm = raw.get("algorithm", DEFAULT_ALGORITHM)
    algorithm_args = raw.get("algorithm_args") or {}
    if not isinstance(algorithm_args, dict):
        raise lines.error(("algorithm_args",), "must be a mapping of argument names to values")
    try:
        get_algorithm_class(algorithm)
    except ValueError as exc:
        raise lines.error(("algorithm",), str(exc)) from None
    try:
        create_tuning_instance(parameters, algorithm, algorithm_args)
    except (TypeError, ValueError) as exc:
        raise lines.error(("algorithm_args",), str(exc)) from None
    safety = raw.get("safety")
    if safety is not None:
        if not isinstance(safety, dict):
            raise lines.error(("safety",), "must be a mapping of rail settings (see oppertune.safety.Guarded)")
        try:
            create_tuning_instance(parameters, algorithm, algorithm_args, safety=safety)
        except (TypeError, ValueError) as exc:
            raise lines.error(("safety",), str(exc)) from None

    rounds = raw.get("rounds", 50)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise lines.error(("rounds",), f"must be a positive integer. Got {rounds!r}")
    failed_reward = raw.get("failed_reward", 0.0)
    if (
        isinstance(failed_reward, bool)
        or not isinstance(failed_reward, (int, float))
        or not math.isfinite(failed_reward)
    ):
        raise lines.error(("failed_reward",), f"must be a finite number. Got {failed_reward!r}")

    names = {p.name for p in parameters}
    run = _run(lines, raw["run"], names, base)
    metrics = _metrics(lines, raw["metrics"])
    if not isinstance(raw["reward"], str):
        raise lines.error(("reward",), f"must be an expression in a string. Got {raw['reward']!r}")
    try:
        reward = Expression(raw["reward"])
    except ExpressionError as exc:
        raise lines.error(("reward",), f"does not parse: {exc}") from None
    if metrics.regex:
        unknown = sorted(reward.names - set(metrics.regex))
        if unknown:
            raise lines.error(
                ("reward",), f"names unknown metric(s) {unknown}; the metrics are {sorted(metrics.regex)}"
            )
    return TuneSpec(parameters, algorithm, dict(algorithm_args), rounds, run, metrics, reward,
                    float(failed_reward), path, safety)  # fmt: skip


def _no_unknown_keys(lines: _Lines, path: tuple[Any, ...], mapping: Mapping[str, Any], allowed: set[str]) -> None:
    for key in mapping:
        if key not in allowed:
            raise lines.error((*path, key, "<key>"), f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")


def _parameters(lines: _Lines, raw: Any) -> tuple[ValueType, ...]:
    if not isinstance(raw, list) or not raw:
        raise lines.error(("parameters",), "must be a non-empty list of parameter specs")
    values: list[ValueType] = []
    for i, item in enumerate(raw):
        try:
            value = to_value(item)
        except (TypeError, ValueError) as exc:
            raise lines.error(("parameters", i), str(exc)) from None
        if value.name in RESERVED_PLACEHOLDERS:
            raise lines.error(("parameters", i), f"the name {value.name!r} is reserved for a placeholder")
        if any(v.name == value.name for v in values):
            raise lines.error(("parameters", i), f"the name {value.name!r} is used more than once")
        values.append(value)
    return tuple(values)


def check_placeholders(text: str, names: set[str]) -> list[str]:
    """The unknown placeholder names in ``text`` (``{{`` and ``}}`` are literal braces)."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1) is not None and m.group(1) not in names]


def render(text: str, values: Mapping[str, Any]) -> str:
    """Replace ``{name}`` with ``values[name]``; ``{{``/``}}`` become literal braces."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "{{":
            return "{"
        if match.group(0) == "}}":
            return "}"
        return str(values[match.group(1)])

    return _PLACEHOLDER.sub(replace, text)


def _run(lines: _Lines, raw: Any, names: set[str], base: Path | None) -> RunSpec:
    if not isinstance(raw, dict):
        raise lines.error(("run",), "must be a mapping with keys " + ", ".join(sorted(_RUN_KEYS)))
    _no_unknown_keys(lines, ("run",), raw, _RUN_KEYS)
    known = names | RESERVED_PLACEHOLDERS
    command = raw.get("command", [])
    if isinstance(command, str) or not isinstance(command, list) or not all(isinstance(a, str) for a in command):
        raise lines.error(("run", "command"), "must be a list of strings (the program and its arguments)")
    for i, argument in enumerate(command):
        if unknown := check_placeholders(argument, known):
            raise lines.error(("run", "command", i), f"unknown placeholder(s) {unknown}; parameters: {sorted(names)}")
    env = raw.get("env") or {}
    if not isinstance(env, dict):
        raise lines.error(("run", "env"), "must be a mapping of variable names to values")
    env_out: dict[str, str] = {}
    for key, value in env.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise lines.error(("run", "env", key, "<key>"), f"{key!r} is not a valid environment variable name")
        text = str(value)
        if unknown := check_placeholders(text, known):
            raise lines.error(("run", "env", key), f"unknown placeholder(s) {unknown}; parameters: {sorted(names)}")
        env_out[key] = text
    timeout = raw.get("timeout_s", 60.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 86_400:
        raise lines.error(("run", "timeout_s"), f"must be a number of seconds in (0, 86400]. Got {timeout!r}")
    cwd = raw.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise lines.error(("run", "cwd"), "must be a folder name")
    config_file = None
    if "config_file" in raw:
        config_file = _config_file(lines, raw["config_file"], known, names, base)
    return RunSpec(tuple(command), env_out, config_file, float(timeout), Path(cwd) if cwd else None)


def _config_file(lines: _Lines, raw: Any, known: set[str], names: set[str], base: Path | None) -> ConfigFileSpec:
    path = ("run", "config_file")
    if not isinstance(raw, dict) or set(raw) != {"template", "path"}:
        raise lines.error(path, "must be a mapping with exactly the keys 'template' (a file) and 'path' (the output)")
    template_path = Path(str(raw["template"]))
    if not template_path.is_absolute() and base is not None:
        template_path = base / template_path
    try:
        template = template_path.read_text()
    except OSError as exc:
        raise lines.error((*path, "template"), f"cannot read {str(template_path)!r}: {exc.strerror}") from None
    if unknown := check_placeholders(template, known):
        raise lines.error((*path, "template"), f"the template uses unknown placeholder(s) {unknown}")
    return ConfigFileSpec(template, Path(str(raw["path"])))


def _metrics(lines: _Lines, raw: Any) -> MetricsSpec:
    if not isinstance(raw, dict):
        raise lines.error(("metrics",), "must be {json_line: true} or {regex: {name: pattern}}")
    _no_unknown_keys(lines, ("metrics",), raw, _METRICS_KEYS)
    json_line = raw.get("json_line", False)
    regex_raw = raw.get("regex") or {}
    if not isinstance(json_line, bool):
        raise lines.error(("metrics", "json_line"), "must be true or false")
    if bool(json_line) == bool(regex_raw):
        raise lines.error(("metrics",), "give exactly one of 'json_line: true' or 'regex: {name: pattern}'")
    source = raw.get("source", "stdout")
    if source not in ("stdout", "stderr", "both"):
        raise lines.error(("metrics", "source"), f"must be stdout, stderr or both. Got {source!r}")
    if not isinstance(regex_raw, dict):
        raise lines.error(("metrics", "regex"), "must map metric names to patterns with one group")
    patterns: dict[str, re.Pattern[str]] = {}
    for name, pattern in regex_raw.items():
        where = ("metrics", "regex", name)
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][\w.]*", name):
            raise lines.error(where, f"{name!r} is not a valid metric name")
        if not isinstance(pattern, str):
            raise lines.error(where, "the pattern must be a string")
        try:
            compiled = re.compile(pattern, re.MULTILINE)
        except re.error as exc:
            raise lines.error(where, f"the pattern does not compile: {exc}") from None
        if compiled.groups != 1:
            raise lines.error(where, f"the pattern must have exactly one group (the number); it has {compiled.groups}")
        patterns[name] = compiled
    return MetricsSpec(json_line, patterns, source)
