"""Storage faults on the message routes, through the Lambda entry point on moto: a throttled or failing DynamoDB
or S3 at every step of create, create-thread, list, modify and delete. Each is the contract's 503 (or the generic
500 for an unexpected error), and nothing is half-written: the messages, threads and objects stored are what they
were, but for a pending object that the bucket's lifecycle removes.

Faults are injected with `before-send` hooks on the function's own clients, so botocore's retries see them as
they would see the services' own answers.
"""

from __future__ import annotations

import base64
import json
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import boto3
import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse

from local.embedded import CONTENT_BUCKET_NAME, MESSAGES_TABLE_NAME, TABLE_NAME
from local.fixtures import BASIC

THREAD = BASIC.id
MESSAGES = f"/v1/threads/{THREAD}/messages"
LARGE = "".join(chr(0x10000 + (i * 7919) % 0xFFFFF) for i in range(60_000))  # compresses to more than 96 KiB


class _Raw:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data


def dynamodb_answer(url: str, status: int, body: dict) -> AWSResponse:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": uuid.uuid4().hex}
    return AWSResponse(url, status, headers, _Raw(data))


def s3_error(url: str, code: str, status: int) -> AWSResponse:
    data = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
    return AWSResponse(url, status, {"Content-Type": "application/xml"}, _Raw(data))


@dataclass(eq=False)
class Faults:
    """Hooks on the function's DynamoDB and S3 clients: the operations named fail on every attempt."""

    dynamodb: dict[str, tuple[int, dict]] = field(default_factory=dict)  # operation -> (status, body)
    s3: dict[str, tuple[str, int]] = field(default_factory=dict)  # operation -> (code, status)
    attempts: list[str] = field(default_factory=list)
    once: set[str] = field(default_factory=set)  # operations that fail on their first attempt only

    def on_dynamodb(self, request, **_):
        operation = request.headers["X-Amz-Target"].decode().rpartition(".")[2]
        self.attempts.append(operation)
        if operation in self.dynamodb:
            status, body = self.dynamodb[operation]
            if operation in self.once:
                del self.dynamodb[operation]
            # Handlers later in the chain still run (moto's among them): a URL no storage serves keeps this
            # attempt from reaching it, as a refused request never reaches the table.
            request.url = "http://fault-injected.invalid/"
            return dynamodb_answer(request.url, status, body)
        return None

    def on_s3(self, request, event_name, **_):
        operation_name = event_name.rpartition(".")[2]
        self.attempts.append(f"s3:{operation_name}")
        if operation_name in self.s3:
            code, status = self.s3[operation_name]
            request.url = "http://fault-injected.invalid/"
            return s3_error(request.url, code, status)
        return None


@pytest.fixture
def faults(invoke, monkeypatch) -> Iterator[Faults]:
    from threads_api import resources

    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda _: None))  # no backoff sleeps
    assert invoke("GET", f"/v1/threads/{THREAD}").status == 200  # the key is checked and cached
    made = Faults()
    dynamodb, s3 = resources.dynamodb_client(), resources.s3_client()
    dynamodb.meta.events.register("before-send.dynamodb", made.on_dynamodb)
    s3.meta.events.register("before-send.s3", made.on_s3)
    yield made
    dynamodb.meta.events.unregister("before-send.dynamodb", made.on_dynamodb)
    s3.meta.events.unregister("before-send.s3", made.on_s3)


def throttled(code: str = "ProvisionedThroughputExceededException") -> tuple[int, dict]:
    return 500 if code == "InternalServerError" else 400, {
        "__type": f"com.amazonaws.dynamodb.v20120810#{code}",
        "message": "injected",
    }


def stored(dynamodb) -> tuple[list, list, dict]:
    """Everything a fault must not change: both tables' items and the bucket's objects with their tags."""
    s3 = boto3.client("s3")
    bucket = CONTENT_BUCKET_NAME
    objects = {
        entry["Key"]: s3.get_object_tagging(Bucket=bucket, Key=entry["Key"])["TagSet"]
        for entry in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    }
    threads = dynamodb.scan(TableName=TABLE_NAME, ConsistentRead=True)["Items"]
    messages = dynamodb.scan(TableName=MESSAGES_TABLE_NAME, ConsistentRead=True)["Items"]
    return sorted(threads, key=str), sorted(messages, key=str), objects


def assert_unavailable(result) -> None:
    assert result.status == 503, result
    assert result.headers["retry-after"] == "1"
    assert result.json["error"]["type"] == "server_error"


CREATE = {"role": "user", "content": "Hello"}


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_a_throttled_create_is_a_503_and_stores_nothing(invoke, dynamodb, faults, code):
    before = stored(dynamodb)
    faults.dynamodb["TransactWriteItems"] = throttled(code)
    assert_unavailable(invoke("POST", MESSAGES, CREATE))
    assert faults.attempts.count("TransactWriteItems") == 2  # botocore's second attempt, then the 503
    assert stored(dynamodb) == before


def test_a_transaction_cancelled_for_throttling_is_a_503(invoke, dynamodb, faults):
    before = stored(dynamodb)
    reasons = [{"Code": "ThrottlingError", "Message": "injected"}, {"Code": "None"}]
    faults.dynamodb["TransactWriteItems"] = (
        400,
        {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException", "CancellationReasons": reasons},
    )
    assert_unavailable(invoke("POST", MESSAGES, CREATE))
    assert stored(dynamodb) == before


def test_a_transaction_conflict_is_tried_again(invoke, faults):
    reasons = [{"Code": "TransactionConflict", "Message": "injected"}, {"Code": "None"}]
    faults.dynamodb["TransactWriteItems"] = (
        400,
        {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException", "CancellationReasons": reasons},
    )
    faults.once.add("TransactWriteItems")
    created = invoke("POST", MESSAGES, CREATE)
    assert created.status == 200, created
    assert invoke("GET", f"{MESSAGES}/{created.json['id']}").status == 200


def test_a_failed_s3_put_is_a_503_and_stores_nothing(invoke, dynamodb, faults):
    before = stored(dynamodb)
    faults.s3["PutObject"] = ("SlowDown", 503)
    assert_unavailable(invoke("POST", MESSAGES, {"role": "user", "content": LARGE}))
    assert "TransactWriteItems" not in faults.attempts
    assert stored(dynamodb) == before


def test_a_failed_transaction_after_the_s3_put_leaves_only_a_pending_object(invoke, dynamodb, faults):
    threads, messages, objects = stored(dynamodb)
    faults.dynamodb["TransactWriteItems"] = throttled()
    assert_unavailable(invoke("POST", MESSAGES, {"role": "user", "content": LARGE}))
    after_threads, after_messages, after_objects = stored(dynamodb)
    assert (after_threads, after_messages) == (threads, messages)
    orphans = {key: tags for key, tags in after_objects.items() if key not in objects}
    assert len(orphans) == 1
    assert list(orphans.values()) == [[{"Key": "state", "Value": "pending"}]]  # the lifecycle expires it


def test_a_failed_untag_after_the_commit_still_answers_the_message(invoke, dynamodb, faults):
    faults.s3["DeleteObjectTagging"] = ("InternalError", 500)
    created = invoke("POST", MESSAGES, {"role": "user", "content": LARGE})
    assert created.status == 200, created
    faults.s3.clear()
    got = invoke("GET", f"{MESSAGES}/{created.json['id']}")
    assert got.json["content"][0]["text"]["value"] == LARGE
    tags = boto3.client("s3").get_object_tagging(Bucket=CONTENT_BUCKET_NAME, Key=f"{THREAD}/{created.json['id']}")
    assert tags["TagSet"] == [{"Key": "state", "Value": "pending"}]  # the cleanup function removes it


def test_a_throttled_create_thread_with_messages_stores_nothing(invoke, dynamodb, faults):
    before = stored(dynamodb)
    faults.dynamodb["TransactWriteItems"] = throttled()
    assert_unavailable(invoke("POST", "/v1/threads", {"messages": [CREATE, CREATE]}))
    assert stored(dynamodb) == before


@pytest.mark.parametrize("operation", ["BatchGetItem", "Query"])
def test_a_throttled_list_is_a_503(invoke, faults, operation):
    faults.dynamodb[operation] = throttled()
    assert_unavailable(invoke("GET", MESSAGES))


def test_unprocessed_keys_are_read_again(invoke, faults):
    message = invoke("POST", MESSAGES, CREATE).json
    faults.dynamodb["BatchGetItem"] = (
        200,
        {
            "Responses": {},
            "UnprocessedKeys": {
                TABLE_NAME: {"Keys": [{"thread_id": {"S": THREAD}}], "ConsistentRead": True},
                MESSAGES_TABLE_NAME: {
                    "Keys": [{"thread_id": {"S": THREAD}, "message_id": {"S": message["id"]}}],
                    "ConsistentRead": True,
                },
            },
        },
    )
    faults.once.add("BatchGetItem")
    got = invoke("GET", f"{MESSAGES}/{message['id']}")
    assert got.status == 200 and got.json == message
    assert faults.attempts.count("BatchGetItem") == 2


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_a_throttled_modify_or_delete_changes_nothing(invoke, dynamodb, faults, method):
    message = invoke("POST", MESSAGES, CREATE).json
    before = stored(dynamodb)
    faults.dynamodb["TransactWriteItems"] = throttled()
    result = invoke(method, f"{MESSAGES}/{message['id']}", {"metadata": {"k": "v"}} if method == "POST" else None)
    assert_unavailable(result)
    assert stored(dynamodb) == before
    faults.dynamodb.clear()
    assert invoke("GET", f"{MESSAGES}/{message['id']}").json == message


def test_an_unexpected_error_is_the_generic_500(invoke, dynamodb, faults):
    before = stored(dynamodb)
    faults.dynamodb["TransactWriteItems"] = (
        400,
        {"__type": "com.amazonaws.dynamodb.v20120810#ValidationException", "message": "arn:aws:dynamodb:secret"},
    )
    result = invoke("POST", MESSAGES, CREATE)
    assert result.status == 500
    assert "arn:aws" not in json.dumps(result.json)
    assert stored(dynamodb) == before


def binary_values(value: dict) -> dict:
    if set(value) == {"B"} and isinstance(value["B"], str):
        return {"B": base64.b64decode(value["B"])}
    return value


def test_a_create_applied_whose_answer_was_lost_is_answered_once(invoke, dynamodb, faults):
    """botocore resends a transaction whose answer did not arrive; DynamoDB recognises its ClientRequestToken, and
    a storage that does not (moto) refuses the resend's conditions: either way one message, answered as made."""
    import botocore.exceptions

    applied = []

    def lose_the_first_answer(request, **_):
        if request.headers["X-Amz-Target"].decode().endswith("TransactWriteItems") and not applied:
            body = json.loads(request.body, object_hook=binary_values)  # the wire's base64 back to bytes
            dynamodb.transact_write_items(TransactItems=body["TransactItems"])  # applied by the storage...
            applied.append(body)
            request.url = "http://fault-injected.invalid/"
            raise botocore.exceptions.ReadTimeoutError(endpoint_url=request.url)  # ...and its answer lost
        return None

    from threads_api import resources

    resources.dynamodb_client().meta.events.register_first("before-send.dynamodb", lose_the_first_answer)
    try:
        created = invoke("POST", MESSAGES, {"role": "user", "content": "once"})
    finally:
        resources.dynamodb_client().meta.events.unregister("before-send.dynamodb", lose_the_first_answer)
    assert created.status == 200, created
    assert applied
    faults.dynamodb.clear()
    listed = invoke("GET", MESSAGES, query="limit=100")
    assert listed.status == 200, listed
    listed = listed.json["data"]
    assert [m["id"] for m in listed if m["content"][0]["text"]["value"] == "once"] == [created.json["id"]]
