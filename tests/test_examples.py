"""The examples in examples/ run unchanged and reach their goal."""

from __future__ import annotations

import runpy
import subprocess
import sys

from testpaths import EXAMPLES


def test_seed_tuning_loop_reaches_its_goal() -> None:
    namespace = runpy.run_path(str(EXAMPLES / "tuning_loop.py"))
    namespace["main"]()
    app = namespace["app"]
    assert namespace["calculate_reward"](app.metrics) >= 0.95
    assert 0 < app.deployments <= namespace["MAX_DEPLOYMENTS"]


def test_hybrid_example_reaches_reward_095_for_several_seeds() -> None:
    namespace = runpy.run_path(str(EXAMPLES / "hybrid_solver.py"))
    for seed in (123, 1, 2, 3):
        rounds, configuration, reward = namespace["main"](seed=seed, verbose=False)
        assert reward >= 0.95 and rounds <= namespace["MAX_ROUNDS"]
        assert configuration["expander"] == "least-waste"


def test_hybrid_example_runs_as_a_script() -> None:
    out = subprocess.run([sys.executable, str(EXAMPLES / "hybrid_solver.py")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert ">= 0.95 after" in out.stdout
