"""Threads moved in and out whole: an import that keeps their ids, and an export of a project.

**Import.** A thread too long for one transaction (100 actions) is still imported all or nothing, in three steps:

1. *Claim* its id: a conditional PutItem of a placeholder thread item that has no `project` (so every request
   treats it as no thread, and the `by_project` index leaves it out) but `importing` (the project) and
   `import_digest` (a hash of what the file says of the thread). A thread of another project, or another
   project's claim, is refused, never written over.
2. *Write* its messages: BatchWriteItem, 25 at a time, unprocessed items written again after a backoff. No
   request sees them yet: every read and write of a message reads its thread in the same call.
3. *Commit*: one conditional PutItem replaces the claim by the thread, with `project`, its last position and
   the digest. From that instant the thread and all its messages are there.

An import stopped at any point is run again: a claim with the same digest is finished (the messages are written
again, which changes nothing), one with another digest is emptied first; a thread committed with the same digest
is left as it is. A message's position is `created_at * 1,000,000 + its order among the thread's messages in
the file`, so a thread lists by `created_at`, then file order.

**Export.** The `by_project` index (keys only) gives a project's thread ids in id order; the threads are read
in batches of 100, their messages by position through `by_position`, each a strongly consistent read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from .bucket import ContentBucket
from .cleanup import Cleanup, batch_write
from .dynamodb import ConditionFailed, DynamoDBClient, Item, call
from .message import (
    BODY,
    LAST_POSITION,
    POSITION_INDEX,
    POSITIONS_PER_SECOND,
    S3_KEY,
    THREAD_KEY,
    Message,
    content_object_key,
)
from .messages import INLINE_BODY_BYTES, MessageStore, encode_body, message_to_item
from .store import from_item, new_write_token, to_item
from .thread import Thread

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import WriteRequestUnionTypeDef

PROJECT_INDEX = "by_project"
IMPORTING = "importing"  # on a claim: the project the thread is being imported into
IMPORT_DIGEST = "import_digest"
BATCH_WRITE_ITEMS = 25
BATCH_GET_KEYS = 100
MAX_IMPORTED_MESSAGES = POSITIONS_PER_SECOND - 1  # a thread's messages: each needs a position of its own
_NO_DEADLINE = float("inf")


class Refusal(Exception):
    """A thread the import cannot take; the message says why, in one line."""


class Outcome(Enum):
    IMPORTED = "imported"
    UNCHANGED = "unchanged"  # imported before, from the same lines


def digest_entry(saved: Thread | Message) -> bytes:
    """What the digest of a thread's lines takes of one of its objects (in file order): its wire form."""
    return json.dumps(saved.to_wire(), sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n"


@dataclass(frozen=True, slots=True)
class Tables:
    threads: str
    messages: str


class ThreadImport:
    """Imports threads one at a time (each `run` is one thread); safe to use from several threads at once."""

    def __init__(
        self,
        client: DynamoDBClient,
        tables: Tables,
        bucket: ContentBucket,
        cleanup: Cleanup,
        written: Callable[[int], None] = lambda count: None,
    ):
        self._client = client
        self._tables = tables
        self._bucket = bucket
        self._cleanup = cleanup
        self._written = written

    def run(self, project: str, thread: Thread, messages: Callable[[], Iterator[Message]], digest: str) -> Outcome:
        """Import `thread` into `project` with the messages `messages()` yields in file order (called once,
        after the claim), or raise Refusal."""
        if self._claim(project, thread.id, digest) is Outcome.UNCHANGED:
            return Outcome.UNCHANGED
        last: int | None = None
        batch: list[WriteRequestUnionTypeDef] = []
        for order, message in enumerate(messages()):
            if order >= MAX_IMPORTED_MESSAGES:
                raise Refusal(f"{thread.id} has more than {MAX_IMPORTED_MESSAGES:,} messages")
            position = message.created_at * POSITIONS_PER_SECOND + order
            batch.append({"PutRequest": {"Item": self._item(project, replace(message, position=position))}})
            last = position if last is None else max(last, position)
            if len(batch) == BATCH_WRITE_ITEMS:
                self._write(batch)
                batch = []
        if batch:
            self._write(batch)
        item = to_item(thread, new_write_token())
        item[IMPORT_DIGEST] = {"S": digest}
        if last is not None:
            item[LAST_POSITION] = {"N": str(last)}
        try:
            call(
                self._client.put_item,
                TableName=self._tables.threads,
                Item=item,
                ConditionExpression="#importing = :project AND #digest = :digest",
                ExpressionAttributeNames={"#importing": IMPORTING, "#digest": IMPORT_DIGEST},
                ExpressionAttributeValues={":project": {"S": project}, ":digest": {"S": digest}},
            )
        except ConditionFailed:
            # Another run of the same import committed it first, or someone else claimed it meanwhile.
            if self._claim(project, thread.id, digest) is Outcome.UNCHANGED:
                return Outcome.UNCHANGED
            raise Refusal(f"{thread.id} changed while it was imported; run the import again") from None
        return Outcome.IMPORTED

    def _claim(self, project: str, thread_id: str, digest: str) -> Outcome | None:
        """Make the id ours to write, or say it was imported already (UNCHANGED), or refuse it."""
        for _ in range(3):
            stored = call(
                self._client.get_item,
                TableName=self._tables.threads,
                Key={THREAD_KEY: {"S": thread_id}},
                ConsistentRead=True,
            ).get("Item")
            if stored is not None:
                _refuse_unless_ours(stored, project, thread_id, digest)
                if "project" in stored:
                    return Outcome.UNCHANGED
                if stored.get(IMPORT_DIGEST, {}).get("S") == digest:
                    return None  # an import of the same lines, stopped before its commit: finish it
                # Stopped while importing other lines for this thread: what it wrote goes, then it starts over.
                self._cleanup.purge_thread(thread_id, _NO_DEADLINE)
            try:
                call(
                    self._client.put_item,
                    TableName=self._tables.threads,
                    Item={
                        THREAD_KEY: {"S": thread_id},
                        IMPORTING: {"S": project},
                        IMPORT_DIGEST: {"S": digest},
                        "claimed_at": {"N": str(int(time.time()))},
                    },
                    ConditionExpression="attribute_not_exists(#tid) OR (#importing = :project AND #digest = :seen)",
                    ExpressionAttributeNames={"#tid": THREAD_KEY, "#importing": IMPORTING, "#digest": IMPORT_DIGEST},
                    ExpressionAttributeValues={
                        ":project": {"S": project},
                        ":seen": stored.get(IMPORT_DIGEST, {"S": ""}) if stored is not None else {"S": ""},
                    },
                )
            except ConditionFailed:
                continue  # claimed or written meanwhile: look again
            return None
        raise Refusal(f"{thread_id} kept changing while it was claimed; run the import again")

    def _item(self, project: str, message: Message) -> Item:
        blob = encode_body(message.content, message.attachments)
        if len(blob) <= INLINE_BODY_BYTES:
            return message_to_item(message, project, {BODY: {"B": blob}})
        key = content_object_key(message.thread_id, message.id)
        self._bucket.put(key, blob)
        return message_to_item(message, project, {S3_KEY: {"S": key}})

    def _write(self, batch: list[WriteRequestUnionTypeDef]) -> None:
        batch_write(self._client, self._tables.messages, batch, _NO_DEADLINE, self._written)


def _refuse_unless_ours(stored: Item, project: str, thread_id: str, digest: str) -> None:
    """Refuse a thread id that is not this import's to write: another project's thread or claim, a deleted
    thread, or a thread of the project that these lines did not make."""
    owner = stored.get("project", stored.get(IMPORTING, {})).get("S")
    if owner != project:
        raise Refusal(f"{thread_id} exists in another project: it is not imported")
    if "deleted_at" in stored:
        raise Refusal(
            f"{thread_id} was deleted here: it can be imported again once its tombstone expires (DynamoDB's TTL "
            "removes it within a few days of the delete)"
        )
    if "project" not in stored:
        return  # our own claim
    imported_from = stored.get(IMPORT_DIGEST, {}).get("S")
    if imported_from is None:
        raise Refusal(f"{thread_id} is in the project already and was not imported: it is left as it is")
    if imported_from != digest:
        raise Refusal(
            f"{thread_id} was imported from other lines than these; to import these, delete it first "
            f"(DELETE /v1/threads/{thread_id}) and import them once its tombstone has expired"
        )


class ProjectExport:
    """Every thread of a project and its messages, in the order an import writes them back."""

    def __init__(self, client: DynamoDBClient, tables: Tables, bucket: ContentBucket):
        self._client = client
        self._tables = tables
        self._store = MessageStore(client, tables.threads, tables.messages, bucket)

    def threads(self, project: str) -> Iterator[Thread]:
        """The project's live threads, in id order."""
        start: Item | None = None
        while True:
            arguments: dict[str, Any] = {
                "TableName": self._tables.threads,
                "IndexName": PROJECT_INDEX,
                "KeyConditionExpression": "#project = :project",
                "ExpressionAttributeNames": {"#project": "project"},
                "ExpressionAttributeValues": {":project": {"S": project}},
                "Limit": BATCH_GET_KEYS,
            }
            if start is not None:
                arguments["ExclusiveStartKey"] = start
            response = call(self._client.query, **arguments)
            ids = [item[THREAD_KEY]["S"] for item in response.get("Items", [])]
            yield from self._read_threads(project, ids)
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def messages(self, thread_id: str) -> Iterator[Message]:
        """The thread's messages, oldest first."""
        start: Item | None = None
        while True:
            arguments: dict[str, Any] = {
                "TableName": self._tables.messages,
                "IndexName": POSITION_INDEX,
                "KeyConditionExpression": "#tid = :tid",
                "ExpressionAttributeNames": {"#tid": THREAD_KEY},
                "ExpressionAttributeValues": {":tid": {"S": thread_id}},
                "ScanIndexForward": True,
                "ConsistentRead": True,
            }
            if start is not None:
                arguments["ExclusiveStartKey"] = start
            response = call(self._client.query, **arguments)
            for item in response.get("Items", []):
                yield self._store.from_item(item)
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def _read_threads(self, project: str, ids: list[str]) -> Iterator[Thread]:
        if not ids:
            return
        found: dict[str, Item] = {}
        requested: dict[str, Any] = {
            self._tables.threads: {"Keys": [{THREAD_KEY: {"S": i}} for i in ids], "ConsistentRead": True}
        }
        attempt = 0
        while requested:
            response = call(self._client.batch_get_item, RequestItems=requested)
            for item in response.get("Responses", {}).get(self._tables.threads, []):
                found[item[THREAD_KEY]["S"]] = item
            requested = dict(response.get("UnprocessedKeys") or {})
            if requested:
                time.sleep(min(1.0, 0.05 * 2**attempt))
                attempt += 1
        for thread_id in ids:  # the index's order; one deleted or moved since the index was read is left out
            stored = found.get(thread_id)
            if stored is not None and stored.get("project", {}).get("S") == project and "deleted_at" not in stored:
                yield from_item(stored)
