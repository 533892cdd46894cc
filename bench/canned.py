"""DynamoDB answered in process, at the HTTP layer: a canned response for every request a client sends.

`install(client)` registers a `before-send` handler on the client's own events, so botocore still validates,
serializes, signs and parses every call exactly as it would against DynamoDB; only the network is left out. It
imports nothing that the handlers being measured have not already imported (json, os, botocore.awsrequest), so
that installing it does not change what a cold start costs; the message answers, which need zlib and base64, are
made on the first message request.
"""

import json
import os
import re
from functools import cache

from botocore.awsrequest import AWSResponse

PROJECT = "proj_default"
THREAD_ID = "thread_FixtureBasic000000000000"
MESSAGE_ID = "msg_BenchMessage000000000000"  # the one a retrieve reads (a message id: msg_ and 24 characters)
CREATED_AT = 1764028800
# The sizes of the list pages measured; a Query asks for one more (has_more), which is canned too.
PAGE_LIMITS = (20, 100)
# What a message says: about 1 KB of prose, which compresses as text does (not as a repeated word would).
TEXT_BYTES = 1024
_WORDS = (
    "the refund was issued to the card on file and should appear within five business days please keep the "
    "order number handy if you contact support again about this shipment or any other question you may have"
).split()

# The thread as DynamoDB holds it (threads_api.store.to_item), after the sample modify was applied; with the
# position of its newest message, which the thread item keeps once it has any.
THREAD_ITEM = {
    "thread_id": {"S": THREAD_ID},
    "project": {"S": PROJECT},
    "created_at": {"N": str(CREATED_AT)},
    "version": {"N": "2"},
    "metadata": {"M": {"user": {"S": "alice"}, "topic": {"S": "refunds"}, "priority": {"S": "high"}}},
    "tool_resources": {"M": {"code_interpreter": {"M": {"file_ids": {"L": [{"S": "file-abc123"}]}}}}},
    "last_position": {"N": str(CREATED_AT * 1_000_000 + 1_000)},
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
    "TransactWriteItems": b"{}",
}
_HEADERS = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "canned"}
_LIMIT = re.compile(rb'"Limit": (\d+)')


def message_text(n: int) -> str:
    """About TEXT_BYTES of prose, different for each `n`."""
    words, size, i = [], 0, n
    while size < TEXT_BYTES:
        word = _WORDS[(i * 7 + n) % len(_WORDS)]
        words.append(word)
        size += len(word) + 1
        i += 1
    return " ".join(words)[:TEXT_BYTES]


def message_item(n: int) -> dict:
    """Message `n` as threads_api.messages stores it: plain attributes, and `body` the zlib-compressed JSON of its
    content parts and attachments (base64 on the wire, as DynamoDB sends a binary)."""
    import base64
    import zlib

    content = [{"type": "text", "text": {"value": message_text(n), "annotations": []}}]
    document = json.dumps({"content": content, "attachments": []}, ensure_ascii=False, separators=(",", ":"))
    return {
        "thread_id": {"S": THREAD_ID},
        "message_id": {"S": f"msg_BenchMessage{n:012d}"},
        "project": {"S": PROJECT},
        "position": {"N": str(CREATED_AT * 1_000_000 + 1_000 - n)},
        "created_at": {"N": str(CREATED_AT)},
        "version": {"N": "1"},
        "role": {"S": "user" if n % 2 else "assistant"},
        "metadata": {"M": {}},
        "body": {"B": base64.b64encode(zlib.compress(document.encode())).decode()},
    }


@cache
def _message_bodies() -> dict[str, bytes]:
    """The answers of the message reads, made once: the thread read alone (a list page's BatchGetItem) and with a
    message (a retrieve's), and a Query page, newest first, for each limit asked (with more to come)."""
    threads, messages = os.environ["TABLE_NAME"], os.environ["MESSAGES_TABLE_NAME"]
    items = [message_item(n) for n in range(max(PAGE_LIMITS) + 1)]
    bodies = {
        "BatchGetItem": json.dumps({"Responses": {threads: [THREAD_ITEM]}, "UnprocessedKeys": {}}).encode(),
        "BatchGetItem/message": json.dumps(
            {"Responses": {threads: [THREAD_ITEM], messages: [items[0]]}, "UnprocessedKeys": {}}
        ).encode(),
    }
    for limit in PAGE_LIMITS:
        for asked in (limit, limit + 1):
            page = items[:asked]
            last = {key: page[-1][key] for key in ("thread_id", "message_id", "position")}
            answer = {"Items": page, "Count": asked, "ScannedCount": asked, "LastEvaluatedKey": last}
            bodies[f"Query/{asked}"] = json.dumps(answer).encode()
    return bodies


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
    if operation == "BatchGetItem":
        answered = _message_bodies()[operation + ("/message" if b'"message_id"' in body else "")]
    elif operation == "Query":
        limit = _LIMIT.search(body)
        answered = _message_bodies()[f"Query/{limit.group(1).decode() if limit else PAGE_LIMITS[0]}"]
    else:
        answered = _BODIES[operation]
    return AWSResponse(request.url, 200, _HEADERS, _Raw(answered))


def install(client) -> None:
    client.meta.events.register("before-send.dynamodb", answer)
