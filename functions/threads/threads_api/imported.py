"""Saved OpenAI objects, as an import reads them: a thread object, a message object, or a saved list page of
them, one per line of JSON Lines, each checked with the API's own rules and worded with its error texts.

What the client returned is what is read: a thread (`id`, `created_at`, `metadata`, `tool_resources`) and a
message (`id`, `thread_id`, `created_at`, `role`, `content` as parts with their annotations, `attachments`,
`metadata`, `assistant_id`, `run_id`). Their ids are OpenAI's own shape, which is this service's too. A message's
`status`, `completed_at`, `incomplete_at` and `incomplete_details` are read and not kept: the service has no
runs, and every message it answers is completed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, ValidationError

from . import errors
from .content import ROLES, choice, saved_content
from .errors import ApiError
from .limits import MAX_ATTACHMENTS, MAX_RESOURCE_ID_LENGTH
from .message import ID_PREFIX as MESSAGE_ID_PREFIX
from .message import Message
from .models import TOOL_ID_LISTS, Attachment, CodeInterpreterResources, CreateMetadata, FileSearchResources
from .thread import ID_PREFIX as THREAD_ID_PREFIX
from .thread import Thread, ToolResources
from .validation import first_error

_ID_CHARACTERS = r"[A-Za-z0-9]{24}"
OBJECT_TYPES = ("thread", "thread.message", "list")
_INVALID_ID = "invalid_id"


class _Saved(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True, strict=True)


ThreadIdText = Annotated[str, StringConstraints(pattern=f"^{THREAD_ID_PREFIX}{_ID_CHARACTERS}$")]
MessageIdText = Annotated[str, StringConstraints(pattern=f"^{MESSAGE_ID_PREFIX}{_ID_CHARACTERS}$")]
Timestamp = Annotated[int, Field(ge=0)]
OptionalId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_RESOURCE_ID_LENGTH)] | None


class SavedToolResources(_Saved):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class SavedThread(_Saved):
    id: ThreadIdText
    object: Literal["thread"]
    created_at: Timestamp
    metadata: CreateMetadata | None = None
    tool_resources: SavedToolResources | None = None


class SavedMessage(_Saved):
    id: MessageIdText
    object: Literal["thread.message"]
    created_at: Timestamp
    thread_id: ThreadIdText
    role: Annotated[str, PlainValidator(lambda value: choice(value, ROLES))]
    content: Annotated[list[dict[str, Any]], PlainValidator(saved_content)]
    attachments: Annotated[list[Attachment], Field(max_length=MAX_ATTACHMENTS)] | None = None
    metadata: CreateMetadata | None = None
    assistant_id: OptionalId = None
    run_id: OptionalId = None
    # Read, not kept: every message here is completed.
    status: Literal["in_progress", "incomplete", "completed"] | None = None
    completed_at: Timestamp | None = None
    incomplete_at: Timestamp | None = None
    incomplete_details: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """A saved object that cannot be imported: where it is (`data[3]` in a page, else empty), why, and the
    thread it belongs to, when that much could be read."""

    where: str
    error: ApiError
    thread_id: str | None


Saved = Thread | Message


def read_line(text: str | bytes, project: str) -> list[Saved | Refused]:
    """The objects of one line: one thread or message, or a page's; each is checked on its own."""
    try:
        document = json.loads(text)
    except ValueError:
        return [Refused("", errors.invalid_json(), None)]
    if isinstance(document, dict) and document.get("object") == "list" and "data" in document:
        unknown = sorted(set(document) - {"object", "data", "first_id", "last_id", "has_more"})
        if unknown:
            return [Refused("", errors.unknown_parameter(unknown[0]), None)]
        data = document["data"]
        if not isinstance(data, list):
            return [Refused("", errors.invalid_type("data", "an array", data), None)]
        return [_read_object(item, project, f"data[{i}]") for i, item in enumerate(data)]
    return [_read_object(document, project, "")]


def _read_object(document: Any, project: str, where: str) -> Saved | Refused:
    if not isinstance(document, dict):
        return Refused(where, errors.body_not_an_object(document), None)
    kind = document.get("object")
    owner = document.get("id") if kind == "thread" else document.get("thread_id")
    thread_id = owner if isinstance(owner, str) else None
    if "object" not in document:
        return Refused(where, errors.missing_parameter("object"), thread_id)
    if kind not in OBJECT_TYPES[:2]:
        shown = kind if isinstance(kind, str) else json.dumps(kind)
        return Refused(where, errors.unsupported_value("object", shown, OBJECT_TYPES[:2]), thread_id)
    try:
        if kind == "thread":
            return _thread(SavedThread.model_validate(document), project)
        return _message(SavedMessage.model_validate(document))
    except ValidationError as invalid:
        return Refused(where, _first_error(invalid, document), thread_id)


def _first_error(invalid: ValidationError, document: dict[str, Any]) -> ApiError:
    found: list[dict[str, Any]] = [{**error, "loc": ("body", *error["loc"])} for error in invalid.errors()]
    for error in found:
        loc = error["loc"]
        if error["type"] == "string_pattern_mismatch" and loc[1:] in (("id",), ("thread_id",)):
            return _invalid_id(str(loc[1]), str(error["input"]), document)
    return first_error(found, document)


def _invalid_id(name: str, value: str, document: dict[str, Any]) -> ApiError:
    prefix = MESSAGE_ID_PREFIX if name == "id" and document.get("object") == "thread.message" else THREAD_ID_PREFIX
    return errors.invalid_saved_id(name, value, prefix)


def _thread(saved: SavedThread, project: str) -> Thread:
    tools: ToolResources = {}
    if saved.tool_resources is not None:
        for tool, list_name in TOOL_ID_LISTS.items():
            resource = getattr(saved.tool_resources, tool)
            ids = getattr(resource, list_name) if resource is not None else None
            if ids is not None:
                tools[tool] = {list_name: list(ids)}
    return Thread(
        id=saved.id,
        project=project,
        created_at=saved.created_at,
        metadata=dict(saved.metadata or {}),
        tool_resources=tools,
    )


def _message(saved: SavedMessage) -> Message:
    return Message(
        id=saved.id,
        thread_id=saved.thread_id,
        created_at=saved.created_at,
        role=saved.role,
        content=saved.content,
        position=0,  # given by the import: its created_at, then its order in the file
        attachments=[attachment.model_dump() for attachment in saved.attachments or []],
        metadata=dict(saved.metadata or {}),
        assistant_id=saved.assistant_id,
        run_id=saved.run_id,
    )
