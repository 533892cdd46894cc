"""The cleanup function through its entry point, on moto: real stream records in, the tables and the bucket after.

Threads are made and deleted by the thread store (so the tombstone is the update the API writes), messages and
content objects are written as the messages store lays them out, and the events are the tables' own stream
records from moto, filtered by the template's patterns and shaped as Lambda sends them (local/streams.py, which
`make serve` uses too). Faults are injected on the cleanup's own DynamoDB client, at botocore's `before-send`.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from dataclasses import dataclass, field

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from local import stack
from local.embedded import CONTENT_BUCKET_NAME, MESSAGES_TABLE_NAME, TABLE_NAME, embedded_dynamodb
from local.events import LambdaContext
from local.streams import delivered, lambda_event
from threads_api.cleanup import TIME_MARGIN_SECONDS
from threads_api.message import content_object_key, new_message_id

PROJECT = "proj_cleanup"
SOURCES = {source.table: source for source in stack.stream_sources()}


@pytest.fixture
def storage():
    """Fresh embedded tables and bucket; yields (dynamodb, s3) boto3 clients."""
    from threads_api import resources

    with embedded_dynamodb(seed=False) as dynamodb:
        resources.reset()
        yield dynamodb, boto3.client("s3")
        resources.reset()


@pytest.fixture
def cleanup_handler():
    import cleanup

    return cleanup.lambda_handler


def context(seconds: float = 300) -> LambdaContext:
    return LambdaContext(function_name="CleanupFunction", timeout_ms=int(seconds * 1000))


# Seeding: a thread made by the store, its messages as the messages store writes them.


@dataclass
class Seeded:
    thread_id: str
    message_ids: list[str] = field(default_factory=list)
    object_keys: list[str] = field(default_factory=list)


def seed_thread(dynamodb, s3, messages: int, in_bucket: int = 0, deleted: int = 0, orphans: int = 0) -> Seeded:
    """A live thread with `messages` messages: `in_bucket` of them with their content in the bucket, `deleted` of
    those tombstones (which keep their `s3_key`), and `orphans` pending objects under the thread's prefix that no
    message names (their transaction failed)."""
    from threads_api import resources

    thread = resources.thread_store().create(PROJECT, {}, {})
    seeded = Seeded(thread.id)
    now = int(time.time())
    requests = []
    for n in range(messages):
        message_id = new_message_id()
        seeded.message_ids.append(message_id)
        item = {
            "thread_id": {"S": thread.id},
            "message_id": {"S": message_id},
            "project": {"S": PROJECT},
            "created_at": {"N": str(now)},
            "version": {"N": "1"},
            "role": {"S": "user"},
            "metadata": {"M": {}},
        }
        position = {"N": str(now * 1_000_000 + n)}
        if n < in_bucket:
            key = content_object_key(thread.id, message_id)
            s3.put_object(Bucket=CONTENT_BUCKET_NAME, Key=key, Body=b'{"content": []}', Tagging="state=pending")
            seeded.object_keys.append(key)
            item["s3_key"] = {"S": key}
        else:
            item["body"] = {"B": zlib.compress(json.dumps({"content": [], "attachments": []}).encode())}
        if n < deleted:
            item["deleted_position"] = position
            item["deleted_at"] = {"N": str(now)}
        else:
            item["position"] = position
        requests.append({"PutRequest": {"Item": item}})
    for start in range(0, len(requests), 25):
        unprocessed = {MESSAGES_TABLE_NAME: requests[start : start + 25]}
        while unprocessed:
            unprocessed = dynamodb.batch_write_item(RequestItems=unprocessed).get("UnprocessedItems")
    for _ in range(orphans):
        key = content_object_key(thread.id, new_message_id())
        s3.put_object(Bucket=CONTENT_BUCKET_NAME, Key=key, Body=b"{}", Tagging="state=pending")
        seeded.object_keys.append(key)
    return seeded


def delete_thread(thread_id: str) -> None:
    from threads_api import resources

    resources.thread_store().delete(PROJECT, thread_id)


def stored_messages(dynamodb, thread_id: str) -> list[str]:
    ids, start = [], None
    while True:
        page = dynamodb.query(
            TableName=MESSAGES_TABLE_NAME,
            KeyConditionExpression="thread_id = :t",
            ExpressionAttributeValues={":t": {"S": thread_id}},
            ConsistentRead=True,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        ids += [item["message_id"]["S"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return ids


def stored_objects(s3, thread_id: str) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=CONTENT_BUCKET_NAME, Prefix=f"{thread_id}/"):
        keys += [entry["Key"] for entry in page.get("Contents", [])]
    return keys


# The tables' streams, as Lambda's event source mappings deliver them.


def stream_records(dynamodb, table_logical_id: str, table_name: str) -> list[dict]:
    """Every record of the table's stream so far that the template's filters let through to CleanupFunction."""
    streams = boto3.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        iterator = iterator["ShardIterator"]
        while iterator:
            answer = streams.get_records(ShardIterator=iterator)
            if not answer["Records"]:
                break
            records += answer["Records"]
            iterator = answer.get("NextShardIterator")
    source = SOURCES[table_logical_id]
    return [record for record in records if delivered(source, record)], arn


def thread_deletions(dynamodb) -> dict:
    records, arn = stream_records(dynamodb, "ThreadsTable", TABLE_NAME)
    return lambda_event(records, arn)


def failed_items(response: dict) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


# What the cleanup does.


def test_a_deleted_threads_messages_and_objects_are_gone_and_other_threads_are_untouched(storage, cleanup_handler):
    dynamodb, s3 = storage
    doomed = seed_thread(dynamodb, s3, messages=120, in_bucket=10, deleted=4, orphans=3)
    kept = seed_thread(dynamodb, s3, messages=60, in_bucket=5, deleted=2, orphans=1)
    kept_items = dynamodb.query(
        TableName=MESSAGES_TABLE_NAME,
        KeyConditionExpression="thread_id = :t",
        ExpressionAttributeValues={":t": {"S": kept.thread_id}},
        ConsistentRead=True,
    )["Items"]
    delete_thread(doomed.thread_id)

    event = thread_deletions(dynamodb)
    # Only the tombstone passes the filter: not the creates, nor the other thread.
    assert [record["dynamodb"]["Keys"]["thread_id"]["S"] for record in event["Records"]] == [doomed.thread_id]
    assert cleanup_handler(event, context()) == {"batchItemFailures": []}

    assert stored_messages(dynamodb, doomed.thread_id) == []
    assert stored_objects(s3, doomed.thread_id) == []
    assert sorted(stored_messages(dynamodb, kept.thread_id)) == sorted(kept.message_ids)
    assert (
        dynamodb.query(
            TableName=MESSAGES_TABLE_NAME,
            KeyConditionExpression="thread_id = :t",
            ExpressionAttributeValues={":t": {"S": kept.thread_id}},
            ConsistentRead=True,
        )["Items"]
        == kept_items
    )
    assert sorted(stored_objects(s3, kept.thread_id)) == sorted(kept.object_keys)
    # The thread's tombstone is the store's to keep (TTL removes it).
    tombstone = dynamodb.get_item(TableName=TABLE_NAME, Key={"thread_id": {"S": doomed.thread_id}})["Item"]
    assert "deleted_at" in tombstone

    # Replayed, as Lambda may: nothing more to do, nothing else touched.
    assert cleanup_handler(event, context()) == {"batchItemFailures": []}
    assert sorted(stored_messages(dynamodb, kept.thread_id)) == sorted(kept.message_ids)


def test_a_record_of_a_live_thread_purges_nothing_even_if_delivered(storage, cleanup_handler):
    """The filters keep such records away; the code checks again, so that an unfiltered one cannot purge."""
    dynamodb, s3 = storage
    live = seed_thread(dynamodb, s3, messages=5, in_bucket=1)
    streams = boto3.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=TABLE_NAME)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert records and not [record for record in records if delivered(SOURCES["ThreadsTable"], record)]
    unfiltered = lambda_event(records, arn)
    for record in unfiltered["Records"]:
        record["eventName"] = "MODIFY"
    assert cleanup_handler(unfiltered, context()) == {"batchItemFailures": []}
    assert sorted(stored_messages(dynamodb, live.thread_id)) == sorted(live.message_ids)
    assert stored_objects(s3, live.thread_id) == live.object_keys


def test_ten_thousand_messages_are_cleaned_in_one_invocation(storage, cleanup_handler):
    dynamodb, s3 = storage
    doomed = seed_thread(dynamodb, s3, messages=10_000, in_bucket=200, deleted=100, orphans=5)
    kept = seed_thread(dynamodb, s3, messages=30, in_bucket=3)
    assert len(stored_messages(dynamodb, doomed.thread_id)) == 10_000
    assert len(stored_objects(s3, doomed.thread_id)) == 205
    delete_thread(doomed.thread_id)
    event = thread_deletions(dynamodb)

    started = time.perf_counter()
    response = cleanup_handler(event, context())
    elapsed = time.perf_counter() - started

    assert response == {"batchItemFailures": []}
    assert stored_messages(dynamodb, doomed.thread_id) == []
    assert stored_objects(s3, doomed.thread_id) == []
    assert sorted(stored_messages(dynamodb, kept.thread_id)) == sorted(kept.message_ids)
    assert sorted(stored_objects(s3, kept.thread_id)) == sorted(kept.object_keys)
    print(f"\ntest_cleanup: 10,000 messages and 205 objects cleaned on moto in {elapsed:.2f} s")
    assert elapsed < 60


# Faults: a deadline, throttling, unprocessed items. Injected on the cleanup's own DynamoDB client.


class _Raw:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data


def dynamodb_answer(url: str, status: int, body: dict) -> AWSResponse:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "Content-Length": str(len(data))}
    headers["x-amzn-RequestId"] = uuid.uuid4().hex
    return AWSResponse(url, status, headers, _Raw(data))


@dataclass(eq=False)
class BatchWriteFaults:
    """A before-send hook on the cleanup's DynamoDB client: BatchWriteItem attempts answered with a fault (each
    attempt of the first `throttled` ones, every `unprocessed_every`-th one), or held until `stalled_until` (a
    `time.monotonic()` instant) once `stall_after` have gone through; the rest reach moto. Runs ahead of moto's
    own hook, so an answered attempt never reaches the table."""

    throttled: int = 0
    unprocessed_every: int = 0
    stall_after: int | None = None
    stalled_until: float = 0.0
    attempts: int = 0
    throttles: int = 0
    unprocessed: int = 0

    def __call__(self, request, **_):
        if not request.headers["X-Amz-Target"].decode().endswith(".BatchWriteItem"):
            return None
        self.attempts += 1
        if self.stall_after is not None and self.attempts > self.stall_after:
            time.sleep(max(0.0, self.stalled_until - time.monotonic()))
        if self.throttles < self.throttled:
            self.throttles += 1
            request.url = "http://fault-injected.invalid/"
            error = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            return dynamodb_answer(request.url, 400, {"__type": error, "message": "throttled"})
        if self.unprocessed_every and self.attempts % self.unprocessed_every == 0:
            self.unprocessed += 1
            request.url = "http://fault-injected.invalid/"
            return dynamodb_answer(request.url, 200, {"UnprocessedItems": json.loads(request.body)["RequestItems"]})
        return None


@pytest.fixture
def faults(storage):
    from threads_api import resources

    hooks = BatchWriteFaults()
    client = resources.dynamodb_client()
    client.meta.events.register_first("before-send.dynamodb", hooks)
    yield hooks
    client.meta.events.unregister("before-send.dynamodb", hooks)


def test_a_deadline_that_runs_out_reports_the_record_and_the_next_invocation_finishes(storage, faults, cleanup_handler):
    dynamodb, s3 = storage
    doomed = seed_thread(dynamodb, s3, messages=2_000, in_bucket=20, orphans=2)
    kept = seed_thread(dynamodb, s3, messages=10, in_bucket=1)
    delete_thread(doomed.thread_id)
    event = thread_deletions(dynamodb)
    (record,) = event["Records"]
    budget = 5.0  # seconds before the handler's deadline
    # Four batch writes go through; the next ones are held until the deadline has passed.
    faults.stall_after, faults.stalled_until = 4, time.monotonic() + budget + 0.1

    response = cleanup_handler(event, context(TIME_MARGIN_SECONDS + budget))

    assert failed_items(response) == [record["dynamodb"]["SequenceNumber"]]
    left = len(stored_messages(dynamodb, doomed.thread_id))
    assert 0 < left <= 2_000 - 4 * 25, left  # the held calls end, none is made after the deadline
    faults.stall_after = None
    assert cleanup_handler(event, context()) == {"batchItemFailures": []}
    assert stored_messages(dynamodb, doomed.thread_id) == []
    assert stored_objects(s3, doomed.thread_id) == []
    assert sorted(stored_messages(dynamodb, kept.thread_id)) == sorted(kept.message_ids)


def test_no_time_left_at_all_fails_every_record_and_touches_nothing(storage, cleanup_handler):
    dynamodb, s3 = storage
    doomed = seed_thread(dynamodb, s3, messages=30, in_bucket=2)
    delete_thread(doomed.thread_id)
    event = thread_deletions(dynamodb)
    response = cleanup_handler(event, context(TIME_MARGIN_SECONDS - 1))
    assert failed_items(response) == [record["dynamodb"]["SequenceNumber"] for record in event["Records"]]
    assert len(stored_messages(dynamodb, doomed.thread_id)) == 30


def test_a_throttled_table_still_ends_with_the_thread_gone_and_others_whole(storage, faults, cleanup_handler):
    dynamodb, s3 = storage
    doomed = seed_thread(dynamodb, s3, messages=500, in_bucket=5, deleted=2)
    kept = seed_thread(dynamodb, s3, messages=40, in_bucket=2)
    delete_thread(doomed.thread_id)
    faults.throttled = 12  # six calls in a row refused on both of botocore's attempts

    assert cleanup_handler(thread_deletions(dynamodb), context()) == {"batchItemFailures": []}

    assert faults.throttles == 12
    assert stored_messages(dynamodb, doomed.thread_id) == []
    assert stored_objects(s3, doomed.thread_id) == []
    assert sorted(stored_messages(dynamodb, kept.thread_id)) == sorted(kept.message_ids)
    assert sorted(stored_objects(s3, kept.thread_id)) == sorted(kept.object_keys)


def test_unprocessed_items_are_written_again(storage, faults, cleanup_handler):
    dynamodb, s3 = storage
    doomed = seed_thread(dynamodb, s3, messages=300)
    kept = seed_thread(dynamodb, s3, messages=20)
    delete_thread(doomed.thread_id)
    faults.unprocessed_every = 2  # every other batch write does nothing and says so

    assert cleanup_handler(thread_deletions(dynamodb), context()) == {"batchItemFailures": []}

    assert faults.unprocessed >= 6  # 12 chunks: at least half of their first attempts came back
    assert stored_messages(dynamodb, doomed.thread_id) == []
    assert sorted(stored_messages(dynamodb, kept.thread_id)) == sorted(kept.message_ids)


# The messages table's stream: a new message's object untagged, a deleted message's object deleted.


def test_a_new_messages_object_is_untagged_and_a_deleted_messages_object_deleted(storage, cleanup_handler):
    dynamodb, s3 = storage
    thread = seed_thread(dynamodb, s3, messages=4, in_bucket=3)
    untouched_id = thread.message_ids[3]  # its content is in the item: no record for it
    dynamodb.update_item(
        TableName=MESSAGES_TABLE_NAME,
        Key={"thread_id": {"S": thread.thread_id}, "message_id": {"S": thread.message_ids[0]}},
        UpdateExpression="SET deleted_position = #p, deleted_at = :now REMOVE #p, metadata",
        ExpressionAttributeNames={"#p": "position"},
        ExpressionAttributeValues={":now": {"N": str(int(time.time()))}},
    )
    dynamodb.update_item(  # a metadata change of a message in the bucket: not a delete
        TableName=MESSAGES_TABLE_NAME,
        Key={"thread_id": {"S": thread.thread_id}, "message_id": {"S": thread.message_ids[1]}},
        UpdateExpression="SET metadata = :m",
        ExpressionAttributeValues={":m": {"M": {"k": {"S": "v"}}}},
    )
    records, arn = stream_records(dynamodb, "MessagesTable", MESSAGES_TABLE_NAME)
    kinds = [(record["eventName"], record["dynamodb"]["Keys"]["message_id"]["S"]) for record in records]
    assert kinds == [("INSERT", thread.message_ids[n]) for n in range(3)] + [("MODIFY", thread.message_ids[0])]
    assert ("INSERT", untouched_id) not in kinds

    assert cleanup_handler(lambda_event(records, arn), context()) == {"batchItemFailures": []}

    assert sorted(stored_objects(s3, thread.thread_id)) == sorted(thread.object_keys[1:])
    for key in thread.object_keys[1:]:
        assert s3.get_object_tagging(Bucket=CONTENT_BUCKET_NAME, Key=key)["TagSet"] == []
    assert len(stored_messages(dynamodb, thread.thread_id)) == 4  # the cleanup deletes no message item here
    # Replayed after the objects went (the thread deleted meanwhile): nothing fails.
    for key in thread.object_keys:
        s3.delete_object(Bucket=CONTENT_BUCKET_NAME, Key=key)
    assert cleanup_handler(lambda_event(records, arn), context()) == {"batchItemFailures": []}
