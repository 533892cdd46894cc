"""Request and response shapes, as pydantic models.

Request models are what Powertools validates each body against; `validation.py` turns their errors into
the contract's messages. Response models describe the wire objects in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from .limits import (
    MAX_FILE_IDS,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_PAIRS,
    MAX_METADATA_VALUE_LENGTH,
    MAX_RESOURCE_ID_LENGTH,
    MAX_VECTOR_STORE_IDS,
)

MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_METADATA_KEY_LENGTH)]
MetadataValue = Annotated[str, StringConstraints(max_length=MAX_METADATA_VALUE_LENGTH)]
ResourceId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_RESOURCE_ID_LENGTH)]
FileIds = Annotated[list[ResourceId], Field(max_length=MAX_FILE_IDS)]
VectorStoreIds = Annotated[list[ResourceId], Field(max_length=MAX_VECTOR_STORE_IDS)]
# Each tool holds one list of ids; a tool is shown on a thread only while it holds that list.
TOOL_ID_LISTS = {"code_interpreter": "file_ids", "file_search": "vector_store_ids"}


def _unsupported_unless_empty(value: list[Any] | None) -> list[Any] | None:
    if value:
        raise PydanticCustomError("unsupported_parameter", "not supported")
    return value


NotSupported = Annotated[list[Any] | None, AfterValidator(_unsupported_unless_empty)]


def _count_pairs_first(value: Any) -> Any:
    """Too many pairs is reported before any problem inside them, as an id list's length is before its ids."""
    if isinstance(value, dict) and len(value) > MAX_METADATA_PAIRS:
        raise PydanticCustomError(
            "too_long", "too many pairs", {"max_length": MAX_METADATA_PAIRS, "actual_length": len(value)}
        )
    return value


CreateMetadata = Annotated[
    dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_PAIRS), BeforeValidator(_count_pairs_first)
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CodeInterpreterResources(_Body):
    file_ids: FileIds | None = None


class FileSearchResources(_Body):
    vector_store_ids: VectorStoreIds | None = None


class FileSearchCreateResources(FileSearchResources):
    vector_stores: NotSupported = Field(default=None, description="Not supported; only an empty list is accepted.")


class ToolResourcesPatch(_Body):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class ToolResourcesCreate(_Body):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchCreateResources | None = None


class CreateThreadRequest(_Body):
    messages: NotSupported = Field(default=None, description="Not supported yet; only an empty list is accepted.")
    metadata: CreateMetadata | None = None
    tool_resources: ToolResourcesCreate | None = None


class ModifyThreadRequest(_Body):
    """A JSON Merge Patch of the thread: a `null` removes a key, a tool or a list."""

    metadata: dict[MetadataKey, MetadataValue | None] | None = None
    tool_resources: ToolResourcesPatch | None = None


# Wire objects (responses). They describe the responses in the OpenAPI document; nothing validates a response
# against them at run time, so they are built only when the document is made, not at every cold start.


class _Wire(BaseModel):
    model_config = ConfigDict(defer_build=True)


class ToolResourcesObject(_Wire):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class ThreadObject(_Wire):
    id: str
    object: Literal["thread"]
    created_at: int
    metadata: dict[str, str]
    tool_resources: ToolResourcesObject


class DeletedThreadObject(_Wire):
    id: str
    object: Literal["thread.deleted"]
    deleted: Literal[True]


class ErrorDetail(_Wire):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(_Wire):
    error: ErrorDetail
