"""Schemathesis fuzzes every operation of the OpenAPI document, on both backends: no 5xx, answers as documented.

Schemathesis runs offline from the ASGI app. Its Python API is used directly (one Hypothesis run per
operation and generation mode) rather than its pytest plugin, whose lazy fixture loading does not
work with pytest 9.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from oppertune.service.storage import Storage

from .service_helpers import NUMERICAL

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
SETTINGS = hypothesis.settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_answers_as_documented(app, storage: Storage, api_key: str, mode: GenerationMode) -> None:
    tuner_id = storage.create_tuner("alpha", "fuzz", NUMERICAL, "bluefin", {})["id"]
    storage.predict("alpha", tuner_id)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {api_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.path == "/v1/health":
            continue  # it has no input to make invalid

        @SETTINGS
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode), aim=st.booleans())
        def run(case, aim: bool) -> None:
            if aim and mode is GenerationMode.POSITIVE and "tuner_id" in (case.path_parameters or {}):
                case.path_parameters["tuner_id"] = tuner_id  # half the calls reach a real tuner
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
