"""The plain reference model the merge rule is held to: RFC 7396 JSON Merge Patch, as written in section 2."""

from __future__ import annotations

import copy

from threads_api.models import TOOL_ID_LISTS


def merge_patch(target, patch):
    """RFC 7396 MergePatch(Target, Patch): recursive on objects, anything else (arrays too) replaces whole."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def reference_metadata(stored: dict, body: dict) -> dict:
    if "metadata" not in body:
        return dict(stored)
    return merge_patch(stored, body["metadata"]) or {}


def reference_tool_resources(stored: dict, body: dict) -> dict:
    if "tool_resources" not in body:
        return copy.deepcopy(stored)
    merged = merge_patch(stored, body["tool_resources"]) or {}
    # A tool is shown only while it holds its list.
    return {
        tool: resource
        for tool, resource in merged.items()
        if isinstance(resource, dict) and TOOL_ID_LISTS[tool] in resource
    }


def reference_merge(metadata: dict, tools: dict, body: dict) -> tuple[dict, dict]:
    return reference_metadata(metadata, body), reference_tool_resources(tools, body)
