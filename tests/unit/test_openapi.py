"""The API's contract: the checked-in OpenAPI document is the one the code serves, and it says what it promises."""

import json

from services.api import openapi


def test_the_checked_in_openapi_document_matches_the_code() -> None:
    assert openapi.OUT.read_text() == openapi.render(), "run `make schemas` and commit schemas/openapi.json"


def test_every_post_takes_an_idempotency_key_and_every_error_is_a_problem_document() -> None:
    document = json.loads(openapi.render())
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "post":
                headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
                assert "Idempotency-Key" in headers, path
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in response["content"], (path, method, status)


def test_every_tenant_resource_is_under_v1() -> None:
    paths = json.loads(openapi.render())["paths"]
    assert all(p.startswith("/v1/") for p in paths)
    assert len([p for p in paths if p.startswith("/v1/tenants/{tenant_id}/")]) >= 20
