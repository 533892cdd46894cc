"""DynamoDB answered in process, at the HTTP layer: a canned response for every request a client sends.

`install(client)` registers a `before-send` handler on the client's own events, so botocore still validates,
serializes, signs and parses every call exactly as it would against DynamoDB; only the network is left out. It
imports nothing that the handlers being measured have not already imported (json, botocore.awsrequest), so that
installing it does not change what a cold start costs.
"""

import json

from botocore.awsrequest import AWSResponse

PROJECT = "proj_default"
THREAD_ID = "thread_FixtureBasic000000000000"
CREATED_AT = 1764028800

# The thread as DynamoDB holds it (threads_api.store.to_item), after the sample modify was applied.
THREAD_ITEM = {
    "thread_id": {"S": THREAD_ID},
    "project": {"S": PROJECT},
    "created_at": {"N": str(CREATED_AT)},
    "version": {"N": "2"},
    "metadata": {"M": {"user": {"S": "alice"}, "topic": {"S": "refunds"}, "priority": {"S": "high"}}},
    "tool_resources": {"M": {"code_interpreter": {"M": {"file_ids": {"L": [{"S": "file-abc123"}]}}}}},
}
# An API key as the keys table holds it (threads_api.keys.KeyTable.add); the hash is not checked by anyone here.
KEY_ITEM = {
    "key_hash": {"S": "0" * 64},
    "project": {"S": PROJECT},
    "key_id": {"S": "key_benchbench00"},
    "created_at": {"N": str(CREATED_AT)},
    "revoked": {"BOOL": False},
}

_BODIES = {
    "GetItem": json.dumps({"Item": THREAD_ITEM}).encode(),
    "GetItem/keys": json.dumps({"Item": KEY_ITEM}).encode(),
    "UpdateItem": json.dumps({"Attributes": THREAD_ITEM}).encode(),
    "PutItem": b"{}",
    "DeleteItem": b"{}",
}
_HEADERS = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "canned"}


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


def answer(request, **_) -> AWSResponse:
    """The `before-send` handler: DynamoDB's answer to the request, without sending it."""
    target = request.headers.get("X-Amz-Target") or b""
    if isinstance(target, bytes):
        target = target.decode()
    operation = target.rpartition(".")[2]
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    if operation == "GetItem" and b'"key_hash"' in body:
        operation = "GetItem/keys"
    return AWSResponse(request.url, 200, _HEADERS, _Raw(_BODIES[operation]))


def install(client) -> None:
    client.meta.events.register("before-send.dynamodb", answer)
