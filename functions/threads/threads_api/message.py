"""The message as the service holds it, its id and position, and how it looks on the wire; what the routes hand
the MessageStore and get back from it.

The routes' types live here rather than in messages.py so that importing the routes, at every cold start, does
not import the store: that is loaded by the first message request (resources.message_store).
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from .thread import Metadata

ID_PREFIX = "msg_"
_ID_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 24

# A position is `milliseconds * POSITIONS_PER_MS + n`: room for 1,000 messages in one millisecond of one thread.
POSITIONS_PER_MS = 1000
# An imported message's position is `created_at * POSITIONS_PER_SECOND + <its order in the import>`.
POSITIONS_PER_SECOND = 1000 * POSITIONS_PER_MS

# The stored item's attribute names, shared by the store and the cleanup.
THREAD_KEY = "thread_id"
MESSAGE_KEY = "message_id"
POSITION = "position"  # a live message's place in its thread (the by_position index's sort key)
DELETED_POSITION = "deleted_position"  # a tombstone's place, for cursors that name it
BODY = "body"  # zlib-compressed JSON {"content": [...], "attachments": [...]}, when small enough
S3_KEY = "s3_key"  # where the body is in the content bucket, when it is not in the item
LAST_POSITION = "last_position"  # on the thread item: the position of its newest message
POSITION_INDEX = "by_position"

Content = list[dict[str, Any]]
Attachments = list[dict[str, Any]]


def new_message_id() -> str:
    return ID_PREFIX + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def content_object_key(thread_id: str, message_id: str) -> str:
    """Where a message's body is kept in the content bucket; every object of a thread is under `<thread_id>/`."""
    return f"{thread_id}/{message_id}"


@dataclass(slots=True)
class Message:
    id: str
    thread_id: str
    created_at: int
    role: str
    content: Content
    position: int
    version: int = 1
    attachments: Attachments = field(default_factory=list)
    metadata: Metadata = field(default_factory=dict)
    assistant_id: str | None = None
    run_id: str | None = None

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    def to_wire(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "thread.message",
            "created_at": self.created_at,
            "thread_id": self.thread_id,
            "status": "completed",
            "incomplete_details": None,
            "completed_at": None,
            "incomplete_at": None,
            "role": self.role,
            "content": self.content,
            "assistant_id": self.assistant_id,
            "run_id": self.run_id,
            "attachments": self.attachments,
            "metadata": self.metadata,
        }


def deleted_wire(message_id: str) -> dict[str, object]:
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A message as a create asks for it, its content already normalised to parts."""

    role: str
    content: Content
    attachments: Attachments
    metadata: Metadata


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    order: str  # "asc" or "desc"
    after: str | None = None
    before: str | None = None
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[Message]
    has_more: bool


def escaped_bytes(text: str) -> int:
    """The bytes ASCII JSON text takes in the function's answer, where Lambda writes it as a JSON string: quoted,
    with each `"` and `\\` escaped (what `len(json.dumps(text))` counts, without making the copy)."""
    return len(text) + text.count('"') + text.count("\\") + 2


def wire_bytes(wire: dict[str, object]) -> int:
    """The bytes a message's JSON takes in the function's answer, where Lambda escapes it once more."""
    return escaped_bytes(json.dumps(wire, separators=(",", ":")))
