"""`oppertune report --service`: a service tuner's history and the dashboard's charts as a PNG, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import Site


def report(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPPERTUNE_API_KEY"}
    if key is not None:
        env["OPPERTUNE_API_KEY"] = key
    env["COLUMNS"] = "160"
    command = [sys.executable, "-m", "oppertune.cli", "report", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_report_of_a_service_tuner_draws_the_dashboards_charts(site: Site, tmp_path: Path) -> None:
    plot = tmp_path / "long.png"
    done = report("--service", site.url, "--tuner", site.ids["long"], "--last", "5", "--plot", str(plot), key=site.key)
    assert done.returncode == 0, done.stderr
    assert "long-history" in done.stdout and "History (last 5 of 3,000)" in done.stdout
    assert "Best configuration per context" in done.stdout and "Safety rails: " in done.stdout
    assert plot.stat().st_size > 20_000


def test_report_needs_the_key_and_one_source(site: Site, tmp_path: Path) -> None:
    refused = report("--service", site.url, "--tuner", site.ids["long"])
    assert refused.returncode == 2 and "OPPERTUNE_API_KEY" in refused.stderr
    missing = report("--service", site.url, "--tuner", "nope", key=site.key)
    assert missing.returncode == 2 and "not found" in missing.stderr.lower()
    both = report(str(tmp_path / "run.sqlite"), "--service", site.url, "--tuner", "x", key=site.key)
    assert both.returncode == 2 and "either a run file or --service" in both.stderr
    assert report("--service", site.url, key=site.key).returncode == 2
