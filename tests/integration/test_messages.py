"""Messages through the Lambda entry point, on moto: create, list, retrieve, modify, delete."""

from __future__ import annotations

import pytest

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
