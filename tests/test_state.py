"""State files: corrupt, tampered, foreign or mismatched input fails clearly and never runs code."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from state_edits import resealed

from oppertune.algorithms import TuningInstance
from oppertune.algorithms.bluefin import BlueFin
from oppertune.algorithms.hybrid_solver import HybridSolver
from oppertune.core.errors import StateError
from oppertune.core.values import Categorical, Real


def make_tuner() -> HybridSolver:
    tuner = HybridSolver(
        [Categorical("c", "a", ["a", "b"]), Real("r", 0.5, 0.0, 1.0)],
        categorical_algorithm="exponential_weights_slates",
        numerical_algorithm="bluefin",
    )
    for reward in (0.1, 0.2, 0.3):
        tuner.predict()
        tuner.set_reward(reward)
    tuner.predict()
    return tuner


def test_truncated_text() -> None:
    text = make_tuner().dumps()
    with pytest.raises(StateError, match="not valid JSON"):
        TuningInstance.loads(text[: len(text) // 2])


def test_truncated_compressed_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json.gz"
    make_tuner().dump(path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(StateError, match="damaged"):
        TuningInstance.load(path)


def test_tampered_value_fails_the_checksum() -> None:
    state = json.loads(make_tuner().dumps())
    state["learner"]["learners"][1]["center"][0] = 0.99
    with pytest.raises(StateError, match="checksum does not match"):
        TuningInstance.loads(json.dumps(state))


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda s: s["learner"]["learners"][1].__setitem__("center", [7.0]), "'center' must lie in"),
        (lambda s: s["learner"]["learners"][1].__setitem__("center", [0.1, 0.2]), "'center' must be a list of 1"),
        (lambda s: s["learner"]["learners"][1].__setitem__("sign", 3), "'sign'"),
        (lambda s: s["learner"]["learners"][1]["normals"].__setitem__("block_start", {"bit_generator": "MT"}), "'rng'"),
        (lambda s: s["learner"]["learners"][1]["normals"].__setitem__("used", 10_000), "'used' must be at most"),
        (lambda s: s["learner"]["learners"][0]["exp3"][0].__setitem__("weights", [-1, 1]), "'weights'"),
        (lambda s: s["learner"]["learners"][0]["exp3"][0].__setitem__("played", 5), "'played'"),
        (lambda s: s["learner"].__setitem__("learners", []), "'learners'"),
        (lambda s: s["learner"].pop("learners"), "learners"),
        (lambda s: s["arguments"].__setitem__("numerical_algorithm", "nope"), "Unknown algorithm 'nope'"),
        (lambda s: s["parameters"][1].__setitem__("val", 5.0), "'val' must lie within"),
        (lambda s: s["loop"].__setitem__("iteration", -1), "non-negative"),
        (lambda s: s["loop"]["rounds"][0].__setitem__("prediction", {"x": 1}), "expected ['c', 'r']"),
        (lambda s: s["loop"]["rounds"][0]["requests"][0].__setitem__("reward", "high"), "reward"),
    ],
)
def test_resealed_but_inconsistent_state(edit, fragment: str) -> None:  # type: ignore[no-untyped-def]
    state = json.loads(make_tuner().dumps())
    edit(state)
    with pytest.raises(StateError) as info:
        TuningInstance.loads(resealed(state))
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda s: s.__setitem__("format", "pickle"), "Not an OPPerTune state"),
        (lambda s: s.__setitem__("version", 99), "Unsupported state version 99"),
        (lambda s: s.__setitem__("algorithm", "magic"), "Unknown algorithm 'magic'"),
    ],
)
def test_foreign_state(edit, fragment: str) -> None:  # type: ignore[no-untyped-def]
    state = json.loads(make_tuner().dumps())
    edit(state)
    with pytest.raises(StateError, match=fragment):
        TuningInstance.loads(resealed(state))


def test_not_an_object() -> None:
    with pytest.raises(StateError, match="must be a JSON object"):
        TuningInstance.loads("[1, 2]")


def test_loading_through_the_wrong_class() -> None:
    with pytest.raises(StateError, match="is of algorithm 'hybrid_solver', not 'bluefin'"):
        BlueFin.loads(make_tuner().dumps())
    assert isinstance(HybridSolver.loads(make_tuner().dumps()), HybridSolver)


def test_pickle_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"\x80\x04\x95cos\nsystem\n")
    with pytest.raises(StateError, match="not valid JSON"):
        TuningInstance.load(path)


def test_dump_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")
    tuner = make_tuner()
    tuner.dump(path)
    assert json.loads(path.read_text())["algorithm"] == "hybrid_solver"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_compress_flag_overrides_suffix(tmp_path: Path) -> None:
    path = tmp_path / "state.bin"
    make_tuner().dump(path, compress=True)
    assert json.loads(gzip.decompress(path.read_bytes()))["format"] == "oppertune.state"
