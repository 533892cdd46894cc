"""A message's `content`: checked and normalised to parts, in one pass over the request's value.

The content is a string or an array of parts of three types, each with its own keys, so the rules are written
out here rather than as a pydantic union (whose errors name the union's members, not the request's keys). A
problem is raised as a pydantic error whose type is the one pydantic itself would use (`missing`,
`string_type`, `too_long`...) or one of the few below, with the place inside the content in its context
(`at`) and the offending value (`value`): `validation.py` words it as for any other field.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from pydantic_core import PydanticCustomError

from .limits import MAX_CONTENT_PARTS, MAX_RESOURCE_ID_LENGTH, MAX_TEXT_LENGTH, MAX_URL_LENGTH

# The error types of this module, beside pydantic's own.
CONTENT_TYPE = "content_type"  # content neither a string nor an array
EMPTY_CONTENT = "empty_content"  # content ""
EMPTY_ARRAY = "empty_array"
INVALID_CHOICE = "invalid_choice"  # a value outside a fixed set (ctx "choices")
INVALID_URL = "invalid_url"

PART_TYPES = ("image_file", "image_url", "text")
DETAILS = ("auto", "low", "high")
ROLES = ("user", "assistant")
ATTACHMENT_TOOLS = ("code_interpreter", "file_search")
ORDERS = ("asc", "desc")  # a list's `order`

Steps = tuple[str | int, ...]


def fail(kind: str, at: Steps, value: Any, **context: Any) -> NoReturn:
    raise PydanticCustomError(kind, kind, {"at": at, "value": value, **context})


def choice(value: Any, choices: tuple[str, ...], at: Steps = ()) -> str:
    if not isinstance(value, str):
        fail("string_type", at, value)
    if value not in choices:
        fail(INVALID_CHOICE, at, value, choices=choices)
    return value


def normalised_content(value: Any) -> list[dict[str, Any]]:
    """The content as stored and answered: an array of parts, a string being one text part."""
    if isinstance(value, str):
        if not value:
            fail(EMPTY_CONTENT, (), value)
        _check_text_length(value, ())
        return [_text_part(value)]
    if not isinstance(value, list):
        fail(CONTENT_TYPE, (), value)
    if not value:
        fail(EMPTY_ARRAY, (), value)
    if len(value) > MAX_CONTENT_PARTS:
        fail("too_long", (), value, max_length=MAX_CONTENT_PARTS, actual_length=len(value))
    return [_part(part, i) for i, part in enumerate(value)]


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": text, "annotations": []}}


def _check_text_length(text: str, at: Steps) -> None:
    if len(text) > MAX_TEXT_LENGTH:
        fail("string_too_long", at, text, max_length=MAX_TEXT_LENGTH)


def _typed(part: Any, i: int) -> tuple[str, Any]:
    """A part's type, and what it holds under that type's key (its only other key)."""
    if not isinstance(part, dict):
        fail("model_type", (i,), part)
    if "type" not in part:
        fail("missing", (i, "type"), None)
    kind = choice(part["type"], PART_TYPES, (i, "type"))
    _only_keys(part, ("type", kind), (i,))
    if kind not in part:
        fail("missing", (i, kind), None)
    inner = part[kind]
    return kind, inner


def _part(part: Any, i: int) -> dict[str, Any]:
    kind, inner = _typed(part, i)
    if kind == "text":
        text = _string(inner, (i, "text"))
        _check_text_length(text, (i, "text"))
        return _text_part(text)
    if not isinstance(inner, dict):
        fail("model_type", (i, kind), inner)
    reference = "url" if kind == "image_url" else "file_id"
    _only_keys(inner, (reference, "detail"), (i, kind))
    if reference not in inner:
        fail("missing", (i, kind, reference), None)
    if kind == "image_url":
        target = _url(inner["url"], (i, kind, "url"))
    else:
        target = _string(inner["file_id"], (i, kind, "file_id"), MAX_RESOURCE_ID_LENGTH)
    detail = choice(inner["detail"], DETAILS, (i, kind, "detail")) if "detail" in inner else "auto"
    return {"type": kind, kind: {reference: target, "detail": detail}}


def _only_keys(value: dict[str, Any], allowed: tuple[str, ...], at: Steps) -> None:
    for key in value:
        if key not in allowed:
            fail("extra_forbidden", (*at, key), value[key])


def _string(value: Any, at: Steps, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        fail("string_type", at, value)
    if not value:
        fail("string_too_short", at, value)
    if max_length is not None and len(value) > max_length:
        fail("string_too_long", at, value, max_length=max_length)
    return value


# A saved message's content (an import): the parts as the API answered them, checked with the same rules.

ANNOTATION_TYPES = ("file_citation", "file_path")
_ANNOTATION_TARGET_KEYS = {"file_citation": ("file_id", "quote"), "file_path": ("file_id",)}


def saved_content(value: Any) -> list[dict[str, Any]]:
    """The content of a saved message object, as it is kept and answered: an array of parts, each as the API
    wrote it (a text part's `value` and `annotations`, an image's `detail`), the same limits as a create's."""
    if not isinstance(value, list):
        fail("list_type", (), value)
    if not value:
        fail(EMPTY_ARRAY, (), value)
    if len(value) > MAX_CONTENT_PARTS:
        fail("too_long", (), value, max_length=MAX_CONTENT_PARTS, actual_length=len(value))
    return [_saved_part(part, i) for i, part in enumerate(value)]


def _saved_part(part: Any, i: int) -> dict[str, Any]:
    kind, inner = _typed(part, i)
    if not isinstance(inner, dict):
        fail("model_type", (i, kind), inner)
    if kind == "text":
        _only_keys(inner, ("value", "annotations"), (i, kind))
        if "value" not in inner:
            fail("missing", (i, kind, "value"), None)
        value = inner["value"]
        if not isinstance(value, str):
            fail("string_type", (i, kind, "value"), value)
        _check_text_length(value, (i, kind, "value"))
        annotations = inner.get("annotations", [])
        if not isinstance(annotations, list):
            fail("list_type", (i, kind, "annotations"), annotations)
        at = (i, kind, "annotations")
        return {
            "type": kind,
            kind: {"value": value, "annotations": [_annotation(a, (*at, j)) for j, a in enumerate(annotations)]},
        }
    reference = "url" if kind == "image_url" else "file_id"
    _only_keys(inner, (reference, "detail"), (i, kind))
    if reference not in inner:
        fail("missing", (i, kind, reference), None)
    if kind == "image_url":
        target = _url(inner[reference], (i, kind, reference))
    else:
        target = _string(inner[reference], (i, kind, reference), MAX_RESOURCE_ID_LENGTH)
    detail = inner.get("detail", "auto")
    if detail is not None or kind == "image_url":  # a run's image file may carry `"detail": null`
        detail = choice(detail, DETAILS, (i, kind, "detail"))
    return {"type": kind, kind: {reference: target, "detail": detail}}


def _annotation(annotation: Any, at: Steps) -> dict[str, Any]:
    if not isinstance(annotation, dict):
        fail("model_type", at, annotation)
    if "type" not in annotation:
        fail("missing", (*at, "type"), None)
    kind = choice(annotation["type"], ANNOTATION_TYPES, (*at, "type"))
    _only_keys(annotation, ("type", "text", kind, "start_index", "end_index"), at)
    for key in ("text", kind, "start_index", "end_index"):
        if key not in annotation:
            fail("missing", (*at, key), None)
    text = annotation["text"]
    if not isinstance(text, str):
        fail("string_type", (*at, "text"), text)
    target = annotation[kind]
    if not isinstance(target, dict):
        fail("model_type", (*at, kind), target)
    _only_keys(target, _ANNOTATION_TARGET_KEYS[kind], (*at, kind))
    if "file_id" not in target:
        fail("missing", (*at, kind, "file_id"), None)
    _string(target["file_id"], (*at, kind, "file_id"), MAX_RESOURCE_ID_LENGTH)
    if "quote" in target and not isinstance(target["quote"], str):
        fail("string_type", (*at, kind, "quote"), target["quote"])
    for key in ("start_index", "end_index"):
        index = annotation[key]
        if not isinstance(index, int) or isinstance(index, bool):
            fail("int_type", (*at, key), index)
        if index < 0:
            fail("greater_than_equal", (*at, key), index, ge=0)
    return {
        "type": kind,
        "text": text,
        kind: dict(target),
        "start_index": annotation["start_index"],
        "end_index": annotation["end_index"],
    }


# A URI as RFC 3986 writes it (section 3), for the two forms an image URL takes: `http(s)://authority/path?query
# #fragment` and `data:image/...` (a path). Only its characters and its parts are checked; nothing is decoded.
_PCT = "%[0-9A-Fa-f]{2}"
_SUB = r"A-Za-z0-9\-._~!$&'()*+,;="  # unreserved and sub-delims
_PCHAR = f"(?:[{_SUB}:@]|{_PCT})"
_TAIL = f"(?:/{_PCHAR}*)*(?:\\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?"
_HOST = f"(?:\\[[0-9A-Fa-f:.]+\\]|(?:[{_SUB}]|{_PCT})*)"
_HTTP_URL = re.compile(f"https?://(?:(?:[{_SUB}:]|{_PCT})*@)?{_HOST}(?::[0-9]*)?{_TAIL}", re.IGNORECASE)
# A data URL's path, query and fragment in one character class (fast on megabytes), then its `%` escapes and its
# one `#` at most.
_DATA_URL = re.compile(f"data:image/[{_SUB}:@/?#%]*", re.IGNORECASE)
_BAD_ESCAPE = re.compile("%(?![0-9A-Fa-f]{2})")


def _url(value: Any, at: Steps) -> str:
    if not isinstance(value, str):
        fail("string_type", at, value)
    if _DATA_URL.fullmatch(value) and value.count("#") <= 1 and not _BAD_ESCAPE.search(value):
        return value
    if len(value) <= MAX_URL_LENGTH and _HTTP_URL.fullmatch(value) and value.partition("://")[2]:
        return value
    fail(INVALID_URL, at, value)


# The content's schema in the OpenAPI document (the validator above is what enforces it).
CONTENT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH, "title": "Text content"},
        {
            "type": "array",
            "title": "Array of content parts",
            "minItems": 1,
            "maxItems": MAX_CONTENT_PARTS,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "title": "Text",
                        "additionalProperties": False,
                        "required": ["type", "text"],
                        "properties": {
                            "type": {"const": "text"},
                            "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH},
                        },
                    },
                    {
                        "type": "object",
                        "title": "Image URL",
                        "additionalProperties": False,
                        "required": ["type", "image_url"],
                        "properties": {
                            "type": {"const": "image_url"},
                            "image_url": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["url"],
                                "properties": {
                                    "url": {
                                        "type": "string",
                                        "pattern": "^(https?://.+|data:image/.*)$",
                                        "description": "http, https (at most 2,048 characters) or data:image/",
                                    },
                                    "detail": {"enum": list(DETAILS), "default": "auto"},
                                },
                            },
                        },
                    },
                    {
                        "type": "object",
                        "title": "Image file",
                        "additionalProperties": False,
                        "required": ["type", "image_file"],
                        "properties": {
                            "type": {"const": "image_file"},
                            "image_file": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["file_id"],
                                "properties": {
                                    "file_id": {"type": "string", "minLength": 1, "maxLength": MAX_RESOURCE_ID_LENGTH},
                                    "detail": {"enum": list(DETAILS), "default": "auto"},
                                },
                            },
                        },
                    },
                ]
            },
        },
    ]
}
