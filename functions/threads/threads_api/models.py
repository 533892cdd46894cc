"""Request and response shapes, as pydantic models.

Request models are what Powertools validates each body against; `validation.py` turns their errors into
the contract's messages. Response models describe the wire objects in the OpenAPI document.

Annotations are real objects here (no `from __future__ import annotations`): pydantic would otherwise evaluate
each field's annotation from its text when a class is made, which a cold start pays for every model.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from .content import ATTACHMENT_TOOLS, CONTENT_SCHEMA, ROLES, choice, normalised_content
from .limits import (
    MAX_ATTACHMENTS,
    MAX_FILE_IDS,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_PAIRS,
    MAX_METADATA_VALUE_LENGTH,
    MAX_RESOURCE_ID_LENGTH,
    MAX_THREAD_MESSAGES,
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


def _at_most(limit: int) -> BeforeValidator:
    """Too many entries is reported before any problem inside them (and without looking at them)."""

    def count_first(value: Any) -> Any:
        if isinstance(value, dict | list) and len(value) > limit:
            raise PydanticCustomError("too_long", "too many", {"max_length": limit, "actual_length": len(value)})
        return value

    return BeforeValidator(count_first)


CreateMetadata = Annotated[
    dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_PAIRS), _at_most(MAX_METADATA_PAIRS)
]
PatchMetadata = dict[MetadataKey, MetadataValue | None]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _LaterBody(_Body):
    """A body of a route other than Modify thread: built when its route first validates one, so that a cold start
    that serves a modify does not build it (Powertools makes a route's validation on its first request)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class CodeInterpreterResources(_Body):
    file_ids: FileIds | None = None


class FileSearchResources(_Body):
    vector_store_ids: VectorStoreIds | None = None


class FileSearchCreateResources(FileSearchResources, _LaterBody):
    vector_stores: NotSupported = Field(default=None, description="Not supported; only an empty list is accepted.")


class ToolResourcesPatch(_Body):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class ToolResourcesCreate(_LaterBody):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchCreateResources | None = None


Role = Annotated[
    str, PlainValidator(lambda value: choice(value, ROLES)), WithJsonSchema({"type": "string", "enum": list(ROLES)})
]
MessageContent = Annotated[list[dict[str, Any]], PlainValidator(normalised_content), WithJsonSchema(CONTENT_SCHEMA)]
ToolType = Annotated[
    str,
    PlainValidator(lambda value: choice(value, ATTACHMENT_TOOLS)),
    WithJsonSchema({"type": "string", "enum": list(ATTACHMENT_TOOLS)}),
]


class AttachmentTool(_LaterBody):
    type: ToolType


class Attachment(_LaterBody):
    file_id: ResourceId
    tools: list[AttachmentTool]


class CreateMessageRequest(_LaterBody):
    role: Role
    content: MessageContent
    attachments: Annotated[list[Attachment], Field(max_length=MAX_ATTACHMENTS), _at_most(MAX_ATTACHMENTS)] | None = None
    metadata: CreateMetadata | None = None


class ModifyMessageRequest(_LaterBody):
    """A JSON Merge Patch of the message's metadata: a `null` removes a key."""

    metadata: PatchMetadata | None = None


class CreateThreadRequest(_LaterBody):
    messages: (
        Annotated[list[CreateMessageRequest], Field(max_length=MAX_THREAD_MESSAGES), _at_most(MAX_THREAD_MESSAGES)]
        | None
    ) = None
    metadata: CreateMetadata | None = None
    tool_resources: ToolResourcesCreate | None = None


class ModifyThreadRequest(_Body):
    """A JSON Merge Patch of the thread: a `null` removes a key, a tool or a list."""

    metadata: PatchMetadata | None = None
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


class TextObject(_Wire):
    value: str
    annotations: list[dict[str, Any]]


class TextPartObject(_Wire):
    type: Literal["text"]
    text: TextObject


class ImageUrlObject(_Wire):
    url: str
    detail: Literal["auto", "low", "high"]


class ImageUrlPartObject(_Wire):
    type: Literal["image_url"]
    image_url: ImageUrlObject


class ImageFileObject(_Wire):
    file_id: str
    detail: Literal["auto", "low", "high"] | None


class ImageFilePartObject(_Wire):
    type: Literal["image_file"]
    image_file: ImageFileObject


class AttachmentObject(_Wire):
    file_id: str
    tools: list[dict[str, str]]


class MessageObject(_Wire):
    id: str
    object: Literal["thread.message"]
    created_at: int
    thread_id: str
    status: Literal["completed"]
    incomplete_details: None
    completed_at: None
    incomplete_at: None
    role: Literal["user", "assistant"]
    content: list[Annotated[TextPartObject | ImageUrlPartObject | ImageFilePartObject, Field(discriminator="type")]]
    assistant_id: str | None
    run_id: str | None
    attachments: list[AttachmentObject]
    metadata: dict[str, str]


class MessageListObject(_Wire):
    object: Literal["list"]
    data: list[MessageObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeletedMessageObject(_Wire):
    id: str
    object: Literal["thread.message.deleted"]
    deleted: Literal[True]


class ErrorDetail(_Wire):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(_Wire):
    error: ErrorDetail
