"""The HTTP contract (DESIGN §6) on SQLite and PostgreSQL: answers, errors, auth, limits, idempotency."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from oppertune.service.app import create_app
from oppertune.service.settings import Settings
from oppertune.service.storage import Storage

from .service_helpers import NUMERICAL, PARAMETERS

BLUEFIN = {"name": "t", "parameters": NUMERICAL, "algorithm": "bluefin", "algorithm_args": {"random_seed": 1}}


def create(client: TestClient, **body) -> dict:
    response = client.post("/v1/tuners", json={**BLUEFIN, **body})
    assert response.status_code == 201, response.text
    return response.json()


def state_of(storage: Storage, tuner_id: str, project: str = "alpha") -> tuple[int, str]:
    return storage.read_state(project, tuner_id)


def test_health_needs_no_key(client: TestClient) -> None:
    response = client.get("/v1/health", headers={"Authorization": ""})
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_tuner_lifecycle(client: TestClient) -> None:
    created = create(client, parameters=PARAMETERS, algorithm="hybrid_solver", algorithm_args={})
    assert created["iteration"] == 0 and created["algorithm"] == "hybrid_solver"
    assert [p["name"] for p in created["parameters"]] == ["mode", "workers", "ratio"]
    tuner = f"/v1/tuners/{created['id']}"
    assert client.get(tuner).json() == created
    first = client.post(f"{tuner}/predict", json={"context": None}).json()
    second = client.post(f"{tuner}/predict").json()
    assert first["prediction"] == second["prediction"] and first["request_id"] != second["request_id"]
    assert list(first["prediction"]) == ["mode", "workers", "ratio"]
    assert client.post(f"{tuner}/rewards", json={"request_id": first["request_id"], "reward": 0.5}).status_code == 204
    requests = client.get(f"{tuner}/requests").json()["items"]
    assert [(q["id"], q["reward"]) for q in requests] == [(first["request_id"], 0.5), (second["request_id"], None)]
    assert client.get(f"{tuner}/current-prediction").json() == {"prediction": first["prediction"]}
    assert client.post(f"{tuner}/set-reward", json={"reward": None, "context_id": ""}).json() == {"iteration": 1}
    assert client.get(f"{tuner}/current-prediction").json() == {"prediction": None}
    history = client.get(f"{tuner}/history").json()
    assert history["next_cursor"] is None
    (round_,) = history["items"]
    assert round_["round"] == 1 and round_["reward"] == 0.5 and round_["prediction"] == first["prediction"]
    assert round_["context_id"] == "" and round_["context"] == {} and round_["n_rewards"] == 1 and round_["at"]
    best = client.get(f"{tuner}/best", params={"context_id": ""}).json()
    assert best == {"prediction": first["prediction"], "reward": 0.5, "round": 1, "rounds": 1}
    assert client.get(tuner).json()["iteration"] == 1
    listed = client.get("/v1/tuners", params={"limit": 10}).json()
    assert [t["id"] for t in listed["items"]] == [created["id"]] and listed["next_cursor"] is None
    assert client.delete(tuner).status_code == 204
    assert client.get(tuner).status_code == 404
    assert client.delete(tuner).status_code == 404


def test_contexts_route_rounds_per_context(client: TestClient) -> None:
    features = [{"name": "jobtype", "values": ["batch", "web"]}]
    created = create(client, algorithm="autoscope", algorithm_args={"features": features, "height": 1})
    tuner = f"/v1/tuners/{created['id']}"
    web = client.post(f"{tuner}/predict", json={"context": {"jobtype": "web"}}).json()
    batch = client.post(f"{tuner}/predict", json={"context": {"jobtype": "batch"}}).json()
    requests = client.get(f"{tuner}/requests").json()["items"]
    context_ids = {q["context"]["jobtype"]: q["context_id"] for q in requests}
    assert client.get(f"{tuner}/current-prediction", params={"context_id": context_ids["web"]}).json() == {
        "prediction": web["prediction"]
    }
    response = client.post(f"{tuner}/set-reward", json={"reward": 1.0})
    assert response.status_code == 409 and "needs a context_id" in response.json()["detail"]
    assert client.post(f"{tuner}/set-reward", json={"reward": 1.0, "context_id": context_ids["batch"]}).json() == {
        "iteration": 1
    }
    best = client.get(f"{tuner}/best", params={"context_id": context_ids["batch"]}).json()
    assert best["prediction"] == batch["prediction"] and best["rounds"] == 1


def test_authentication_and_project_isolation(app, storage: Storage, client: TestClient, api_key: str) -> None:
    tuner_id = create(client)["id"]
    anonymous = TestClient(app)
    for headers, detail in (({}, "Missing API key"), ({"Authorization": "Bearer otk_wrong"}, "Invalid API key")):
        response = anonymous.get("/v1/tuners", headers=headers)
        assert response.status_code == 401 and detail in response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
    before = state_of(storage, tuner_id)
    assert anonymous.post(f"/v1/tuners/{tuner_id}/predict").status_code == 401
    beta = TestClient(app, headers={"Authorization": f"Bearer {storage.create_api_key('beta')}"})
    assert beta.get("/v1/tuners").json() == {"items": [], "next_cursor": None}
    for method, path in (("GET", ""), ("POST", "/predict"), ("GET", "/history"), ("DELETE", "")):
        response = beta.request(method, f"/v1/tuners/{tuner_id}{path}")
        assert response.status_code == 404 and response.json()["detail"] == "Tuner not found"
    assert state_of(storage, tuner_id) == before


def test_open_mode_without_keys(storage: Storage, database_url: str) -> None:
    app = create_app(Settings(db=database_url, sweep_interval=0), storage=storage)
    client = TestClient(app)
    created = client.post("/v1/tuners", json=BLUEFIN)
    assert created.status_code == 201
    assert storage.get_tuner("default", created.json()["id"])["name"] == "t"


def test_bad_input_is_a_4xx_naming_the_problem_and_changes_nothing(client: TestClient, storage: Storage) -> None:
    tuner_id = create(client)["id"]
    tuner = f"/v1/tuners/{tuner_id}"
    request_id = client.post(f"{tuner}/predict").json()["request_id"]
    before = state_of(storage, tuner_id)
    raw = {"Content-Type": "application/json"}
    empty_key = {"Idempotency-Key": ""}
    cases = [
        ("POST", f"{tuner}/rewards", {"content": b'{"request_id": "x", "reward": ', "headers": raw}, 400, "Malformed"),
        ("POST", f"{tuner}/rewards", {"json": {"request_id": request_id, "reward": "1"}}, 422, "'reward'"),
        ("POST", f"{tuner}/rewards", {"json": {"request_id": request_id}}, 422, "Field required"),
        ("POST", f"{tuner}/rewards", {"json": {"request_id": request_id, "reward": True}}, 422, "valid number"),
        (
            "POST",
            f"{tuner}/rewards",
            {"content": f'{{"request_id": "{request_id}", "reward": NaN}}'.encode(), "headers": raw},
            422,
            "finite",
        ),
        (
            "POST",
            f"{tuner}/set-reward",
            {"content": b'{"reward": -Infinity}', "headers": raw},
            422,
            "finite",
        ),
        ("POST", f"{tuner}/rewards", {"json": {"request_id": "zz-9", "reward": 1.0}}, 404, "Unknown request id"),
        ("POST", f"{tuner}/rewards", {"json": {"request_id": request_id, "reward": 1, "x": 1}}, 422, "Extra inputs"),
        ("POST", f"{tuner}/predict", {"json": {"context": {"load": 0.5}}}, 422, "takes no context"),
        ("POST", f"{tuner}/predict", {"json": {"context": {"load": [1]}}}, 422, "context feature"),
        ("POST", "/v1/tuners/nope/predict", {}, 404, "Tuner not found"),
        ("GET", "/v1/tuners", {"params": {"limit": 0}}, 422, "query parameter 'limit'"),
        ("GET", "/v1/tuners", {"params": {"cursor": "x"}}, 422, "Invalid cursor"),
        ("POST", f"{tuner}/predict", {"content": b"{" * (2 << 20), "headers": raw}, 413, "too large"),
        (
            "POST",
            f"{tuner}/rewards",
            {"json": {"request_id": request_id, "reward": 1}, "headers": empty_key},
            422,
            "Idem",
        ),
    ]
    for method, path, kwargs, status, detail in cases:
        response = client.request(method, path, **kwargs)
        assert response.status_code == status, (path, kwargs, response.text)
        body = response.json()
        assert detail in body["detail"] and body["code"], (detail, body)
        assert state_of(storage, tuner_id) == before
    assert client.post(f"{tuner}/set-reward", json={"reward": 0.5}).json() == {"iteration": 1}
    response = client.post(f"{tuner}/rewards", json={"request_id": request_id, "reward": 1.0})
    assert response.status_code == 409 and response.json()["code"] == "round_closed"
    response = client.post(f"{tuner}/set-reward", json={"reward": 0.5})
    assert response.status_code == 409 and "no outstanding prediction" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"parameters": [{"type": "real", "name": "x", "val": 2, "min": 0, "max": 1}]}, "Parameter 'x': 'val'"),
        ({"parameters": [{"type": "bogus", "name": "x"}]}, "Parameter 'x': 'type' must be one of"),
        ({"parameters": [{"type": "integer", "name": "n", "val": "3", "min": 0, "max": 9}]}, "Parameter 'n'"),
        ({"parameters": []}, "at least 1 item"),
        ({"algorithm": "nope"}, "Unknown algorithm 'nope'; known algorithms:"),
        ({"algorithm_args": {"eta": -1.0}}, "eta"),
        ({"algorithm_args": {"bogus": 1}}, "Unknown argument(s) ['bogus']"),
        ({"algorithm_args": {"eta": float("nan")}}, "finite"),
        ({"aggregation": {"statistic": "mean"}}, "after_rewards"),
        ({"aggregation": {"after_rewards": 0}}, "greater than or equal to 1"),
        ({"safety": {"max_step": 1}}, "'max_step' argument of Guarded must be a dict"),
        ({"name": ""}, "at least 1 character"),
    ],
)
def test_invalid_tuner_specs_reach_the_client(client: TestClient, body: dict, detail: str) -> None:
    content = json.dumps({**BLUEFIN, **body}).encode()  # json.dumps writes NaN, as a Python client may
    response = client.post("/v1/tuners", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]
    assert client.get("/v1/tuners").json()["items"] == []


def test_idempotency_header(client: TestClient, storage: Storage) -> None:
    tuner_id = create(client)["id"]
    tuner = f"/v1/tuners/{tuner_id}"
    first = client.post(f"{tuner}/predict", headers={"Idempotency-Key": "p1"}).json()
    version = state_of(storage, tuner_id)[0]
    assert client.post(f"{tuner}/predict", headers={"Idempotency-Key": "p1"}).json() == first
    assert state_of(storage, tuner_id)[0] == version
    for _ in range(2):
        response = client.post(f"{tuner}/set-reward", json={"reward": 1.0}, headers={"Idempotency-Key": "s1"})
        assert response.json() == {"iteration": 1}
    response = client.post(f"{tuner}/set-reward", json={"reward": 2.0}, headers={"Idempotency-Key": "s1"})
    assert response.status_code == 422 and response.json()["code"] == "idempotency_conflict"
    assert client.get(tuner).json()["iteration"] == 1
    created = [client.post("/v1/tuners", json=BLUEFIN, headers={"Idempotency-Key": "c1"}).json() for _ in range(2)]
    assert created[0]["id"] == created[1]["id"]


def test_aggregation_policy_over_http(client: TestClient) -> None:
    created = create(client, aggregation={"after_rewards": 3, "statistic": "median"})
    assert created["aggregation"] == {"after_rewards": 3, "after_seconds": None, "statistic": "median"}
    tuner = f"/v1/tuners/{created['id']}"
    for i, reward in enumerate((1.0, 9.0, 2.0, 4.0)):
        request_id = client.post(f"{tuner}/predict").json()["request_id"]
        client.post(f"{tuner}/rewards", json={"request_id": request_id, "reward": reward})
        assert client.get(tuner).json()["iteration"] == (1 if i >= 2 else 0)
    assert [r["reward"] for r in client.get(f"{tuner}/history").json()["items"]] == [2.0]


def test_openapi_documents_every_error_answer(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operations = {(m.upper(), p): op for p, item in document["paths"].items() for m, op in item.items()}
    must = {
        ("POST", "/v1/tuners"): {"201", "400", "401", "413", "422", "503"},
        ("GET", "/v1/tuners"): {"200", "401", "422", "503"},
        ("GET", "/v1/tuners/{tuner_id}"): {"200", "401", "404", "422", "503"},
        ("DELETE", "/v1/tuners/{tuner_id}"): {"204", "401", "404", "422", "503"},
        ("POST", "/v1/tuners/{tuner_id}/predict"): {"200", "400", "401", "404", "409", "413", "422", "503"},
        ("POST", "/v1/tuners/{tuner_id}/rewards"): {"204", "400", "401", "404", "409", "413", "422", "503"},
        ("POST", "/v1/tuners/{tuner_id}/set-reward"): {"200", "400", "401", "404", "409", "413", "422", "503"},
        ("GET", "/v1/tuners/{tuner_id}/history"): {"200", "401", "404", "422", "503"},
        ("GET", "/v1/tuners/{tuner_id}/best"): {"200", "401", "404", "422", "503"},
        ("GET", "/v1/health"): {"200", "503"},
    }
    for operation, codes in must.items():
        assert codes <= set(operations[operation]["responses"]), operation
    error = document["components"]["schemas"]["ErrorPublic"]
    assert set(error["required"]) == {"detail", "code"}
    assert "security" not in operations[("GET", "/v1/health")]
    assert operations[("GET", "/v1/tuners")]["security"] == [{"HTTPBearer": []}]


def test_fast_path_and_routes_answer_alike(storage: Storage, database_url: str, api_key: str, monkeypatch) -> None:
    app = create_app(Settings(db=database_url, sweep_interval=0), storage=storage)
    client = TestClient(app, headers={"Authorization": f"Bearer {api_key}"})
    tuner_id = client.post("/v1/tuners", json=BLUEFIN).json()["id"]  # verifies the key: later calls take the fast path
    tuner = f"/v1/tuners/{tuner_id}"
    cold = TestClient(create_app(Settings(db=database_url, sweep_interval=0), storage=storage),
                      headers={"Authorization": f"Bearer {api_key}"})  # fmt: skip
    first = cold.post(f"{tuner}/predict", json={}, headers={"Idempotency-Key": "k"})  # route (key not yet cached)
    again = client.post(f"{tuner}/predict", json={}, headers={"Idempotency-Key": "k"})  # fast path
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert again.headers["content-type"] == "application/json"
    bad = client.post(f"{tuner}/rewards", json={"request_id": first.json()["request_id"], "reward": "x"})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"  # the route answers what it refuses
    missing = client.post(f"{tuner}/set-reward", json={"reward": 1.0, "context_id": "nope"})
    assert missing.status_code == 409 and missing.json()["code"] == "no_pending_prediction"
    assert (
        client.post(f"{tuner}/rewards", json={"request_id": first.json()["request_id"], "reward": 1}).status_code == 204
    )

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Storage, "set_reward", broken)
    response = client.post(f"{tuner}/set-reward", json={"reward": 1.0})
    assert response.status_code == 500 and response.json() == {"detail": "Internal server error.", "code": "internal"}
