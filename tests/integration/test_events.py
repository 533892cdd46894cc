"""The sample events in events/ replay through the Lambda entry point with the answers in events/expected/.

Each `events/<name>.json` is a plain API Gateway HTTP API (payload 2.0) event, usable with `sam local invoke -e`
and `make invoke EVENT=...`; `events/expected/<name>.json` holds `{"status": ..., "body": ...}` as the contract
words it. Only the create expectations (thread or message) may stand `"<thread_id>"`, `"<message_id>"` and
`"<created_at>"` for the fresh values. The message events name the fixture thread BASIC and its fixture messages;
they reach the function through the API's `$default` route, as the template routes them.
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
import subprocess
import time

import pytest
from conftest import Invoked

from local.embedded import MESSAGES_TABLE_NAME, TABLE_NAME
from local.events import LambdaContext, http_event
from local.fixtures import FIXTURE_MESSAGES, FIXTURE_THREADS

ROOT = pathlib.Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
EXPECTED = EVENTS / "expected"
EVENT_NAMES = sorted(path.stem for path in EVENTS.glob("*.json"))
EXPECTED_NAMES = sorted(path.stem for path in EXPECTED.glob("*.json"))

PLACEHOLDERS = ("<thread_id>", "<message_id>", "<created_at>")
FRESH_THREAD_ID = re.compile(r"thread_[A-Za-z0-9]{24}")
FRESH_MESSAGE_ID = re.compile(r"msg_[A-Za-z0-9]{24}")
THREAD_PATH = re.compile(r"/v1/threads/[^/]+")
MESSAGE_PATH = re.compile(r"/v1/threads/[^/]+/messages/[^/]+")
CREATES = ("create", "message-create")
# Every key `sam local generate-event apigateway http-api-proxy` writes; a real event leaves out the empty ones.
EVENT_KEYS = {
    "version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers", "queryStringParameters",
    "requestContext", "body", "pathParameters", "isBase64Encoded", "stageVariables",
}  # fmt: skip


def load(path: pathlib.Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def replay(event: dict) -> Invoked:
    import app

    return Invoked(app.lambda_handler(event, LambdaContext()))


def retrieve_as(event: dict, path: str | None = None) -> Invoked:
    """GET the thread `event` names (or `path`), as the same caller, through the handler."""
    headers = {name: value for name, value in event["headers"].items() if name != "content-length"}
    return replay(http_event("GET", path or event["rawPath"], headers={**headers, "openai-beta": "assistants=v2"}))


def stored_items(client) -> list[dict]:
    """Every thread and every message, as stored."""
    items = client.scan(TableName=TABLE_NAME)["Items"] + client.scan(TableName=MESSAGES_TABLE_NAME)["Items"]
    return sorted(items, key=lambda item: (item["thread_id"]["S"], item.get("message_id", {}).get("S", "")))


def fill_placeholders(expected, actual, created_between: tuple[int, int]):
    """`expected` with each placeholder replaced by the value in `actual` that fits it; unfit ones stay put."""
    if expected == "<thread_id>":
        fits = isinstance(actual, str) and FRESH_THREAD_ID.fullmatch(actual)
        return actual if fits and actual not in {thread.id for thread in FIXTURE_THREADS} else expected
    if expected == "<message_id>":
        fits = isinstance(actual, str) and FRESH_MESSAGE_ID.fullmatch(actual)
        return actual if fits and actual not in {message.id for message in FIXTURE_MESSAGES} else expected
    if expected == "<created_at>":
        fits = type(actual) is int and created_between[0] <= actual <= created_between[1]
        return actual if fits else expected
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {key: fill_placeholders(value, actual.get(key), created_between) for key, value in expected.items()}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [fill_placeholders(e, a, created_between) for e, a in zip(expected, actual, strict=True)]
    return expected


def placeholders_in(value) -> list[str]:
    if isinstance(value, dict):
        return [found for item in value.values() for found in placeholders_in(item)]
    if isinstance(value, list):
        return [found for item in value for found in placeholders_in(item)]
    return [value] if value in PLACEHOLDERS else []


def is_modify(event: dict) -> bool:
    """A thread's or a message's modify."""
    path = event["rawPath"]
    posted = event["requestContext"]["http"]["method"] == "POST"
    return posted and (THREAD_PATH.fullmatch(path) is not None or MESSAGE_PATH.fullmatch(path) is not None)


def is_empty_patch(event: dict) -> bool:
    body = event.get("body") or ""
    if event["isBase64Encoded"]:
        body = base64.b64decode(body).decode("utf-8")
    return not body.strip() or json.loads(body) == {}


def test_every_event_has_an_expected_answer_and_every_answer_an_event():
    assert EVENT_NAMES, "no events in events/"
    assert sorted(set(EVENT_NAMES) - set(EXPECTED_NAMES)) == [], "events without events/expected/<name>.json"
    assert sorted(set(EXPECTED_NAMES) - set(EVENT_NAMES)) == [], "expected answers without events/<name>.json"


def test_only_create_answers_use_placeholders():
    for name in EXPECTED_NAMES:
        if not name.startswith(CREATES):
            assert placeholders_in(load(EXPECTED / f"{name}.json")) == [], name


def test_request_ids_are_fixed_and_distinct():
    ids = [load(EVENTS / f"{name}.json")["requestContext"]["requestId"] for name in EVENT_NAMES]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_event_is_a_plain_http_api_event(name):
    event = load(EVENTS / f"{name}.json")
    assert set(event) <= EVENT_KEYS
    assert event["version"] == "2.0"
    assert isinstance(event["rawQueryString"], str)
    context = event["requestContext"]
    assert context["stage"] == "$default"
    assert context["routeKey"] == event["routeKey"]
    assert context["http"]["path"] == event["rawPath"]
    assert isinstance(context["requestId"], str) and context["requestId"]
    assert isinstance(context["time"], str) and type(context["timeEpoch"]) is int
    headers = event["headers"]
    assert all(header == header.lower() for header in headers), "API Gateway lower-cases header names"
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == "Bearer sk-local-example"
    assert headers["openai-beta"].startswith("assistants=")
    assert headers["user-agent"] == context["http"]["userAgent"]
    assert type(event["isBase64Encoded"]) is bool
    if "body" in event:
        body = event["body"]
        raw = base64.b64decode(body, validate=True) if event["isBase64Encoded"] else body.encode("utf-8")
        assert headers["content-length"] == str(len(raw))
    else:
        assert "content-length" not in headers


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_event_replays_to_its_expected_answer(name, dynamodb, fixture_messages):
    if not (EXPECTED / f"{name}.json").exists():
        pytest.fail(f"events/expected/{name}.json is missing")
    event = load(EVENTS / f"{name}.json")
    expected = load(EXPECTED / f"{name}.json")
    items_before = stored_items(dynamodb)
    before = retrieve_as(event) if is_modify(event) else None

    started = int(time.time())
    response = replay(event)
    created_between = (started, int(time.time()) + 1)

    assert response.status == expected["status"]
    assert response.json == fill_placeholders(expected["body"], response.json, created_between)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == event["requestContext"]["requestId"]
    if response.status == 200 and response.json.get("object") in ("thread", "thread.message"):
        assert re.fullmatch(r'"[^"]+"', response.headers.get("etag", "")), "a thread or message carries ETag"

    if response.status != 200:
        assert stored_items(dynamodb) == items_before, "an error leaves the table as it was"
    if is_modify(event):
        after = retrieve_as(event)
        if response.status == 200:
            assert (after.status, after.json, after.headers["etag"]) == (200, response.json, response.headers["etag"])
            moved = response.headers["etag"] != before.headers["etag"]
            assert moved != is_empty_patch(event), "an applied modify moves the version on; an empty one keeps it"
        else:
            assert (after.status, after.json, after.headers.get("etag")) == (
                before.status,
                before.json,
                before.headers.get("etag"),
            )
    elif response.status == 200 and response.json.get("object") == "thread":
        # Create (and retrieve) answer what is stored.
        stored = retrieve_as(event, f"/v1/threads/{response.json['id']}")
        assert (stored.status, stored.json) == (200, response.json)
    elif response.status == 200 and response.json.get("object") == "thread.message":
        stored = retrieve_as(event, f"/v1/threads/{response.json['thread_id']}/messages/{response.json['id']}")
        assert (stored.status, stored.json) == (200, response.json)
    elif response.status == 200 and response.json.get("object") in ("thread.deleted", "thread.message.deleted"):
        gone = retrieve_as(event)
        assert gone.status == 404


@pytest.mark.parametrize("name", ["modify-metadata", "message-create"])
def test_make_invoke_prints_the_expected_answer(name):
    """The README's replay command, `make invoke EVENT=...`, run as a user would from the repo root."""
    event = load(EVENTS / f"{name}.json")
    expected = load(EXPECTED / f"{name}.json")
    started = int(time.time())
    result = subprocess.run(
        ["make", "--no-print-directory", "invoke", f"EVENT=events/{name}.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    # make echoes the setup step before the response: the response is the JSON object that follows.
    start = re.search(r"^\{", result.stdout, re.MULTILINE)
    assert start, result.stdout
    response, _ = json.JSONDecoder().raw_decode(result.stdout, start.start())
    assert response["statusCode"] == expected["status"]
    assert response["body"] == fill_placeholders(expected["body"], response["body"], (started, int(time.time()) + 1))
    assert placeholders_in(response["body"]) == []
    assert response["headers"]["x-request-id"] == event["requestContext"]["requestId"]
