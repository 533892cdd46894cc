"""Fuzzing with schemathesis, in process: generated requests go through `local.wsgi` (the API Gateway event
translation of `local.gateway`) to `app.lambda_handler`, on the embedded moto DynamoDB. No network.

Two documents drive it:

- The service's own document (functions/threads/openapi.json), every operation, positive and negative data
  (schemathesis' coverage phase, boundary values, and its Hypothesis fuzzing phase): no server error, every
  response is one the document describes (status code, content type, headers, body schema), and every request
  the document forbids is refused.
- OpenAI's official spec (tests/reference/openai-threads.openapi.json and openai-messages.openapi.json),
  positive data for createThread (with `messages`), modifyThread, createMessage, modifyMessage and listMessages:
  every request it allows that the contract supports is answered 200 with a body that is OpenAI's object
  (`ThreadObject`, `MessageObject`, `ListMessagesResponse`); a request the contract does not support gets
  exactly the contract's error for it.

Generated thread ids name no thread (404, or 400 when they do not begin with `thread`), so each request with a
thread id is also sent, as generated otherwise, to each fixture thread, put back as it was before every call;
and each request with a message id to a fixture message, put back as well.
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

from local.embedded import MESSAGES_TABLE_NAME, TABLE_NAME
from local.fixtures import API_KEY, BASIC, EMPTY, FOLLOW_UP, FULL, seed_fixture_messages
from local.wsgi import application
from threads_api.limits import (
    MAX_ATTACHMENTS,
    MAX_CONTENT_PARTS,
    MAX_METADATA_PAIRS,
    MAX_PAGE_LIMIT,
    MAX_RESOURCE_ID_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_THREAD_MESSAGES,
    MAX_URL_LENGTH,
)
from threads_api.store import to_item

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUR_DOCUMENT = ROOT / "functions" / "threads" / "openapi.json"
# OpenAI's own OpenAPI for /threads and for /threads/{thread_id}/messages (MIT, its licence beside them), kept
# with the tests so that they run anywhere.
OPENAI_DOCUMENT = ROOT / "tests" / "reference" / "openai-threads.openapi.json"
OPENAI_MESSAGES_DOCUMENT = ROOT / "tests" / "reference" / "openai-messages.openapi.json"

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
# reused Idempotency-Key, an If-Match of another version, 17 pairs after a merge, a cursor this thread never held);
# unsupported_method, as the contract answers any other method 404 (`Invalid URL`), not 405.

# The contract: "A body that is empty or only white space is an empty body", and a body is optional. The document
# cannot say that JSON white space alone is no body: schemathesis sends it as a body of invalid syntax (negative
# data) and expects it refused, so negative_data_rejection is left out for those requests.
JSON_WHITE_SPACE = b" \t\n\r"


# The contract ignores query parameters a route does not take [ours]; the document cannot say so, and schemathesis
# sends them as negative data. A body over the route's limit is refused with 413, a status the check does not list.
LIST_QUERY = frozenset({"limit", "order", "after", "before", "run_id"})


def checks_for(response, case=None) -> list:
    sent = response.request.body
    sent = sent.encode("utf-8") if isinstance(sent, str) else sent
    unknown_query = case is not None and bool(set(case.query or {}) - LIST_QUERY)
    if (sent and not sent.strip(JSON_WHITE_SPACE)) or response.status_code == 413 or unknown_query:
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
# OpenAI's message operations run on a smaller budget (moto's transactions are slow), and most bodies its spec
# allows break a rule of the contract (the 256,000-character text, the image URL...): fewer cases, fewer accepted.
MIN_CASES_FOR = {"test_openai_spec_message_requests": (20, 5)}

SENT: collections.Counter[tuple[str, str, int]] = collections.Counter()  # (document, operation, status)

ours = schemathesis.openapi.from_path(OUR_DOCUMENT)
ours.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
ours.config.phases.update(phases=PHASES)

openai_spec = schemathesis.openapi.from_path(OPENAI_DOCUMENT)
openai_messages_spec = schemathesis.openapi.from_path(OPENAI_MESSAGES_DOCUMENT)


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
    minimum, accepted = MIN_CASES_FOR.get(request.node.originalname, (MIN_CASES, MIN_CASES // 2))
    assert counts["requests"] >= minimum, f"only {counts['requests']} requests were generated"
    if counts["refused"]:
        assert counts["accepted"] >= accepted, f"only {counts['accepted']} requests were supported"


def send(case, document: str, tally) -> Any:
    response = case.call(app=application, headers=AUTH)
    SENT[(document, case.operation.label, response.status_code)] += 1
    tally["requests"] += 1
    # The contract: every response, errors included, carries x-request-id; a thread or a message its ETag.
    assert response.headers.get("x-request-id"), response.headers
    if response.status_code == 200 and response.json().get("object") in ("thread", "thread.message"):
        assert response.headers.get("etag"), response.headers
    return response


def new_thread_id() -> str:
    response = Client(application).post("/v1/threads", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["id"]


def new_message_id(thread_id: str) -> str:
    response = Client(application).post(
        f"/v1/threads/{thread_id}/messages", json={"role": "user", "content": "fuzz"}, headers=AUTH
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["id"]


def put_back(table, thread) -> None:
    table.put_item(TableName=TABLE_NAME, Item=to_item(thread))
    if thread is BASIC:
        seed_fixture_messages(table, MESSAGES_TABLE_NAME)


def conforms_to_openai(case, response) -> None:
    """A 200 of ours is also what OpenAI's spec promises for the same operation (its thread or message objects),
    but for one decision of the contract: an empty page's `first_id` and `last_id` are null (OpenAI's spec types
    them as strings)."""
    if response.status_code != 200:
        return
    path = case.operation.path.removeprefix("/v1")
    body = response.json()
    if body.get("object") == "list" and body["data"] == []:
        assert (body["first_id"], body["last_id"], body["has_more"]) == (None, None, False), body
        return
    for spec in (openai_spec, openai_messages_spec):
        if path in spec.raw_schema["paths"]:
            spec[path][case.method].validate_response(response)
            return
    assert path == "/openapi.json", path  # the one route of ours that OpenAI has not


our_thread_operations = ours.exclude(path_regex="/messages")
our_message_operations = ours.include(path_regex="/messages")


@our_thread_operations.parametrize()
@fuzz_settings(max_examples=100)
def test_our_document(case, table, tally):
    fuzz_our_document(case, table, tally)


@our_message_operations.parametrize()
@fuzz_settings(max_examples=20)  # each is sent four times over, and moto's transactions are slower
def test_our_document_messages(case, table, tally):
    fuzz_our_document(case, table, tally)


def fuzz_our_document(case, table, tally):
    response = send(case, "ours", tally)
    case.validate_response(response, checks=checks_for(response, case))
    conforms_to_openai(case, response)
    if "thread_id" not in case.path_parameters:
        return
    # The same request against threads that exist: BASIC (metadata, a tool, three messages), EMPTY, and FULL (16
    # pairs, so that a modify adding a key meets the limit on the merged metadata).
    targets = [(thread, {"thread_id": thread.id}) for thread in (BASIC, EMPTY, FULL)]
    if "message_id" in case.path_parameters:
        # And against a message that exists (its two pairs of metadata), and one of another thread.
        targets = [
            (BASIC, {"thread_id": BASIC.id}),
            (BASIC, {"thread_id": BASIC.id, "message_id": FOLLOW_UP.id}),
            (EMPTY, {"thread_id": EMPTY.id, "message_id": FOLLOW_UP.id}),
        ]
    for thread, path_parameters in targets:
        put_back(table, thread)
        live = case.derive()
        live.path_parameters = {**case.path_parameters, **path_parameters}
        response = send(live, "ours", tally)
        live.validate_response(response, checks=checks_for(response, live))
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
# the contract). OpenAI's spec states the metadata limits only in prose, none of the message limits, and leaves
# the tool objects, the content parts and the attachments open to any property. A refusal whose code is null is
# None here (the contract's empty string content).
def metadata_refusals(metadata: Any) -> set[str | None]:
    refusals: set[str | None] = set()
    if not isinstance(metadata, dict):
        return refusals
    # Modify merges, but into a new, empty object here: the merged count is the count given.
    if len([value for value in metadata.values() if value is not None]) > MAX_METADATA_PAIRS:
        refusals.add("object_above_max_properties")  # more than 16 metadata pairs
    for key, value in metadata.items():
        if key == "":
            refusals.add("invalid_value")  # metadata key empty [ours]
        elif len(key) > 64:
            refusals.add("property_name_above_max_length")  # metadata key longer than 64 characters
        if isinstance(value, str) and len(value) > 512:
            refusals.add("string_above_max_length")  # metadata value longer than 512 characters
    return refusals


def identifier_refusals(identifier: Any) -> set[str | None]:
    if identifier == "":
        return {"empty_string"}  # a file id empty
    if isinstance(identifier, str) and len(identifier) > MAX_RESOURCE_ID_LENGTH:
        return {"string_above_max_length"}  # a file id longer than 128 characters [ours]
    return set()


def text_refusals(text: Any, *, part: bool) -> set[str | None]:
    if text == "":
        return {"empty_string"} if part else {None}  # an empty text part [ours]; empty string content (code null)
    if isinstance(text, str) and len(text) > MAX_TEXT_LENGTH:
        return {"string_above_max_length"}  # a text over 256,000 characters
    return set()


def is_url(url: Any) -> bool:
    """The contract's image URL: http, https (at most 2,048 characters) or a data:image/ URL."""
    if not isinstance(url, str):
        return False
    if url[:11].lower().startswith("data:image/"):
        return True
    scheme, _, rest = url.partition("://")
    return scheme.lower() in ("http", "https") and bool(rest) and len(url) <= MAX_URL_LENGTH


def part_refusals(part: Any) -> set[str | None]:
    if not isinstance(part, dict):
        return set()
    kind = part.get("type")
    refusals = {"unknown_parameter" for key in part if key not in ("type", kind)}  # unknown field (nested)
    if kind == "text":
        return refusals | text_refusals(part.get("text"), part=True)
    inner = part.get(kind)
    if not isinstance(inner, dict):
        return refusals
    reference = "url" if kind == "image_url" else "file_id"
    refusals |= {"unknown_parameter" for key in inner if key not in (reference, "detail")}
    if kind == "image_url" and not is_url(inner.get("url")):
        refusals.add("invalid_value")  # not an http, https or data:image/ URL, or over 2,048 characters [ours]
    if kind == "image_file":
        refusals |= identifier_refusals(inner.get("file_id"))
    return refusals


def message_refusals(message: Any) -> set[str | None]:
    """The contract's errors for one message body (message create, or an item of create-thread's `messages`)."""
    if not isinstance(message, dict):
        return set()
    refusals = metadata_refusals(message.get("metadata"))
    content = message.get("content")
    if isinstance(content, str):
        refusals |= text_refusals(content, part=False)
    elif isinstance(content, list):
        if len(content) > MAX_CONTENT_PARTS:
            refusals.add("array_above_max_length")  # more than 100 content parts [ours]
        for part in content:
            refusals |= part_refusals(part)
    attachments = message.get("attachments")
    if isinstance(attachments, list):
        if len(attachments) > MAX_ATTACHMENTS:
            refusals.add("array_above_max_length")  # more than 10 attachments
        for attachment in attachments:
            if not isinstance(attachment, dict):
                continue
            refusals |= {"unknown_parameter" for key in attachment if key not in ("file_id", "tools")}
            if not {"file_id", "tools"} <= set(attachment):
                refusals.add("missing_required_parameter")  # OpenAI's spec misplaces this `required`
            refusals |= identifier_refusals(attachment.get("file_id"))
            for tool in attachment.get("tools") or ():
                if isinstance(tool, dict):
                    refusals |= {"unknown_parameter" for key in tool if key != "type"}
    return refusals


def contract_refusals(body: Any, *, create: bool) -> set[str | None]:
    """The error codes the contract answers this thread body with; empty when it supports the whole body."""
    if not isinstance(body, dict):
        return set()  # no body at all: an empty body is fine on both
    refusals = metadata_refusals(body.get("metadata"))
    messages = body.get("messages") if create else None
    if isinstance(messages, list):
        if len(messages) > MAX_THREAD_MESSAGES:
            refusals.add("array_above_max_length")  # more than 32 messages in create-thread
        for message in messages:
            refusals |= message_refusals(message)
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
                        refusals |= identifier_refusals(identifier)  # an id in a list empty, or over 128
    return refusals


def list_refusals(query: dict[str, Any]) -> set[str | None]:
    """The contract's errors for a list's query (on a thread that holds none of the generated cursors)."""
    refusals: set[str | None] = set()
    limit = query.get("limit")
    if isinstance(limit, int) and not 1 <= limit <= MAX_PAGE_LIMIT:
        refusals.add("integer_below_min_value" if limit < 1 else "integer_above_max_value")
    for cursor in (query.get("after"), query.get("before")):
        if cursor is not None:
            # Not beginning with `msg`, or a message id this thread never held: both are `invalid_value`.
            refusals.add("invalid_value")
    return refusals


def expect_contract(response, refusals: set[str | None], tally) -> None:
    """A refused request gets one of the contract's errors for it, in OpenAI's envelope; any other one a 200."""
    if refusals:
        tally["refused"] += 1
        assert response.status_code == 400, (response.request.url, response.request.body, response.text)
        openai_error.validate(response.json())
        assert response.json()["error"]["code"] in refusals, (refusals, response.text)
    else:
        tally["accepted"] += 1
        assert response.status_code == 200, (response.request.url, response.request.body, response.text)  # and the
        # caller checked that it is OpenAI's object for it by OpenAI's own schema


openai_operations = openai_spec.include(operation_id=["createThread", "modifyThread"])
openai_operations.config.generation.update(modes=[GenerationMode.POSITIVE])
openai_operations.config.phases.update(phases=PHASES)
openai_message_operations = openai_messages_spec.include(
    operation_id=["createMessage", "modifyMessage", "listMessages"]
)
openai_message_operations.config.generation.update(modes=[GenerationMode.POSITIVE])
openai_message_operations.config.phases.update(phases=PHASES)
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
    expect_contract(response, refusals, tally)


@openai_message_operations.parametrize()
# moto copies every table at each transaction, so a message write costs more as the module's tables grow.
@fuzz_settings(max_examples=25)
def test_openai_spec_message_requests(case, table, tally):
    """On the fixture thread BASIC (its three messages, and whatever this module added); a modify on a message
    of its own, new for each request, so that the merge starts from nothing every time."""
    put_back(table, BASIC)
    operation = case.operation.definition.raw["operationId"]
    if operation == "modifyMessage":
        case.path_parameters = {"thread_id": BASIC.id, "message_id": new_message_id(BASIC.id)}
        refusals = metadata_refusals(case.body.get("metadata") if isinstance(case.body, dict) else None)
    elif operation == "createMessage":
        case.path_parameters = {"thread_id": BASIC.id}
        refusals = message_refusals(case.body)
    else:
        case.path_parameters = {"thread_id": BASIC.id}
        refusals = list_refusals(case.query or {})
    response = send(case, "openai", tally)
    # OpenAI's schema for the body through conforms_to_openai, which knows an empty page's null ids.
    case.validate_response(response, checks=[not_a_server_error, content_type_conformance])
    conforms_to_openai(case, response)
    expect_contract(response, refusals, tally)
