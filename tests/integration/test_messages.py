"""Messages through the Lambda entry point, on moto: create, list, retrieve, modify, delete, and create-thread with
messages; every error of the contract with its param and code; what each costs in DynamoDB calls."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from local.fixtures import BASIC, EMPTY, OTHER_API_KEY, UNKNOWN_ID

THREAD = BASIC.id
MESSAGES = f"/v1/threads/{THREAD}/messages"
TEXT = [{"type": "text", "text": {"value": "Hello", "annotations": []}}]
MESSAGE_KEYS = {
    "id",
    "object",
    "created_at",
    "thread_id",
    "status",
    "incomplete_details",
    "completed_at",
    "incomplete_at",
    "role",
    "content",
    "assistant_id",
    "run_id",
    "attachments",
    "metadata",
}


def create(invoke, body=None, thread=THREAD, **kwargs):
    result = invoke("POST", f"/v1/threads/{thread}/messages", body or {"role": "user", "content": "Hello"}, **kwargs)
    assert result.status == 200, result
    return result.json


def qs(query: dict) -> str:
    return urlencode(query)


def error(result):
    return (result.status, result.json["error"]["message"], result.json["error"]["param"], result.json["error"]["code"])


def calls_of_function_client() -> list[str]:
    from threads_api.resources import dynamodb_client

    made: list[str] = []
    dynamodb_client().meta.events.register("provide-client-params.dynamodb", lambda model, **_: made.append(model.name))
    return made


# The message object


def test_a_created_message_has_all_fourteen_keys_and_comes_back_the_same(invoke):
    before = int(time.time())
    message = create(invoke)
    assert message.keys() == MESSAGE_KEYS
    assert message["id"].startswith("msg_") and len(message["id"]) == 28 and message["id"][4:].isalnum()
    assert message["object"] == "thread.message"
    assert message["thread_id"] == THREAD
    assert before <= message["created_at"] <= int(time.time()) + 1
    assert (message["status"], message["incomplete_details"], message["completed_at"]) == ("completed", None, None)
    assert (message["incomplete_at"], message["assistant_id"], message["run_id"]) == (None, None, None)
    assert (message["role"], message["content"], message["attachments"], message["metadata"]) == ("user", TEXT, [], {})
    got = invoke("GET", f"{MESSAGES}/{message['id']}")
    assert got.status == 200 and got.json == message
    assert got.headers["etag"] == '"1"'


def test_content_parts_are_normalised(invoke):
    body = {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Hi"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
            {"type": "image_file", "image_file": {"file_id": "file-1"}},
        ],
        "attachments": [{"file_id": "file-2", "tools": [{"type": "code_interpreter"}, {"type": "file_search"}]}],
        "metadata": {"k": "v"},
    }
    message = create(invoke, body)
    assert message["role"] == "assistant"
    assert message["content"] == [
        {"type": "text", "text": {"value": "Hi", "annotations": []}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "auto"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
        {"type": "image_file", "image_file": {"file_id": "file-1", "detail": "auto"}},
    ]
    assert message["attachments"] == body["attachments"]
    assert message["metadata"] == {"k": "v"}
    assert invoke("GET", f"{MESSAGES}/{message['id']}").json == message


@pytest.mark.parametrize(
    "text",
    ["\U0001f600" * 256_000, "a" * 256_000, "".join(chr(0x10000 + (i * 7919) % 0xFFFFF) for i in range(256_000))],
    ids=["emoji", "ascii", "any-astral"],
)
def test_the_longest_text_comes_back_character_for_character(invoke, dynamodb, text):
    message = create(invoke, {"role": "user", "content": text})
    got = invoke("GET", f"{MESSAGES}/{message['id']}")
    assert got.status == 200
    assert got.json["content"][0]["text"]["value"] == text
    listed = invoke("GET", MESSAGES, query=qs({"limit": "1"}))
    assert listed.json["data"][0]["content"][0]["text"]["value"] == text


def test_a_body_too_large_for_an_item_is_kept_in_the_bucket(invoke, dynamodb):
    import boto3

    from local.embedded import CONTENT_BUCKET_NAME

    text = "".join(chr(0x10000 + (i * 7919) % 0xFFFFF) for i in range(256_000))  # barely compresses
    message = create(invoke, {"role": "user", "content": text})
    s3 = boto3.client("s3")
    bucket = CONTENT_BUCKET_NAME
    key = f"{THREAD}/{message['id']}"
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 96 * 1024
    assert s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"] == []  # kept: no longer pending
    small = create(invoke)
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{THREAD}/")
    assert [entry["Key"] for entry in listing["Contents"]] == [key]
    assert small["id"] not in key


# Errors of create, each with its param and code


def too_long_text(path: str, length: int) -> tuple:
    return (
        400,
        f"Invalid '{path}': string too long. Expected a string with maximum length 256000, but got a string with "
        f"length {length} instead.",
        path,
        "string_above_max_length",
    )


def wrong_type(path: str, expected: str, got: str) -> tuple:
    return (400, f"Invalid type for '{path}': expected {expected}, but got {got} instead.", path, "invalid_type")


CREATE_ERRORS = [
    ({"content": "x"}, (400, "Missing required parameter: 'role'.", "role", "missing_required_parameter")),
    ({"role": "user"}, (400, "Missing required parameter: 'content'.", "content", "missing_required_parameter")),
    (None, (400, "Missing required parameter: 'role'.", "role", "missing_required_parameter")),
    (
        {"role": "human", "content": "x"},
        (400, "Invalid value: 'human'. Supported values are: 'user' and 'assistant'.", "role", "invalid_value"),
    ),
    ({"role": 1, "content": "x"}, wrong_type("role", "a string", "an integer")),
    ({"role": "user", "content": ""}, (400, "Message content must be non-empty.", "content", None)),
    (
        {"role": "user", "content": []},
        (
            400,
            "Invalid 'content': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            "content",
            "empty_array",
        ),
    ),
    ({"role": "user", "content": "x" * 256_001}, too_long_text("content", 256_001)),
    ({"role": "user", "content": [{"type": "text", "text": "x" * 256_002}]}, too_long_text("content[0].text", 256_002)),
    (
        {"role": "user", "content": [{"type": "text", "text": "x"}] * 101},
        (
            400,
            "Invalid 'content': array too long. Expected an array with maximum length 100, but got an array with "
            "length 101 instead.",
            "content",
            "array_above_max_length",
        ),
    ),
    (
        {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "audio"}]},
        (
            400,
            "Invalid value: 'audio'. Supported values are: 'image_file', 'image_url', and 'text'.",
            "content[1].type",
            "invalid_value",
        ),
    ),
    (
        {"role": "user", "content": [{"type": "text", "text": ""}]},
        (
            400,
            "Invalid 'content[0].text': empty string. Expected a string with minimum length 1, but got an empty "
            "string instead.",
            "content[0].text",
            "empty_string",
        ),
    ),
    (
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y", "detail": "max"}}]},
        (
            400,
            "Invalid value: 'max'. Supported values are: 'auto', 'low', and 'high'.",
            "content[0].image_url.detail",
            "invalid_value",
        ),
    ),
    (
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://example.com/picture.png"}}]},
        (
            400,
            "Invalid 'content[0].image_url.url': expected a URL (http, https or data:image/), but got "
            "'ftp://example.com/picture.png' instead.",
            "content[0].image_url.url",
            "invalid_value",
        ),
    ),
    (
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/" + "y" * 2040}}]},
        (
            400,
            "Invalid 'content[0].image_url.url': expected a URL (http, https or data:image/), but got "
            "'https://x/yyyyyyyyyyyyyyyyyyyyyy' instead.",
            "content[0].image_url.url",
            "invalid_value",
        ),
    ),
    (
        {"role": "user", "content": [{"type": "image_file", "image_file": {}}]},
        (
            400,
            "Missing required parameter: 'content[0].image_file.file_id'.",
            "content[0].image_file.file_id",
            "missing_required_parameter",
        ),
    ),
    (
        {"role": "user", "content": [{"type": "text", "text": "x", "extra": 1}]},
        (400, "Unknown parameter: 'content[0].extra'.", "content[0].extra", "unknown_parameter"),
    ),
    ({"role": "user", "content": 5}, wrong_type("content", "one of a string or array of objects", "an integer")),
    ({"role": "user", "content": ["x"]}, wrong_type("content[0]", "an object", "a string")),
    (
        {"role": "user", "content": [{"type": "text", "text": 5}]},
        wrong_type("content[0].text", "a string", "an integer"),
    ),
    (
        {"role": "user", "content": "x", "attachments": [{"file_id": "f", "tools": []}] * 11},
        (
            400,
            "Invalid 'attachments': array too long. Expected an array with maximum length 10, but got an array with "
            "length 11 instead.",
            "attachments",
            "array_above_max_length",
        ),
    ),
    (
        {"role": "user", "content": "x", "attachments": [{"file_id": "f", "tools": [{"type": "browser"}]}]},
        (
            400,
            "Invalid value: 'browser'. Supported values are: 'code_interpreter' and 'file_search'.",
            "attachments[0].tools[0].type",
            "invalid_value",
        ),
    ),
    (
        {"role": "user", "content": "x", "attachments": [{"file_id": "", "tools": []}]},
        (
            400,
            "Invalid 'attachments[0].file_id': empty string. Expected a string with minimum length 1, but got an "
            "empty string instead.",
            "attachments[0].file_id",
            "empty_string",
        ),
    ),
    (
        {"role": "user", "content": "x", "metadata": {f"k{i}": "v" for i in range(17)}},
        (
            400,
            "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an "
            "object with 17 properties instead.",
            "metadata",
            "object_above_max_properties",
        ),
    ),
    ({"role": "user", "content": "x", "metadata": {"k": None}}, wrong_type("metadata.k", "a string", "null")),
    (
        {"role": "user", "content": "x", "file_ids": []},
        (400, "Unknown parameter: 'file_ids'.", "file_ids", "unknown_parameter"),
    ),
]


@pytest.mark.parametrize(("body", "expected"), CREATE_ERRORS)
def test_create_errors(invoke, body, expected):
    invoke("GET", f"/v1/threads/{THREAD}")  # the key is checked and cached
    made = calls_of_function_client()
    result = invoke("POST", MESSAGES, body)
    assert error(result) == expected
    assert made == []  # refused before any storage call


def test_the_first_problem_in_the_body_is_the_one_reported(invoke):
    body = {"content": [{"type": "audio"}], "role": "human"}
    assert error(invoke("POST", MESSAGES, body))[2] == "content[0].type"
    body = {"role": "human", "content": [{"type": "audio"}]}
    assert error(invoke("POST", MESSAGES, body))[2] == "role"


def test_create_on_a_missing_or_foreign_thread_is_the_threads_404(invoke):
    for thread, key in ((UNKNOWN_ID, None), (THREAD, OTHER_API_KEY), ("thread_short", None)):
        headers = {"authorization": f"Bearer {key}"} if key else None
        result = invoke("POST", f"/v1/threads/{thread}/messages", {"role": "user", "content": "x"}, headers=headers)
        assert error(result) == (404, f"No thread found with id '{thread}'.", None, None)


def test_path_ids_are_checked_before_the_body(invoke):
    result = invoke("POST", "/v1/threads/nope/messages", {"role": "human"})
    assert error(result) == (
        400,
        "Invalid 'thread_id': 'nope'. Expected an ID that begins with 'thread'.",
        "thread_id",
        "invalid_value",
    )
    result = invoke("POST", f"{MESSAGES}/nope", {"content": "x"})
    assert error(result) == (
        400,
        "Invalid 'message_id': 'nope'. Expected an ID that begins with 'msg'.",
        "message_id",
        "invalid_value",
    )


def test_the_create_routes_take_four_mib_and_the_others_one(invoke):
    content = "x" * (4 * 1024 * 1024 - 100)
    result = invoke("POST", MESSAGES, json.dumps({"role": "user", "content": content}))
    assert error(result)[2] == "content"  # read whole, refused by the text's length, not by the body's size
    over = json.dumps({"role": "user", "content": "x" * (4 * 1024 * 1024)})
    assert error(invoke("POST", MESSAGES, over)) == (
        413,
        f"Request body too large: {len(over)} bytes. The limit is 4194304 bytes.",
        None,
        "request_too_large",
    )
    message = create(invoke)
    modify = json.dumps({"metadata": {"k": "v" * (1024 * 1024)}})
    assert error(invoke("POST", f"{MESSAGES}/{message['id']}", modify))[0] == 413
    text = "\U0001f600" * 256_000  # 1,024,000 bytes as UTF-8, 3,072,000 as \\u escapes
    escaped = json.dumps({"role": "user", "content": text})
    assert len(escaped.encode()) > 3_000_000
    assert invoke("POST", MESSAGES, escaped).json["content"][0]["text"]["value"] == text


# Retrieve, modify, delete


def test_retrieve_modify_delete_of_an_unknown_message(invoke):
    for method, body in (("GET", None), ("POST", {"metadata": {"k": "v"}}), ("DELETE", None)):
        result = invoke(method, f"{MESSAGES}/msg_unknown", body)
        assert error(result) == (404, "No message found with id 'msg_unknown'.", None, None)
        result = invoke(method, f"/v1/threads/{UNKNOWN_ID}/messages/msg_unknown", body)
        assert error(result) == (404, f"No thread found with id '{UNKNOWN_ID}'.", None, None)


def test_a_message_of_another_thread_is_not_found(invoke):
    message = create(invoke, thread=EMPTY.id)
    result = invoke("GET", f"{MESSAGES}/{message['id']}")
    assert error(result) == (404, f"No message found with id '{message['id']}'.", None, None)


def test_modify_merges_metadata_and_takes_nothing_else(invoke):
    message = create(invoke, {"role": "user", "content": "x", "metadata": {"a": "1", "b": "2"}})
    path = f"{MESSAGES}/{message['id']}"
    result = invoke("POST", path, {"metadata": {"a": None, "c": "3"}})
    assert result.status == 200 and result.json["metadata"] == {"b": "2", "c": "3"}
    assert result.headers["etag"] == '"2"'
    assert result.json["content"] == message["content"]
    assert invoke("POST", path, {}).json["metadata"] == {"b": "2", "c": "3"}
    assert invoke("POST", path, {"metadata": None}).json["metadata"] == {}
    for key in ("content", "role"):
        assert error(invoke("POST", path, {key: "x"})) == (
            400,
            f"Unknown parameter: '{key}'.",
            key,
            "unknown_parameter",
        )
    many = {f"k{i}": "v" for i in range(17)}
    assert error(invoke("POST", path, {"metadata": many}))[3] == "object_above_max_properties"


def test_if_match_on_modify_and_delete(invoke):
    message = create(invoke)
    path = f"{MESSAGES}/{message['id']}"
    stale = invoke("POST", path, {"metadata": {"k": "v"}}, headers={"if-match": '"7"'})
    assert error(stale) == (
        412,
        "The message has changed since the given ETag; retrieve it and try again.",
        None,
        "precondition_failed",
    )
    assert invoke("POST", path, {"metadata": {"k": "v"}}, headers={"if-match": '"1"'}).status == 200
    assert invoke("DELETE", path, headers={"if-match": '"1"'}).status == 412
    assert invoke("DELETE", path, headers={"if-match": '"2"'}).status == 200


def test_delete_answers_the_deleted_object_then_404(invoke):
    message = create(invoke)
    path = f"{MESSAGES}/{message['id']}"
    result = invoke("DELETE", path)
    assert result.status == 200
    assert result.json == {"id": message["id"], "object": "thread.message.deleted", "deleted": True}
    for method in ("GET", "POST", "DELETE"):
        assert invoke(method, path, {} if method == "POST" else None).status == 404
    assert message["id"] not in [m["id"] for m in invoke("GET", MESSAGES).json["data"]]


def test_a_deleted_thread_has_no_messages(invoke):
    thread = invoke("POST", "/v1/threads", {}).json["id"]
    message = create(invoke, thread=thread)
    assert invoke("DELETE", f"/v1/threads/{thread}").status == 200
    not_found = (404, f"No thread found with id '{thread}'.", None, None)
    assert error(invoke("GET", f"/v1/threads/{thread}/messages")) == not_found
    assert error(invoke("GET", f"/v1/threads/{thread}/messages/{message['id']}")) == not_found
    assert error(invoke("POST", f"/v1/threads/{thread}/messages", {"role": "user", "content": "x"})) == not_found
    assert error(invoke("POST", f"/v1/threads/{thread}/messages/{message['id']}", {})) == not_found
    assert error(invoke("DELETE", f"/v1/threads/{thread}/messages/{message['id']}")) == not_found


# Create a thread with messages


def test_create_thread_with_messages_keeps_array_order_and_the_threads_created_at(invoke):
    bodies = [{"role": "user" if i % 2 else "assistant", "content": f"m{i}"} for i in range(32)]
    thread = invoke("POST", "/v1/threads", {"messages": bodies, "metadata": {"k": "v"}})
    assert thread.status == 200, thread
    listed = invoke("GET", f"/v1/threads/{thread.json['id']}/messages", query=qs({"order": "asc", "limit": "100"}))
    data = listed.json["data"]
    assert [m["content"][0]["text"]["value"] for m in data] == [f"m{i}" for i in range(32)]
    assert {m["created_at"] for m in data} == {thread.json["created_at"]}
    assert listed.json["has_more"] is False


def test_create_thread_with_a_bad_message_leaves_nothing(invoke, dynamodb):
    from local.embedded import MESSAGES_TABLE_NAME, TABLE_NAME

    threads_before = dynamodb.scan(TableName=TABLE_NAME)["Count"]
    bodies = [{"role": "user", "content": "ok"}] * 3 + [{"role": "system", "content": "no"}]
    result = invoke("POST", "/v1/threads", {"messages": bodies})
    assert error(result) == (
        400,
        "Invalid value: 'system'. Supported values are: 'user' and 'assistant'.",
        "messages[3].role",
        "invalid_value",
    )
    assert error(invoke("POST", "/v1/threads", {"messages": [{"role": "user", "content": "x"}] * 33})) == (
        400,
        "Invalid 'messages': array too long. Expected an array with maximum length 32, but got an array with "
        "length 33 instead.",
        "messages",
        "array_above_max_length",
    )
    body = {"messages": [{"role": "user", "content": "x", "metadata": {"": "v"}}]}
    assert error(invoke("POST", "/v1/threads", body)) == (
        400,
        "Invalid property name in 'messages[0].metadata': property names must not be empty.",
        "messages[0].metadata",
        "invalid_value",
    )
    assert dynamodb.scan(TableName=TABLE_NAME)["Count"] == threads_before
    assert dynamodb.scan(TableName=MESSAGES_TABLE_NAME)["Count"] == 0


def test_create_thread_with_messages_is_one_transaction(invoke):
    invoke("GET", f"/v1/threads/{THREAD}")  # the key is checked and cached
    made = calls_of_function_client()
    assert invoke("POST", "/v1/threads", {"messages": [{"role": "user", "content": "x"}] * 3}).status == 200
    assert made == ["TransactWriteItems"]
    made.clear()
    assert invoke("POST", "/v1/threads", {}).status == 200
    assert made == ["PutItem"]  # without messages, as before


# Lists


def contents(result) -> list[str]:
    return [m["content"][0]["text"]["value"] for m in result.json["data"]]


@pytest.fixture
def five(invoke):
    thread = invoke("POST", "/v1/threads", {}).json["id"]
    ids = [create(invoke, {"role": "user", "content": f"m{i}"}, thread=thread)["id"] for i in range(5)]
    return thread, ids


def test_lists_are_newest_first_by_default_and_page_relative_to_the_order(invoke, five):
    thread, ids = five
    path = f"/v1/threads/{thread}/messages"
    page = invoke("GET", path)
    assert contents(page) == ["m4", "m3", "m2", "m1", "m0"]
    assert page.json["first_id"] == ids[4] and page.json["last_id"] == ids[0] and page.json["has_more"] is False
    assert page.json["object"] == "list"
    assert contents(invoke("GET", path, query=qs({"limit": "2"}))) == ["m4", "m3"]
    assert invoke("GET", path, query=qs({"limit": "2"})).json["has_more"] is True
    assert contents(invoke("GET", path, query=qs({"after": ids[3]}))) == ["m2", "m1", "m0"]
    assert contents(invoke("GET", path, query=qs({"after": ids[3], "order": "asc"}))) == ["m4"]
    assert contents(invoke("GET", path, query=qs({"before": ids[1], "limit": "2"}))) == ["m3", "m2"]
    assert invoke("GET", path, query=qs({"before": ids[1], "limit": "2"})).json["has_more"] is True
    assert contents(invoke("GET", path, query=qs({"before": ids[1], "order": "asc"}))) == ["m0"]
    assert contents(invoke("GET", path, query=qs({"after": ids[0], "before": ids[4], "order": "asc"}))) == [
        "m1",
        "m2",
        "m3",
    ]
    assert contents(invoke("GET", path, query=qs({"after": ids[4], "before": ids[0]}))) == ["m3", "m2", "m1"]
    assert contents(invoke("GET", path, query=qs({"after": ids[1], "before": ids[2], "order": "asc"}))) == []
    empty = invoke("GET", f"/v1/threads/{EMPTY.id}/messages")
    assert empty.json == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


def test_a_cursor_deleted_meanwhile_still_pages_from_where_it_stood(invoke, five):
    thread, ids = five
    path = f"/v1/threads/{thread}/messages"
    assert invoke("DELETE", f"{path}/{ids[2]}").status == 200
    assert contents(invoke("GET", path, query=qs({"after": ids[2]}))) == ["m1", "m0"]
    assert contents(invoke("GET", path, query=qs({"after": ids[2], "order": "asc"}))) == ["m3", "m4"]
    assert contents(invoke("GET", path, query=qs({"before": ids[2]}))) == ["m4", "m3"]


def test_list_errors(invoke, five):
    thread, _ = five
    path = f"/v1/threads/{thread}/messages"
    assert error(invoke("GET", path, query=qs({"limit": "x"}))) == (
        400,
        "Invalid 'limit': expected an integer, but got 'x' instead.",
        "limit",
        "invalid_type",
    )
    assert error(invoke("GET", path, query=qs({"limit": "0"}))) == (
        400,
        "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got 0 instead.",
        "limit",
        "integer_below_min_value",
    )
    assert error(invoke("GET", path, query=qs({"limit": "101"}))) == (
        400,
        "Invalid 'limit': integer above maximum value. Expected a value <= 100, but got 101 instead.",
        "limit",
        "integer_above_max_value",
    )
    assert error(invoke("GET", path, query=qs({"order": "up"}))) == (
        400,
        "Invalid value: 'up'. Supported values are: 'asc' and 'desc'.",
        "order",
        "invalid_value",
    )
    for name in ("after", "before"):
        assert error(invoke("GET", path, query=qs({name: "x1"}))) == (
            400,
            f"Invalid '{name}': 'x1'. Expected an ID that begins with 'msg'.",
            name,
            "invalid_value",
        )
        assert error(invoke("GET", path, query=qs({name: "msg_never"}))) == (
            400,
            f"Invalid '{name}': no message with id 'msg_never' in this thread.",
            name,
            "invalid_value",
        )
    assert invoke("GET", path, query=qs({"unknown": "1"})).status == 200
    assert error(invoke("GET", f"/v1/threads/{UNKNOWN_ID}/messages"))[0] == 404


def test_a_page_costs_one_read_and_one_query_whatever_the_cursors(invoke, five):
    thread, ids = five  # the key is checked and cached
    path = f"/v1/threads/{thread}/messages"
    made = calls_of_function_client()
    for query in ({}, {"after": ids[1]}, {"after": ids[0], "before": ids[4], "order": "asc"}, {"limit": "100"}):
        made.clear()
        assert invoke("GET", path, query=qs(query)).status == 200
        assert made == ["BatchGetItem", "Query"], query
    made.clear()
    assert invoke("GET", f"{path}/{ids[0]}").status == 200
    assert made == ["BatchGetItem"]
    made.clear()
    create(invoke, thread=thread)
    assert made == ["TransactWriteItems"]
    made.clear()
    assert invoke("POST", f"{path}/{ids[0]}", {"metadata": {"k": "v"}}).status == 200
    assert made == ["BatchGetItem", "TransactWriteItems"]
    made.clear()
    assert invoke("DELETE", f"{path}/{ids[0]}").status == 200
    assert made == ["BatchGetItem", "TransactWriteItems"]


def test_run_id_filters(invoke, five):
    thread, _ = five
    listed = invoke("GET", f"/v1/threads/{thread}/messages", query=qs({"run_id": "run_abc"}))
    assert listed.status == 200 and listed.json["data"] == [] and listed.json["has_more"] is False


def test_a_page_of_large_messages_ends_before_five_megabytes(invoke, dynamodb):
    thread = invoke("POST", "/v1/threads", {}).json["id"]
    text = "\U0001f600" * 256_000  # about 3 MB in the answer, escaped
    for _ in range(3):
        create(invoke, {"role": "user", "content": text}, thread=thread)
    seen = []
    after = None
    while True:
        page = invoke(
            "GET", f"/v1/threads/{thread}/messages", query=qs({"limit": "100", **({"after": after} if after else {})})
        )
        assert page.status == 200
        assert len(page.raw["body"]) < 6_000_000
        seen += page.json["data"]
        if not page.json["has_more"]:
            break
        assert len(page.json["data"]) < 3
        after = page.json["last_id"]
    assert len(seen) == 3 and all(m["content"][0]["text"]["value"] == text for m in seen)


def test_order_follows_the_commits_even_when_a_clock_is_behind(invoke, monkeypatch):
    thread = invoke("POST", "/v1/threads", {}).json["id"]
    first = create(invoke, {"role": "user", "content": "first"}, thread=thread)
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - 3_600 * 10**9)  # an execution environment an hour behind
    second = create(invoke, {"role": "user", "content": "second"}, thread=thread)
    monkeypatch.setattr(time, "time_ns", real)
    third = create(invoke, {"role": "user", "content": "third"}, thread=thread)
    listed = invoke("GET", f"/v1/threads/{thread}/messages", query=qs({"order": "asc"}))
    assert [m["id"] for m in listed.json["data"]] == [first["id"], second["id"], third["id"]]


def test_idempotent_message_create(invoke):
    body = {"role": "user", "content": "once"}
    first = invoke("POST", MESSAGES, body, headers={"idempotency-key": "k-1"})
    again = invoke("POST", MESSAGES, body, headers={"idempotency-key": "k-1"})
    assert first.status == again.status == 200 and first.json == again.json
    other = invoke("POST", MESSAGES, {"role": "user", "content": "twice"}, headers={"idempotency-key": "k-1"})
    assert error(other)[3] == "idempotency_key_reused"
    assert [m["id"] for m in invoke("GET", MESSAGES).json["data"]].count(first.json["id"]) == 1


def invalid(message: str, param: str, code: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "order=asc&order=desc",
            invalid("Invalid value: 'asc,desc'. Supported values are: 'asc' and 'desc'.", "order", "invalid_value"),
        ),
        (
            "limit=1&order=asc&order=asc",
            invalid("Invalid value: 'asc,asc'. Supported values are: 'asc' and 'desc'.", "order", "invalid_value"),
        ),
        (
            "limit=5&limit=50",
            invalid("Invalid 'limit': expected an integer, but got '5,50' instead.", "limit", "invalid_type"),
        ),
        (
            "run_id=run_a&run_id=run_b",
            invalid(
                "Invalid type for 'run_id': expected a string, but got an array instead.", "run_id", "invalid_type"
            ),
        ),
        (
            "after=msg_a&after=msg_b",
            invalid("Invalid 'after': 'msg_a,msg_b'. Expected an ID that begins with 'msg'.", "after", "invalid_value"),
        ),
        ("after=", invalid("Invalid 'after': ''. Expected an ID that begins with 'msg'.", "after", "invalid_value")),
        ("limit=", invalid("Invalid 'limit': expected an integer, but got '' instead.", "limit", "invalid_type")),
    ],
)
def test_a_repeated_or_empty_query_parameter_is_answered_under_its_own_name(invoke, query, expected):
    """A parameter given twice reached validation as a list: `order` and `run_id` were answered as an error of
    `limit`, and every value was shown as a Python list. An empty one is a value, as API Gateway passes it."""
    listed = invoke("GET", f"/v1/threads/{THREAD}/messages", query=query)
    assert (listed.status, listed.json) == (400, expected)


@pytest.mark.parametrize(
    "url", ['http://"', "http://example.com/a b.png", "https://example.com/ü.png", "http://[::1", "data:image/png x"]
)
def test_an_image_url_that_is_no_uri_is_refused(invoke, url):
    """Found by the fuzzing of our document: any `http://` followed by anything was taken, and answered back as an
    image URL that OpenAI's MessageObject (`format: uri`) does not allow."""
    part = {"type": "image_url", "image_url": {"url": url}}
    created = invoke("POST", f"/v1/threads/{THREAD}/messages", {"role": "user", "content": [part]})
    assert (created.status, created.json) == (
        400,
        invalid(
            f"Invalid 'content[0].image_url.url': expected a URL (http, https or data:image/), but got '{url[:32]}' "
            "instead.",
            "content[0].image_url.url",
            "invalid_value",
        ),
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a.png",
        "HTTP://EXAMPLE.COM:8080/a%20b.png?size=2&v=1#top",
        "http://user:secret@[::1]:3000/x.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "data:image/svg+xml,%3Csvg%3E%3C/svg%3E",
    ],
)
def test_an_image_url_comes_back_as_given(invoke, url):
    part = {"type": "image_url", "image_url": {"url": url}}
    created = invoke("POST", f"/v1/threads/{THREAD}/messages", {"role": "user", "content": [part]})
    assert created.status == 200, created
    assert created.json["content"] == [{"type": "image_url", "image_url": {"url": url, "detail": "auto"}}]


def test_answers_are_text_unless_base64_is_smaller_in_what_lambda_carries(invoke):
    from threads_api.message import escaped_bytes

    for text in ["", 'a"b\\c', json.dumps({"k": 'q"\\' * 50, "v": ["\\n", "\\u0001"]})]:
        assert escaped_bytes(text) == len(json.dumps(text))
    ascii_message = create(invoke, {"role": "user", "content": 'quotes " and backslashes \\ ' * 100})
    got = invoke("GET", f"{MESSAGES}/{ascii_message['id']}")
    assert not got.raw.get("isBase64Encoded") and got.json == ascii_message
    emoji = create(invoke, {"role": "user", "content": "\U0001f600" * 1000})
    got = invoke("GET", f"{MESSAGES}/{emoji['id']}")
    assert got.raw["isBase64Encoded"] and got.json == emoji  # 5.3 bytes a character, not Lambda's 12


def test_the_largest_message_fits_what_lambda_answers(invoke, dynamodb):
    parts = [
        {"type": "text", "text": "".join(chr(0x10000 + (i * 7919 + k) % 0xFFFFF) for i in range(256_000))}
        for k in range(4)
    ]
    body = json.dumps({"role": "user", "content": parts}, ensure_ascii=False)
    assert len(body.encode()) <= 4 * 1024 * 1024
    created = invoke("POST", MESSAGES, body)
    assert created.status == 200, created
    for answer in (created, invoke("GET", f"{MESSAGES}/{created.json['id']}")):
        assert len(json.dumps(answer.raw)) < 6 * 1024 * 1024  # as Lambda writes it
        assert [part["text"]["value"] for part in answer.json["content"]] == [part["text"] for part in parts]
