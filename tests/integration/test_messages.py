"""Messages through the Lambda entry point, on moto: create, list, retrieve, modify, delete."""

from __future__ import annotations

from local.fixtures import BASIC, FIXTURE_MESSAGES

THREAD = BASIC.id


def test_create_then_retrieve(invoke):
    created = invoke("POST", f"/v1/threads/{THREAD}/messages", {"role": "user", "content": "Hello"})
    assert created.status == 200, created
    message = created.json
    assert message["content"] == [{"type": "text", "text": {"value": "Hello", "annotations": []}}]
    got = invoke("GET", f"/v1/threads/{THREAD}/messages/{message['id']}")
    assert got.status == 200, got
    assert got.json == message
    listed = invoke("GET", f"/v1/threads/{THREAD}/messages")
    assert listed.status == 200, listed
    # Newest first: the new message, then the thread's fixture messages.
    assert listed.json["data"] == [message, *(fixture.to_wire() for fixture in reversed(FIXTURE_MESSAGES))]
