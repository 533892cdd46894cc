"""If-Match on modify and delete, and Idempotency-Key on create, through the Lambda entry point and the client."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid

import openai
import pytest

from local.embedded import IDEMPOTENCY_TABLE_NAME, TABLE_NAME
from local.fixtures import BASIC, FULL, OTHER_API_KEY, UNKNOWN_ID
from threads_api import errors

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PRECONDITION_FAILED = {
    "message": "The thread has changed since the given ETag; retrieve it and try again.",
    "type": "invalid_request_error",
    "param": None,
    "code": "precondition_failed",
}
KEY_REUSED = {
    "message": "This Idempotency-Key was already used with a different request body.",
    "type": "invalid_request_error",
    "param": None,
    "code": "idempotency_key_reused",
}


def stored(dynamodb, thread_id: str) -> dict | None:
    return dynamodb.get_item(TableName=TABLE_NAME, Key={"thread_id": {"S": thread_id}}).get("Item")


def count_calls(store_client) -> list[str]:
    """The DynamoDB operations the function's client makes from now on, by name."""
    calls: list[str] = []
    store_client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    return calls


@pytest.fixture
def calls(invoke):
    from threads_api.resources import dynamodb_client

    assert invoke("GET", f"/v1/threads/{BASIC.id}").status == 200  # the key is checked and cached
    return count_calls(dynamodb_client())


# If-Match on modify.


def test_a_matching_etag_applies_the_change_in_one_call(invoke, calls):
    result = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "1"}}, headers={"if-match": '"1"'})
    assert result.status == 200 and result.headers["etag"] == '"2"'
    assert calls == ["UpdateItem"]  # the version is part of the conditional write, not a read before it


@pytest.mark.parametrize("if_match", ['"1"', '"7", "1"', '"1","2"', "*", " * "])
def test_if_match_forms_that_match(invoke, if_match):
    result = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "1"}}, headers={"if-match": if_match})
    assert result.status == 200 and result.json["metadata"]["a"] == "1"


@pytest.mark.parametrize("if_match", ['"2"', '"0", "3"', 'W/"1"', "1", '"one"', '""', ",", '"1'])
def test_if_match_that_does_not_match_is_412_and_changes_nothing(invoke, dynamodb, if_match):
    before = stored(dynamodb, BASIC.id)
    result = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "1"}}, headers={"if-match": if_match})
    assert result.status == 412 and result.json == {"error": PRECONDITION_FAILED}
    assert result.headers["x-request-id"]
    assert stored(dynamodb, BASIC.id) == before


def test_existence_is_checked_before_if_match(invoke):
    for if_match in ('"1"', "*", 'W/"x"'):
        result = invoke("POST", f"/v1/threads/{UNKNOWN_ID}", {"metadata": {"a": "1"}}, headers={"if-match": if_match})
        assert result.status == 404
    other = invoke(
        "POST",
        f"/v1/threads/{BASIC.id}",
        {"metadata": {"a": "1"}},
        headers={"if-match": '"2"', "authorization": f"Bearer {OTHER_API_KEY}"},
    )
    assert other.status == 404  # another project's thread: missing, not "changed"


def test_if_match_is_checked_before_the_pair_count(invoke, dynamodb):
    before = stored(dynamodb, FULL.id)
    stale = invoke("POST", f"/v1/threads/{FULL.id}", {"metadata": {"key17": "x"}}, headers={"if-match": '"9"'})
    assert stale.status == 412
    current = invoke("POST", f"/v1/threads/{FULL.id}", {"metadata": {"key17": "x"}}, headers={"if-match": '"1"'})
    assert current.status == 400 and current.json["error"]["code"] == "object_above_max_properties"
    assert stored(dynamodb, FULL.id) == before


def test_if_match_near_the_limit_merges_on_the_matching_version(invoke):
    result = invoke(
        "POST",
        f"/v1/threads/{FULL.id}",
        {"metadata": {"key01": "new", "key02": None, "key17": "x"}},
        headers={"if-match": '"1"'},
    )
    assert result.status == 200 and result.headers["etag"] == '"2"'
    assert len(result.json["metadata"]) == 16 and result.json["metadata"]["key01"] == "new"
    stale = invoke("POST", f"/v1/threads/{FULL.id}", {"metadata": {"key01": "newer"}}, headers={"if-match": '"1"'})
    assert stale.status == 412


def test_an_empty_modify_checks_if_match_and_writes_nothing(invoke, dynamodb):
    before = stored(dynamodb, BASIC.id)
    assert invoke("POST", f"/v1/threads/{BASIC.id}", {}, headers={"if-match": '"5"'}).status == 412
    result = invoke("POST", f"/v1/threads/{BASIC.id}", {}, headers={"if-match": '"1"'})
    assert result.status == 200 and result.headers["etag"] == '"1"'
    assert stored(dynamodb, BASIC.id) == before


def test_only_one_of_two_writers_holding_the_same_etag_wins(invoke):
    first = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"w": "1"}}, headers={"if-match": '"1"'})
    second = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"w": "2"}}, headers={"if-match": '"1"'})
    assert (first.status, second.status) == (200, 412)
    assert invoke("GET", f"/v1/threads/{BASIC.id}").json["metadata"]["w"] == "1"


# Tags that no version can be, and long lists of them.

ODD_TAGS = [
    '"' + "9" * 5000 + '"',  # int() refuses that many digits
    '"' + "1" * 40 + '"',  # more than a DynamoDB number holds
    '"' + "1" * 20 + '"',  # one digit more than a version has
    '"01"',
    '"0"',
    '"-1"',
    '"+1"',
    '"1.0"',
    '" 1"',
    '"１"',  # a full-width digit: a digit to Python, not ASCII
    '"1"x',
]


@pytest.mark.parametrize("if_match", ODD_TAGS)
@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_a_tag_no_version_can_be_matches_nothing(invoke, dynamodb, calls, method, if_match):
    before = stored(dynamodb, BASIC.id)
    result = invoke(
        method,
        f"/v1/threads/{BASIC.id}",
        {"metadata": {"a": "b"}} if method == "POST" else None,
        headers={"if-match": if_match},
    )
    assert result.status == 412 and result.json == {"error": PRECONDITION_FAILED}
    assert calls == ["GetItem"]  # 404 or 412: nothing can match, so nothing is written
    assert stored(dynamodb, BASIC.id) == before


def test_nineteen_digits_is_a_version_tag(invoke, dynamodb, calls):
    result = invoke(
        "POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "b"}}, headers={"if-match": '"' + "9" * 19 + '"'}
    )
    assert result.status == 412
    assert calls == ["UpdateItem"]  # a version it could be: asked in the conditional write


def thread_at_version(dynamodb, version: int) -> None:
    from dataclasses import replace

    from local.fixtures import EMPTY
    from threads_api.store import to_item

    dynamodb.put_item(TableName=TABLE_NAME, Item=to_item(replace(EMPTY, version=version)))


@pytest.mark.parametrize("method", ["POST", "DELETE"])
@pytest.mark.parametrize("named", [100, 101, 400])
def test_many_versions_named_the_current_one_among_them(invoke, dynamodb, calls, method, named):
    """DynamoDB's IN takes 100 operands: up to 100 names go in the write's condition; more cost a read, and the
    write is pinned to the version read, so no named version is dropped."""
    from local.fixtures import EMPTY

    thread_at_version(dynamodb, named)  # the largest of the names: the one a cut to 100 would drop
    if_match = ", ".join(f'"{version}"' for version in range(1, named + 1))
    body = {"metadata": {"a": "b"}} if method == "POST" else None
    result = invoke(method, f"/v1/threads/{EMPTY.id}", body, headers={"if-match": if_match})
    assert result.status == 200, result
    assert calls == (["UpdateItem"] if named <= 100 else ["GetItem", "UpdateItem"])
    if method == "POST":
        assert result.headers["etag"] == f'"{named + 1}"'
    else:
        assert invoke("GET", f"/v1/threads/{EMPTY.id}").status == 404


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_many_versions_named_none_of_them_current(invoke, dynamodb, calls, method):
    from local.fixtures import EMPTY

    thread_at_version(dynamodb, 500)
    if_match = ", ".join(f'"{version}"' for version in range(1, 150))
    body = {"metadata": {"a": "b"}} if method == "POST" else None
    result = invoke(method, f"/v1/threads/{EMPTY.id}", body, headers={"if-match": if_match})
    assert result.status == 412 and calls == ["GetItem"]


# If-Match on delete.


def test_delete_with_a_stale_etag_is_412_and_keeps_the_thread(invoke, dynamodb, calls):
    result = invoke("DELETE", f"/v1/threads/{BASIC.id}", headers={"if-match": '"3"'})
    assert result.status == 412 and result.json == {"error": PRECONDITION_FAILED}
    assert stored(dynamodb, BASIC.id)["metadata"] == {"M": {k: {"S": v} for k, v in BASIC.metadata.items()}}
    assert "deleted_at" not in stored(dynamodb, BASIC.id)
    assert calls == ["UpdateItem"]  # the tombstone write, refused by its condition


def test_delete_with_the_current_etag_deletes(invoke, dynamodb):
    assert invoke("DELETE", f"/v1/threads/{BASIC.id}", headers={"if-match": '"1"'}).status == 200
    assert "deleted_at" in stored(dynamodb, BASIC.id) and "metadata" not in stored(dynamodb, BASIC.id)  # a tombstone
    assert invoke("DELETE", f"/v1/threads/{BASIC.id}", headers={"if-match": '"1"'}).status == 404


def test_openai_client_sends_if_match_and_gets_412_unretried(dynamodb):
    from local.client import openai_client

    with openai_client(max_retries=3) as client:
        raw = client.beta.threads.with_raw_response.retrieve(BASIC.id)
        etag = raw.headers["etag"]
        client.beta.threads.update(BASIC.id, metadata={"a": "1"}, extra_headers={"If-Match": etag})
        with pytest.raises(openai.APIStatusError) as info:
            client.beta.threads.update(BASIC.id, metadata={"a": "2"}, extra_headers={"If-Match": etag})
    assert info.value.status_code == 412 and info.value.body == PRECONDITION_FAILED


# Idempotency-Key on create.


def create(invoke, body, key: str, **headers):
    return invoke("POST", "/v1/threads", body, headers={"idempotency-key": key, **headers})


def thread_count(dynamodb) -> int:
    return dynamodb.scan(TableName=TABLE_NAME, Select="COUNT")["Count"]


def test_the_same_key_and_body_create_once(invoke, dynamodb):
    before = thread_count(dynamodb)
    first = create(invoke, {"metadata": {"a": "1"}, "tool_resources": {}}, "key-1")
    again = create(invoke, '{ "tool_resources": {},\n "metadata": {"a": "1"} }', "key-1")  # JSON-equal
    assert first.status == again.status == 200
    assert again.json == first.json and again.headers["etag"] == first.headers["etag"]
    assert thread_count(dynamodb) == before + 1


def test_the_same_key_with_another_body_is_refused(invoke, dynamodb):
    assert create(invoke, {"metadata": {"a": "1"}}, "key-2").status == 200
    before = thread_count(dynamodb)
    result = create(invoke, {"metadata": {"a": "2"}}, "key-2")
    assert result.status == 400 and result.json == {"error": KEY_REUSED}
    assert thread_count(dynamodb) == before


def test_keys_are_scoped_to_the_project(invoke, dynamodb):
    mine = create(invoke, {}, "shared-key")
    theirs = create(invoke, {}, "shared-key", authorization=f"Bearer {OTHER_API_KEY}")
    assert mine.status == theirs.status == 200 and mine.json["id"] != theirs.json["id"]


def test_errors_are_not_remembered(invoke):
    assert create(invoke, {"metadata": {"a": 1}}, "key-3").status == 400  # invalid: checked before the key
    assert create(invoke, {"metadata": {"a": "1"}}, "key-3").status == 200


def test_a_failed_create_is_not_remembered(invoke, dynamodb):
    from botocore.stub import Stubber

    from threads_api.resources import thread_store

    assert invoke("GET", f"/v1/threads/{BASIC.id}").status == 200  # key cached
    store = thread_store()
    original = store._client
    failing = Stubber(original)
    failing.add_client_error("put_item", service_error_code="ProvisionedThroughputExceededException")

    class OnlyThreadWritesFail:
        """The idempotency records go through; the thread's PutItem is throttled once."""

        def __getattr__(self, name):
            return getattr(original, name)

        def put_item(self, **kwargs):
            if kwargs["TableName"] == TABLE_NAME:
                with failing:
                    return original.put_item(**kwargs)
            return original.put_item(**kwargs)

    store._client = OnlyThreadWritesFail()
    try:
        throttled = create(invoke, {"metadata": {"a": "1"}}, "key-4")
    finally:
        store._client = original
    assert throttled.status == 503
    retried = create(invoke, {"metadata": {"a": "1"}}, "key-4")
    assert retried.status == 200 and retried.json["metadata"] == {"a": "1"}


def test_records_last_24_hours(invoke, dynamodb):
    create(invoke, {}, "key-5")
    items = dynamodb.scan(TableName=IDEMPOTENCY_TABLE_NAME)["Items"]
    assert items and all(item["status"]["S"] == "COMPLETED" for item in items)
    for item in items:
        assert abs(int(item["expiration"]["N"]) - (time.time() + 24 * 3600)) < 60
        assert "key-5" not in json.dumps(item)  # the key is stored hashed


def test_a_replay_after_a_delete_is_not_found_not_the_deleted_thread(invoke, dynamodb):
    first = create(invoke, {"metadata": {"a": "1"}}, "key-6")
    thread_id = first.json["id"]
    assert invoke("DELETE", f"/v1/threads/{thread_id}").status == 200
    replay = create(invoke, {"metadata": {"a": "1"}}, "key-6")
    assert replay.status == 404 and replay.json == {"error": errors.thread_not_found(thread_id).envelope()["error"]}
    assert "etag" not in replay.headers
    assert invoke("GET", f"/v1/threads/{thread_id}").status == 404  # what retrieve says, the replay says
    assert create(invoke, {"metadata": {"a": "1"}}, "key-6").status == 404  # and keeps saying: no new thread


def test_a_replay_answers_the_thread_as_it_is_now(invoke, dynamodb):
    first = create(invoke, {"metadata": {"a": "1"}}, "key-7")
    modified = invoke("POST", f"/v1/threads/{first.json['id']}", {"metadata": {"b": "2"}})
    replay = create(invoke, {"metadata": {"a": "1"}}, "key-7")
    assert replay.status == 200 and replay.json == modified.json and replay.headers["etag"] == '"2"'


def test_records_keep_the_thread_id_only_and_hash_with_sha256(invoke, dynamodb):
    made = create(invoke, {"metadata": {"secret-ish": "value"}}, "key-8").json
    (record,) = [
        item
        for item in dynamodb.scan(TableName=IDEMPOTENCY_TABLE_NAME)["Items"]
        if made["id"] in item.get("data", {}).get("S", "")
    ]
    assert json.loads(record["data"]["S"]) == {"thread_id": made["id"]}  # no metadata kept for 24 hours
    digest = record["id"]["S"].rpartition("#")[2]
    assert re.fullmatch("[0-9a-f]{64}", digest)  # SHA-256, not MD5's 32
    assert re.fullmatch("[0-9a-f]{64}", record["validation"]["S"])


def test_concurrent_creates_with_one_key_make_one_thread(http_server, http_table):
    """Over HTTP on dynalite: those that arrive while the first is running get a 409 the client retries."""
    from local.fixtures import API_KEY

    results: list[str] = []
    barrier = threading.Barrier(8)
    marker = {"burst": uuid.uuid4().hex}

    def create_with_key() -> None:
        client = openai.OpenAI(base_url=http_server.base_url, api_key=API_KEY, max_retries=5)
        barrier.wait()
        thread = client.beta.threads.create(metadata=marker, extra_headers={"Idempotency-Key": marker["burst"]})
        results.append(thread.id)

    workers = [threading.Thread(target=create_with_key) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(results) == 8 and len(set(results)) == 1
    burst = {"burst": {"S": marker["burst"]}}
    made = [
        item for item in http_table.scan(TableName=TABLE_NAME)["Items"] if item.get("metadata", {}).get("M") == burst
    ]
    assert [item["thread_id"]["S"] for item in made] == results[:1]


# No oracle: another project's thread and a missing one are told apart neither by the answer nor by the work.

WRITES = {
    "modify with metadata": ("POST", {"metadata": {"a": "b"}}, {}),
    "modify of tool_resources": ("POST", {"tool_resources": None}, {}),
    "modify with If-Match": ("POST", {"metadata": {"a": "b"}}, {"if-match": '"1"'}),
    "empty modify with If-Match": ("POST", {}, {"if-match": '"1"'}),
    "delete": ("DELETE", None, {}),
    "delete with If-Match": ("DELETE", None, {"if-match": '"1"'}),
}


@pytest.mark.parametrize("name", WRITES)
def test_another_projects_thread_costs_what_a_missing_one_costs(invoke, dynamodb, calls, name):
    method, body, headers = WRITES[name]
    other = {"authorization": f"Bearer {OTHER_API_KEY}"}
    assert invoke("GET", f"/v1/threads/{UNKNOWN_ID}", headers=other).status == 404  # the other key cached too
    calls.clear()
    theirs = invoke(method, f"/v1/threads/{BASIC.id}", body, headers={**headers, **other})
    their_calls = list(calls)
    calls.clear()
    missing = invoke(method, f"/v1/threads/{UNKNOWN_ID}", body, headers=headers)
    assert theirs.status == missing.status == 404
    assert theirs.json["error"]["message"].replace(BASIC.id, UNKNOWN_ID) == missing.json["error"]["message"]
    assert their_calls == calls and len(calls) == 1


def test_a_second_create_while_the_first_is_running_is_told_to_retry(invoke, dynamodb):
    """Deterministic: the second request with the key arrives while the first is writing its thread."""
    from threads_api.resources import dynamodb_client

    assert invoke("GET", f"/v1/threads/{BASIC.id}").status == 200  # the key is checked and cached
    before = thread_count(dynamodb)
    during: list = []

    def second_request(params, model, **_):
        if model.name == "PutItem" and params["TableName"] == TABLE_NAME and not during:
            during.append(create(invoke, {"metadata": {"a": "1"}}, "key-in-flight"))

    events = dynamodb_client().meta.events
    events.register("provide-client-params.dynamodb", second_request)
    try:
        first = create(invoke, {"metadata": {"a": "1"}}, "key-in-flight")
    finally:
        events.unregister("provide-client-params.dynamodb", second_request)
    (second,) = during
    assert first.status == 200
    assert second.status == 409 and second.headers["retry-after"] == "1"
    assert second.json == {
        "error": {
            "message": "A request with this Idempotency-Key is still being processed. Please retry your request "
            "shortly.",
            "type": "invalid_request_error",
            "param": None,
            "code": "idempotency_key_in_progress",
        }
    }
    assert thread_count(dynamodb) == before + 1
    again = create(invoke, {"metadata": {"a": "1"}}, "key-in-flight")
    assert again.status == 200 and again.json == first.json


@pytest.mark.parametrize("if_match, status", [('"1"', 200), ('"2"', 412)])
def test_if_match_holds_on_a_patch_of_more_than_32_keys(invoke, dynamodb, if_match, status):
    """A patch naming more than 32 keys is merged here and written whole: If-Match is checked on that path too."""
    before = stored(dynamodb, BASIC.id)
    body = {"metadata": {**{f"gone{i}": None for i in range(33)}, "a": "b"}}
    result = invoke("POST", f"/v1/threads/{BASIC.id}", body, headers={"if-match": if_match})
    assert result.status == status
    if status == 412:
        assert result.json == {"error": PRECONDITION_FAILED} and stored(dynamodb, BASIC.id) == before
    else:
        assert result.headers["etag"] == '"2"' and result.json["metadata"] == {**BASIC.metadata, "a": "b"}
