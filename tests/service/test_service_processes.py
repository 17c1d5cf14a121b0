"""Real server processes on loopback ports: many clients through two servers, and a SIGKILL under load."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from oppertune.core.errors import NoPendingPredictionError, RoundClosedError
from oppertune.service.client import RemoteTuner
from oppertune.service.storage import Storage

from .service_helpers import PARAMETERS, ServerProcess

CLIENTS = 8
ROUNDS = 500


def make_key(url: str) -> str:
    storage = Storage(url)
    try:
        storage.migrate()
        return storage.create_api_key("load")
    finally:
        storage.close()


def one_round(tuner: RemoteTuner, reward: float, store: bool = True) -> bool:
    """predict (+ store_reward) + set_reward; False when another client closed the round first."""
    _, request_id = tuner.predict()
    try:
        if store:
            tuner.store_reward(request_id, reward)
        tuner.set_reward(reward)
    except (NoPendingPredictionError, RoundClosedError):
        return False
    return True


def test_clients_through_two_servers_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    key = make_key(pg_url)
    servers = [ServerProcess(pg_url, log=tmp_path / f"server{i}.log").start() for i in range(2)]
    try:
        tuner_id = RemoteTuner.create(servers[0].url, key, "load", PARAMETERS).tuner_id

        def client(worker: int) -> list[float]:
            acked = []
            with RemoteTuner(servers[worker % 2].url, tuner_id, key) as tuner:
                for i in range(ROUNDS):
                    reward = worker * 1000 + i  # unique, so every acknowledged reward can be found
                    if one_round(tuner, float(reward), store=i % 4 == 0):
                        acked.append(float(reward))
            return acked

        with ThreadPoolExecutor(CLIENTS) as pool:
            acked = [r for rewards in pool.map(client, range(CLIENTS)) for r in rewards]
        tuner = RemoteTuner(servers[1].url, tuner_id, key)
        rounds = list(tuner.rounds())
        assert tuner.iteration == len(acked) > ROUNDS
        assert [r["round"] for r in rounds] == list(range(1, len(acked) + 1))
        assert sorted(r["reward"] for r in rounds) == sorted(acked)
    finally:
        for server in servers:
            server.stop()


def test_sigkill_under_load_loses_no_acknowledged_reward(database_url: str, tmp_path: Path) -> None:
    key = make_key(database_url)
    log = tmp_path / "server.log"
    server = ServerProcess(database_url, log=log).start()
    options = {"retries": 100, "backoff": 0.02, "max_backoff": 0.2, "timeout": 5.0}
    try:
        tuner_id = RemoteTuner.create(server.url, key, "crash", PARAMETERS, **options).tuner_id
        stop = threading.Event()
        progress = [0] * 4

        def client(worker: int) -> list[float]:
            acked, i = [], 0
            with RemoteTuner(server.url, tuner_id, key, **options) as tuner:
                while not stop.is_set():
                    reward = float(worker * 100_000 + i)
                    i += 1
                    if one_round(tuner, reward):
                        acked.append(reward)
                    progress[worker] += 1
            return acked

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(client, w) for w in range(4)]
            deadline = time.monotonic() + 20
            while min(progress) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            server.kill()
            killed_at = list(progress)
            server = ServerProcess(database_url, port=server.port, log=log).start()
            while min(p - k for p, k in zip(progress, killed_at)) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            acked = [r for f in futures for r in f.result()]
        tuner = RemoteTuner(server.url, tuner_id, key)
        rounds = list(tuner.rounds())
        assert tuner.iteration == len(acked)
        assert sorted(r["reward"] for r in rounds) == sorted(acked)
        assert one_round(tuner, -1.0)  # and it goes on
        assert tuner.iteration == len(acked) + 1
    finally:
        server.stop()


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_serve_refuses_a_public_address_without_keys(host: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from oppertune.cli import app

    result = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--host", host])
    assert result.exit_code == 2
    assert "Refusing to serve" in result.output and "--insecure" in result.output


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from oppertune.cli import app

    db = f"sqlite:///{tmp_path / 'keys.db'}"
    result = CliRunner().invoke(app, ["keys", "create", "--project", "alpha", "--db", db])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("otk_")
    storage = Storage(db)
    try:
        assert storage.project_of_key(key) == "alpha"
        with storage.engine.connect() as conn:
            dump = "\n".join(conn.connection.driver_connection.iterdump())
        assert key not in dump
    finally:
        storage.close()
    bad = CliRunner().invoke(app, ["keys", "create", "--project", "two words", "--db", db])
    assert bad.exit_code == 2 and "project name" in bad.output


def test_serve_with_keys_may_listen_on_any_address(tmp_path: Path) -> None:
    from oppertune.service.commands import UsageError, _check_exposure
    from oppertune.service.settings import Settings, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("127.9.9.9") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.org")
    _check_exposure(Settings(host="0.0.0.0"), has_keys=True)
    _check_exposure(Settings(host="0.0.0.0", insecure=True), has_keys=False)
    _check_exposure(Settings(host="127.0.0.1"), has_keys=False)
    with pytest.raises(UsageError, match="Refusing"):
        _check_exposure(Settings(host="0.0.0.0"), has_keys=False)


def test_settings_from_flags_and_environment_never_show_a_password(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from oppertune.cli import app
    from oppertune.service.settings import Settings

    environ = {"OPPERTUNE_DB": "sqlite:///env.db", "OPPERTUNE_PORT": "9000", "OPPERTUNE_INSECURE": "yes"}
    settings = Settings.from_env(environ, port=None, host="127.0.0.2")
    assert (settings.db, settings.port, settings.insecure, settings.host) == (
        "sqlite:///env.db",
        9000,
        True,
        "127.0.0.2",
    )
    with pytest.raises(ValueError, match="OPPERTUNE_PORT"):
        Settings.from_env({"OPPERTUNE_PORT": "eighty"})
    result = CliRunner().invoke(app, ["serve", "--db", "postgresql://user:hunter2@127.0.0.1:1/x"])
    assert result.exit_code == 2 and "Cannot use the database" in result.output
    assert "hunter2" not in result.output and "***" in result.output
