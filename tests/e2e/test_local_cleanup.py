"""`make serve` runs the cleanup as the deployed stack does: its pollers read the tables' streams and invoke
CleanupFunction in an execution environment of its own. A thread deleted over HTTP loses its messages and
content objects (seeded straight into the endpoint's embedded DynamoDB and S3), and a new message's content
object loses its pending tag; on dynalite, which keeps no streams, the server says so at start."""

from __future__ import annotations

import re
import time
import zlib

import openai
import pytest

from local.embedded import CONTENT_BUCKET_NAME, MESSAGES_TABLE_NAME
from local.fixtures import API_KEY
from local.launch import local_endpoint
from local.storage import EMBEDDED_AWS, aws_client
from threads_api.message import content_object_key, new_message_id

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def served():
    """The local endpoint on its embedded storage; yields (server, DynamoDB client, S3 client) of that storage."""
    with local_endpoint() as server:
        storage = re.search(r"--endpoint (http://127\.0\.0\.1:\d+)", server.banner).group(1)
        yield server, aws_client("dynamodb", storage, EMBEDDED_AWS), aws_client("s3", storage, EMBEDDED_AWS)


def seed_messages(dynamodb, s3, thread_id: str, count: int, in_bucket: int) -> list[str]:
    """Messages of a thread as the messages store writes them; the first `in_bucket` with their content in the
    bucket, tagged pending as it is before the message's transaction."""
    ids = []
    for n in range(count):
        message_id = new_message_id()
        ids.append(message_id)
        item = {
            "thread_id": {"S": thread_id},
            "message_id": {"S": message_id},
            "project": {"S": "proj_test"},
            "position": {"N": str(1_000_000 + n)},
            "created_at": {"N": str(int(time.time()))},
            "version": {"N": "1"},
            "role": {"S": "user"},
            "metadata": {"M": {}},
        }
        if n < in_bucket:
            key = content_object_key(thread_id, message_id)
            s3.put_object(Bucket=CONTENT_BUCKET_NAME, Key=key, Body=b"{}", Tagging="state=pending")
            item["s3_key"] = {"S": key}
        else:
            item["body"] = {"B": zlib.compress(b'{"content": [], "attachments": []}')}
        dynamodb.put_item(TableName=MESSAGES_TABLE_NAME, Item=item)
    return ids


def messages_of(dynamodb, thread_id: str) -> list[str]:
    items = dynamodb.query(
        TableName=MESSAGES_TABLE_NAME,
        KeyConditionExpression="thread_id = :t",
        ExpressionAttributeValues={":t": {"S": thread_id}},
        ConsistentRead=True,
    )["Items"]
    return sorted(item["message_id"]["S"] for item in items)


def objects_of(s3, thread_id: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=CONTENT_BUCKET_NAME, Prefix=f"{thread_id}/")
    return sorted(entry["Key"] for entry in listing.get("Contents", []))


def eventually(check, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.2)


def test_the_banner_names_the_streams_it_reads(served):
    server, _, _ = served
    assert "streams: threads-local -> CleanupFunction, messages-local -> CleanupFunction" in server.banner


def test_a_thread_deleted_over_http_loses_its_messages_and_objects(served):
    server, dynamodb, s3 = served
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    doomed, kept = client.beta.threads.create(), client.beta.threads.create()
    doomed_ids = seed_messages(dynamodb, s3, doomed.id, count=40, in_bucket=4)
    kept_ids = seed_messages(dynamodb, s3, kept.id, count=10, in_bucket=2)
    orphan = content_object_key(doomed.id, new_message_id())  # written for a message that never committed
    s3.put_object(Bucket=CONTENT_BUCKET_NAME, Key=orphan, Body=b"{}", Tagging="state=pending")
    assert messages_of(dynamodb, doomed.id) == sorted(doomed_ids)

    assert client.beta.threads.delete(doomed.id).deleted

    eventually(lambda: not messages_of(dynamodb, doomed.id) and not objects_of(s3, doomed.id))
    assert messages_of(dynamodb, kept.id) == sorted(kept_ids)
    assert len(objects_of(s3, kept.id)) == 2


def test_a_new_messages_content_object_loses_its_pending_tag(served):
    server, dynamodb, s3 = served
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    thread = client.beta.threads.create()
    seed_messages(dynamodb, s3, thread.id, count=3, in_bucket=3)

    def untagged() -> bool:
        keys = objects_of(s3, thread.id)
        return len(keys) == 3 and all(
            s3.get_object_tagging(Bucket=CONTENT_BUCKET_NAME, Key=key)["TagSet"] == [] for key in keys
        )

    eventually(untagged)


def test_on_a_dynamodb_without_streams_the_server_says_nothing_cleans_up(http_server):
    """dynalite takes the tables' stream settings and keeps no stream."""
    assert "keeps no streams, so nothing cleans up after deletes" in http_server.banner
