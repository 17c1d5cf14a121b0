"""Safety rails through the service, on SQLite and PostgreSQL: settings, decisions in history, steering."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from oppertune.service.storage import SCHEMA_VERSION, Storage

from .service_helpers import GUARDED, NUMERICAL


def play(client: TestClient, tuner: str, rewards: list[float]) -> list[dict]:
    served = []
    for reward in rewards:
        prediction = client.post(f"{tuner}/predict").json()
        served.append(prediction)
        assert client.post(f"{tuner}/set-reward", json={"reward": reward}).status_code == 200
    return served


def test_rails_decide_and_history_shows_it(client: TestClient) -> None:
    created = client.post("/v1/tuners", json=GUARDED)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["safety"] == GUARDED["safety"] and body["status"] == "exploring"
    tuner = f"/v1/tuners/{body['id']}"
    play(client, tuner, [1.0, 1.0, 1.0, -5.0, 1.0])
    history = client.get(f"{tuner}/history").json()["items"]
    served_by = [r["metadata"]["served_by"] for r in history]
    assert served_by[:3] == ["baseline", "baseline", "learner"]
    assert "regression" in [e["kind"] for e in client.get(f"{tuner}/events").json()["items"]]
    requests = client.post(f"{tuner}/predict").json()
    open_requests = client.get(f"{tuner}/requests").json()["items"]
    assert open_requests[0]["id"] == requests["request_id"] and open_requests[0]["metadata"]["served_by"]


def test_rounds_clamped_one_after_another_are_one_event_that_counts_them(client: TestClient) -> None:
    spec = {**GUARDED, "safety": {**GUARDED["safety"], "max_step_fraction": 0.001}}
    tuner = f"/v1/tuners/{client.post('/v1/tuners', json=spec).json()['id']}"
    play(client, tuner, [1.0] * 30)
    clamped = [r["round"] for r in client.get(f"{tuner}/history").json()["items"] if r["metadata"]["clamped"]]
    events = [e for e in client.get(f"{tuner}/events").json()["items"] if e["kind"] == "clamped"]
    assert sum(e["rounds"] for e in events) == len(clamped) > len(events)
    assert all(e["last_round"] >= e["round"] for e in events)


def test_freeze_resume_rollback(client: TestClient) -> None:
    tuner = f"/v1/tuners/{client.post('/v1/tuners', json=GUARDED).json()['id']}"
    play(client, tuner, [1.0, 1.0, 1.2, 1.1])
    frozen = client.post(f"{tuner}/freeze")
    assert frozen.status_code == 200, frozen.text
    incumbent = frozen.json()["configuration"]
    assert frozen.json()["status"] == "frozen" and client.get(tuner).json()["status"] == "frozen"
    assert all(p["prediction"] == incumbent for p in play(client, tuner, [1.0, 1.0, 1.0]))
    resumed = client.post(f"{tuner}/resume").json()
    assert resumed["status"] == "exploring" and resumed["exploration_scale"] <= 0.5
    rolled = client.post(f"{tuner}/rollback").json()
    assert (
        rolled["status"] == "rolled_back"
        and client.post(f"{tuner}/predict").json()["prediction"] == rolled["configuration"]
    )
    kinds = [e["kind"] for e in client.get(f"{tuner}/events").json()["items"]]
    assert {"freeze", "resume", "rollback"} <= set(kinds)


def test_steering_a_tuner_without_rails_is_a_conflict(client: TestClient) -> None:
    plain = client.post("/v1/tuners", json={**GUARDED, "safety": None}).json()
    answer = client.post(f"/v1/tuners/{plain['id']}/freeze")
    assert answer.status_code == 409 and answer.json()["code"] == "no_safety_rails"
    assert client.get(f"/v1/tuners/{plain['id']}/events").json() == {"items": []}
    assert client.post("/v1/tuners/nope/rollback").status_code == 404


def test_bad_safety_settings_are_422_naming_the_rule(client: TestClient) -> None:
    for safety, fragment in (
        ({"limits": {"x": {"min": -100}}}, "must satisfy"),
        ({"colour": "red"}, "Unknown safety setting(s) ['colour']"),
        ({"margin": -1}, "'margin' argument of Guarded must be a non-negative float"),
    ):
        answer = client.post("/v1/tuners", json={**GUARDED, "safety": safety})
        assert answer.status_code == 422 and fragment in answer.json()["detail"], answer.text
    assert client.get("/v1/tuners").json()["items"] == []


def test_a_version_1_database_is_migrated(database_url: str, storage: Storage) -> None:
    with storage.engine.begin() as conn:
        conn.execute(text("ALTER TABLE oppertune_tuners DROP COLUMN safety"))
        conn.execute(text("ALTER TABLE oppertune_tuners DROP COLUMN status"))
        conn.execute(text("ALTER TABLE oppertune_rounds DROP COLUMN metadata"))
        conn.execute(text("UPDATE oppertune_schema_version SET version = 1"))
    fresh = Storage(database_url)
    assert fresh.schema_version() == 1
    assert fresh.migrate() == SCHEMA_VERSION
    columns = {c["name"] for c in inspect(fresh.engine).get_columns("oppertune_tuners")}
    assert {"safety", "status"} <= columns
    fresh.close()


def test_remote_tuner_steers_the_rails(client: TestClient, api_key: str) -> None:
    from oppertune.service.client import RemoteTuner

    with RemoteTuner.create("http://testserver", api_key, "remote", NUMERICAL, "bluefin", {"random_seed": 2},
                            safety={"baseline_rounds": 1}, http_client=client) as tuner:  # fmt: skip
        _, request_id = tuner.predict()
        tuner.store_reward(request_id, 1.0)
        tuner.set_reward(1.0)
        assert tuner.freeze()["status"] == "frozen"
        assert tuner.resume()["status"] == "exploring"
        assert tuner.rollback()["configuration"] == {"x": 0.5}
        assert [e["kind"] for e in tuner.events()][:1] == ["baseline"]
