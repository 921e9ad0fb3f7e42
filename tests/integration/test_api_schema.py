"""Schemathesis against the live API: generated requests (a bounded number per operation) for every operation of
the OpenAPI document, with an operator key acting as a real tenant's admin. No answer is a 5xx, and every answer
follows the document (status codes, content types, bodies)."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from creditflow.supervisor import Supervisor
from services.api import openapi
from tests.stack import TestStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ADMIN = "admin@acme.example"
TENANT = f"schema-{uuid.uuid4().hex[:8]}"


def _cli(stack: TestStack, *args: str) -> str:
    s = stack.settings
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": str(s.kafka_bootstrap_servers),
           "MONGODB_URI": s.mongodb_uri.get_secret_value() if s.mongodb_uri else "",
           "MONGODB_DATABASE_PREFIX": s.mongodb_database_prefix}  # fmt: skip
    done = subprocess.run([str(Path(sys.executable).parent / "creditflow"), *args], capture_output=True, text=True,
                          env=env, timeout=120, check=True)  # fmt: skip
    return done.stdout


@pytest.fixture(scope="module")
def live(stack: TestStack, workers: Supervisor) -> dict[str, Any]:
    _cli(stack, "tenant", "create", TENANT, "--admin", ADMIN, "--member", "member@acme.example")
    key = _cli(stack, "api-keys", "create", "--operator", "--name", "schemathesis").splitlines()[-1]
    return {"url": workers.api_url, "headers": {"Authorization": f"Bearer {key}", "Acting-As": ADMIN}}


OPERATIONS = [
    result.ok() for result in schemathesis.openapi.from_dict(json.loads(openapi.OUT.read_text())).get_all_operations()
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{o.method.upper()} {o.path}" for o in OPERATIONS])
def test_no_5xx_and_no_answer_outside_the_document(operation: Any, live: dict[str, Any]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case: Any) -> None:
        if "tenant_id" in (case.path_parameters or {}):
            case.path_parameters["tenant_id"] = TENANT
        case.call_and_validate(
            base_url=live["url"],
            headers=live["headers"],
            checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
        )

    call()
