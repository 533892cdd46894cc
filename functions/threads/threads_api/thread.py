"""The thread as the service holds it, and how it looks on the wire."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field

ID_PREFIX = "thread_"
_ID_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 24
_ID_PATTERN = re.compile(rf"{ID_PREFIX}[A-Za-z0-9]{{{_ID_LENGTH}}}")

Metadata = dict[str, str]
ToolResources = dict[str, dict[str, list[str]]]


def new_thread_id() -> str:
    return ID_PREFIX + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def is_issued_thread_id(thread_id: str) -> bool:
    """Whether an id has the shape of one this service issues; any other id cannot name a stored thread."""
    return _ID_PATTERN.fullmatch(thread_id) is not None


@dataclass(slots=True)
class Thread:
    id: str
    project: str
    created_at: int
    version: int = 1
    metadata: Metadata = field(default_factory=dict)
    tool_resources: ToolResources = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    def to_wire(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "thread",
            "created_at": self.created_at,
            "metadata": self.metadata,
            "tool_resources": self.tool_resources,
        }


def deleted_wire(thread_id: str) -> dict[str, object]:
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}
