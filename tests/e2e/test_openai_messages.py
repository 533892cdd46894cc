"""Messages driven by the official `openai` client in strict response-validation mode, in process through the
gateway's WSGI application (local.client), on moto: create, retrieve, update, delete, list with the client's own
auto-paging, the typed errors, a thread created with messages, and Idempotency-Key.

The client never retries, and every call goes through a wrapper of the application that records the query it
was sent, so that what the client asked for each page is checked too.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx2
import openai
import pytest
from openai.types.beta.threads import (
    ImageFileContentBlock,
    ImageURLContentBlock,
    Message,
    MessageDeleted,
    TextContentBlock,
)

from local.client import openai_client
from local.fixtures import BASIC, FIXTURE_MESSAGES, UNKNOWN_ID, UNKNOWN_MESSAGE_ID
from local.wsgi import application

# The SDK marks the Assistants API deprecated; every call warns.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Recording:
    """The gateway's WSGI application, keeping the query string of every list request it answers."""

    def __init__(self):
        self.list_queries: list[dict[str, str]] = []

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "GET" and environ["PATH_INFO"].endswith("/messages"):
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            self.list_queries.append({name: values[-1] for name, values in query.items()})
        return application(environ, start_response)


@pytest.fixture
def handler(dynamodb, fixture_messages):
    return Recording()


@pytest.fixture
def client(handler):
    http_client = openai.DefaultHttpx2Client(transport=httpx2.WSGITransport(app=handler))
    with openai_client(http_client=http_client) as client:
        yield client


@pytest.fixture
def thread_id(client) -> str:
    return client.beta.threads.create().id


def add(client, thread_id: str, count: int) -> list[Message]:
    return [client.beta.threads.messages.create(thread_id, role="user", content=f"message {i}") for i in range(count)]


def texts(messages) -> list[str]:
    return [message.content[0].text.value for message in messages]


def expect_error(call, error_class, *, status: int, message: str, param: str | None, code: str | None):
    """Run `call`, which must raise exactly `error_class` carrying this envelope."""
    with pytest.raises(openai.APIStatusError) as info:
        call()
    error = info.value
    assert type(error) is error_class, (type(error), error.body)
    assert error.status_code == status
    assert error.body == {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    assert (error.code, error.param) == (code, param)
    assert error.request_id
    return error


# Create, retrieve, update, delete


def test_create_with_a_string_is_one_text_part(client, thread_id):
    raw = client.beta.threads.messages.with_raw_response.create(thread_id, role="user", content="Hello")
    message = raw.parse()
    assert isinstance(message, Message)
    assert message.id.startswith("msg_") and len(message.id) == 28 and message.id[4:].isalnum()
    assert (message.object, message.thread_id, message.role, message.status) == (
        "thread.message",
        thread_id,
        "user",
        "completed",
    )
    assert (message.incomplete_details, message.completed_at, message.incomplete_at) == (None, None, None)
    assert (message.assistant_id, message.run_id, message.attachments, message.metadata) == (None, None, [], {})
    assert type(message.created_at) is int
    [part] = message.content
    assert isinstance(part, TextContentBlock)
    assert (part.text.value, part.text.annotations) == ("Hello", [])
    assert raw.headers["etag"] == '"1"'
    assert client.beta.threads.messages.retrieve(message.id, thread_id=thread_id) == message


def test_create_with_parts_fills_in_the_detail(client, thread_id):
    message = client.beta.threads.messages.create(
        thread_id,
        role="assistant",
        content=[
            {"type": "text", "text": "Look at these"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
            {"type": "image_file", "image_file": {"file_id": "file-abc123"}},
            {"type": "image_file", "image_file": {"file_id": "file-def456", "detail": "low"}},
        ],
        attachments=[
            {"file_id": "file-abc123", "tools": [{"type": "code_interpreter"}, {"type": "file_search"}]},
            {"file_id": "file-ghi789", "tools": []},
        ],
        metadata={"source": "import"},
    )
    text, url, data_url, file, low_file = message.content
    assert isinstance(text, TextContentBlock) and text.text.value == "Look at these"
    assert isinstance(url, ImageURLContentBlock)
    assert (url.image_url.url, url.image_url.detail) == ("https://example.com/a.png", "auto")
    assert (data_url.image_url.url, data_url.image_url.detail) == ("data:image/png;base64,iVBORw0KGgo=", "high")
    assert isinstance(file, ImageFileContentBlock)
    assert (file.image_file.file_id, file.image_file.detail) == ("file-abc123", "auto")
    assert (low_file.image_file.file_id, low_file.image_file.detail) == ("file-def456", "low")
    assert [attachment.model_dump() for attachment in message.attachments] == [
        {"file_id": "file-abc123", "tools": [{"type": "code_interpreter"}, {"type": "file_search"}]},
        {"file_id": "file-ghi789", "tools": []},
    ]
    assert (message.role, message.metadata) == ("assistant", {"source": "import"})
    assert client.beta.threads.messages.retrieve(message.id, thread_id=thread_id) == message


def test_update_merges_metadata_and_null_removes(client, thread_id):
    created = client.beta.threads.messages.create(thread_id, role="user", content="hi", metadata={"a": "1", "b": "2"})
    raw = client.beta.threads.messages.with_raw_response.update(
        created.id, thread_id=thread_id, metadata={"b": None, "c": "3"}
    )
    updated = raw.parse()
    assert updated.metadata == {"a": "1", "c": "3"}
    assert raw.headers["etag"] == '"2"'
    assert updated.model_dump(exclude={"metadata"}) == created.model_dump(exclude={"metadata"})
    assert client.beta.threads.messages.retrieve(created.id, thread_id=thread_id) == updated
    # No metadata at all (the client sends `{}`): nothing changes.
    assert client.beta.threads.messages.update(created.id, thread_id=thread_id) == updated
    cleared = client.beta.threads.messages.update(created.id, thread_id=thread_id, metadata=None)
    assert cleared.metadata == {}


def test_delete_then_gone_everywhere(client, thread_id):
    kept, deleted = add(client, thread_id, 2)
    answer = client.beta.threads.messages.delete(deleted.id, thread_id=thread_id)
    assert isinstance(answer, MessageDeleted)
    assert (answer.id, answer.object, answer.deleted) == (deleted.id, "thread.message.deleted", True)
    gone = dict(status=404, message=f"No message found with id '{deleted.id}'.", param=None, code=None)
    messages = client.beta.threads.messages
    expect_error(lambda: messages.retrieve(deleted.id, thread_id=thread_id), openai.NotFoundError, **gone)
    expect_error(
        lambda: messages.update(deleted.id, thread_id=thread_id, metadata={"a": "b"}), openai.NotFoundError, **gone
    )
    expect_error(lambda: messages.delete(deleted.id, thread_id=thread_id), openai.NotFoundError, **gone)
    assert [message.id for message in messages.list(thread_id)] == [kept.id]


# Listing, with the client's auto-paging


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_auto_paging_yields_every_message_once_in_order(client, handler, thread_id, order):
    created = add(client, thread_id, 7)
    expected = created if order == "asc" else created[::-1]
    assert list(client.beta.threads.messages.list(thread_id, limit=2, order=order)) == expected
    # Four pages: the first without a cursor, each next one after the last item of the one before.
    assert handler.list_queries == [
        {"limit": "2", "order": order},
        {"limit": "2", "order": order, "after": expected[1].id},
        {"limit": "2", "order": order, "after": expected[3].id},
        {"limit": "2", "order": order, "after": expected[5].id},
    ]


def test_default_order_is_newest_first(client, thread_id):
    created = add(client, thread_id, 3)
    page = client.beta.threads.messages.list(thread_id)
    assert page.data == created[::-1]
    assert page.has_more is False


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_auto_paging_from_before_keeps_it_and_stops_at_it(client, handler, thread_id, order):
    """The client keeps `before` on every next page, so each next page is the window between the last item and
    the cursor: the pages give exactly the items before the cursor that the first page reached, never the
    cursor or anything after it."""
    created = add(client, thread_id, 9)
    in_order = created if order == "asc" else created[::-1]
    cursor = in_order[7].id
    # The first page is the two closest to the cursor; the next one, between its last item and the cursor, is empty.
    assert list(client.beta.threads.messages.list(thread_id, limit=2, order=order, before=cursor)) == in_order[5:7]
    assert handler.list_queries == [
        {"limit": "2", "order": order, "before": cursor},
        {"limit": "2", "order": order, "before": cursor, "after": in_order[6].id},
    ]
    # A first page that reaches the start gives every item before the cursor, in order.
    assert list(client.beta.threads.messages.list(thread_id, limit=100, order=order, before=cursor)) == in_order[:7]

    # With `after` too, the pages walk the window between the two, three pages of it here.
    handler.list_queries.clear()
    start = in_order[1].id
    window = client.beta.threads.messages.list(thread_id, limit=2, order=order, after=start, before=cursor)
    assert list(window) == in_order[2:7]
    assert handler.list_queries == [
        {"limit": "2", "order": order, "after": start, "before": cursor},
        {"limit": "2", "order": order, "after": in_order[3].id, "before": cursor},
        {"limit": "2", "order": order, "after": in_order[5].id, "before": cursor},
    ]


def test_a_before_page_says_more_lie_beyond_it(client, thread_id):
    created = add(client, thread_id, 5)
    page = client.beta.threads.messages.list(thread_id, limit=2, order="asc", before=created[4].id)
    assert (page.data, page.has_more) == (created[2:4], True)
    page = client.beta.threads.messages.list(thread_id, limit=2, order="asc", before=created[2].id)
    assert (page.data, page.has_more) == (created[0:2], False)


def test_a_deleted_cursor_still_pages(client, thread_id):
    created = add(client, thread_id, 5)
    client.beta.threads.messages.delete(created[2].id, thread_id=thread_id)
    assert list(client.beta.threads.messages.list(thread_id, order="asc", after=created[2].id)) == created[3:]
    assert list(client.beta.threads.messages.list(thread_id, order="desc", after=created[2].id)) == created[1::-1]


def test_the_fixture_thread_lists_its_messages(client):
    listed = list(client.beta.threads.messages.list(BASIC.id, order="asc"))
    assert [message.model_dump() for message in listed] == [fixture.to_wire() for fixture in FIXTURE_MESSAGES]


# Typed errors


def test_unknown_message_and_unknown_thread(client, thread_id):
    messages = client.beta.threads.messages
    no_message = dict(status=404, message=f"No message found with id '{UNKNOWN_MESSAGE_ID}'.", param=None, code=None)
    expect_error(lambda: messages.retrieve(UNKNOWN_MESSAGE_ID, thread_id=thread_id), openai.NotFoundError, **no_message)
    expect_error(lambda: messages.delete(UNKNOWN_MESSAGE_ID, thread_id=thread_id), openai.NotFoundError, **no_message)
    # A message of another thread is not in this one.
    other = FIXTURE_MESSAGES[0].id
    expect_error(
        lambda: messages.retrieve(other, thread_id=thread_id),
        openai.NotFoundError,
        status=404,
        message=f"No message found with id '{other}'.",
        param=None,
        code=None,
    )
    no_thread = dict(status=404, message=f"No thread found with id '{UNKNOWN_ID}'.", param=None, code=None)
    expect_error(lambda: messages.create(UNKNOWN_ID, role="user", content="x"), openai.NotFoundError, **no_thread)
    expect_error(lambda: messages.list(UNKNOWN_ID), openai.NotFoundError, **no_thread)
    expect_error(lambda: messages.retrieve(other, thread_id=UNKNOWN_ID), openai.NotFoundError, **no_thread)
    expect_error(
        lambda: messages.update(other, thread_id=UNKNOWN_ID, metadata={"a": "b"}), openai.NotFoundError, **no_thread
    )
    expect_error(lambda: messages.delete(other, thread_id=UNKNOWN_ID), openai.NotFoundError, **no_thread)


def test_a_deleted_thread_has_no_messages(client, thread_id):
    [message] = add(client, thread_id, 1)
    client.beta.threads.delete(thread_id)
    no_thread = dict(status=404, message=f"No thread found with id '{thread_id}'.", param=None, code=None)
    messages = client.beta.threads.messages
    expect_error(lambda: messages.list(thread_id), openai.NotFoundError, **no_thread)
    expect_error(lambda: messages.retrieve(message.id, thread_id=thread_id), openai.NotFoundError, **no_thread)
    expect_error(lambda: messages.create(thread_id, role="user", content="x"), openai.NotFoundError, **no_thread)


def test_bad_role(client, thread_id):
    expect_error(
        lambda: client.beta.threads.messages.create(thread_id, role="system", content="x"),  # type: ignore[arg-type]
        openai.BadRequestError,
        status=400,
        message="Invalid value: 'system'. Supported values are: 'user' and 'assistant'.",
        param="role",
        code="invalid_value",
    )


def test_seventeen_metadata_pairs(client, thread_id):
    too_many = dict(
        status=400,
        message="Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
        "but got an object with 17 properties instead.",
        param="metadata",
        code="object_above_max_properties",
    )
    pairs = {f"key{i:02d}": "v" for i in range(17)}
    messages = client.beta.threads.messages
    expect_error(
        lambda: messages.create(thread_id, role="user", content="x", metadata=pairs), openai.BadRequestError, **too_many
    )
    # On update, the limit is on the merged result: 16 stored and one more.
    message = messages.create(thread_id, role="user", content="x", metadata={f"key{i:02d}": "v" for i in range(16)})
    expect_error(
        lambda: messages.update(message.id, thread_id=thread_id, metadata={"key16": "v"}),
        openai.BadRequestError,
        **too_many,
    )
    assert messages.retrieve(message.id, thread_id=thread_id).metadata == message.metadata


@pytest.mark.parametrize(
    ("content", "param"),
    [
        ("x" * 256_001, "content"),
        ([{"type": "text", "text": "ok"}, {"type": "text", "text": "y" * 256_001}], "content[1].text"),
    ],
    ids=["string", "part"],
)
def test_content_too_long(client, thread_id, content, param):
    expect_error(
        lambda: client.beta.threads.messages.create(thread_id, role="user", content=content),
        openai.BadRequestError,
        status=400,
        message=f"Invalid '{param}': string too long. Expected a string with maximum length 256000, "
        "but got a string with length 256001 instead.",
        param=param,
        code="string_above_max_length",
    )
    assert list(client.beta.threads.messages.list(thread_id)) == []


def test_the_longest_text_comes_back_whole(client, thread_id):
    text = "\U0001f600" * 256_000  # four UTF-8 bytes each: over DynamoDB's item limit as plain text
    message = client.beta.threads.messages.create(thread_id, role="user", content=text)
    assert message.content[0].text.value == text
    assert client.beta.threads.messages.retrieve(message.id, thread_id=thread_id).content[0].text.value == text


def test_bad_list_parameters(client, thread_id):
    messages = client.beta.threads.messages
    expect_error(
        lambda: messages.list(thread_id, limit=101),
        openai.BadRequestError,
        status=400,
        message="Invalid 'limit': integer above maximum value. Expected a value <= 100, but got 101 instead.",
        param="limit",
        code="integer_above_max_value",
    )
    expect_error(
        lambda: messages.list(thread_id, after="thread_x"),
        openai.BadRequestError,
        status=400,
        message="Invalid 'after': 'thread_x'. Expected an ID that begins with 'msg'.",
        param="after",
        code="invalid_value",
    )


def test_modify_takes_only_metadata(client, thread_id):
    [message] = add(client, thread_id, 1)
    expect_error(
        lambda: client.beta.threads.messages.update(message.id, thread_id=thread_id, extra_body={"content": "new"}),
        openai.BadRequestError,
        status=400,
        message="Unknown parameter: 'content'.",
        param="content",
        code="unknown_parameter",
    )


# A thread created with messages


def test_create_thread_with_messages_lists_them_in_array_order(client):
    bodies = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": [{"type": "text", "text": "second"}]},
        {"role": "user", "content": "third", "metadata": {"n": "3"}},
        {
            "role": "user",
            "content": "fourth",
            "attachments": [{"file_id": "file-1", "tools": [{"type": "file_search"}]}],
        },
    ]
    thread = client.beta.threads.create(messages=bodies, metadata={"topic": "order"})
    listed = list(client.beta.threads.messages.list(thread.id, order="asc", limit=3))
    assert texts(listed) == ["first", "second", "third", "fourth"]
    assert [message.role for message in listed] == ["user", "assistant", "user", "user"]
    assert all(message.created_at == thread.created_at and message.thread_id == thread.id for message in listed)
    assert listed[2].metadata == {"n": "3"}
    assert listed[3].attachments[0].file_id == "file-1"
    assert list(client.beta.threads.messages.list(thread.id)) == listed[::-1]


def test_create_thread_with_a_bad_message_creates_nothing(client, handler):
    bodies = [{"role": "user", "content": "fine"}] * 2 + [{"role": "user", "content": ""}]
    expect_error(
        lambda: client.beta.threads.create(messages=bodies),
        openai.BadRequestError,
        status=400,
        message="Message content must be non-empty.",
        param="messages[2].content",
        code=None,
    )
    expect_error(
        lambda: client.beta.threads.create(messages=[{"role": "user", "content": "x"}] * 33),
        openai.BadRequestError,
        status=400,
        message="Invalid 'messages': array too long. Expected an array with maximum length 32, "
        "but got an array with length 33 instead.",
        param="messages",
        code="array_above_max_length",
    )


def test_create_thread_with_32_messages(client):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": f"m{i:02d}"} for i in range(32)])
    assert texts(client.beta.threads.messages.list(thread.id, order="asc", limit=100)) == [
        f"m{i:02d}" for i in range(32)
    ]


# Idempotency-Key


def test_idempotency_key_on_message_create(client, thread_id):
    messages = client.beta.threads.messages
    first = messages.create(thread_id, role="user", content="once", extra_headers={"Idempotency-Key": "key-1"})
    again = messages.create(thread_id, role="user", content="once", extra_headers={"Idempotency-Key": "key-1"})
    assert again == first
    assert [message.id for message in messages.list(thread_id)] == [first.id]
    expect_error(
        lambda: messages.create(thread_id, role="user", content="twice", extra_headers={"Idempotency-Key": "key-1"}),
        openai.BadRequestError,
        status=400,
        message="This Idempotency-Key was already used with a different request body.",
        param=None,
        code="idempotency_key_reused",
    )
    # The same key on another thread is another request body.
    other = client.beta.threads.create().id
    expect_error(
        lambda: messages.create(other, role="user", content="once", extra_headers={"Idempotency-Key": "key-1"}),
        openai.BadRequestError,
        status=400,
        message="This Idempotency-Key was already used with a different request body.",
        param=None,
        code="idempotency_key_reused",
    )
    fresh = messages.create(thread_id, role="user", content="once", extra_headers={"Idempotency-Key": "key-2"})
    assert fresh.id != first.id
