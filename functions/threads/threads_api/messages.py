"""MessageStore: a thread's messages in DynamoDB (the messages table), through the storage seam.

One item per message, keyed by `thread_id` and `message_id`, in the thread's order by `position` through the
`by_position` local index; the design notes (docs/design.md, Messages) give the reasons. Every write is one
`TransactWriteItems` with a `ClientRequestToken`, so that a resend of a write whose answer was lost is applied
once; every read reads the thread in the same call, so that a deleted thread's messages are never served.
"""

from __future__ import annotations

import json
import secrets
import time
import zlib
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .bucket import ContentBucket
from .dynamodb import DynamoDBClient, Item, TransactionCanceled, call
from .exceptions import (
    MessageNotFound,
    MetadataLimitExceeded,
    PreconditionFailed,
    StorageUnavailable,
    ThreadNotFound,
    UnknownCursor,
)
from .limits import MAX_METADATA_PAIRS, MAX_PAGE_BYTES
from .message import (
    BODY,
    DELETED_POSITION,
    LAST_POSITION,
    MESSAGE_KEY,
    POSITION,
    POSITION_INDEX,
    POSITIONS_PER_MS,
    POSITIONS_PER_SECOND,
    S3_KEY,
    THREAD_KEY,
    Attachments,
    Content,
    Message,
    MessageDraft,
    Page,
    PageRequest,
    content_object_key,
    new_message_id,
    wire_bytes,
)
from .patch import ThreadPatch
from .store import Versions, live_thread, metadata_value, new_write_token, to_item
from .thread import Metadata, Thread, ToolResources, is_issued_thread_id, new_thread_id

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        ConditionCheckTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
        UpdateTypeDef,
    )

# A body that compresses to at most this stays in the item: with its copy in the index it is far under
# DynamoDB's 400 KB, 32 of them fit a transaction's 4 MB, and a 1 MB Query page holds several.
INLINE_BODY_BYTES = 96 * 1024
_ATTEMPTS = 5
_BATCH_GET_ATTEMPTS = 5
_BACKOFF_SECONDS = 0.02

# The thread is there, live, in the caller's project.
_THREAD_LIVE = "attribute_exists(#tid) AND #project = :project AND attribute_not_exists(#deleted)"
_THREAD_NAMES = {"#tid": THREAD_KEY, "#project": "project", "#deleted": "deleted_at"}
_LIVE_MESSAGE_AT = "#version = :seen AND attribute_exists(#pos)"


def now_position() -> int:
    return time.time_ns() // 1_000_000 * POSITIONS_PER_MS


def _request_token() -> str:
    return secrets.token_urlsafe(24)  # 32 characters: ClientRequestToken takes 1 to 36


def encode_body(content: Content, attachments: Attachments) -> bytes:
    document = json.dumps({"content": content, "attachments": attachments}, ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(document.encode("utf-8"))


def decode_body(blob: bytes) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(zlib.decompress(blob))
    return body


class MessageStore:
    """`returns_item_on_failure` as for `ThreadStore`: whether a failed condition sends the stored item back."""

    def __init__(
        self,
        client: DynamoDBClient,
        threads_table: str,
        messages_table: str,
        bucket: ContentBucket,
        returns_item_on_failure: bool = True,
        max_page_bytes: int = MAX_PAGE_BYTES,
    ):
        self._client = client
        self._threads = threads_table
        self._messages = messages_table
        self._bucket = bucket
        self._returns_item = returns_item_on_failure
        self._max_page_bytes = max_page_bytes

    # Writes

    def create(self, project: str, thread_id: str, draft: MessageDraft) -> Message:
        """Add a message at the end of the thread: one transaction, which moves the thread's last position on."""
        if not is_issued_thread_id(thread_id):
            raise ThreadNotFound(thread_id)
        position = now_position()
        message_id = new_message_id()
        body, s3_key = self._place_body(thread_id, message_id, draft)
        for _ in range(_ATTEMPTS):
            # A message's second is its position's: created_at never runs backwards along the thread's order.
            message = _drafted(draft, message_id, thread_id, position // POSITIONS_PER_SECOND, position)
            try:
                call(
                    self._client.transact_write_items,
                    ClientRequestToken=_request_token(),
                    TransactItems=[
                        {"Update": self._advance_thread(project, thread_id, position)},
                        {"Put": self._put_new(message_to_item(message, project, body))},
                    ],
                )
            except TransactionCanceled as cancelled:
                written = cancelled.item(1) if cancelled.failed(1) else None
                if written is not None and written[POSITION]["N"] == str(position):
                    break  # a resend of this very transaction (a lost answer, retried), which had been applied
                if cancelled.failed(0):
                    # Not live in this project (404), or its last position is ahead of this clock: go past it.
                    stored = self._thread_item(cancelled.item(0), thread_id)
                    live_thread(stored, project, thread_id)  # ThreadNotFound when there is no live thread
                    assert stored is not None
                    position = max(position, int(stored[LAST_POSITION]["N"]) + 1)
                    continue
                if cancelled.failed(1):  # the id is taken (143 bits of randomness: unheard of): draw another
                    message_id = new_message_id()
                    body, s3_key = self._place_body(thread_id, message_id, draft)
                    continue
                if cancelled.conflicted():
                    _pause()
                    continue
                raise
            break
        else:
            raise StorageUnavailable("the thread kept changing while a message was added")
        self._keep(s3_key)
        return message

    def create_thread(
        self, project: str, metadata: Metadata, tool_resources: ToolResources, drafts: list[MessageDraft]
    ) -> Thread:
        """A new thread and its messages, in array order, in one transaction: all of them or nothing."""
        for _ in range(_ATTEMPTS):
            first = now_position()
            thread = Thread(
                id=new_thread_id(),
                project=project,
                created_at=first // POSITIONS_PER_SECOND,
                metadata=metadata,
                tool_resources=tool_resources,
            )
            thread_item = to_item(thread, new_write_token())
            thread_item[LAST_POSITION] = {"N": str(first + len(drafts) - 1)}
            actions: list[TransactWriteItemTypeDef] = [
                {
                    "Put": {
                        "TableName": self._threads,
                        "Item": thread_item,
                        "ConditionExpression": "attribute_not_exists(#tid)",
                        "ExpressionAttributeNames": {"#tid": THREAD_KEY},
                    }
                }
            ]
            s3_keys: list[str | None] = []
            for offset, draft in enumerate(drafts):
                message_id = new_message_id()
                body, s3_key = self._place_body(thread.id, message_id, draft)
                s3_keys.append(s3_key)
                message = _drafted(draft, message_id, thread.id, thread.created_at, first + offset)
                actions.append({"Put": self._put_new(message_to_item(message, project, body))})
            try:
                call(self._client.transact_write_items, ClientRequestToken=_request_token(), TransactItems=actions)
            except TransactionCanceled as cancelled:
                if any(cancelled.failed(i) for i in range(len(actions))) or cancelled.conflicted():
                    continue  # an id taken (143 bits of randomness each: unheard of): draw them again
                raise
            for s3_key in s3_keys:
                self._keep(s3_key)
            return thread
        raise RuntimeError(f"{_ATTEMPTS} new threads in a row could not be written")

    def update(
        self, project: str, thread_id: str, message_id: str, patch: ThreadPatch, expected: Versions = None
    ) -> Message:
        """Merge a metadata patch: one read, then one transaction conditioned on the thread being live and the
        message at the version read."""
        for _ in range(_ATTEMPTS):
            stored = self.get(project, thread_id, message_id, expected)
            metadata, _ = patch.apply(stored.metadata, {})
            if len(metadata) > MAX_METADATA_PAIRS:
                raise MetadataLimitExceeded(len(metadata))
            try:
                call(
                    self._client.transact_write_items,
                    ClientRequestToken=_request_token(),
                    TransactItems=[
                        {"ConditionCheck": self._check_thread(project, thread_id)},
                        {
                            "Update": {
                                "TableName": self._messages,
                                "Key": _key(thread_id, message_id),
                                "UpdateExpression": "SET #md = :md, #version = #version + :one",
                                "ConditionExpression": _LIVE_MESSAGE_AT,
                                "ExpressionAttributeNames": {
                                    "#md": "metadata",
                                    "#version": "version",
                                    "#pos": POSITION,
                                },
                                "ExpressionAttributeValues": {
                                    ":md": metadata_value(metadata),
                                    ":one": {"N": "1"},
                                    ":seen": {"N": str(stored.version)},
                                },
                            }
                        },
                    ],
                )
            except TransactionCanceled as cancelled:
                if cancelled.failed(0):
                    raise ThreadNotFound(thread_id) from None  # deleted since the read
                if cancelled.failed(1) or cancelled.conflicted():
                    continue  # changed or deleted meanwhile: read it again
                raise
            return replace(stored, metadata=metadata, version=stored.version + 1)
        raise StorageUnavailable("the message kept changing while it was modified")

    def delete(self, project: str, thread_id: str, message_id: str, expected: Versions = None) -> None:
        """Replace the message by a tombstone that keeps its position (for cursors) and out of the index."""
        for _ in range(_ATTEMPTS):
            stored = self.get(project, thread_id, message_id, expected, with_body=False)
            try:
                call(
                    self._client.transact_write_items,
                    ClientRequestToken=_request_token(),
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": self._messages,
                                "Key": _key(thread_id, message_id),
                                "UpdateExpression": "SET #dpos = :pos, #deleted = :now, #version = #version + :one"
                                " REMOVE #pos, #body, #md",
                                "ConditionExpression": _LIVE_MESSAGE_AT,
                                "ExpressionAttributeNames": {
                                    "#dpos": DELETED_POSITION,
                                    "#deleted": "deleted_at",
                                    "#version": "version",
                                    "#pos": POSITION,
                                    "#body": BODY,
                                    "#md": "metadata",
                                },
                                "ExpressionAttributeValues": {
                                    ":pos": {"N": str(stored.position)},
                                    ":now": {"N": str(int(time.time()))},
                                    ":one": {"N": "1"},
                                    ":seen": {"N": str(stored.version)},
                                },
                            }
                        }
                    ],
                )
            except TransactionCanceled as cancelled:
                if cancelled.failed(0) or cancelled.conflicted():
                    continue  # changed or deleted meanwhile: read it again (a 404 if it is gone)
                raise
            return
        raise StorageUnavailable("the message kept changing while it was deleted")

    # Reads

    def get(
        self,
        project: str,
        thread_id: str,
        message_id: str,
        expected: Versions = None,
        with_body: bool = True,
    ) -> Message:
        if not is_issued_thread_id(thread_id):
            raise ThreadNotFound(thread_id)
        thread_item, found = self._read_together(thread_id, [message_id])
        live_thread(thread_item, project, thread_id)
        item = found.get(message_id)
        if item is None or POSITION not in item:
            raise MessageNotFound(message_id)
        message = self.from_item(item) if with_body else _without_body(item)
        if expected is not None and message.version not in expected:
            raise PreconditionFailed("message")
        return message

    def page(self, project: str, thread_id: str, request: PageRequest) -> Page:
        """One page: the thread and the cursors in one read, then one Query of the index."""
        if not is_issued_thread_id(thread_id):
            raise ThreadNotFound(thread_id)
        cursors = [cursor for cursor in (request.after, request.before) if cursor is not None]
        thread_item, found = self._read_together(thread_id, cursors, projection=True)
        live_thread(thread_item, project, thread_id)
        after = _cursor_position("after", request.after, found)
        before = _cursor_position("before", request.before, found)
        ascending = request.order == "asc"
        # Exclusive bounds in ascending positions: `after` follows the order asked for, `before` precedes it.
        low, high = (after, before) if ascending else (before, after)
        # A page with only `before` is the `limit` items closest to it: read away from it, then turn them round.
        towards_cursor = before is not None and after is None
        forward = ascending != towards_cursor
        items, more = self._query(thread_id, low, high, forward, request.limit + 1, request.run_id)
        has_more = more or len(items) > request.limit
        items = items[: request.limit]
        if towards_cursor:
            items.reverse()
        return self._page(items, has_more)

    def _page(self, items: list[Item], has_more: bool) -> Page:
        """The messages of `items`, ending early (and `has_more`) before the answer would pass its size."""
        messages: list[Message] = []
        size = 0
        for item in items:
            message = self.from_item(item)
            size += wire_bytes(message.to_wire())
            if messages and size > self._max_page_bytes:
                return Page(messages, has_more=True)
            messages.append(message)
        return Page(messages, has_more)

    # Parts

    def _query(
        self, thread_id: str, low: int | None, high: int | None, forward: bool, limit: int, run_id: str | None
    ) -> tuple[list[Item], bool]:
        """Up to `limit` live messages strictly between `low` and `high`, in that direction; and whether the
        Query stopped before the end (its 1 MB, or `limit`)."""
        condition = "#tid = :tid"
        values: Item = {":tid": {"S": thread_id}}
        names = {"#tid": THREAD_KEY}
        if low is not None or high is not None:
            names["#pos"] = POSITION
        if low is not None and high is not None:
            if high - low < 2:
                return [], False
            condition += " AND #pos BETWEEN :low AND :high"
            values[":low"], values[":high"] = {"N": str(low + 1)}, {"N": str(high - 1)}
        elif low is not None:
            condition += " AND #pos > :low"
            values[":low"] = {"N": str(low)}
        elif high is not None:
            condition += " AND #pos < :high"
            values[":high"] = {"N": str(high)}
        query: dict[str, Any] = {
            "TableName": self._messages,
            "IndexName": POSITION_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
            "ConsistentRead": True,
            "Limit": limit,
        }
        if run_id is not None:
            query["FilterExpression"] = "#run = :run"
            names["#run"] = "run_id"
            values[":run"] = {"S": run_id}
        items: list[Item] = []
        while True:
            response = call(self._client.query, **query)
            items.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            # A filter (run_id) can leave a page short: read on until it is full. Without one, one Query.
            if last is None or run_id is None or len(items) >= limit:
                return items[:limit], last is not None
            query["ExclusiveStartKey"] = last

    def _read_together(
        self, thread_id: str, message_ids: Iterable[str], projection: bool = False
    ) -> tuple[Item | None, dict[str, Item]]:
        """The thread's item and those of the named messages, in one consistent BatchGetItem."""
        requested: dict[str, Any] = {self._threads: {"Keys": [{THREAD_KEY: {"S": thread_id}}], "ConsistentRead": True}}
        ids = sorted(set(message_ids))
        if ids:
            messages: dict[str, Any] = {"Keys": [_key(thread_id, m) for m in ids], "ConsistentRead": True}
            if projection:
                messages["ProjectionExpression"] = "#mid, #pos, #dpos"
                messages["ExpressionAttributeNames"] = {
                    "#mid": MESSAGE_KEY,
                    "#pos": POSITION,
                    "#dpos": DELETED_POSITION,
                }
            requested[self._messages] = messages
        thread_item: Item | None = None
        found: dict[str, Item] = {}
        for attempt in range(_BATCH_GET_ATTEMPTS):
            response = call(self._client.batch_get_item, RequestItems=requested)
            for item in response.get("Responses", {}).get(self._threads, []):
                thread_item = item
            for item in response.get("Responses", {}).get(self._messages, []):
                found[item[MESSAGE_KEY]["S"]] = item
            requested = dict(response.get("UnprocessedKeys") or {})
            if not requested:
                return thread_item, found
            time.sleep(_BACKOFF_SECONDS * 2**attempt)
        raise StorageUnavailable("BatchGetItem kept leaving keys unprocessed")

    def _thread_item(self, item: Item | None, thread_id: str) -> Item | None:
        """The thread's item a failed condition sent back; read when the storage never sends one."""
        if item is not None or self._returns_item:
            return item
        response = call(
            self._client.get_item, TableName=self._threads, Key={THREAD_KEY: {"S": thread_id}}, ConsistentRead=True
        )
        return response.get("Item")

    def _advance_thread(self, project: str, thread_id: str, position: int) -> UpdateTypeDef:
        return {
            "TableName": self._threads,
            "Key": {THREAD_KEY: {"S": thread_id}},
            "UpdateExpression": "SET #last = :pos",
            "ConditionExpression": _THREAD_LIVE + " AND (attribute_not_exists(#last) OR #last < :pos)",
            "ExpressionAttributeNames": {**_THREAD_NAMES, "#last": LAST_POSITION},
            "ExpressionAttributeValues": {":project": {"S": project}, ":pos": {"N": str(position)}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _check_thread(self, project: str, thread_id: str) -> ConditionCheckTypeDef:
        return {
            "TableName": self._threads,
            "Key": {THREAD_KEY: {"S": thread_id}},
            "ConditionExpression": _THREAD_LIVE,
            "ExpressionAttributeNames": _THREAD_NAMES,
            "ExpressionAttributeValues": {":project": {"S": project}},
        }

    def _put_new(self, item: Item) -> PutTypeDef:
        return {
            "TableName": self._messages,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(#mid)",
            "ExpressionAttributeNames": {"#mid": MESSAGE_KEY},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _place_body(self, thread_id: str, message_id: str, draft: MessageDraft) -> tuple[Item, str | None]:
        """The item's attribute for the body: the body itself, or, when too large, its key in the bucket (where
        it is written now, pending until the message is stored)."""
        blob = encode_body(draft.content, draft.attachments)
        if len(blob) <= INLINE_BODY_BYTES:
            return {BODY: {"B": blob}}, None
        key = content_object_key(thread_id, message_id)
        self._bucket.put_pending(key, blob)
        return {S3_KEY: {"S": key}}, key

    def _keep(self, s3_key: str | None) -> None:
        if s3_key is None:
            return
        try:
            self._bucket.keep(s3_key)
        except (StorageUnavailable, ClientError):  # the cleanup function removes the tag too, on the INSERT
            pass

    def from_item(self, item: Item) -> Message:
        """The message a stored item holds, its body read from the bucket when it is not in the item."""
        blob = item[BODY]["B"] if BODY in item else self._bucket.get(item[S3_KEY]["S"])
        body = decode_body(blob)
        return replace(_without_body(item), content=body["content"], attachments=body["attachments"])


def _drafted(draft: MessageDraft, message_id: str, thread_id: str, created_at: int, position: int) -> Message:
    return Message(
        id=message_id,
        thread_id=thread_id,
        created_at=created_at,
        role=draft.role,
        content=draft.content,
        position=position,
        attachments=draft.attachments,
        metadata=draft.metadata,
    )


def _cursor_position(name: str, message_id: str | None, found: dict[str, Item]) -> int | None:
    """Where a cursor stands: its message's position, or the one it had when it was deleted."""
    if message_id is None:
        return None
    item = found.get(message_id)
    if item is None:
        raise UnknownCursor(name, message_id)
    value = item.get(POSITION) or item[DELETED_POSITION]
    return int(value["N"])


def _key(thread_id: str, message_id: str) -> Item:
    return {THREAD_KEY: {"S": thread_id}, MESSAGE_KEY: {"S": message_id}}


def _pause() -> None:
    time.sleep(_BACKOFF_SECONDS * (1 + secrets.randbelow(4)))


def message_to_item(message: Message, project: str, body: Item) -> Item:
    """The DynamoDB item a message is stored as, `body` its body attribute (`body` or `s3_key`)."""
    item: Item = {
        THREAD_KEY: {"S": message.thread_id},
        MESSAGE_KEY: {"S": message.id},
        "project": {"S": project},
        POSITION: {"N": str(message.position)},
        "created_at": {"N": str(message.created_at)},
        "version": {"N": str(message.version)},
        "role": {"S": message.role},
        "metadata": metadata_value(message.metadata),
        **body,
    }
    if message.assistant_id is not None:
        item["assistant_id"] = {"S": message.assistant_id}
    if message.run_id is not None:
        item["run_id"] = {"S": message.run_id}
    return item


def _without_body(item: Item) -> Message:
    return Message(
        id=item[MESSAGE_KEY]["S"],
        thread_id=item[THREAD_KEY]["S"],
        created_at=int(item["created_at"]["N"]),
        role=item["role"]["S"],
        content=[],
        position=int(item[POSITION]["N"]),
        version=int(item["version"]["N"]),
        metadata={key: value["S"] for key, value in item["metadata"]["M"].items()},
        assistant_id=item["assistant_id"]["S"] if "assistant_id" in item else None,
        run_id=item["run_id"]["S"] if "run_id" in item else None,
    )
