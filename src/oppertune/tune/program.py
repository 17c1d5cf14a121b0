"""Run the program under tuning once with a configuration, and read its metrics back."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oppertune.tune.spec import MetricsSpec, RunSpec, render

__all__ = ["RunOutcome", "parse_metrics", "run_program"]

_OUTPUT_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True)
class RunOutcome:
    """What one run produced: metrics, or the reason it failed."""

    metrics: dict[str, float] | None
    error: str | None
    duration_s: float
    returncode: int | None


def _tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[-300:]


def parse_metrics(spec: MetricsSpec, stdout: str, stderr: str) -> dict[str, float]:
    """Metrics from the program's output; raises ValueError saying what is missing or wrong."""
    text = {"stdout": stdout, "stderr": stderr, "both": f"{stdout}\n{stderr}"}[spec.source]
    metrics: dict[str, float] = {}
    if spec.json_line:
        for line in reversed(text.splitlines()):
            line = line.strip()
            if not (line.startswith("{") and line.endswith("}")):
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                numbers = {k: v for k, v in obj.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                metrics = {str(k): float(v) for k, v in numbers.items()}
                break
        else:
            raise ValueError(f"the program printed no JSON object line on {spec.source}")
    else:
        for name, pattern in spec.regex.items():
            matches = pattern.findall(text)
            if not matches:
                raise ValueError(f"metric {name!r} not found on {spec.source} (pattern {pattern.pattern!r})")
            try:
                metrics[name] = float(matches[-1])
            except ValueError:
                raise ValueError(f"metric {name!r}: {matches[-1]!r} is not a number") from None
    for name, value in metrics.items():
        if not math.isfinite(value):
            raise ValueError(f"metric {name!r} is {value}")
    return metrics


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the program and everything it started (it runs in its own session)."""
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_program(
    run: RunSpec, metrics_spec: MetricsSpec, command: Sequence[str], values: Mapping[str, Any], round_number: int
) -> RunOutcome:
    """Run ``command`` with ``values`` substituted into its arguments, environment and config file.

    Raises:
        KeyboardInterrupt: After stopping the program, when the user interrupts.
    """
    cwd = run.cwd or Path.cwd()
    placeholders: dict[str, Any] = {**values, "round": round_number}
    if run.config_file is not None:
        config_path = run.config_file.path if run.config_file.path.is_absolute() else cwd / run.config_file.path
        placeholders["config_file"] = str(config_path)
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(render(run.config_file.template, placeholders))
    argv = [render(arg, placeholders) for arg in command]
    env = {**os.environ, **{k: render(v, placeholders) for k, v in run.env.items()}}
    start = time.monotonic()
    try:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        return RunOutcome(None, f"could not start {argv[0]!r}: {exc.strerror}", time.monotonic() - start, None)
    try:
        out, err = process.communicate(timeout=run.timeout_s)
    except subprocess.TimeoutExpired:
        _stop(process)
        process.communicate()
        return RunOutcome(None, f"timed out after {run.timeout_s:g} s", time.monotonic() - start, None)
    except KeyboardInterrupt:
        _stop(process)
        raise
    duration = time.monotonic() - start
    stdout = out[-_OUTPUT_LIMIT:].decode(errors="replace")
    stderr = err[-_OUTPUT_LIMIT:].decode(errors="replace")
    if process.returncode != 0:
        detail = _tail(stderr) or _tail(stdout) or "no output"
        return RunOutcome(None, f"exited with code {process.returncode}: {detail}", duration, process.returncode)
    try:
        metrics = parse_metrics(metrics_spec, stdout, stderr)
    except ValueError as exc:
        return RunOutcome(None, str(exc), duration, process.returncode)
    return RunOutcome(metrics, None, duration, process.returncode)
