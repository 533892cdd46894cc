"""The checked-in OpenAPI document is the one the code generates, and it tells the truth about errors."""

from __future__ import annotations

import json
import pathlib
import re
import tomllib

from local.openapi import DOCUMENT_PATH, openapi_document, render

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_checked_in_document_matches_the_code():
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == render(openapi_document()), (
        "functions/threads/openapi.json is stale: run `make openapi` and commit it"
    )


def test_document_describes_the_real_error_responses():
    document = openapi_document()
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert set(operations) == {
        ("POST", "/v1/threads"),
        ("GET", "/v1/threads/{thread_id}"),
        ("POST", "/v1/threads/{thread_id}"),
        ("DELETE", "/v1/threads/{thread_id}"),
        ("POST", "/v1/threads/{thread_id}/messages"),
        ("GET", "/v1/threads/{thread_id}/messages"),
        ("GET", "/v1/threads/{thread_id}/messages/{message_id}"),
        ("POST", "/v1/threads/{thread_id}/messages/{message_id}"),
        ("DELETE", "/v1/threads/{thread_id}/messages/{message_id}"),
    }
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for (_method, path), operation in operations.items():
        responses = operation["responses"]
        assert "422" not in responses
        assert responses["400"]["content"]["application/json"]["schema"] == error_ref
        if path.endswith("{thread_id}"):
            assert responses["404"]["content"]["application/json"]["schema"] == error_ref
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["ErrorDetail"]["required"] == ["message", "type", "param", "code"]


def test_lambda_requirements_pin_the_locked_runtime_versions():
    locked = {
        package["name"]: package["version"] for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    }
    text = (ROOT / "functions" / "threads" / "requirements.txt").read_text()
    pinned = dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", text, re.MULTILINE))
    assert {"aws-lambda-powertools", "pydantic", "pydantic-core"} <= pinned.keys()
    assert pinned == {name: locked[name] for name in pinned}
    assert not {"boto3", "botocore", "s3transfer"} & pinned.keys()  # the runtime's own
    hashed = re.findall(r"^[a-z0-9][a-z0-9._-]*==\S+((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})+)", text, re.MULTILINE)
    assert len(hashed) == len(pinned)  # every pin carries its hashes


def test_the_served_document_holds_no_deployment_detail():
    text = DOCUMENT_PATH.read_text(encoding="utf-8")
    assert all(server["url"].startswith("/") for server in json.loads(text).get("servers", [])), "no host"
    for secret in (r"arn:aws", r"amazonaws\.com", r"execute-api", r"\b\d{12}\b", r"\bsk-", r"Bearer [A-Za-z0-9]"):
        assert not re.search(secret, text), secret
