"""The fixture threads, their messages and the API keys that `make invoke`, the sample events in events/ and the
tests refer to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from threads_api import message
from threads_api.keys import KeyTable
from threads_api.message import POSITIONS_PER_SECOND, Message
from threads_api.messages import encode_body
from threads_api.messages import message_to_item as message_item
from threads_api.store import to_item
from threads_api.thread import ID_PREFIX, Thread

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from threads_api.dynamodb import Item

# The fixture threads' project, and its key: the one the sample events and the in-process client send.
DEFAULT_PROJECT = "proj_default"
API_KEY = "sk-local-example"
# A second project, for isolation, and a key of the first project that has been revoked.
OTHER_PROJECT = "proj_other"
OTHER_API_KEY = "sk-other-project-example"
REVOKED_API_KEY = "sk-revoked-example-key"


def _fixture_id(name: str) -> str:
    return ID_PREFIX + name.ljust(24, "0")


CREATED_AT = 1764028800  # 2025-11-25T00:00:00Z

BASIC = Thread(
    id=_fixture_id("FixtureBasic"),
    project=DEFAULT_PROJECT,
    created_at=CREATED_AT,
    metadata={"user": "alice", "topic": "billing"},
    tool_resources={"code_interpreter": {"file_ids": ["file-abc123"]}},
)
FULL = Thread(
    id=_fixture_id("FixtureFull"),
    project=DEFAULT_PROJECT,
    created_at=CREATED_AT,
    metadata={f"key{i:02d}": f"value{i:02d}" for i in range(1, 17)},
)
EMPTY = Thread(id=_fixture_id("FixtureEmpty"), project=DEFAULT_PROJECT, created_at=CREATED_AT)

FIXTURE_THREADS = (BASIC, FULL, EMPTY)
UNKNOWN_ID = _fixture_id("NeverCreated")


def _fixture_message_id(name: str) -> str:
    return message.ID_PREFIX + name.ljust(24, "0")


def _fixture_message(name: str, order: int, role: str, content: list[dict[str, Any]], **fields: Any) -> Message:
    """A message of BASIC, placed as an imported one is: by its `created_at`, then by its order."""
    return Message(
        id=_fixture_message_id(name),
        thread_id=BASIC.id,
        created_at=CREATED_AT,
        role=role,
        content=content,
        position=CREATED_AT * POSITIONS_PER_SECOND + order,
        **fields,
    )


def _text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}


# BASIC's conversation, oldest first.
QUESTION = _fixture_message("FixtureQuestion", 0, "user", [_text("Why was I charged twice in November?")])
ANSWER = _fixture_message(
    "FixtureAnswer", 1, "assistant", [_text("The second charge is a pending authorisation; it drops off in 3 days.")]
)
FOLLOW_UP = _fixture_message(
    "FixtureFollowUp",
    2,
    "user",
    [
        _text("Here is the statement:"),
        {"type": "image_url", "image_url": {"url": "https://example.com/statement.png", "detail": "auto"}},
    ],
    attachments=[{"file_id": "file-abc123", "tools": [{"type": "file_search"}]}],
    metadata={"channel": "web"},
)
FIXTURE_MESSAGES = (QUESTION, ANSWER, FOLLOW_UP)
UNKNOWN_MESSAGE_ID = _fixture_message_id("NeverCreated")


def seed_fixture_threads(client: DynamoDBClient, table_name: str) -> None:
    for thread in FIXTURE_THREADS:
        client.put_item(TableName=table_name, Item=to_item(thread))


def seed_fixture_messages(client: DynamoDBClient, table_name: str) -> None:
    """The fixture messages, stored as the MessageStore stores them (their bodies in the item)."""
    for fixture in FIXTURE_MESSAGES:
        body: Item = {message.BODY: {"B": encode_body(fixture.content, fixture.attachments)}}
        client.put_item(TableName=table_name, Item=message_item(fixture, BASIC.project, body))


def seed_fixture_keys(client: DynamoDBClient, table_name: str) -> None:
    keys = KeyTable(client, table_name)
    keys.add(API_KEY, DEFAULT_PROJECT, replace=True)
    keys.add(OTHER_API_KEY, OTHER_PROJECT, replace=True)
    keys.revoke(keys.add(REVOKED_API_KEY, DEFAULT_PROJECT, replace=True).key_id)
