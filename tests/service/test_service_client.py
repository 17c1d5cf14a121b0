"""RemoteTuner behaves like a local tuner, and retries without acting twice."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from fastapi.testclient import TestClient

from oppertune.algorithms import create_tuning_instance
from oppertune.core.errors import NoPendingPredictionError, RoundClosedError, UnknownRequestError
from oppertune.core.types import Context, PredictResponse
from oppertune.core.values import Real
from oppertune.service.client import RemoteTuner
from oppertune.service.errors import AuthenticationError, ServiceError, TunerNotFoundError

from .service_helpers import NUMERICAL

ARGS = {"random_seed": 3, "feedback": 2, "eta": 0.05, "delta": 0.1}
URL = "http://testserver"


def remote(client: TestClient, api_key: str, **options) -> RemoteTuner:
    parameters = [Real("x", 0.5, 0.0, 1.0)]
    return RemoteTuner.create(URL, api_key, "t", parameters, algorithm="bluefin", algorithm_args=ARGS,
                              http_client=client, **options)  # fmt: skip


def test_same_loop_same_answers_as_a_local_tuner(client: TestClient, api_key: str) -> None:
    tuner = remote(client, api_key)
    local = create_tuning_instance(NUMERICAL, "bluefin", ARGS)
    for _ in range(8):
        response = tuner.predict()
        expected = local.predict()
        assert isinstance(response, PredictResponse)
        prediction, request_id = response
        assert prediction == expected.prediction
        assert tuner.get_current_prediction() == local.get_current_prediction()
        reward = 1 - (prediction["x"] - 0.8) ** 2
        tuner.store_reward(request_id, reward, {"replica": 1})
        local.store_reward(expected.request_id, reward, {"replica": 1})
        (request,) = tuner.get_tuning_requests()
        assert (request.id, request.reward, request.reward_data) == (request_id, reward, {"replica": 1})
        assert request.context == Context()
        tuner.set_reward()
        local.set_reward()
        assert tuner.iteration == local.iteration
    assert [r["round"] for r in tuner.rounds(page_size=3)] == list(range(1, 9))
    assert tuner.best()["rounds"] == 8


def test_errors_are_the_local_ones(client: TestClient, api_key: str) -> None:
    tuner = remote(client, api_key)
    with pytest.raises(NoPendingPredictionError):
        tuner.set_reward(1.0)
    _, request_id = tuner.predict()
    with pytest.raises(UnknownRequestError):
        tuner.store_reward("nope-0", 1.0)
    with pytest.raises(ValueError, match="finite"):
        tuner.store_reward(request_id, float("nan"))
    with pytest.raises(TypeError, match="real number"):
        tuner.set_reward("high")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes no context"):
        tuner.predict({"load": 0.3})
    tuner.set_reward(0.5)
    with pytest.raises(RoundClosedError):
        tuner.store_reward(request_id, 0.5)
    with pytest.raises(ValueError, match=r"Parameter 'x'"):
        RemoteTuner.create(URL, api_key, "t", [{"type": "real", "name": "x", "val": 5, "min": 0, "max": 1}],
                           http_client=client)  # fmt: skip
    with pytest.raises(AuthenticationError):
        RemoteTuner(URL, tuner.tuner_id, "otk_wrong", http_client=client).predict()
    gone = RemoteTuner(URL, "0" * 32, api_key, http_client=client)
    with pytest.raises(TunerNotFoundError):
        gone.predict()
    tuner.delete()
    with pytest.raises(TunerNotFoundError):
        _ = tuner.iteration


class LossyTransport(httpx.BaseTransport):
    """Forwards every request to the app, but loses the first answer of every state change."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.seen: set[str] = set()
        self.forwarded = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.client.request(
            request.method, str(request.url), content=request.read(), headers=dict(request.headers)
        )
        self.forwarded += 1
        key = request.headers.get("Idempotency-Key")
        if key is not None and key not in self.seen:
            self.seen.add(key)
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)


def test_retries_after_lost_answers_act_once(client: TestClient, api_key: str) -> None:
    transport = LossyTransport(client)
    lossy = httpx.Client(transport=transport)
    tuner = remote(lossy, api_key, backoff=0.001)
    assert len(client.get("/v1/tuners").json()["items"]) == 1  # created once despite the lost answer
    for i in range(5):
        _, request_id = tuner.predict()
        tuner.store_reward(request_id, float(i))
        tuner.set_reward()
    assert tuner.iteration == 5
    assert [r["reward"] for r in tuner.rounds()] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(len(r["prediction"]) == 1 for r in tuner.rounds())
    assert transport.forwarded >= 2 * 16  # every change was sent twice


def test_gives_up_after_the_retries(api_key: str) -> None:
    attempts = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request.headers.get("Idempotency-Key"))
        raise httpx.ConnectError("connection refused", request=request)

    tuner = RemoteTuner(URL, "x", api_key, retries=3, backoff=0.001,
                        http_client=httpx.Client(transport=httpx.MockTransport(refuse)))  # fmt: skip
    with pytest.raises(ServiceError, match="Cannot reach"):
        tuner.predict()
    assert len(attempts) == 4 and len(set(attempts)) == 1  # one key for the call and its retries


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with its method, path and body; closes the connection when told to."""

    protocol_version = "HTTP/1.1"
    calls: ClassVar[list[tuple[str, str, int]]] = []
    close_after: ClassVar[bool] = False

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.calls.append((self.command, self.path, self.client_address[1]))
        payload = json.dumps({"prediction": {"x": 0.5}, "request_id": "r", "body": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = self.close_after  # closes without saying so, as an idle timeout does

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.calls = []
    _Recorder.close_after = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/base"
    server.shutdown()
    server.server_close()


def test_default_transport_keeps_one_connection_and_honours_the_base_path(recorder: str) -> None:
    with RemoteTuner(recorder, "t1", "key") as tuner:
        tuner.predict()
        tuner.get_current_prediction(context_id="a b")
    (m1, path1, port1), (m2, path2, port2) = _Recorder.calls
    assert (m1, path1) == ("POST", "/base/v1/tuners/t1/predict")
    assert (m2, path2) == ("GET", "/base/v1/tuners/t1/current-prediction?context_id=a+b")
    assert port1 == port2  # the same kept-alive connection


def test_default_transport_reconnects_when_the_server_closed_the_connection(recorder: str) -> None:
    _Recorder.close_after = True
    with RemoteTuner(recorder, "t1", "key", retries=0) as tuner:  # no retries: the reconnect is not one
        for _ in range(3):
            tuner.predict()
    assert len(_Recorder.calls) == 3
    assert len({port for _, _, port in _Recorder.calls}) == 3


def test_default_transport_gives_up_on_a_closed_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ServiceError, match="Cannot reach") as raised:
        RemoteTuner(f"http://127.0.0.1:{port}", "t1", "key", retries=1, backoff=0.001).predict()
    assert raised.value.status_code == 503


def test_rejects_a_url_without_http_scheme_or_host() -> None:
    for url in ("ftp://host/", "http://", "127.0.0.1:8000"):
        with pytest.raises(ValueError, match="'url' must be an http"):
            RemoteTuner(url, "t1", "key")


def test_the_client_needs_only_the_core_install() -> None:
    """No server dependency (web framework, database layer, httpx) is imported by the client."""
    code = (
        "import sys; import oppertune.service.client; "
        "print(sorted(m for m in ('httpx', 'fastapi', 'starlette', 'sqlalchemy', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
