"""Reading a request body: bytes in, a JSON value (or the reason there is none) out.

The API reads every body as JSON, whatever its declared content type or transfer encoding. A body that cannot
be read, or that is JSON `null` or an array (no object, yet no empty body either), is not an exception here: it
becomes an `UnreadableBody` value (`BodyTooLarge`, `InvalidJson` or `NotAnObject`) that the body models reject
with the `UNREADABLE` validation error carrying it, so that the problem is reported among the other validation
errors, in the contract's order.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticCustomError

from .limits import MAX_BODY_BYTES

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# JSON's white space (RFC 8259): a body of only these is no body. Python's str.strip() would also take other
# Unicode spaces and separators (U+3000, U+001C...), which are not JSON and so make a body invalid JSON.
_JSON_WHITE_SPACE = " \t\n\r"


@dataclass(frozen=True, slots=True)
class BodyTooLarge:
    size: int  # in bytes
    limit: int = MAX_BODY_BYTES


@dataclass(frozen=True, slots=True)
class InvalidJson:
    """Not UTF-8, not JSON, or JSON that holds text no Unicode string can (a lone surrogate escape)."""


@dataclass(frozen=True, slots=True)
class NotAnObject:
    value: None | list[Any]  # JSON `null`, or an array


UnreadableBody = BodyTooLarge | InvalidJson | NotAnObject
# The validation error type an `UnreadableBody` becomes; its context's "body" is the value.
UNREADABLE = "unreadable_body"


def as_json_text_event(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of an API Gateway v2 event whose body is plain text, declared as JSON.

    Bytes that are not UTF-8 are kept as surrogate escapes, so the body reader can still count them and
    then refuse them as invalid JSON.
    """
    headers = {name: value for name, value in (event.get("headers") or {}).items() if name.lower() != "content-type"}
    headers["content-type"] = "application/json"
    body = event.get("body")
    if event.get("isBase64Encoded") and body:
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8", "surrogateescape")
        except (binascii.Error, ValueError):
            body = "\udcff"  # not base64 at all: a body no JSON reader accepts
    return {**event, "headers": headers, "body": body, "isBase64Encoded": False}


def read_json_body(text: str, limit: int = MAX_BODY_BYTES) -> Any:
    """Parse a request body of at most `limit` bytes; None for an empty one. Powertools' JSON body deserializer."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return InvalidJson()
    if len(raw) > limit:
        return BodyTooLarge(len(raw), limit)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return InvalidJson()
    if not text.strip(_JSON_WHITE_SPACE):
        return None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        return InvalidJson()
    if value is None:
        return NotAnObject(None)  # Powertools would take a None for "no body"
    if isinstance(value, list):
        return NotAnObject(value)  # Powertools would take a non-empty list's first item for the body
    if _SURROGATE_ESCAPE.search(text) and not _is_unicode_text(value):
        return InvalidJson()  # a lone surrogate escape is no Unicode text
    return value


def refuse_unreadable(value: Any) -> Any:
    """Pydantic before-validator for body parameters: turns an `UnreadableBody` into its validation error."""
    if isinstance(value, BodyTooLarge | InvalidJson | NotAnObject):
        raise PydanticCustomError(UNREADABLE, "the request body could not be read", {"body": value})
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _is_unicode_text(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
