"""The one translation from validation errors to the contract's errors.

Powertools reports every problem it found in the path, headers and body; the contract reports one. The one
chosen is the first in the contract's order of checks: beta header, body size, path id, body parse, then
body fields in the order they stand in the document.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .body import UNREADABLE, BodyTooLarge, InvalidJson, NotAnObject, UnreadableBody
from .content import CONTENT_TYPE, EMPTY_ARRAY, EMPTY_CONTENT, INVALID_CHOICE, INVALID_URL, ORDERS
from .errors import ApiError

# The contract's order of checks, by the part of the request a problem is in.
_HEADER, _BODY_SIZE, _PATH, _BODY_PARSE, _BODY_FIELDS = range(5)
_STAGE_OF_SOURCE = {"header": _HEADER, "path": _PATH}
_ID_LISTS = frozenset({"file_ids", "vector_store_ids"})
_KEY = "[key]"  # pydantic's marker for an error in a dict key
_UNSUPPORTED = {
    "tool_resources.file_search.vector_stores": "Vector stores cannot be created by this service; "
    "give the ids of existing ones in 'vector_store_ids' instead.",
}
_CURSORS = frozenset({"after", "before"})


def first_error(validation_errors: list[dict[str, Any]], body: Any) -> ApiError:
    """The contract's error for the first problem, in the contract's order.

    Linear in the number of errors: each object's keys are numbered once, however many errors stand in it.
    """
    positions = _Positions(body)
    chosen = min(validation_errors, key=positions.rank)
    return _translate(chosen)


def _split_key_marker(loc: list[Any]) -> tuple[list[Any], bool]:
    """pydantic marks an error in a dict key by adding "[key]" after the key; `metadata` (a thread's, or a
    message's) is the one free-keyed dict.

    Only that exact shape is a key error: a body key may itself be spelled "[key]".
    """
    if len(loc) >= 3 and loc[-3] == "metadata" and loc[-1] == _KEY:
        return loc[:-1], True
    return loc, False


def _location(error: dict[str, Any]) -> tuple[str, list[Any]]:
    """Where an error is: its source (body, path, query, header) and the steps into it, down to the place inside
    a message's content that `content.py` names in the error's context."""
    source, *loc = error["loc"]
    at = (error.get("ctx") or {}).get("at")
    return source, [*loc, *at] if at else loc


class _Positions:
    """Where elements stand in one request document, as sortable tuples (a prefix sorts first)."""

    def __init__(self, document: Any):
        self._document = document
        self._key_numbers: dict[int, dict[Any, int]] = {}  # by id() of an object of the document: its keys' order

    def rank(self, error: dict[str, Any]) -> tuple[int, tuple[int, ...]]:
        source, loc = _location(error)
        loc, is_key = _split_key_marker(loc)
        return (_stage(source, _unreadable(error)), self._position(loc, is_key))

    def _position(self, loc: list[Any], is_key: bool) -> tuple[int, ...]:
        position: list[int] = []
        node = self._document
        for step in loc:
            if isinstance(node, dict) and step in node:
                position += (self._key_number(node, step), 1)
                node = node[step]
            elif isinstance(node, list) and isinstance(step, int) and step < len(node):
                position.append(step)
                node = node[step]
            else:
                break
        if is_key and position:
            position[-1] = 0  # a key stands before its value
        return tuple(position)

    def _key_number(self, node: dict[Any, Any], key: Any) -> int:
        numbers = self._key_numbers.get(id(node))
        if numbers is None:  # the document holds every node while this lives, so an id() is never reused here
            numbers = self._key_numbers[id(node)] = {name: number for number, name in enumerate(node)}
        return numbers[key]


def _unreadable(error: dict[str, Any]) -> UnreadableBody | None:
    """The body-reading failure a validation error reports, if it reports one."""
    if error["type"] != UNREADABLE:
        return None
    failure: UnreadableBody = error["ctx"]["body"]
    return failure


def _stage(source: str, unreadable: UnreadableBody | None) -> int:
    if isinstance(unreadable, BodyTooLarge):
        return _BODY_SIZE
    if isinstance(unreadable, InvalidJson):
        return _BODY_PARSE
    return _STAGE_OF_SOURCE.get(source, _BODY_FIELDS)


def _path(loc: list[Any]) -> str:
    text = ""
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    return text


def _translate(error: dict[str, Any]) -> ApiError:
    kind = error["type"]
    source, loc = _location(error)
    ctx = error.get("ctx") or {}
    value: Any = ctx["value"] if "at" in ctx else error.get("input")
    loc, is_key = _split_key_marker(loc)
    path = _path(loc)
    if kind == "invalid_beta":
        return errors.invalid_beta()
    match _unreadable(error):
        case BodyTooLarge(size=size, limit=limit):
            return errors.body_too_large(size, limit)
        case InvalidJson():
            return errors.invalid_json()
        case NotAnObject(value=not_an_object):
            return errors.body_not_an_object(not_an_object)
    if source == "path":
        if loc == ["message_id"]:
            return errors.invalid_message_id(str(value))
        return errors.invalid_thread_id(str(value))
    if source == "query":
        return _query_error(kind, path, value, ctx)
    if kind == "missing":
        return errors.missing_parameter(path or "role")  # no body at all: its first required key is missing
    if kind == INVALID_CHOICE:
        return errors.unsupported_value(path, value, ctx["choices"])
    if kind == CONTENT_TYPE:
        return errors.invalid_type(path, "one of a string or array of objects", value)
    if kind == EMPTY_CONTENT:
        return errors.empty_message_content(path)
    if kind == EMPTY_ARRAY:
        return errors.empty_array(path)
    if kind == INVALID_URL:
        return errors.invalid_image_url(path, value[:32])
    metadata = _metadata_path(loc)
    if kind == "extra_forbidden":
        return errors.unknown_parameter(path)
    if kind == "unsupported_parameter":
        return errors.unsupported_parameter(path, _UNSUPPORTED.get(path, "It is not supported."))
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if not path:
            return errors.body_not_an_object(value)
        return errors.invalid_type(path, "a metadata object" if loc[-1] == "metadata" else "an object", value)
    if kind == "list_type":
        return errors.invalid_type(path, "an array of strings" if loc[-1] in _ID_LISTS else "an array", value)
    if kind == "string_type":
        return errors.invalid_type(path, "a string", value)
    if kind == "string_too_long":
        if is_key:
            return errors.metadata_key_too_long(str(value), ctx["max_length"], metadata)
        return errors.string_too_long(path, ctx["max_length"], len(value))
    if kind == "string_too_short":
        return errors.metadata_key_empty(metadata) if is_key else errors.empty_string(path)
    if kind == "too_long":
        if loc[-1] == "metadata":
            return errors.too_many_metadata_pairs(ctx["actual_length"], path)
        return errors.array_too_long(path, ctx["max_length"], ctx["actual_length"])
    return ApiError(400, f"Invalid value for '{path or 'body'}'.", param=path or None, code="invalid_value")


def _metadata_path(loc: list[Any]) -> str:
    """The path of the metadata object an error in one of its keys is in."""
    return _path(loc[:-1]) if len(loc) >= 2 and loc[-2] == "metadata" else "metadata"


def _query_error(kind: str, name: str, value: Any, ctx: dict[str, Any]) -> ApiError:
    """The list route's query parameters: `limit`, `order`, `after`, `before`, `run_id`; a parameter given more
    than once is answered with its values as API Gateway joins them (`a,b`), under its own name."""
    if name == "run_id":
        return errors.invalid_type(name, "a string", value)  # only ever a repeated one: any string is a run id
    if isinstance(value, list):
        value = ",".join(map(str, value))
    if name in _CURSORS:
        return errors.invalid_cursor(name, str(value))
    if kind == INVALID_CHOICE or name == "order":
        return errors.unsupported_value(name, value, ctx.get("choices", ORDERS))
    if kind == "greater_than_equal":
        return errors.limit_below_minimum(int(value), ctx["ge"])
    if kind == "less_than_equal":
        return errors.limit_above_maximum(int(value), ctx["le"])
    return errors.limit_not_an_integer(str(value))
