"""Fuzzing with schemathesis, in process: generated requests go through `local.wsgi` (the API Gateway event
translation of `local.gateway`) to `app.lambda_handler`, on the embedded moto DynamoDB. No network.

Two documents drive it:

- The service's own document (functions/threads/openapi.json), every operation, positive and negative data
  (schemathesis' coverage phase, boundary values, and its Hypothesis fuzzing phase): no server error, every
  response is one the document describes (status code, content type, headers, body schema), and every request
  the document forbids is refused.
- OpenAI's official spec (tests/reference/openai-threads.openapi.json), positive data for createThread
  and modifyThread only: every request it allows that the contract supports is answered 200 with a body that
  is OpenAI's `ThreadObject`; a request the contract does not support gets exactly the contract's error for it.

Generated thread ids name no thread (404, or 400 when they do not begin with `thread`), so each request with a
thread id is also sent, as generated otherwise, to each fixture thread, put back as it was before every call.
"""

from __future__ import annotations

import collections
import json
import pathlib
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import Client

from local.embedded import TABLE_NAME
from local.fixtures import API_KEY, BASIC, EMPTY, FULL
from local.wsgi import application
from threads_api.limits import MAX_METADATA_PAIRS
from threads_api.store import to_item

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUR_DOCUMENT = ROOT / "functions" / "threads" / "openapi.json"
# OpenAI's own OpenAPI for /threads (MIT, its licence beside it), kept with the tests so that they run anywhere.
OPENAI_DOCUMENT = ROOT / "tests" / "reference" / "openai-threads.openapi.json"

AUTH = {"Authorization": f"Bearer {API_KEY}"}
PHASES = ["examples", "coverage", "fuzzing"]  # stateful needs links between operations; the document has none
ALL_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # And the other way round: a request the document forbids is refused (4xx), never served.
    negative_data_rejection,
]
# Not run: positive_data_acceptance, as the contract refuses some requests the document cannot tell apart (a
# reused Idempotency-Key, an If-Match of another version, 17 pairs after a merge, `messages` not empty);
# unsupported_method, as the contract answers any other method 404 (`Invalid URL`), not 405.

# The contract: "A body that is empty or only white space is an empty body", and a body is optional. The document
# cannot say that JSON white space alone is no body: schemathesis sends it as a body of invalid syntax (negative
# data) and expects it refused, so negative_data_rejection is left out for those requests.
JSON_WHITE_SPACE = b" \t\n\r"


def checks_for(response) -> list:
    sent = response.request.body
    sent = sent.encode("utf-8") if isinstance(sent, str) else sent
    if sent and not sent.strip(JSON_WHITE_SPACE):
        return [check for check in ALL_CHECKS if check is not negative_data_rejection]
    return ALL_CHECKS


# OpenAI's document lists only 200 and 429: its status codes say nothing about our errors, which are checked
# one by one below instead.
OPENAI_CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


def fuzz_settings(max_examples: int) -> settings:
    """`max_examples` bounds the fuzzing phase per operation; the coverage phase adds its boundary cases."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        # The fixtures are per test item (one operation), not per example, on purpose; moto is slow-ish.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Cases per test item: at least these many ran, or the fuzzing did not happen (e.g. everything filtered out).
MIN_CASES = 40

SENT: collections.Counter[tuple[str, str, int]] = collections.Counter()  # (document, operation, status)

ours = schemathesis.openapi.from_path(OUR_DOCUMENT)
ours.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
ours.config.phases.update(phases=PHASES)

openai_spec = schemathesis.openapi.from_path(OPENAI_DOCUMENT)


@pytest.fixture(scope="module")
def table():
    from local.embedded import embedded_dynamodb

    with embedded_dynamodb() as client:
        yield client


@pytest.fixture(scope="module", autouse=True)
def summary(request):
    """Prints how many generated requests were sent, per document, operation and status."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not SENT:
        return
    per_operation: collections.Counter[tuple[str, str]] = collections.Counter()
    for (document, operation, _status), count in SENT.items():
        per_operation[(document, operation)] += count
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for (document, operation), count in sorted(per_operation.items()):
            statuses = ", ".join(
                f"{status}: {n}" for (d, o, status), n in sorted(SENT.items()) if (d, o) == (document, operation)
            )
            reporter.write_line(f"fuzz [{document}] {operation}: {count} requests ({statuses})")
        reporter.write_line(f"fuzz total: {sum(SENT.values())} requests")


@pytest.fixture
def tally(request):
    """Counts one test item's requests, and fails the item when too few ran (if it did not fail already)."""
    counts: collections.Counter[str] = collections.Counter()
    failed_before = request.session.testsfailed
    yield counts
    if request.session.testsfailed != failed_before:
        return
    assert counts["requests"] >= MIN_CASES, f"only {counts['requests']} requests were generated"
    if counts["refused"]:
        assert counts["accepted"] >= MIN_CASES // 2, f"only {counts['accepted']} requests were supported"


def send(case, document: str, tally) -> Any:
    response = case.call(app=application, headers=AUTH)
    SENT[(document, case.operation.label, response.status_code)] += 1
    tally["requests"] += 1
    # The contract: every response, errors included, carries x-request-id; a thread carries its ETag.
    assert response.headers.get("x-request-id"), response.headers
    if response.status_code == 200 and case.method != "DELETE":
        assert response.headers.get("etag"), response.headers
    return response


def new_thread_id() -> str:
    response = Client(application).post("/v1/threads", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["id"]


def put_back(table, thread) -> None:
    table.put_item(TableName=TABLE_NAME, Item=to_item(thread))


def conforms_to_openai(case, response) -> None:
    """A 200 of ours is also what OpenAI's spec promises for the same operation (ThreadObject or deleted)."""
    if response.status_code != 200:
        return
    path = case.operation.path.removeprefix("/v1")
    openai_spec[path][case.method].validate_response(response)


@ours.parametrize()
@fuzz_settings(max_examples=100)
def test_our_document(case, table, tally):
    response = send(case, "ours", tally)
    case.validate_response(response, checks=checks_for(response))
    conforms_to_openai(case, response)
    if "thread_id" not in case.path_parameters:
        return
    # The same request against threads that exist: BASIC (metadata and a tool), EMPTY, and FULL (16 pairs, so
    # that a modify adding a key meets the limit on the merged metadata).
    for thread in (BASIC, EMPTY, FULL):
        put_back(table, thread)
        live = case.derive()
        live.path_parameters = {**case.path_parameters, "thread_id": thread.id}
        response = send(live, "ours", tally)
        live.validate_response(response, checks=checks_for(response))
        conforms_to_openai(live, response)


@pytest.mark.parametrize("body", [b"[{}]", b'[{"metadata": {"user": "mallory"}}]', b"[null, null]", b'["x"]'])
@pytest.mark.parametrize("path", ["/v1/threads", f"/v1/threads/{BASIC.id}"])
def test_a_body_that_is_an_array_is_refused(table, path, body):
    """Found by the fuzzing above (negative data accepted): Powertools took a non-empty array body's first item
    for the body, so `[{"metadata": ...}]` created or changed a thread, and `[null]` was no body at all."""
    put_back(table, BASIC)
    client = Client(application)
    response = client.post(path, data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json == {
        "error": {
            "message": "Invalid type for 'body': expected an object, but got an array instead.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_type",
        }
    }
    assert client.get(f"/v1/threads/{BASIC.id}", headers=AUTH).json == BASIC.to_wire()


# What OpenAI's spec allows and the contract does not support, with the error the contract gives each (rows of
# the contract). OpenAI's spec states the metadata limits only in prose, and leaves the
# tool objects open to any property.
def contract_refusals(body: Any, *, create: bool) -> set[str]:
    """The error codes the contract answers this body with; empty when it supports the whole body."""
    if not isinstance(body, dict):
        return set()  # no body at all: an empty body is fine on both
    refusals = set()
    if create and body.get("messages"):
        refusals.add("unsupported_parameter")  # Create: a non-empty `messages` list, until messages exist
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        # Modify merges, but into a new, empty thread here: the merged count is the count given.
        if len([value for value in metadata.values() if value is not None]) > MAX_METADATA_PAIRS:
            refusals.add("object_above_max_properties")  # more than 16 metadata pairs
        for key, value in metadata.items():
            if key == "":
                refusals.add("invalid_value")  # metadata key empty [ours]
            elif len(key) > 64:
                refusals.add("property_name_above_max_length")  # metadata key longer than 64 characters
            if isinstance(value, str) and len(value) > 512:
                refusals.add("string_above_max_length")  # metadata value longer than 512 characters
    resources = body.get("tool_resources")
    if isinstance(resources, dict):
        for tool, given in resources.items():
            lists = {"code_interpreter": {"file_ids"}, "file_search": {"vector_store_ids"}}.get(tool)
            if lists is None:
                refusals.add("unknown_parameter")  # unknown field (nested)
                continue
            for name, value in (given or {}).items():
                if create and (tool, name) == ("file_search", "vector_stores"):
                    if value:
                        refusals.add("unsupported_parameter")  # a non-empty `vector_stores`
                elif name not in lists:
                    refusals.add("unknown_parameter")  # unknown field (nested)
                else:
                    for identifier in value or ():
                        if identifier == "":
                            refusals.add("empty_string")  # an id in a list empty
                        elif len(identifier) > 128:
                            refusals.add("string_above_max_length")  # an id longer than 128 characters [ours]
    return refusals


openai_operations = openai_spec.include(operation_id=["createThread", "modifyThread"])
openai_operations.config.generation.update(modes=[GenerationMode.POSITIVE])
openai_operations.config.phases.update(phases=PHASES)
components = json.loads(OPENAI_DOCUMENT.read_text(encoding="utf-8"))["components"]
openai_error = jsonschema_rs.Draft202012Validator(
    {"$ref": "#/components/schemas/ErrorResponse", "components": components}
)


@openai_operations.parametrize()
@fuzz_settings(max_examples=150)
def test_openai_spec_requests(case, table, tally):
    create = "thread_id" not in case.path_parameters
    if not create:
        # A new thread for each request, so that the merge starts from nothing every time.
        case.path_parameters = {"thread_id": new_thread_id()}
    refusals = contract_refusals(case.body, create=create)
    response = send(case, "openai", tally)
    case.validate_response(response, checks=OPENAI_CHECKS)
    if refusals:
        tally["refused"] += 1
        assert response.status_code == 400, (response.status_code, response.text)
        openai_error.validate(response.json())
        assert response.json()["error"]["code"] in refusals, (refusals, response.text)
    else:
        tally["accepted"] += 1
        assert response.status_code == 200, (response.status_code, response.text)  # and, checked above, a
        # ThreadObject by OpenAI's own schema
