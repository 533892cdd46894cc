"""The fixture threads and API keys that `make invoke`, the sample events in events/ and the tests refer to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from threads_api.keys import KeyTable
from threads_api.store import to_item
from threads_api.thread import ID_PREFIX, Thread

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

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


def seed_fixture_threads(client: DynamoDBClient, table_name: str) -> None:
    for thread in FIXTURE_THREADS:
        client.put_item(TableName=table_name, Item=to_item(thread))


def seed_fixture_keys(client: DynamoDBClient, table_name: str) -> None:
    keys = KeyTable(client, table_name)
    keys.add(API_KEY, DEFAULT_PROJECT, replace=True)
    keys.add(OTHER_API_KEY, OTHER_PROJECT, replace=True)
    keys.revoke(keys.add(REVOKED_API_KEY, DEFAULT_PROJECT, replace=True).key_id)
