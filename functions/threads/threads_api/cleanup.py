"""What a deleted thread or message leaves behind, removed: the cleanup that the tables' streams drive.

Deleting a thread writes its tombstone and nothing more. `purge_thread` then removes the thread's messages and
their content objects: it queries the thread's item collection (ids and content keys only, strongly consistent),
deletes the items 25 at a time with `BatchWriteItem` on a few threads at once, deletes the objects the items
name (`DeleteObjects`, up to 1,000 a call), then every object still under the thread's prefix (a content object
whose message never committed, or one whose item an earlier run deleted before it could delete the object).

It is safe to run again, and again at the same time: every step deletes what is there, and a thread already
purged costs one `Query` and one `ListObjectsV2`. It stops at its deadline with `OutOfTime`, leaving the rest for
the next run, which finds only what is left. Throttling (`StorageUnavailable`) and unprocessed items are retried
with exponential backoff until the deadline.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .dynamodb import DynamoDBClient, Item, call
from .exceptions import StorageUnavailable
from .message import MESSAGE_KEY, S3_KEY, THREAD_KEY
from .s3 import S3Client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import WriteRequestUnionTypeDef

# The thread tombstone's attribute (ThreadStore's delete sets it).
THREAD_DELETED_AT = "deleted_at"

# The entry point stops this long before its function's timeout: time for the calls in flight to end (a
# DynamoDB call gives up within 4 s, an S3 call within about 20 s).
TIME_MARGIN_SECONDS = 30.0

BATCH_WRITE_ITEMS = 25  # the most one BatchWriteItem takes
DELETE_OBJECTS_KEYS = 1000  # the most one DeleteObjects takes
# Concurrent batch writes. A thread's messages are in one partition (the local index keeps an item collection
# together), which takes 1,000 write units a second: more calls than these only meet more throttling.
WORKERS = 4
_IN_FLIGHT_PER_WORKER = 4  # how far the Query may run ahead of the deletes
_BACKOFF_BASE_SECONDS = 0.05
_BACKOFF_CAP_SECONDS = 2.0


class OutOfTime(Exception):
    """The deadline came before the thread was purged; `purged` is what this run removed."""

    def __init__(self, thread_id: str, purged: Purged):
        super().__init__(f"{thread_id}: out of time after {purged.messages} messages and {purged.objects} objects")
        self.thread_id = thread_id
        self.purged = purged


@dataclass
class Purged:
    messages: int = 0
    objects: int = 0


class _Tally:
    """What a purge removed so far, added to from its workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.purged = Purged()

    def add(self, messages: int = 0, objects: int = 0) -> None:
        with self._lock:
            self.purged.messages += messages
            self.purged.objects += objects


class Cleanup:
    def __init__(
        self,
        dynamodb: DynamoDBClient,
        s3: S3Client,
        table_name: str,
        bucket_name: str,
        workers: int = WORKERS,
    ):
        self._dynamodb = dynamodb
        self._s3 = s3
        self._table = table_name
        self._bucket = bucket_name
        self._workers = workers

    def purge_thread(self, thread_id: str, deadline: float) -> Purged:
        """Remove every message of the thread and every object under its prefix, by `deadline` (a
        `time.monotonic()` instant) or raise OutOfTime."""
        if not thread_id or "/" in thread_id:
            raise ValueError(f"not a thread id: {thread_id!r}")
        tally = _Tally()
        try:
            self._delete_messages(thread_id, deadline, tally)
            self._delete_prefix(thread_id, deadline, tally)
        except Expired:
            raise OutOfTime(thread_id, tally.purged) from None
        return tally.purged

    def untag(self, s3_key: str) -> None:
        """Remove a content object's pending tag (the lifecycle rule would expire it). An object gone already
        (its message or thread deleted) needs nothing."""
        try:
            self._s3.delete_object_tagging(Bucket=self._bucket, Key=s3_key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise

    def delete_object(self, s3_key: str) -> None:
        """Delete a deleted message's content object (nothing to do if it is gone)."""
        self._s3.delete_object(Bucket=self._bucket, Key=s3_key)

    def _delete_messages(self, thread_id: str, deadline: float, tally: _Tally) -> None:
        pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="purge")
        in_flight: deque[Future[None]] = deque()
        try:
            for page in self._message_pages(thread_id, deadline):
                ids = [item[MESSAGE_KEY]["S"] for item in page]
                content = [item[S3_KEY]["S"] for item in page if S3_KEY in item]
                for chunk in _chunks(ids, BATCH_WRITE_ITEMS):
                    in_flight.append(pool.submit(self._delete_items, thread_id, chunk, deadline, tally))
                for keys in _chunks(content, DELETE_OBJECTS_KEYS):
                    in_flight.append(pool.submit(self._delete_objects, keys, deadline, tally))
                while len(in_flight) > self._workers * _IN_FLIGHT_PER_WORKER:
                    in_flight.popleft().result()
            while in_flight:
                in_flight.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _message_pages(self, thread_id: str, deadline: float) -> Iterator[list[Item]]:
        """The thread's items, a Query page at a time: ids and content keys only. Items deleted meanwhile do not
        disturb the paging, which goes on from the last key read."""
        start: Item | None = None
        while True:
            arguments: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "#thread = :thread",
                "ProjectionExpression": "#message, #s3",
                "ExpressionAttributeNames": {"#thread": THREAD_KEY, "#message": MESSAGE_KEY, "#s3": S3_KEY},
                "ExpressionAttributeValues": {":thread": {"S": thread_id}},
                "ConsistentRead": True,
            }
            if start is not None:
                arguments["ExclusiveStartKey"] = start
            response = _until(deadline, functools.partial(call, self._dynamodb.query, **arguments))
            yield response.get("Items", [])
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def _delete_items(self, thread_id: str, message_ids: Sequence[str], deadline: float, tally: _Tally) -> None:
        requests: list[WriteRequestUnionTypeDef] = [
            {"DeleteRequest": {"Key": {THREAD_KEY: {"S": thread_id}, MESSAGE_KEY: {"S": message_id}}}}
            for message_id in message_ids
        ]
        batch_write(self._dynamodb, self._table, requests, deadline, lambda done: tally.add(messages=done))

    def _delete_objects(self, keys: Sequence[str], deadline: float, tally: _Tally) -> None:
        _check(deadline)
        response = self._s3.delete_objects(
            Bucket=self._bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
        )
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise RuntimeError(f"S3 kept {len(errors)} of {len(keys)} objects: {first.get('Code')} {first.get('Key')}")
        tally.add(objects=len(keys))

    def _delete_prefix(self, thread_id: str, deadline: float, tally: _Tally) -> None:
        """Whatever is left under `<thread_id>/`, a listing page (up to 1,000 keys) at a time."""
        token: str | None = None
        while True:
            _check(deadline)
            if token is None:
                listing = self._s3.list_objects_v2(Bucket=self._bucket, Prefix=f"{thread_id}/")
            else:
                listing = self._s3.list_objects_v2(Bucket=self._bucket, Prefix=f"{thread_id}/", ContinuationToken=token)
            keys = [entry["Key"] for entry in listing.get("Contents", []) if "Key" in entry]
            if keys:
                self._delete_objects(keys, deadline, tally)
            token = listing.get("NextContinuationToken")
            if not listing.get("IsTruncated") or not token:
                return


def batch_write(
    client: DynamoDBClient,
    table: str,
    requests: Sequence[WriteRequestUnionTypeDef],
    deadline: float,
    done: Callable[[int], None] = lambda count: None,
) -> None:
    """One BatchWriteItem of up to 25 requests, its unprocessed items written again, with a backoff after each
    short answer or throttled call, until all are written or `deadline` passes (OutOfTime's cause, Expired)."""
    pending = list(requests)
    attempt = 0
    while pending:
        _check(deadline)
        try:
            response = call(client.batch_write_item, RequestItems={table: pending})
        except StorageUnavailable:
            _back_off(attempt, deadline)
            attempt += 1
            continue
        unprocessed = response.get("UnprocessedItems", {}).get(table, [])
        done(len(pending) - len(unprocessed))
        pending = list(unprocessed)
        if pending:
            _back_off(attempt, deadline)
            attempt += 1


class Expired(Exception):
    """The deadline passed inside a purge (turned into OutOfTime with what was done)."""


def _check(deadline: float) -> None:
    if time.monotonic() >= deadline:
        raise Expired


def _back_off(attempt: int, deadline: float) -> None:
    """Sleep before the next attempt (full jitter, exponential, capped), unless that passes the deadline."""
    delay = random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt))
    if time.monotonic() + delay >= deadline:
        raise Expired
    time.sleep(delay)


def _until[R](deadline: float, operation: Callable[[], R]) -> R:
    """`operation()`, tried again after a backoff for as long as DynamoDB is throttled or unreachable."""
    attempt = 0
    while True:
        _check(deadline)
        try:
            return operation()
        except StorageUnavailable:
            _back_off(attempt, deadline)
            attempt += 1


def _chunks[T](values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
