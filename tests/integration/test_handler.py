"""The Lambda entry point with real API Gateway v2 event shapes: envelope, headers, body reading, order of checks."""

from __future__ import annotations

import json
import logging
import re

import botocore.exceptions
import pytest
from botocore.stub import Stubber

from local.fixtures import BASIC, EMPTY, FULL, UNKNOWN_ID
from local.openapi import DOCUMENT_PATH, openapi_document

THREAD_ID = re.compile(r"thread_[A-Za-z0-9]{24}")
INVALID_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The API expects a JSON payload, but what was sent was not valid JSON.)"
)


def error_of(result) -> dict:
    assert set(result.json) == {"error"}
    assert set(result.json["error"]) == {"message", "type", "param", "code"}
    return result.json["error"]


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> dict:
    """The contract's error object for a request problem."""
    return {"message": message, "type": "invalid_request_error", "param": param, "code": code}


def test_create_answers_the_thread_with_headers(invoke):
    result = invoke("POST", "/v1/threads", {"metadata": {"a": "1"}})
    assert result.status == 200
    assert THREAD_ID.fullmatch(result.json["id"])
    assert result.json["object"] == "thread"
    assert type(result.json["created_at"]) is int
    assert result.json["metadata"] == {"a": "1"} and result.json["tool_resources"] == {}
    assert result.headers["content-type"] == "application/json"
    assert result.headers["etag"] == '"1"'
    assert result.headers["x-request-id"]


def test_create_ids_are_unique_and_random(invoke):
    ids = {invoke("POST", "/v1/threads").json["id"] for _ in range(50)}
    assert len(ids) == 50


def test_every_response_carries_the_api_gateway_request_id(invoke):
    for method, path in [
        ("GET", f"/v1/threads/{BASIC.id}"),
        ("GET", "/v1/nothing"),
        ("GET", f"/v1/threads/{UNKNOWN_ID}"),
    ]:
        result = invoke(method, path, request_id="req-12345")
        assert result.headers["x-request-id"] == "req-12345"
        assert result.headers["content-type"] == "application/json"


@pytest.mark.parametrize("body", [None, "", "   \n\t ", "{}"])
def test_empty_bodies_create_an_empty_thread(invoke, body):
    result = invoke("POST", "/v1/threads", body)
    assert result.status == 200
    assert result.json["metadata"] == {} and result.json["tool_resources"] == {}


@pytest.mark.parametrize("body", [None, "  ", "{}", '{"metadata": {}}', '{"tool_resources": {"code_interpreter": {}}}'])
def test_modify_with_nothing_to_change_keeps_thread_and_version(invoke, body):
    result = invoke("POST", f"/v1/threads/{BASIC.id}", body)
    assert result.status == 200
    assert result.json["metadata"] == BASIC.metadata
    assert result.json["tool_resources"] == BASIC.tool_resources
    assert result.headers["etag"] == '"1"'


def test_base64_encoded_bodies_are_read(invoke):
    body = {"metadata": {"snowman": "☃", "emoji": "🧵"}}
    created = invoke("POST", "/v1/threads", json.dumps(body, ensure_ascii=False), base64_body=True)
    assert created.status == 200 and created.json["metadata"] == body["metadata"]
    modified = invoke("POST", f"/v1/threads/{created.json['id']}", {"metadata": {"snowman": None}}, base64_body=True)
    assert modified.json["metadata"] == {"emoji": "🧵"}


@pytest.mark.parametrize(
    "body, base64_body",
    [
        (b"\xff\xfe{}", True),  # not UTF-8
        ('{"metadata": {"a": "\\ud800"}}', False),  # a lone surrogate is no Unicode text
        ("{bad", False),
        ('{"metadata": {"a": NaN}}', False),
        ("[" * 100_000 + "]" * 100_000, False),  # nested too deeply to parse
        ('{"a": 1} x', False),
    ],
)
def test_unreadable_bodies_are_invalid_json_and_change_nothing(invoke, body, base64_body):
    result = invoke("POST", f"/v1/threads/{BASIC.id}", body, base64_body=base64_body)
    assert result.status == 400
    assert error_of(result) == invalid_request(INVALID_JSON)
    assert invoke("GET", f"/v1/threads/{BASIC.id}").headers["etag"] == '"1"'


@pytest.mark.parametrize(
    "body, kind",
    [
        ("[]", "an array"),
        ('"x"', "a string"),
        ("3", "an integer"),
        ("1.5", "a number"),
        ("true", "a boolean"),
        (" null ", "null"),
    ],
)
def test_a_body_that_is_not_an_object(invoke, body, kind):
    result = invoke("POST", "/v1/threads", body)
    assert result.status == 400
    assert error_of(result) == invalid_request(
        f"Invalid type for 'body': expected an object, but got {kind} instead.", code="invalid_type"
    )


def test_bodies_over_one_mebibyte_are_refused_with_their_size(invoke):
    body = json.dumps({"metadata": {"a": "x" * 1_048_576}})
    result = invoke("POST", f"/v1/threads/{BASIC.id}", body)
    assert result.status == 413
    assert error_of(result) == invalid_request(
        f"Request body too large: {len(body)} bytes. The limit is 1048576 bytes.", code="request_too_large"
    )
    exactly_at_limit = '{"metadata": {}}'.ljust(1_048_576)
    assert invoke("POST", f"/v1/threads/{BASIC.id}", exactly_at_limit).status == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_every_body_is_read_as_json_whatever_its_content_type(invoke, content_type):
    good = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"k": "v"}}, headers={"content-type": content_type})
    assert good.status == 200 and good.json["metadata"]["k"] == "v"
    bad = invoke("POST", f"/v1/threads/{BASIC.id}", "a=1&b=2", headers={"content-type": content_type})
    assert bad.status == 400 and error_of(bad)["message"] == INVALID_JSON


def test_retrieve_accepts_a_json_content_type_and_no_body(invoke):
    result = invoke("GET", f"/v1/threads/{BASIC.id}", None, headers={"content-type": "application/json"})
    assert result.status == 200
    assert result.json == {
        "id": BASIC.id,
        "object": "thread",
        "created_at": BASIC.created_at,
        "metadata": BASIC.metadata,
        "tool_resources": BASIC.tool_resources,
    }


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/nothing"),
        ("PUT", f"/v1/threads/{BASIC.id}"),
        ("PATCH", "/v1/threads"),
        ("GET", "/v1/threads"),
        ("GET", "/"),
        ("POST", f"/v1/threads/{BASIC.id}/runs"),
        ("GET", "/v1/threads/a%2Fb/x"),
        ("DELETE", "/v2/threads/thread_x"),
    ],
)
def test_unknown_routes_answer_invalid_url(invoke, method, path):
    result = invoke(method, path, "{bad")
    assert result.status == 404
    assert error_of(result) == invalid_request(f"Invalid URL ({method} {path})")


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("thread_id", ["abc", "Thread_x", "run_123", "%74hread"])
def test_ids_not_beginning_with_thread_are_invalid(invoke, method, thread_id):
    result = invoke(method, f"/v1/threads/{thread_id}", "{}" if method == "POST" else None)
    assert result.status == 400
    assert error_of(result) == invalid_request(
        f"Invalid 'thread_id': '{thread_id}'. Expected an ID that begins with 'thread'.",
        param="thread_id",
        code="invalid_value",
    )


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("thread_id", [UNKNOWN_ID, "thread", "thread_" + "x" * 10_000, "thread_abc.def", "threadABC"])
def test_unknown_threads_are_not_found(invoke, dynamodb, method, thread_id):
    result = invoke(method, f"/v1/threads/{thread_id}", '{"metadata": {"a": "b"}}' if method == "POST" else None)
    assert result.status == 404
    assert error_of(result) == invalid_request(f"No thread found with id '{thread_id}'.")
    assert "Item" not in dynamodb.get_item(TableName="threads-local", Key={"thread_id": {"S": thread_id[:2048]}})


@pytest.mark.parametrize(
    "beta, status",
    [("assistants=v2", 200), ("assistants=v1", 400), ("assistants=v1, assistants=v2", 200), ("x=y", 200)],
)
def test_openai_beta_header(invoke, beta, status):
    result = invoke("GET", f"/v1/threads/{BASIC.id}", headers={"OpenAI-Beta": beta})
    assert result.status == status
    if status == 400:
        assert error_of(result) == invalid_request(
            "The v1 Assistants API has been deprecated. Please try again by setting the header "
            "'OpenAI-Beta: assistants=v2'.",
            code="invalid_beta",
        )


def test_order_of_checks(invoke):
    v1 = {"openai-beta": "assistants=v1"}
    huge = "x" * 1_048_577
    # beta header, then body size, then path id, then body parse, then body fields, then existence, then the count
    assert error_of(invoke("POST", "/v1/threads/bad", huge, headers=v1))["code"] == "invalid_beta"
    assert error_of(invoke("POST", "/v1/threads/bad", huge))["code"] == "request_too_large"
    assert error_of(invoke("POST", "/v1/threads/bad", "{bad"))["code"] == "invalid_value"
    assert error_of(invoke("POST", f"/v1/threads/{UNKNOWN_ID}", "{bad"))["message"] == INVALID_JSON
    assert error_of(invoke("POST", f"/v1/threads/{UNKNOWN_ID}", {"nope": 1}))["code"] == "unknown_parameter"
    seventeen = {"metadata": {f"n{i}": "v" for i in range(17)}}
    assert invoke("POST", f"/v1/threads/{UNKNOWN_ID}", seventeen).status == 404
    assert error_of(invoke("POST", f"/v1/threads/{EMPTY.id}", seventeen))["code"] == "object_above_max_properties"
    # unknown routes come before everything but authentication
    assert error_of(invoke("POST", "/v1/nothing", huge, headers=v1))["message"] == "Invalid URL (POST /v1/nothing)"


def test_modify_merges_and_answers_the_whole_thread(invoke):
    result = invoke(
        "POST",
        f"/v1/threads/{BASIC.id}",
        {
            "metadata": {"topic": "refunds", "user": None, "new": "yes"},
            "tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}},
        },
    )
    assert result.status == 200
    assert result.json["metadata"] == {"topic": "refunds", "new": "yes"}
    assert result.json["tool_resources"] == {
        "code_interpreter": {"file_ids": ["file-abc123"]},
        "file_search": {"vector_store_ids": ["vs_1"]},
    }
    assert result.headers["etag"] == '"2"'
    assert invoke("GET", f"/v1/threads/{BASIC.id}").json == result.json


def test_modify_nulls_remove_everything_they_name(invoke):
    result = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": None, "tool_resources": None})
    assert (result.json["metadata"], result.json["tool_resources"]) == ({}, {})
    again = invoke(
        "POST",
        f"/v1/threads/{BASIC.id}",
        {"metadata": {"a": "b"}, "tool_resources": {"code_interpreter": {"file_ids": []}}},
    )
    assert again.json["tool_resources"] == {"code_interpreter": {"file_ids": []}}
    removed = invoke("POST", f"/v1/threads/{BASIC.id}", {"tool_resources": {"code_interpreter": {"file_ids": None}}})
    assert removed.json["tool_resources"] == {} and removed.json["metadata"] == {"a": "b"}
    assert removed.headers["etag"] == '"4"'


def test_the_sixteen_pair_limit_counts_the_merged_result(invoke):
    assert invoke("POST", f"/v1/threads/{FULL.id}", {"metadata": {"key01": "changed"}}).status == 200
    swapped = invoke("POST", f"/v1/threads/{FULL.id}", {"metadata": {"key02": None, "fresh": "v"}})
    assert swapped.status == 200 and len(swapped.json["metadata"]) == 16
    refused = invoke("POST", f"/v1/threads/{FULL.id}", {"metadata": {"another": "v"}})
    assert refused.status == 400
    assert error_of(refused)["message"] == (
        "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
        "but got an object with 17 properties instead."
    )
    assert invoke("GET", f"/v1/threads/{FULL.id}").json == swapped.json


def test_delete_then_everything_is_not_found(invoke):
    deleted = invoke("DELETE", f"/v1/threads/{BASIC.id}")
    assert deleted.status == 200
    assert deleted.json == {"id": BASIC.id, "object": "thread.deleted", "deleted": True}
    for method in ("GET", "POST", "DELETE"):
        assert invoke(method, f"/v1/threads/{BASIC.id}", "{}" if method == "POST" else None).status == 404


def key_checked(invoke) -> None:
    """One request first, so that the caller's key is cached and the faults below hit the thread calls."""
    assert invoke("GET", f"/v1/threads/{BASIC.id}").status == 200


def test_storage_throttling_answers_503_with_retry_after(invoke):
    from threads_api.routes import thread_store

    key_checked(invoke)
    store = thread_store()
    with Stubber(store._client) as stubber:
        stubber.add_client_error(
            "get_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
        )
        result = invoke("GET", f"/v1/threads/{BASIC.id}")
    assert result.status == 503
    assert result.headers["retry-after"] == "1"
    error = error_of(result)
    assert error["type"] == "server_error" and error["param"] is None and error["code"] is None


def test_unexpected_errors_answer_a_generic_500_without_internals(invoke):
    import app
    from threads_api.routes import thread_store

    records: list[str] = []
    collector = logging.Handler()
    collector.emit = lambda record: records.append(app.logger.registered_formatter.format(record))
    app.logger.addHandler(collector)

    key_checked(invoke)
    store = thread_store()
    with Stubber(store._client) as stubber:
        stubber.add_client_error(
            "update_item", service_error_code="ValidationException", service_message="secret detail"
        )
        result = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "b"}})
    assert result.status == 500
    error = error_of(result)
    assert error["type"] == "server_error" and error["code"] is None
    assert "secret detail" not in result.raw["body"] and "Traceback" not in result.raw["body"]
    app.logger.removeHandler(collector)
    logged = [json.loads(line) for line in records]  # the full error is in the log, with the request id
    assert any("secret detail" in entry.get("exception", "") and entry.get("correlation_id") for entry in logged)
    assert invoke("GET", f"/v1/threads/{BASIC.id}").json["metadata"] == BASIC.metadata


def test_threads_are_stored_with_their_project(invoke, dynamodb):
    created = invoke("POST", "/v1/threads", {"metadata": {"a": "1"}})
    item = dynamodb.get_item(TableName="threads-local", Key={"thread_id": {"S": created.json["id"]}})["Item"]
    assert item["project"] == {"S": "proj_default"}
    assert item["version"] == {"N": "1"}
    assert item["created_at"] == {"N": str(created.json["created_at"])}


@pytest.mark.parametrize(
    "fault",
    [
        botocore.exceptions.EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
        botocore.exceptions.ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
        botocore.exceptions.ConnectionClosedError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    ],
    ids=type,
)
def test_an_unreachable_dynamodb_answers_503_and_changes_nothing(invoke, fault):
    from threads_api.routes import thread_store

    def unreachable(**_):
        raise fault

    key_checked(invoke)
    events = thread_store()._client.meta.events
    events.register("before-send.dynamodb", unreachable)
    try:
        result = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "b"}})
    finally:
        events.unregister("before-send.dynamodb", unreachable)
    assert result.status == 503 and result.headers["retry-after"] == "1"
    assert error_of(result)["type"] == "server_error"
    assert invoke("GET", f"/v1/threads/{BASIC.id}").json["metadata"] == BASIC.metadata


def test_an_event_that_cannot_be_resolved_still_gets_the_envelope():
    import app
    from local.events import LambdaContext

    context = LambdaContext(aws_request_id="lambda-request-1")
    response = app.lambda_handler({"rawPath": "/v1/threads", "body": "{}"}, context)  # no requestContext
    assert response["statusCode"] == 500
    assert response["headers"]["x-request-id"] == "lambda-request-1"
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"])["error"]["type"] == "server_error"


# Which write path a patch takes: up to 32 keys named, per-key clauses in one UpdateItem; more, merged here.


def calls_of_function_client() -> list[tuple[str, dict]]:
    from threads_api.resources import dynamodb_client

    made: list[tuple[str, dict]] = []
    dynamodb_client().meta.events.register(
        "provide-client-params.dynamodb", lambda params, model, **_: made.append((model.name, params))
    )
    return made


@pytest.mark.parametrize(
    "sets, removes, path",
    [(0, 32, "per-key"), (0, 33, "merged"), (16, 16, "per-key"), (16, 17, "merged"), (1, 31, "per-key")],
)
def test_a_patch_of_more_than_32_keys_is_merged_and_written_whole(invoke, sets, removes, path):
    assert invoke("GET", f"/v1/threads/{EMPTY.id}").status == 200  # the key is checked and cached
    made = calls_of_function_client()
    body = {"metadata": {**{f"s{i}": "v" for i in range(sets)}, **{f"r{i}": None for i in range(removes)}}}
    result = invoke("POST", f"/v1/threads/{EMPTY.id}", body)
    assert result.status == 200 and result.json["metadata"] == {f"s{i}": "v" for i in range(sets)}
    operations = [name for name, _ in made]
    if path == "per-key":
        assert operations == ["UpdateItem"]
        assert f"#md.#r{removes - 1}" in made[0][1]["UpdateExpression"]
    else:
        assert operations == ["GetItem", "UpdateItem"]
        assert "#md = :md" in made[1][1]["UpdateExpression"]


@pytest.mark.parametrize("field", ["messages", "tool_resources.file_search.vector_stores"])
@pytest.mark.parametrize("value", ["text", 1, {"role": "user"}, True])
def test_create_wants_an_array_of_messages_and_of_vector_stores(invoke, field, value):
    body: dict = {}
    target = body
    *parents, last = field.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[last] = value
    result = invoke("POST", "/v1/threads", body)
    kind = {str: "a string", int: "an integer", dict: "an object", bool: "a boolean"}[type(value)]
    assert result.status == 400
    assert result.json == {
        "error": {
            "message": f"Invalid type for '{field}': expected an array, but got {kind} instead.",
            "type": "invalid_request_error",
            "param": field,
            "code": "invalid_type",
        }
    }


def test_the_api_serves_the_checked_in_document(invoke):
    response = invoke("GET", "/v1/openapi.json")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.raw["body"] == DOCUMENT_PATH.read_text(encoding="utf-8")
    assert response.headers["x-request-id"]


def test_only_get_on_the_exact_path_serves_it(invoke):
    for method, path in (("GET", "/v1/openapiXjson"), ("POST", "/v1/openapi.json"), ("GET", "/openapi.json")):
        response = invoke(method, path)
        assert response.status == 404, (method, path)
        assert response.json["error"]["message"] == f"Invalid URL ({method} {path})"
    assert "/v1/openapi.json" not in openapi_document()["paths"]
