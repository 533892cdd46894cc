"""ThreadStore: the only code that talks to DynamoDB.

One item per thread, keyed by `thread_id`, holding `project`, `created_at`, `version`, `metadata` and
`tool_resources`. Every read, update and delete is conditioned on the caller's project, so a thread of
another project is indistinguishable from a missing one. No call here scans the table.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .models import MAX_METADATA_PAIRS
from .patch import ThreadPatch
from .thread import Thread, is_issued_thread_id, new_thread_id

RETRYABLE_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
# A patch of at most this many keys is written as per-key updates in one call; a larger one (it can only
# be valid if most of it removes keys that are not there) is merged here and written whole.
_LARGEST_PER_KEY_PATCH = 32
_MERGE_ATTEMPTS = 5
_CREATE_ATTEMPTS = 3


class ThreadNotFound(Exception):
    """No thread with that id in the caller's project."""


class MetadataLimitExceeded(Exception):
    def __init__(self, count: int):
        super().__init__(count)
        self.count = count


class StorageUnavailable(Exception):
    """DynamoDB throttled the call or could not be reached: the client should retry."""


class PreconditionFailed(Exception):
    """The thread is not at any of the versions the caller's If-Match names."""


# The versions a caller's If-Match allows: None for any (no header, or `*`); an empty set matches none.
Versions = frozenset[int] | None
_MAX_VERSIONS = 100  # the most operands DynamoDB's IN takes


_NAMES = {"#id": "thread_id", "#project": "project", "#version": "version", "#md": "metadata", "#tr": "tool_resources"}
_OWNED = "attribute_exists(#id) AND #project = :project"


class ThreadStore:
    def __init__(self, client: Any, table_name: str, max_metadata_pairs: int = MAX_METADATA_PAIRS):
        self._client = client
        self._table = table_name
        self._max_pairs = max_metadata_pairs

    def create(self, project: str, metadata: dict, tool_resources: dict) -> Thread:
        # 143 bits of randomness make a collision unheard of; the condition makes one harmless (a new id).
        for _ in range(_CREATE_ATTEMPTS):
            thread = Thread(
                id=new_thread_id(),
                project=project,
                created_at=int(time.time()),
                metadata=metadata,
                tool_resources=tool_resources,
            )
            try:
                self._call(
                    "put_item",
                    TableName=self._table,
                    Item=to_item(thread),
                    ConditionExpression="attribute_not_exists(#id)",
                    ExpressionAttributeNames={"#id": "thread_id"},
                )
            except _ConditionFailed:
                continue
            return thread
        raise RuntimeError(f"{_CREATE_ATTEMPTS} new thread ids in a row were taken")

    def get(self, project: str, thread_id: str, expected: Versions = None) -> Thread:
        if not is_issued_thread_id(thread_id):
            raise ThreadNotFound(thread_id)
        response = self._call("get_item", TableName=self._table, Key=_key(thread_id), ConsistentRead=True)
        item = response.get("Item")
        if item is None or item["project"]["S"] != project:
            raise ThreadNotFound(thread_id)
        thread = from_item(item)
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
        expression, names, values = _update_expression(patch)
        values[":project"] = {"S": project}
        condition = _OWNED + _version_condition(expected, values)
        if patch.metadata_set:
            # Exact when every key set is new; otherwise the rare path below decides on the merged result.
            condition += " AND size(#md) <= :room"
            values[":room"] = {"N": str(self._max_pairs - len(patch.metadata_set))}
        try:
            response = self._call(
                "update_item",
                TableName=self._table,
                Key=_key(thread_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except _ConditionFailed as failed:
            if failed.item is None and not patch.metadata_set and expected is None:
                raise ThreadNotFound(thread_id) from None  # only existence was asked
            stored = self._stored_when(failed, project, thread_id, expected)
            # The thread is near the limit: only the merged result can tell whether this patch fits.
            return self._merge_and_write(project, thread_id, patch, stored, expected)
        return from_item(response["Attributes"])

    def delete(self, project: str, thread_id: str, expected: Versions = None) -> None:
        if not is_issued_thread_id(thread_id):
            raise ThreadNotFound(thread_id)
        if expected is not None and not expected:
            self.get(project, thread_id, expected)  # 404, or else 412: no version can match
        values = {":project": {"S": project}}
        names = {"#id": "thread_id", "#project": "project"}
        condition = _OWNED + _version_condition(expected, values)
        if expected:
            names["#version"] = "version"
        try:
            self._call(
                "delete_item",
                TableName=self._table,
                Key=_key(thread_id),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except _ConditionFailed as failed:
            if expected is None:
                raise ThreadNotFound(thread_id) from None  # only existence was asked
            self._stored_when(failed, project, thread_id, expected)  # 404, or 412
            raise PreconditionFailed() from None  # it is there, in the project: the version failed the condition

    def _merge_and_write(
        self,
        project: str,
        thread_id: str,
        patch: ThreadPatch,
        stored: Thread | None = None,
        expected: Versions = None,
    ) -> Thread:
        """Merge here and write the whole result, on condition the thread is still at the version merged.

        `stored`, when given, is the thread as read, already checked against `expected`.
        """
        for _ in range(_MERGE_ATTEMPTS):
            stored = stored or self.get(project, thread_id, expected)
            metadata, tool_resources = patch.apply(stored.metadata, stored.tool_resources)
            if len(metadata) > self._max_pairs:
                raise MetadataLimitExceeded(len(metadata))
            try:
                response = self._call(
                    "update_item",
                    TableName=self._table,
                    Key=_key(thread_id),
                    UpdateExpression="SET #md = :md, #tr = :tr, #version = #version + :one",
                    ConditionExpression=_OWNED + " AND #version = :seen",
                    ExpressionAttributeNames=_NAMES,
                    ExpressionAttributeValues={
                        ":md": _metadata_value(metadata),
                        ":tr": _tool_resources_value(tool_resources),
                        ":one": {"N": "1"},
                        ":project": {"S": project},
                        ":seen": {"N": str(stored.version)},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except _ConditionFailed as failed:
                stored = self._stored_when(failed, project, thread_id, expected)  # changed meanwhile: merge again
                continue
            return from_item(response["Attributes"])
        raise StorageUnavailable("the thread kept changing while a large patch was merged")

    def _stored_when(self, failed: _ConditionFailed, project: str, thread_id: str, expected: Versions) -> Thread:
        """The thread a conditional write failed on: ThreadNotFound if it is missing or another project's,
        PreconditionFailed if it is not at a version `expected` allows.

        DynamoDB sends the stored item back (ALL_OLD), and none when there is none; servers that never send it
        (dynalite, older DynamoDB Local) are answered by a read.
        """
        if failed.item is None:
            return self.get(project, thread_id, expected)
        if failed.item["project"]["S"] != project:
            raise ThreadNotFound(thread_id)
        stored = from_item(failed.item)
        _check_version(stored, expected)
        return stored

    def _call(self, operation: str, **kwargs: Any) -> dict:
        try:
            return getattr(self._client, operation)(**kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise _ConditionFailed(error.response.get("Item")) from None
            raise_if_unavailable(error)
            raise
        except BotoCoreError as error:
            raise_if_unavailable(error)
            raise


def raise_if_unavailable(error: BaseException) -> None:
    """Raise StorageUnavailable (from `error`) when DynamoDB was throttled or unreachable: worth a retry."""
    reason = unavailable_reason(error)
    if reason is not None:
        raise StorageUnavailable(reason) from error


def unavailable_reason(error: BaseException | None) -> str | None:
    """Why a DynamoDB error means "throttled or unreachable" (its code, or the network fault's name); None for an
    error that retrying would not cure."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        return code if code in RETRYABLE_ERROR_CODES else None
    if isinstance(error, BotoCoreError):
        return type(error).__name__
    return None


def _check_version(thread: Thread, expected: Versions) -> None:
    if expected is not None and thread.version not in expected:
        raise PreconditionFailed()


def _version_condition(expected: Versions, values: dict) -> str:
    """The If-Match part of a condition expression (its values added to `values`)."""
    if not expected:
        return ""
    versions = sorted(expected)[:_MAX_VERSIONS]
    for i, version in enumerate(versions):
        values[f":v{i}"] = {"N": str(version)}
    return " AND #version IN (" + ", ".join(f":v{i}" for i in range(len(versions))) + ")"


class _ConditionFailed(Exception):
    def __init__(self, item: dict | None):
        super().__init__()
        self.item = item


def _key(thread_id: str) -> dict:
    return {"thread_id": {"S": thread_id}}


def to_item(thread: Thread) -> dict:
    """The DynamoDB item a thread is stored as."""
    return {
        "thread_id": {"S": thread.id},
        "project": {"S": thread.project},
        "created_at": {"N": str(thread.created_at)},
        "version": {"N": str(thread.version)},
        "metadata": _metadata_value(thread.metadata),
        "tool_resources": _tool_resources_value(thread.tool_resources),
    }


def from_item(item: dict) -> Thread:
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


def _metadata_value(metadata: dict[str, str]) -> dict:
    return {"M": {key: {"S": value} for key, value in metadata.items()}}


def _id_lists_value(lists: dict[str, list[str]]) -> dict:
    return {"M": {name: {"L": [{"S": entry} for entry in ids]} for name, ids in lists.items()}}


def _tool_resources_value(tool_resources: dict[str, dict[str, list[str]]]) -> dict:
    return {"M": {tool: _id_lists_value(lists) for tool, lists in tool_resources.items()}}


def _update_expression(patch: ThreadPatch) -> tuple[str, dict, dict]:
    """SET and REMOVE clauses for a patch; every key is a placeholder, so any key text is safe."""
    names = {"#id": "thread_id", "#project": "project", "#version": "version"}
    if patch.metadata_set or patch.metadata_remove or patch.metadata_clear:
        names["#md"] = "metadata"
    if patch.tools_set or patch.tools_remove or patch.tools_clear:
        names["#tr"] = "tool_resources"
    values: dict[str, dict] = {":one": {"N": "1"}}
    sets = ["#version = #version + :one"]
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
