"""The dashboard's endpoints and storage, on SQLite and PostgreSQL: list, overview, cached history, migration, files."""

from __future__ import annotations

import typing

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from oppertune import charts
from oppertune.service.app import SortKey, create_app
from oppertune.service.dashboard import Overviews
from oppertune.service.settings import Settings
from oppertune.service.storage import SCHEMA_VERSION, SUMMARY_SORTS, Storage

from .service_helpers import GUARDED, NUMERICAL, PARAMETERS

AUTOSCOPE = {
    "name": "scoped",
    "parameters": NUMERICAL,
    "algorithm": "autoscope",
    "algorithm_args": {"features": [{"name": "job", "values": ["a", "b", "c", "d"]}], "height": 2, "random_seed": 3},
}


def play(client: TestClient, tuner: str, rewards: list[float], context: dict | None = None) -> None:
    for reward in rewards:
        predicted = client.post(f"{tuner}/predict", json={"context": context})
        assert predicted.status_code == 200, predicted.text
        cid = client.get(f"{tuner}/requests").json()["items"][-1]["context_id"]
        answer = client.post(f"{tuner}/set-reward", json={"reward": reward, "context_id": cid})
        assert answer.status_code == 200, answer.text


def create(client: TestClient, **body) -> str:
    answer = client.post("/v1/tuners", json={**GUARDED, **body})
    assert answer.status_code == 201, answer.text
    return f"/v1/tuners/{answer.json()['id']}"


def test_last_and_best_reward_are_kept_with_each_round(client: TestClient) -> None:
    tuner = create(client)
    summary = client.get(tuner).json()
    assert summary["last_reward"] is None and summary["best_reward"] is None
    play(client, tuner, [1.0, 3.0, 2.0])
    summary = client.get(tuner).json()
    assert (summary["last_reward"], summary["best_reward"]) == (2.0, 3.0)
    client.post(f"{tuner}/predict")
    client.post(f"{tuner}/freeze")  # a change that closes no round keeps them
    summary = client.get(tuner).json()
    assert (summary["last_reward"], summary["best_reward"], summary["status"]) == (2.0, 3.0, "frozen")
    play(client, tuner, [-1.0])
    assert client.get(tuner).json()["last_reward"] == -1.0 and client.get(tuner).json()["best_reward"] == 3.0


def test_the_list_sorts_filters_and_pages_in_one_query(client: TestClient) -> None:
    ids = {}
    for name, rewards in (("alpha", [1.0]), ("beta_1", [5.0, 2.0]), ("gamma%", []), ("betatwo", [3.0])):
        ids[name] = create(client, name=name)
        play(client, ids[name], rewards)
    client.post(f"{ids['gamma%']}/freeze")

    def names(**query) -> list[str]:
        answer = client.get("/v1/dashboard/tuners", params=query)
        assert answer.status_code == 200, answer.text
        return [t["name"] for t in answer.json()["items"]]

    assert names(sort="name", order="asc") == ["alpha", "beta_1", "betatwo", "gamma%"]
    assert names(sort="name", order="desc") == ["gamma%", "betatwo", "beta_1", "alpha"]
    assert names(sort="best_reward", order="desc") == ["beta_1", "betatwo", "alpha", "gamma%"]  # missing: last
    assert names(sort="best_reward", order="asc") == ["alpha", "betatwo", "beta_1", "gamma%"]
    assert names(sort="last_reward", order="desc")[:3] == ["betatwo", "beta_1", "alpha"]
    assert names(sort="iteration", order="desc")[0] == "beta_1"
    assert names(sort="status", order="desc")[0] == "gamma%"
    assert sorted(names(q="BETA")) == ["beta_1", "betatwo"]  # case-insensitive
    assert names(q="_") == ["beta_1"] and names(q="%") == ["gamma%"]  # LIKE wildcards are plain text
    assert names(status="frozen") == ["gamma%"]
    assert set(names(status="exploring")) == {"alpha", "beta_1", "betatwo"}
    page = client.get("/v1/dashboard/tuners", params={"sort": "name", "limit": 3, "offset": 3}).json()
    assert page["total"] == 4 and len(page["items"]) == 1
    assert page["counts"] == {"exploring": 3, "frozen": 1, "rolled_back": 0}
    beyond = client.get("/v1/dashboard/tuners", params={"offset": 10}).json()
    assert beyond["items"] == [] and beyond["total"] == 4
    row = client.get("/v1/dashboard/tuners", params={"q": "alpha"}).json()["items"][0]
    assert row["rails"] is True and row["iteration"] == 1 and row["last_reward"] == row["best_reward"] == 1.0


def test_the_list_validates_its_query_and_needs_the_key(client: TestClient, storage: Storage) -> None:
    assert typing.get_args(SortKey) == SUMMARY_SORTS
    for query in ({"sort": "state"}, {"order": "up"}, {"status": "melting"}, {"limit": 0}, {"offset": -1},
                  {"q": "x" * 201}, {"q": "a\x00b"}):  # fmt: skip
        answer = client.get("/v1/dashboard/tuners", params=query)
        assert answer.status_code == 422 and answer.json()["code"] == "validation_error", (query, answer.text)
    assert client.get("/v1/dashboard/tuners", headers={"Authorization": ""}).status_code == 401
    other = storage.create_api_key("beta")
    create(client, name="mine")
    theirs = client.get("/v1/dashboard/tuners", headers={"Authorization": f"Bearer {other}"}).json()
    assert theirs["items"] == [] and theirs["total"] == 0


def test_the_overview_has_everything_the_tuner_page_shows(client: TestClient) -> None:
    tuner = create(client)
    rewards = [1.0, 1.0, 1.2, 1.1, -5.0] + [1.0 + 0.01 * i for i in range(40)]
    play(client, tuner, rewards)
    client.post(f"{tuner}/predict")
    overview = client.get(f"/v1/dashboard/tuners/{tuner.rsplit('/', 1)[1]}", params={"points": 10})
    assert overview.status_code == 200, overview.text
    body = overview.json()
    chart = body["charts"]
    assert chart["rounds"] == len(rewards) and chart["points"] == 10 and chart["downsampled"]
    assert chart["x"][0] == 1 and len(chart["reward"]["mean"]) == len(chart["best"]) == 10
    assert chart["reward"]["min"][0] <= chart["reward"]["mean"][0] <= chart["reward"]["max"][0]
    assert min(chart["reward"]["min"]) == -5.0 and chart["best"][-1] == max(rewards)
    assert chart["baseline"] == [{"round": 3, "value": 1.0}] and chart["threshold"][0]["value"] == 0.5
    assert "regression" in [e["kind"] for e in chart["events"]]
    assert chart["parameters"][0]["name"] == "x" and len(chart["parameters"][0]["mean"]) == 10
    assert sum(share[0] for share in chart["served_by"]["shares"]) == pytest.approx(1.0)
    assert body["tuner"]["iteration"] == len(rewards) and body["tuner"]["best_reward"] == max(rewards)
    events = body["rails"]["events"]
    assert body["rails"]["status"] == "exploring" and events[0]["round"] >= events[-1]["round"]  # newest first
    assert [r["round"] for r in body["recent"]] == list(range(len(rewards), len(rewards) - 20, -1))
    assert len(body["requests"]) == 1 and body["requests"][0]["reward"] is None
    assert body["contexts"]["total"] == 1 and body["contexts"]["items"][0]["best_reward"] == max(rewards)
    assert body["routing"] is None
    assert client.get(f"/v1/dashboard/tuners/{tuner.rsplit('/', 1)[1]}", params={"points": 9}).status_code == 422
    assert client.get("/v1/dashboard/tuners/nope").status_code == 404


def test_the_cached_history_grows_with_new_rounds_and_matches_a_fresh_read(
    client: TestClient, storage: Storage, database_url: str
) -> None:
    tuner = create(client, parameters=PARAMETERS, algorithm="hybrid_solver")
    tuner_id = tuner.rsplit("/", 1)[1]
    play(client, tuner, [0.5, 0.7, 0.6])
    first = client.get(f"/v1/dashboard/tuners/{tuner_id}").json()
    play(client, tuner, [0.9, 0.2])
    second = client.get(f"/v1/dashboard/tuners/{tuner_id}").json()
    assert second["charts"]["rounds"] == 5 and second["version"] > first["version"]
    fresh = Overviews(storage).overview("alpha", tuner_id, charts.DEFAULT_POINTS)
    assert fresh["charts"] == second["charts"] and fresh["contexts"] == second["contexts"]
    played = client.get(f"{tuner}/history").json()["items"]
    best = max(played, key=lambda r: r["reward"])
    assert second["contexts"]["items"][0]["best_configuration"] == best["prediction"]
    client.delete(tuner)
    assert client.get(f"/v1/dashboard/tuners/{tuner_id}").status_code == 404


def test_autoscope_routing_lists_each_context_under_its_leaf(client: TestClient) -> None:
    tuner = create(client, **AUTOSCOPE, safety=None)
    for job in "abcd" * 3:
        play(client, tuner, [1.0], {"job": job})
    body = client.get(f"/v1/dashboard/tuners/{tuner.rsplit('/', 1)[1]}").json()
    routing = body["routing"]
    assert routing["height"] == 2 and len(routing["leaves"]) == 4 and len(routing["splits"]) == 3
    routed = {c["context"]["job"]: leaf["leaf"] for leaf in routing["leaves"] for c in leaf["contexts"]}
    assert sorted(routed) == ["a", "b", "c", "d"]
    assert all(c["rounds"] == 3 for leaf in routing["leaves"] for c in leaf["contexts"])
    one = body["contexts"]["items"][0]
    only = client.get(f"/v1/dashboard/tuners/{tuner.rsplit('/', 1)[1]}", params={"context_id": one["context_id"]})
    assert only.json()["charts"]["rounds"] == 3 and body["contexts"]["total"] == 4


def test_a_version_2_database_gets_the_reward_columns_filled(
    client: TestClient, storage: Storage, database_url: str
) -> None:
    tuner = create(client)
    play(client, tuner, [1.0, 4.0, 2.0])
    with storage.engine.begin() as conn:
        conn.execute(text("ALTER TABLE oppertune_tuners DROP COLUMN last_reward"))
        conn.execute(text("ALTER TABLE oppertune_tuners DROP COLUMN best_reward"))
        conn.execute(text("UPDATE oppertune_schema_version SET version = 2"))
    fresh = Storage(database_url)
    try:
        assert fresh.migrate() == SCHEMA_VERSION == 3
        assert {"last_reward", "best_reward"} <= {
            c["name"] for c in inspect(fresh.engine).get_columns("oppertune_tuners")
        }
        summary = fresh.get_tuner("alpha", tuner.rsplit("/", 1)[1])
        assert (summary["last_reward"], summary["best_reward"]) == (2.0, 4.0)
    finally:
        fresh.close()


def test_the_pages_are_served_without_a_key_and_the_data_with_one(storage: Storage, database_url: str) -> None:
    storage.create_api_key("alpha")
    app = create_app(Settings(db=database_url, sweep_interval=0), storage=storage)
    with TestClient(app) as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 200 and "login-form" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        for path in ("/static/app.js", "/static/app.css", "/static/vendor/uplot/uPlot.iife.min.js",
                     "/static/vendor/uplot/LICENSE"):  # fmt: skip
            answer = anonymous.get(path)
            assert answer.status_code == 200 and answer.headers["x-content-type-options"] == "nosniff", path
        assert "MIT License" in anonymous.get("/static/vendor/uplot/LICENSE").text
        colours = anonymous.get("/events.css")  # the one list of the rail events' colours, for badges and markers
        assert colours.headers["content-type"].startswith("text/css")
        assert colours.headers["x-content-type-options"] == "nosniff"
        for kind, colour in charts.EVENT_COLOURS.items():
            assert f"--k-{kind}: {colour};" in colours.text
            assert f".k-{kind} {{ background: var(--k-{kind}); }}" in colours.text
        assert set(charts.MARKED_EVENTS) < set(charts.EVENT_COLOURS)  # every marked kind, and the counted ones
        assert anonymous.get("/static/nope.js").status_code == 404
        assert anonymous.get("/v1/dashboard/tuners").status_code == 401
        assert "/v1/dashboard/tuners" in anonymous.get("/openapi.json").json()["paths"]
        assert "/" not in anonymous.get("/openapi.json").json()["paths"]
