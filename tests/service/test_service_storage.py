"""Storage contract, on SQLite and PostgreSQL: transactions, version-checked cache, idempotency, policies."""

from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import select, text, update

from oppertune.algorithms import create_tuning_instance
from oppertune.service.aggregation import Policy
from oppertune.service.errors import (
    IdempotencyConflictError,
    InvalidInputError,
    InvalidTypeError,
    NoOpenRoundError,
    RequestNotFoundError,
    RoundAlreadyClosedError,
    ServiceUnavailableError,
    TunerNotFoundError,
)
from oppertune.service.storage import SCHEMA_VERSION, Idempotency, Storage, api_keys, hash_key, schema_version

from .service_helpers import NUMERICAL, PARAMETERS

SEEDED = {"random_seed": 7, "feedback": 2, "eta": 0.05, "delta": 0.1}


def new_tuner(storage: Storage, project: str = "alpha", **kwargs) -> str:
    args = {"parameters": NUMERICAL, "algorithm": "bluefin", "algorithm_args": SEEDED, **kwargs}
    return storage.create_tuner(project, "t", args["parameters"], args["algorithm"], args["algorithm_args"],
                                args.get("aggregation"))["id"]  # fmt: skip


def test_migrate_creates_the_schema_once_and_refuses_a_newer_one(storage: Storage) -> None:
    assert storage.schema_version() == SCHEMA_VERSION
    assert storage.migrate() == SCHEMA_VERSION  # again: nothing to do
    with storage.engine.begin() as conn:
        conn.execute(update(schema_version).values(version=SCHEMA_VERSION + 1))
    try:
        with pytest.raises(RuntimeError, match="newer than this release"):
            storage.migrate()
    finally:
        with storage.engine.begin() as conn:
            conn.execute(update(schema_version).values(version=SCHEMA_VERSION))


def test_fresh_database_has_no_schema_until_migrated(database_url: str) -> None:
    store = Storage(database_url)
    try:
        if store.backend == "sqlite":
            assert store.schema_version() is None
        store.migrate()
        assert store.schema_version() == SCHEMA_VERSION
    finally:
        store.close()


def test_api_keys_are_stored_hashed(storage: Storage) -> None:
    key = storage.create_api_key("alpha", label="ci")
    assert key.startswith("otk_") and len(key) > 40
    with storage.engine.connect() as conn:
        stored = conn.execute(select(api_keys.c.key_hash, api_keys.c.project)).all()
    assert [tuple(r) for r in stored] == [(hash_key(key), "alpha")]
    assert key not in str(stored)
    assert storage.project_of_key(key) == "alpha"
    assert storage.project_of_key(key + "x") is None
    with pytest.raises(ValueError, match="project name"):
        storage.create_api_key("no spaces allowed")


def test_remote_run_equals_local_run_across_processes(database_url: str, storage: Storage) -> None:
    """Two storages (as two server processes) alternate on one tuner; it learns exactly as a local tuner."""
    other = Storage(database_url)
    try:
        tuner_id = new_tuner(storage)
        local = create_tuning_instance(NUMERICAL, "bluefin", SEEDED)
        for i in range(12):
            a, b = (storage, other) if i % 2 else (other, storage)
            remote = a.predict("alpha", tuner_id)
            expected = local.predict()
            assert remote["prediction"] == expected.prediction
            reward = remote["prediction"]["x"] * (1 - remote["prediction"]["x"])
            b.store_reward("alpha", tuner_id, remote["request_id"], reward)
            local.store_reward(expected.request_id, reward)
            assert a.set_reward("alpha", tuner_id, None) == {"iteration": i + 1}
            local.set_reward()
        assert storage.get_tuner("alpha", tuner_id)["iteration"] == 12
    finally:
        other.close()


def test_invalid_spec_stores_nothing_and_keeps_the_library_message(storage: Storage) -> None:
    bad = [{"type": "real", "name": "x", "val": 2.0, "min": 0.0, "max": 1.0}]
    with pytest.raises(InvalidInputError, match=r"Parameter 'x': 'val' must lie within"):
        storage.create_tuner("alpha", "t", bad, "bluefin", {})
    with pytest.raises(InvalidInputError, match="Unknown algorithm 'nope'"):
        storage.create_tuner("alpha", "t", NUMERICAL, "nope", {})
    with pytest.raises(InvalidTypeError, match="Unknown argument"):
        storage.create_tuner("alpha", "t", NUMERICAL, "bluefin", {"bogus": 1})
    assert storage.list_tuners("alpha") == ([], None)


def test_failed_calls_change_nothing(storage: Storage) -> None:
    tuner_id = new_tuner(storage)
    before = storage.read_state("alpha", tuner_id)
    with pytest.raises(NoOpenRoundError):
        storage.set_reward("alpha", tuner_id, 1.0)
    with pytest.raises(RequestNotFoundError):
        storage.store_reward("alpha", tuner_id, "nope-1", 1.0)
    assert storage.read_state("alpha", tuner_id) == before
    request_id = storage.predict("alpha", tuner_id)["request_id"]
    before = storage.read_state("alpha", tuner_id)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(InvalidInputError, match="finite"):
            storage.store_reward("alpha", tuner_id, request_id, bad)
        with pytest.raises(InvalidInputError, match="finite"):
            storage.set_reward("alpha", tuner_id, bad)
    with pytest.raises(InvalidInputError, match="no reward was stored"):
        storage.set_reward("alpha", tuner_id, None)
    with pytest.raises(InvalidInputError, match="takes no context"):
        storage.predict("alpha", tuner_id, {"load": 1})
    assert storage.read_state("alpha", tuner_id) == before
    storage.set_reward("alpha", tuner_id, 0.5)
    with pytest.raises(RoundAlreadyClosedError):
        storage.store_reward("alpha", tuner_id, request_id, 0.5)
    assert storage.get_tuner("alpha", tuner_id)["iteration"] == 1


def test_a_failed_change_does_not_poison_the_cache(storage: Storage) -> None:
    tuner_id = new_tuner(storage)
    local = create_tuning_instance(NUMERICAL, "bluefin", SEEDED)
    storage.predict("alpha", tuner_id)
    local.predict()

    def explode(change) -> None:
        change.instance.set_reward(0.9)  # mutates the cached object, then the transaction fails
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        storage._change("alpha", tuner_id, None, explode)
    storage.set_reward("alpha", tuner_id, 0.1)
    local.set_reward(0.1)
    assert storage.predict("alpha", tuner_id)["prediction"] == local.predict().prediction


def test_idempotency_key_replays_the_first_answer(storage: Storage) -> None:
    tuner_id = new_tuner(storage)
    key = Idempotency.of("k1", "predict", {})
    first = storage.predict("alpha", tuner_id, idempotency_key=key)
    version = storage.read_state("alpha", tuner_id)[0]
    assert storage.predict("alpha", tuner_id, idempotency_key=key) == first
    assert storage.read_state("alpha", tuner_id)[0] == version
    done = Idempotency.of("k2", "set-reward", {"reward": 1.0})
    assert storage.set_reward("alpha", tuner_id, 1.0, idempotency_key=done) == {"iteration": 1}
    assert storage.set_reward("alpha", tuner_id, 1.0, idempotency_key=done) == {"iteration": 1}
    with pytest.raises(IdempotencyConflictError):
        storage.set_reward("alpha", tuner_id, 2.0, idempotency_key=Idempotency.of("k2", "set-reward", {"reward": 2}))
    created = Idempotency.of("c1", "create", {"name": "t"})
    one = storage.create_tuner("alpha", "t", NUMERICAL, "bluefin", {}, idempotency_key=created)
    two = storage.create_tuner("alpha", "t", NUMERICAL, "bluefin", {}, idempotency_key=created)
    assert one["id"] == two["id"]
    assert len(storage.list_tuners("alpha")[0]) == 2


def test_projects_are_isolated_and_delete_removes_everything(storage: Storage) -> None:
    tuner_id = new_tuner(storage, "alpha")
    storage.predict("alpha", tuner_id)
    storage.set_reward("alpha", tuner_id, 1.0)
    for call in (
        lambda: storage.get_tuner("beta", tuner_id),
        lambda: storage.predict("beta", tuner_id),
        lambda: storage.history("beta", tuner_id),
        lambda: storage.delete_tuner("beta", tuner_id),
    ):
        with pytest.raises(TunerNotFoundError):
            call()
    assert storage.list_tuners("beta") == ([], None)
    storage.delete_tuner("alpha", tuner_id)
    with pytest.raises(TunerNotFoundError):
        storage.history("alpha", tuner_id)
    with pytest.raises(TunerNotFoundError):
        storage.predict("alpha", tuner_id)


def test_listing_and_history_pages(storage: Storage) -> None:
    ids = [new_tuner(storage) for _ in range(5)]
    seen, cursor = [], None
    while True:
        items, cursor = storage.list_tuners("alpha", limit=2, cursor=cursor)
        seen += [t["id"] for t in items]
        if cursor is None:
            break
    assert seen == ids
    with pytest.raises(InvalidInputError, match="cursor"):
        storage.list_tuners("alpha", cursor="abc")
    for i in range(7):
        storage.predict("alpha", ids[0])
        storage.set_reward("alpha", ids[0], float(i % 3))
    rounds, after = [], 0
    while after is not None:
        items, after = storage.history("alpha", ids[0], after, 3)
        rounds += items
    assert [r["round"] for r in rounds] == list(range(1, 8))
    assert [r["reward"] for r in rounds] == [float(i % 3) for i in range(7)]
    best = storage.best("alpha", ids[0])
    assert best["reward"] == 2.0 and best["round"] == 3 and best["rounds"] == 7
    assert best["prediction"] == rounds[2]["prediction"]
    assert storage.best("alpha", ids[1]) == {"prediction": None, "reward": None, "round": None, "rounds": 0}


@pytest.mark.parametrize(("statistic", "expected"), [("mean", 2.0), ("median", 1.5), ("min", 0.5)])
def test_policy_after_n_rewards(storage: Storage, statistic: str, expected: float) -> None:
    tuner_id = new_tuner(storage, aggregation=Policy(after_rewards=4, statistic=statistic))
    requests = [storage.predict("alpha", tuner_id)["request_id"] for _ in range(4)]
    for request_id, reward in zip(requests[:3], (0.5, 1.0, 2.0)):
        storage.store_reward("alpha", tuner_id, request_id, reward)
    assert storage.get_tuner("alpha", tuner_id)["iteration"] == 0
    storage.store_reward("alpha", tuner_id, requests[3], 4.5 if statistic == "mean" else 3.0)
    assert storage.get_tuner("alpha", tuner_id)["iteration"] == 1
    (round_,), _ = storage.history("alpha", tuner_id)
    assert round_["reward"] == expected and round_["n_rewards"] == 4


def test_policy_after_seconds_without_a_background_thread(storage: Storage, clock) -> None:
    tuner_id = new_tuner(storage, aggregation=Policy(after_seconds=30, statistic="mean"))
    first = storage.predict("alpha", tuner_id)
    clock.advance(60)
    assert storage.predict("alpha", tuner_id)["prediction"] == first["prediction"]  # no reward yet: stays open
    storage.store_reward("alpha", tuner_id, first["request_id"], 0.25)  # overdue with a reward: closes now
    assert storage.get_tuner("alpha", tuner_id)["iteration"] == 1
    second = storage.predict("alpha", tuner_id)
    storage.store_reward("alpha", tuner_id, second["request_id"], 0.75)
    clock.advance(29)
    storage.predict("alpha", tuner_id)
    assert storage.get_tuner("alpha", tuner_id)["iteration"] == 1
    clock.advance(1)
    storage.predict("alpha", tuner_id)  # any call closes the due round first, then predicts a new one
    assert storage.get_tuner("alpha", tuner_id)["iteration"] == 2
    third = storage.predict("alpha", tuner_id)
    storage.store_reward("alpha", tuner_id, third["request_id"], 1.0)
    assert storage.sweep() == 0  # not due yet
    clock.advance(31)
    assert storage.sweep() == 1  # the sweeper closes it on an idle tuner
    assert storage.get_tuner("alpha", tuner_id)["iteration"] == 3
    assert [r["reward"] for r in storage.history("alpha", tuner_id)[0]] == [0.25, 0.75, 1.0]


def test_concurrent_writers_on_one_tuner_are_serialised(database_url: str, storage: Storage) -> None:
    other = Storage(database_url)
    tuner_id = new_tuner(storage, parameters=PARAMETERS, algorithm="hybrid_solver", algorithm_args={})
    acked: list[float] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        store = storage if worker % 2 else other
        for i in range(25):
            response = store.predict("alpha", tuner_id)
            reward = worker + i / 100
            try:
                store.store_reward("alpha", tuner_id, response["request_id"], reward)
                store.set_reward("alpha", tuner_id, reward)
            except (NoOpenRoundError, RoundAlreadyClosedError):
                continue
            with lock:
                acked.append(reward)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    history, _ = storage.history("alpha", tuner_id, limit=1000)
    assert storage.get_tuner("alpha", tuner_id)["iteration"] == len(acked) == len(history)
    assert sorted(r["reward"] for r in history) == sorted(acked)


def test_lost_database_connections_answer_unavailable_then_recover(pg_url: str) -> None:
    """Connections the server drops mid-load: the call is refused as retryable, nothing half-done, then it works."""
    store = Storage(pg_url, pool_size=2)
    store.migrate()
    try:
        tuner_id = new_tuner(store)
        for _ in range(3):  # the tuner cached with its row: the next change takes the optimistic path
            store.predict("alpha", tuner_id)
            store.set_reward("alpha", tuner_id, 0.5)
        admin = Storage(pg_url)
        with admin.engine.begin() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        admin.close()
        with pytest.raises(ServiceUnavailableError):
            store.predict("alpha", tuner_id)
        for _ in range(4):  # the broken connections leave the pool
            with contextlib.suppress(ServiceUnavailableError):
                store.predict("alpha", tuner_id)
        assert store.set_reward("alpha", tuner_id, 0.5) == {"iteration": 4}
        assert len(store.history("alpha", tuner_id)[0]) == 4
    finally:
        store.close()
