"""The merge rule of Modify thread: a JSON Merge Patch (RFC 7396) of `metadata` and `tool_resources`.

A `ThreadPatch` is the request reduced to operations: keys to set, keys to remove, or "remove all".
The store turns it into one DynamoDB update expression; `apply` is the same rule on plain values, used when
the merged result has to be computed here (the exact 16-pair check) and as the rule tests hold the store to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import TOOL_ID_LISTS, CreateThreadRequest, ModifyMessageRequest, ModifyThreadRequest
from .thread import Metadata, ToolResources


@dataclass(frozen=True, slots=True)
class ThreadPatch:
    metadata_set: Metadata = field(default_factory=dict)
    metadata_remove: frozenset[str] = frozenset()
    metadata_clear: bool = False
    tools_set: ToolResources = field(default_factory=dict)
    tools_remove: frozenset[str] = frozenset()
    tools_clear: bool = False

    @classmethod
    def from_request(
        cls, request: ModifyThreadRequest | CreateThreadRequest | ModifyMessageRequest | None
    ) -> ThreadPatch:
        """The operations a request body asks for (a create body is a patch of an empty thread; a message's
        modify, a patch of its metadata alone)."""
        return patch_of_request(request)

    def is_empty(self) -> bool:
        return not (
            self.metadata_set
            or self.metadata_remove
            or self.metadata_clear
            or self.tools_set
            or self.tools_remove
            or self.tools_clear
        )

    def apply(self, metadata: Metadata, tool_resources: ToolResources) -> tuple[Metadata, ToolResources]:
        """The merged `metadata` and `tool_resources`, leaving the inputs untouched."""
        return merged(self, metadata, tool_resources)


# The rule itself lives in plain functions (the class is its data), where each line can be tested on its own.


def patch_of_request(request: ModifyThreadRequest | CreateThreadRequest | ModifyMessageRequest | None) -> ThreadPatch:
    if request is None:
        return ThreadPatch()
    given = request.model_fields_set
    metadata_set: Metadata = {}
    metadata_remove: set[str] = set()
    if "metadata" in given and request.metadata is not None:
        for key, value in request.metadata.items():
            if value is None:
                metadata_remove.add(key)
            else:
                metadata_set[key] = value
    tools_set: ToolResources = {}
    tools_remove: set[str] = set()
    resources = None if isinstance(request, ModifyMessageRequest) else request.tool_resources
    if "tool_resources" in given and resources is not None:
        for tool in resources.model_fields_set:
            resource = getattr(resources, tool)
            if resource is None:
                tools_remove.add(tool)
                continue
            list_name = TOOL_ID_LISTS[tool]
            if list_name not in resource.model_fields_set:
                continue  # {"code_interpreter": {}} changes nothing
            ids = getattr(resource, list_name)
            if ids is None:
                tools_remove.add(tool)
            else:
                tools_set[tool] = {list_name: list(ids)}
    return ThreadPatch(
        metadata_set=metadata_set,
        metadata_remove=frozenset(metadata_remove),
        metadata_clear="metadata" in given and request.metadata is None,
        tools_set=tools_set,
        tools_remove=frozenset(tools_remove),
        tools_clear="tool_resources" in given and resources is None,
    )


def merged(patch: ThreadPatch, metadata: Metadata, tool_resources: ToolResources) -> tuple[Metadata, ToolResources]:
    merged_metadata = {} if patch.metadata_clear else dict(metadata)
    for key in patch.metadata_remove:
        merged_metadata.pop(key, None)
    merged_metadata.update(patch.metadata_set)
    merged_tools = {} if patch.tools_clear else dict(tool_resources)
    for tool in patch.tools_remove:
        merged_tools.pop(tool, None)
    merged_tools.update(patch.tools_set)
    return merged_metadata, merged_tools
