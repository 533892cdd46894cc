"""ThreadStore: threads in DynamoDB, through the storage seam (`dynamodb.call`).

One item per thread, keyed by `thread_id`, holding `project`, `created_at`, `version`, `metadata` and
`tool_resources`. Every read, update and delete is conditioned on the caller's project, so a thread of
another project is indistinguishable from a missing one. No call here scans the table.

Every write is applied at most once. botocore resends a write whose answer was lost (a read timeout after
DynamoDB applied it), so each write carries a random token, kept in the same conditional write: the item holds
the tokens of its last `RECENT_WRITES` writes (`wt0`, the newest, made the stored version; `wt1` the one
before...), and a write whose token is there already is refused by its condition and recognised as applied.
A delete leaves a tombstone for that reason: the item loses its metadata and tool resources and gains
`deleted_at` and `expires_at` (DynamoDB's TTL removes it), so that a resent delete still finds its token. Every
read and write treats a tombstone as no thread.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace

from .dynamodb import AttributeValue, ConditionFailed, DynamoDBClient, Item, call
from .exceptions import MetadataLimitExceeded, PreconditionFailed, StorageUnavailable, ThreadNotFound
from .limits import MAX_METADATA_PAIRS
from .patch import ThreadPatch
from .thread import Metadata, Thread, ToolResources, is_issued_thread_id, new_thread_id

# A patch of at most this many keys is written as per-key updates in one call; a larger one (it can only
# be valid if most of it removes keys that are not there) is merged here and written whole.
_LARGEST_PER_KEY_PATCH = 32
_MERGE_ATTEMPTS = 5
_CREATE_ATTEMPTS = 3
# How many writes a resent write may have been overtaken by and still be recognised. botocore resends within the
# client's budget (a few seconds), so this is more writes to one thread than that window sees but under contention.
RECENT_WRITES = 16
_SLOTS = tuple(f"wt{i}" for i in range(RECENT_WRITES))
_NO_TOKEN = "-"
# A tombstone outlives any resend of the delete that made it; DynamoDB's TTL then removes it (within days).
TOMBSTONE_SECONDS = 60 * 60


# The versions a caller's If-Match allows: None for any (no header, or `*`); an empty set matches none.
Versions = frozenset[int] | None
_MAX_VERSIONS = 100  # the most operands DynamoDB's IN takes


_NAMES = {
    "#id": "thread_id",
    "#project": "project",
    "#version": "version",
    "#deleted": "deleted_at",
    "#md": "metadata",
    "#tr": "tool_resources",
}
# The thread is there, live, in the caller's project, and this write (its token) has not been applied yet.
_LIVE_OWNED_NOT_YET_WRITTEN = (
    "attribute_exists(#id) AND #project = :project AND attribute_not_exists(#deleted)"
    f" AND NOT (:token IN ({', '.join(_SLOTS)}))"
)
# Each write moves the tokens down one slot and puts its own in the first (all operands read the item as it was).
_RECORD_TOKEN = ", ".join(
    [*(f"{_SLOTS[i]} = {_SLOTS[i - 1]}" for i in range(RECENT_WRITES - 1, 0, -1)), "wt0 = :token"]
)


def new_write_token() -> str:
    return secrets.token_urlsafe(12)


class ThreadStore:
    """`returns_item_on_failure`: whether the storage sends the stored item back with a failed condition
    (`ReturnValuesOnConditionCheckFailure`), as DynamoDB and moto do, and so sends none only when there is none.
    Servers that never send it (dynalite) are answered by a consistent read after a failed condition instead."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        max_metadata_pairs: int = MAX_METADATA_PAIRS,
        returns_item_on_failure: bool = True,
    ):
        self._client = client
        self._table = table_name
        self._max_pairs = max_metadata_pairs
        self._returns_item = returns_item_on_failure

    def create(self, project: str, metadata: Metadata, tool_resources: ToolResources) -> Thread:
        # 143 bits of randomness make a collision unheard of; the condition makes one harmless (a new id).
        for _ in range(_CREATE_ATTEMPTS):
            token = new_write_token()
            thread = Thread(
                id=new_thread_id(),
                project=project,
                created_at=int(time.time()),
                metadata=metadata,
                tool_resources=tool_resources,
            )
            try:
                call(
                    self._client.put_item,
                    TableName=self._table,
                    Item=to_item(thread, token),
                    ConditionExpression="attribute_not_exists(#id)",
                    ExpressionAttributeNames={"#id": "thread_id"},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ConditionFailed as failed:
                stored = self._stored_item(failed, thread.id)
                if stored is not None and _version_written(stored, token) is not None:
                    return thread  # a resend of this very put, which DynamoDB had applied
                continue  # the id is taken: draw another
            return thread
        raise RuntimeError(f"{_CREATE_ATTEMPTS} new thread ids in a row were taken")

    def get(self, project: str, thread_id: str, expected: Versions = None) -> Thread:
        if not is_issued_thread_id(thread_id):
            raise ThreadNotFound(thread_id)
        thread = live_thread(self._read(thread_id), project, thread_id)
        _check_version(thread, expected)
        return thread

    def update(self, project: str, thread_id: str, patch: ThreadPatch, expected: Versions = None) -> Thread:
        """Apply a non-empty patch: one conditional UpdateItem in the common case.

        The checks, in the contract's order: the thread exists in the project, it is at a version `expected`
        allows (If-Match, in the same conditional write), and the merged metadata holds at most 16 pairs.
        """
        if not is_issued_thread_id(thread_id):
            raise ThreadNotFound(thread_id)
        if expected is not None and not expected:
            self.get(project, thread_id, expected)  # 404, or else 412: no version can match
        if len(patch.metadata_set) + len(patch.metadata_remove) > _LARGEST_PER_KEY_PATCH:
            return self._merge_and_write(project, thread_id, patch, expected=expected)
        if expected is not None and len(expected) > _MAX_VERSIONS:
            return self._merge_and_write(project, thread_id, patch, expected=expected)
        token = new_write_token()
        expression, names, values = _update_expression(patch)
        values[":project"] = {"S": project}
        values[":token"] = {"S": token}
        condition = _LIVE_OWNED_NOT_YET_WRITTEN + _version_condition(expected, values)
        if patch.metadata_set:
            # Exact when every key set is new; otherwise the rare path below decides on the merged result.
            condition += " AND size(#md) <= :room"
            values[":room"] = {"N": str(self._max_pairs - len(patch.metadata_set))}
        try:
            response = call(
                self._client.update_item,
                TableName=self._table,
                Key=_key(thread_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:
            thread, applied = self._refused(failed, project, thread_id, token, expected)
            if applied:
                return thread
            # The thread is near the limit: only the merged result can tell whether this patch fits.
            return self._merge_and_write(project, thread_id, patch, thread, expected, token)
        return from_item(response["Attributes"])

    def delete(self, project: str, thread_id: str, expected: Versions = None) -> None:
        """Replace the thread by a tombstone, in one conditional UpdateItem."""
        if not is_issued_thread_id(thread_id):
            raise ThreadNotFound(thread_id)
        if expected is not None and not expected:
            self.get(project, thread_id, expected)  # 404, or else 412: no version can match
        for _ in range(_MERGE_ATTEMPTS):
            token = new_write_token()
            pinned = expected
            if expected is not None and len(expected) > _MAX_VERSIONS:
                pinned = frozenset({self.get(project, thread_id, expected).version})  # 404, 412, or the one to pin
            now = int(time.time())
            values: Item = {
                ":project": {"S": project},
                ":token": {"S": token},
                ":one": {"N": "1"},
                ":now": {"N": str(now)},
                ":expires": {"N": str(now + TOMBSTONE_SECONDS)},
            }
            condition = _LIVE_OWNED_NOT_YET_WRITTEN + _version_condition(pinned, values)
            try:
                call(
                    self._client.update_item,
                    TableName=self._table,
                    Key=_key(thread_id),
                    UpdateExpression="SET #deleted = :now, expires_at = :expires, #version = #version + :one, "
                    + _RECORD_TOKEN
                    + " REMOVE #md, #tr",
                    ConditionExpression=condition,
                    ExpressionAttributeNames=_NAMES,
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ConditionFailed as failed:
                stored = self._stored_item(failed, thread_id)
                if stored is not None and _owner(stored) == project and _version_written(stored, token):
                    return  # a resend of this delete, which DynamoDB had applied
                _check_version(live_thread(stored, project, thread_id), expected)
                continue  # at a version If-Match names, but not the one pinned: it changed meanwhile
            return
        raise StorageUnavailable("the thread kept changing while a delete was pinned to a version")

    def _merge_and_write(
        self,
        project: str,
        thread_id: str,
        patch: ThreadPatch,
        stored: Thread | None = None,
        expected: Versions = None,
        token: str | None = None,
    ) -> Thread:
        """Merge here and write the whole result, on condition the thread is still at the version merged.

        `stored`, when given, is the thread as read, already checked against `expected`.
        """
        token = token or new_write_token()
        for _ in range(_MERGE_ATTEMPTS):
            stored = stored or self.get(project, thread_id, expected)
            metadata, tool_resources = patch.apply(stored.metadata, stored.tool_resources)
            if len(metadata) > self._max_pairs:
                raise MetadataLimitExceeded(len(metadata))
            try:
                response = call(
                    self._client.update_item,
                    TableName=self._table,
                    Key=_key(thread_id),
                    UpdateExpression="SET #md = :md, #tr = :tr, #version = #version + :one, " + _RECORD_TOKEN,
                    ConditionExpression=_LIVE_OWNED_NOT_YET_WRITTEN + " AND #version = :seen",
                    ExpressionAttributeNames=_NAMES,
                    ExpressionAttributeValues={
                        ":md": metadata_value(metadata),
                        ":tr": _tool_resources_value(tool_resources),
                        ":one": {"N": "1"},
                        ":project": {"S": project},
                        ":token": {"S": token},
                        ":seen": {"N": str(stored.version)},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ConditionFailed as failed:
                stored, applied = self._refused(failed, project, thread_id, token, expected)
                if applied:
                    return stored
                continue  # changed meanwhile: merge again
            return from_item(response["Attributes"])
        raise StorageUnavailable("the thread kept changing while a large patch was merged")

    def _refused(
        self, failed: ConditionFailed, project: str, thread_id: str, token: str, expected: Versions
    ) -> tuple[Thread, bool]:
        """The thread an update was refused on, and whether the update was applied after all: a resend of a write
        DynamoDB had applied, answered with the thread as stored and the version that write made. Otherwise
        ThreadNotFound or PreconditionFailed, or the thread, at a version `expected` allows."""
        item = self._stored_item(failed, thread_id)
        thread = live_thread(item, project, thread_id)
        written = _version_written(item, token)
        if written is not None:
            return replace(thread, version=written), True
        _check_version(thread, expected)
        return thread, False

    def _read(self, thread_id: str) -> Item | None:
        return call(self._client.get_item, TableName=self._table, Key=_key(thread_id), ConsistentRead=True).get("Item")

    def _stored_item(self, failed: ConditionFailed, thread_id: str) -> Item | None:
        """The item a conditional write failed on, None if there is none.

        DynamoDB sends it back (ALL_OLD), and sends none only when there is none: that is the answer, with no
        second call. A storage server that never sends it is asked with a consistent read.
        """
        if failed.item is not None or self._returns_item:
            return failed.item
        return self._read(thread_id)


def live_thread(item: Item | None, project: str, thread_id: str) -> Thread:
    """The thread an item holds: ThreadNotFound if there is none, it is another project's, a tombstone, or an
    import's claim on the id (which has no project)."""
    if item is None or _owner(item) != project or "deleted_at" in item:
        raise ThreadNotFound(thread_id)
    return from_item(item)


def _owner(item: Item) -> str | None:
    owner = item.get("project")
    return owner["S"] if owner is not None else None


def _version_written(item: Item | None, token: str) -> int | None:
    """The version the write with `token` made, if it is one of the item's recent writes; None otherwise."""
    if item is None:
        return None
    version = int(item["version"]["N"])
    for age, slot in enumerate(_SLOTS):
        if item.get(slot, {}).get("S") == token:
            return version - age
    return None


def _check_version(thread: Thread, expected: Versions) -> None:
    if expected is not None and thread.version not in expected:
        raise PreconditionFailed()


def _version_condition(expected: Versions, values: Item) -> str:
    """The If-Match part of a condition expression (its values added to `values`)."""
    if not expected:
        return ""
    if len(expected) > _MAX_VERSIONS:
        raise ValueError(f"an IN takes at most {_MAX_VERSIONS} versions; pin the write to one read instead")
    versions = sorted(expected)
    for i, version in enumerate(versions):
        values[f":v{i}"] = {"N": str(version)}
    return " AND #version IN (" + ", ".join(f":v{i}" for i in range(len(versions))) + ")"


def _key(thread_id: str) -> Item:
    return {"thread_id": {"S": thread_id}}


def to_item(thread: Thread, token: str = _NO_TOKEN) -> Item:
    """The DynamoDB item a thread is stored as, `token` the write that made it."""
    return {
        "thread_id": {"S": thread.id},
        "project": {"S": thread.project},
        "created_at": {"N": str(thread.created_at)},
        "version": {"N": str(thread.version)},
        "metadata": metadata_value(thread.metadata),
        "tool_resources": _tool_resources_value(thread.tool_resources),
        "wt0": {"S": token},
        **{slot: {"S": _NO_TOKEN} for slot in _SLOTS[1:]},
    }


def from_item(item: Item) -> Thread:
    return Thread(
        id=item["thread_id"]["S"],
        project=item["project"]["S"],
        created_at=int(item["created_at"]["N"]),
        version=int(item["version"]["N"]),
        metadata={key: value["S"] for key, value in item["metadata"]["M"].items()},
        tool_resources={
            tool: {name: [entry["S"] for entry in ids["L"]] for name, ids in lists["M"].items()}
            for tool, lists in item["tool_resources"]["M"].items()
        },
    )


# The item's shape is fixed, so its attribute values are written out here rather than by a general serializer
# (boto3's would bring all of boto3 into the function's cold start).


def metadata_value(metadata: Metadata) -> AttributeValue:
    return {"M": {key: {"S": value} for key, value in metadata.items()}}


def _id_lists_value(lists: dict[str, list[str]]) -> AttributeValue:
    return {"M": {name: {"L": [{"S": entry} for entry in ids]} for name, ids in lists.items()}}


def _tool_resources_value(tool_resources: ToolResources) -> AttributeValue:
    return {"M": {tool: _id_lists_value(lists) for tool, lists in tool_resources.items()}}


def _update_expression(patch: ThreadPatch) -> tuple[str, dict[str, str], Item]:
    """SET and REMOVE clauses for a patch, the write's token recorded; every key is a placeholder, so any key text
    is safe."""
    names = {"#id": "thread_id", "#project": "project", "#version": "version", "#deleted": "deleted_at"}
    if patch.metadata_set or patch.metadata_remove or patch.metadata_clear:
        names["#md"] = "metadata"
    if patch.tools_set or patch.tools_remove or patch.tools_clear:
        names["#tr"] = "tool_resources"
    values: Item = {":one": {"N": "1"}}
    sets = ["#version = #version + :one", _RECORD_TOKEN]
    removes: list[str] = []
    if patch.metadata_clear:
        sets.append("#md = :md_empty")
        values[":md_empty"] = {"M": {}}
    for i, (key, value) in enumerate(patch.metadata_set.items()):
        names[f"#m{i}"] = key
        values[f":m{i}"] = {"S": value}
        sets.append(f"#md.#m{i} = :m{i}")
    for i, key in enumerate(sorted(patch.metadata_remove)):
        names[f"#r{i}"] = key
        removes.append(f"#md.#r{i}")
    if patch.tools_clear:
        sets.append("#tr = :tr_empty")
        values[":tr_empty"] = {"M": {}}
    for i, (tool, lists) in enumerate(patch.tools_set.items()):
        names[f"#t{i}"] = tool
        values[f":t{i}"] = _id_lists_value(lists)
        sets.append(f"#tr.#t{i} = :t{i}")
    for i, tool in enumerate(sorted(patch.tools_remove)):
        names[f"#u{i}"] = tool
        removes.append(f"#tr.#u{i}")
    expression = "SET " + ", ".join(sets)
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    return expression, names, values
