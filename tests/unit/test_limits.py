"""Limits and the translation of validation errors into the contract's errors (contract, "Errors").

Bodies go through the request models the way Powertools validates them (the errors' locations prefixed by
"body"), then through `threads_api.validation.first_error`, the one translation to the contract's texts.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BeforeValidator, TypeAdapter, ValidationError

from threads_api import errors
from threads_api.body import read_json_body, refuse_unreadable
from threads_api.errors import ApiError
from threads_api.models import CreateThreadRequest, ModifyThreadRequest
from threads_api.validation import first_error

CREATE, MODIFY = CreateThreadRequest, ModifyThreadRequest
BOTH = pytest.mark.parametrize("model", [CREATE, MODIFY], ids=["create", "modify"])
CONTRACT_CODES = {
    "unknown_parameter",
    "unsupported_parameter",
    "invalid_type",
    "object_above_max_properties",
    "property_name_above_max_length",
    "invalid_value",
    "string_above_max_length",
    "array_above_max_length",
    "empty_string",
    "missing_required_parameter",
    "empty_array",
    None,  # "Message content must be non-empty."
}
CI = "tool_resources.code_interpreter"
FS = "tool_resources.file_search"


@cache
def adapter(model):
    return TypeAdapter(Annotated[model | None, BeforeValidator(refuse_unreadable)])


def validation_errors(model, body) -> list[dict] | None:
    try:
        adapter(model).validate_python(body)
    except ValidationError as exc:
        return [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
    return None


def error_for(model, body) -> ApiError | None:
    """The contract's error for a body (a parsed JSON value), or None when the body is valid."""
    found = validation_errors(model, body)
    return None if found is None else first_error(found, body)


def triple(error: ApiError | None):
    assert error is not None, "the body was accepted"
    return error.status, error.message, error.param, error.code


def pairs(n: int, prefix: str = "k") -> dict[str, str]:
    return {f"{prefix}{i:02d}": f"v{i}" for i in range(n)}


# --------------------------------------------------------------------------------------------------------------
# Valid bodies and boundaries that are still inside the limits.


@pytest.mark.parametrize(
    "body",
    [
        None,  # an empty body
        {},
        {"metadata": None, "tool_resources": None},
        {"metadata": {}},
        {"metadata": pairs(16)},
        {"metadata": {"k" * 64: "v" * 512}},
        {"metadata": {"𝄞" * 64: "😀" * 512}},  # lengths are code points, not UTF-16 units or bytes
        {"metadata": {"k": ""}},
        {"tool_resources": {"code_interpreter": None, "file_search": None}},
        {"tool_resources": {"code_interpreter": {}, "file_search": {}}},
        {"tool_resources": {"code_interpreter": {"file_ids": []}, "file_search": {"vector_store_ids": []}}},
        {"tool_resources": {"code_interpreter": {"file_ids": [f"file-{i}" for i in range(20)]}}},
        {"tool_resources": {"code_interpreter": {"file_ids": None}, "file_search": {"vector_store_ids": None}}},
        {"tool_resources": {"file_search": {"vector_store_ids": ["v" * 128]}}},
        {"tool_resources": {"file_search": {"vector_store_ids": ["😀" * 128]}}},
        {"tool_resources": {"code_interpreter": {"file_ids": ["x"]}}},
    ],
)
@BOTH
def test_valid_bodies(model, body):
    assert validation_errors(model, body) is None


@pytest.mark.parametrize(
    "body",
    [
        {"messages": []},
        {"messages": None},
        {"tool_resources": {"file_search": {"vector_stores": []}}},
        {"tool_resources": {"file_search": {"vector_store_ids": ["vs"], "vector_stores": None}}},
    ],
)
def test_valid_only_on_create(body):
    assert validation_errors(CREATE, body) is None


@pytest.mark.parametrize(
    "body",
    [
        {"metadata": {"k": None}},  # null removes a key
        {"metadata": pairs(17)},  # on modify, the 16-pair limit applies to the merged result, not the body
        {"metadata": {f"k{i}": None for i in range(40)}},
        {"metadata": {**pairs(10), **{f"gone{i}": None for i in range(30)}}},
    ],
)
def test_valid_only_on_modify(body):
    assert validation_errors(MODIFY, body) is None


# --------------------------------------------------------------------------------------------------------------
# Every row of the error table that a body can cause, with its exact text.


def unknown(path):
    return 400, f"Unknown parameter: '{path}'.", path, "unknown_parameter"


def wrong_type(path, expected, got):
    return 400, f"Invalid type for '{path}': expected {expected}, but got {got} instead.", path, "invalid_type"


def too_many_pairs(n):
    return (
        400,
        "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
        f"but got an object with {n} properties instead.",
        "metadata",
        "object_above_max_properties",
    )


def key_too_long(key):
    return (
        400,
        f"Invalid property name in 'metadata': '{key}' is too long. Expected a string with maximum length 64, "
        f"but got a string with length {len(key)} instead.",
        f"metadata.{key}",
        "property_name_above_max_length",
    )


KEY_EMPTY = (400, "Invalid property name in 'metadata': property names must not be empty.", "metadata", "invalid_value")


def string_too_long(path, limit, n):
    return (
        400,
        f"Invalid '{path}': string too long. Expected a string with maximum length {limit}, "
        f"but got a string with length {n} instead.",
        path,
        "string_above_max_length",
    )


def array_too_long(path, limit, n):
    return (
        400,
        f"Invalid '{path}': array too long. Expected an array with maximum length {limit}, "
        f"but got an array with length {n} instead.",
        path,
        "array_above_max_length",
    )


def empty_string(path):
    return (
        400,
        f"Invalid '{path}': empty string. Expected a string with minimum length 1, but got an empty string instead.",
        path,
        "empty_string",
    )


def not_an_object(got):
    return 400, f"Invalid type for 'body': expected an object, but got {got} instead.", None, "invalid_type"


COMMON_ROWS = [
    # unknown fields, top level and nested, as a dotted path
    ({"foo": 1}, unknown("foo")),
    ({"metadata": {}, "assistant_id": "asst_1"}, unknown("assistant_id")),
    ({"tool_resources": {"bogus": {}}}, unknown("tool_resources.bogus")),
    ({"tool_resources": {"code_interpreter": {"file_ids": [], "x": 1}}}, unknown(f"{CI}.x")),
    ({"tool_resources": {"file_search": {"vector_store_ids": [], "extra": None}}}, unknown(f"{FS}.extra")),
    # wrong types, with every JSON kind named the contract's way
    ({"metadata": "x"}, wrong_type("metadata", "a metadata object", "a string")),
    ({"metadata": []}, wrong_type("metadata", "a metadata object", "an array")),
    ({"metadata": 1}, wrong_type("metadata", "a metadata object", "an integer")),
    ({"metadata": 1.5}, wrong_type("metadata", "a metadata object", "a number")),
    ({"metadata": True}, wrong_type("metadata", "a metadata object", "a boolean")),
    ({"tool_resources": "x"}, wrong_type("tool_resources", "an object", "a string")),
    ({"tool_resources": []}, wrong_type("tool_resources", "an object", "an array")),
    ({"tool_resources": {"code_interpreter": []}}, wrong_type(CI, "an object", "an array")),
    ({"tool_resources": {"code_interpreter": 0}}, wrong_type(CI, "an object", "an integer")),
    ({"tool_resources": {"file_search": "vs_1"}}, wrong_type(FS, "an object", "a string")),
    (
        {"tool_resources": {"code_interpreter": {"file_ids": "file-1"}}},
        wrong_type(f"{CI}.file_ids", "an array of strings", "a string"),
    ),
    (
        {"tool_resources": {"code_interpreter": {"file_ids": {}}}},
        wrong_type(f"{CI}.file_ids", "an array of strings", "an object"),
    ),
    (
        {"tool_resources": {"file_search": {"vector_store_ids": 7}}},
        wrong_type(f"{FS}.vector_store_ids", "an array of strings", "an integer"),
    ),
    (
        {"tool_resources": {"code_interpreter": {"file_ids": [1]}}},
        wrong_type(f"{CI}.file_ids[0]", "a string", "an integer"),
    ),
    (
        {"tool_resources": {"code_interpreter": {"file_ids": ["a", None]}}},
        wrong_type(f"{CI}.file_ids[1]", "a string", "null"),
    ),
    (
        {"tool_resources": {"file_search": {"vector_store_ids": [[]]}}},
        wrong_type(f"{FS}.vector_store_ids[0]", "a string", "an array"),
    ),
    ({"metadata": {"k": 1}}, wrong_type("metadata.k", "a string", "an integer")),
    ({"metadata": {"k": 1.0}}, wrong_type("metadata.k", "a string", "a number")),
    ({"metadata": {"k": False}}, wrong_type("metadata.k", "a string", "a boolean")),
    ({"metadata": {"k": {}}}, wrong_type("metadata.k", "a string", "an object")),
    ({"metadata": {"k": ["v"]}}, wrong_type("metadata.k", "a string", "an array")),
    # metadata keys and values
    ({"metadata": {"k" * 65: "v"}}, key_too_long("k" * 65)),
    ({"metadata": {"𝄞" * 65: "v"}}, key_too_long("𝄞" * 65)),
    ({"metadata": {"a.b" * 30: "v"}}, key_too_long("a.b" * 30)),
    ({"metadata": {"": "v"}}, KEY_EMPTY),
    ({"metadata": {"k": "v" * 513}}, string_too_long("metadata.k", 512, 513)),
    ({"metadata": {"k": "😀" * 513}}, string_too_long("metadata.k", 512, 513)),
    ({"metadata": {"a.b": "v" * 600}}, string_too_long("metadata.a.b", 512, 600)),
    # id lists
    ({"tool_resources": {"code_interpreter": {"file_ids": ["f"] * 21}}}, array_too_long(f"{CI}.file_ids", 20, 21)),
    ({"tool_resources": {"code_interpreter": {"file_ids": ["f"] * 100}}}, array_too_long(f"{CI}.file_ids", 20, 100)),
    (
        {"tool_resources": {"file_search": {"vector_store_ids": ["a", "b"]}}},
        array_too_long(f"{FS}.vector_store_ids", 1, 2),
    ),
    (
        {"tool_resources": {"code_interpreter": {"file_ids": ["f" * 129]}}},
        string_too_long(f"{CI}.file_ids[0]", 128, 129),
    ),
    (
        {"tool_resources": {"code_interpreter": {"file_ids": ["ok", "😀" * 129]}}},
        string_too_long(f"{CI}.file_ids[1]", 128, 129),
    ),
    (
        {"tool_resources": {"file_search": {"vector_store_ids": ["v" * 129]}}},
        string_too_long(f"{FS}.vector_store_ids[0]", 128, 129),
    ),
    ({"tool_resources": {"code_interpreter": {"file_ids": ["a", "b", ""]}}}, empty_string(f"{CI}.file_ids[2]")),
    ({"tool_resources": {"file_search": {"vector_store_ids": [""]}}}, empty_string(f"{FS}.vector_store_ids[0]")),
    # the body itself
    ([], not_an_object("an array")),
    ([{"metadata": {}}], not_an_object("an array")),
    ("metadata", not_an_object("a string")),
    (1, not_an_object("an integer")),
    (2.5, not_an_object("a number")),
    (True, not_an_object("a boolean")),
]


@pytest.mark.parametrize(("body", "expected"), COMMON_ROWS)
@BOTH
def test_error_rows(model, body, expected):
    assert triple(error_for(model, body)) == expected


VECTOR_STORES_MESSAGE = (
    "Unsupported parameter: 'tool_resources.file_search.vector_stores'. Vector stores cannot be created by this "
    "service; give the ids of existing ones in 'vector_store_ids' instead."
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"metadata": {"k": None}}, wrong_type("metadata.k", "a string", "null")),
        ({"metadata": pairs(17)}, too_many_pairs(17)),
        ({"metadata": pairs(40)}, too_many_pairs(40)),
        ({"id": "thread_x"}, unknown("id")),
        (
            {"tool_resources": {"file_search": {"vector_stores": [{"file_ids": ["f"]}]}}},
            (400, VECTOR_STORES_MESSAGE, f"{FS}.vector_stores", "unsupported_parameter"),
        ),
        (
            {"messages": [{"role": "user"}]},
            (
                400,
                "Missing required parameter: 'messages[0].content'.",
                "messages[0].content",
                "missing_required_parameter",
            ),
        ),
    ],
)
def test_create_only_rows(body, expected):
    assert triple(error_for(CREATE, body)) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"id": "thread_x"}, unknown("id")),
        ({"created_at": 1}, unknown("created_at")),
        ({"object": "thread"}, unknown("object")),
        ({"messages": []}, unknown("messages")),
        ({"messages": [{"role": "user", "content": "hi"}]}, unknown("messages")),
        ({"tool_resources": {"file_search": {"vector_stores": []}}}, unknown(f"{FS}.vector_stores")),
        ({"tool_resources": {"file_search": {"vector_stores": [{}]}}}, unknown(f"{FS}.vector_stores")),
        (
            {"tool_resources": {"file_search": {"vector_store_ids": [], "vector_stores": None}}},
            unknown(f"{FS}.vector_stores"),
        ),
    ],
)
def test_modify_only_rows(body, expected):
    assert triple(error_for(MODIFY, body)) == expected


# --------------------------------------------------------------------------------------------------------------
# Boundaries: the last valid size and the first invalid one.


def test_pairs_on_create_16_and_17():
    assert validation_errors(CREATE, {"metadata": pairs(16)}) is None
    assert triple(error_for(CREATE, {"metadata": pairs(17)})) == too_many_pairs(17)


@BOTH
@pytest.mark.parametrize(
    ("tool", "name", "limit"), [("code_interpreter", "file_ids", 20), ("file_search", "vector_store_ids", 1)]
)
def test_list_length_boundaries(model, tool, name, limit):
    at = {"tool_resources": {tool: {name: [f"id{i}" for i in range(limit)]}}}
    over = {"tool_resources": {tool: {name: [f"id{i}" for i in range(limit + 1)]}}}
    assert validation_errors(model, at) is None
    assert triple(error_for(model, over)) == array_too_long(f"tool_resources.{tool}.{name}", limit, limit + 1)


@BOTH
@pytest.mark.parametrize("char", ["i", "é", "😀", "\U0010fffd"])
def test_id_length_boundaries(model, char):
    assert validation_errors(model, {"tool_resources": {"code_interpreter": {"file_ids": [char * 128]}}}) is None
    body = {"tool_resources": {"code_interpreter": {"file_ids": [char * 129]}}}
    assert triple(error_for(model, body)) == string_too_long(f"{CI}.file_ids[0]", 128, 129)


@BOTH
@pytest.mark.parametrize("char", ["v", "é", "😀", "\U0010fffd"])
def test_value_length_boundaries(model, char):
    assert validation_errors(model, {"metadata": {"k": char * 512}}) is None
    assert triple(error_for(model, {"metadata": {"k": char * 513}})) == string_too_long("metadata.k", 512, 513)


@BOTH
@pytest.mark.parametrize("char", ["k", "é", "𝄞", "😀", "\U0010fffd"])
def test_key_length_boundaries(model, char):
    assert validation_errors(model, {"metadata": {char * 64: "v"}}) is None
    assert triple(error_for(model, {"metadata": {char * 65: "v"}})) == key_too_long(char * 65)


# --------------------------------------------------------------------------------------------------------------
# One error per request: the first in document order.


@BOTH
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"metadata": {"a": 1}, "foo": 1}, wrong_type("metadata.a", "a string", "an integer")),
        ({"foo": 1, "metadata": {"a": 1}}, unknown("foo")),
        # a key error against an unknown parameter, both ways round
        ({"metadata": {"k" * 65: "v"}, "foo": 1}, key_too_long("k" * 65)),
        ({"foo": 1, "metadata": {"k" * 65: "v"}}, unknown("foo")),
        ({"metadata": {"": "v"}, "zzz": 1}, KEY_EMPTY),
        ({"zzz": 1, "metadata": {"": "v"}}, unknown("zzz")),
        # a key stands before its own value
        ({"metadata": {"k" * 65: "v" * 513}}, key_too_long("k" * 65)),
        # within metadata, pair by pair
        ({"metadata": {"a": "v" * 513, "b" * 65: "v"}}, string_too_long("metadata.a", 512, 513)),
        ({"metadata": {"b" * 65: "v", "a": "v" * 513}}, key_too_long("b" * 65)),
        ({"metadata": {"a": "ok", "b": 2, "": "v"}}, wrong_type("metadata.b", "a string", "an integer")),
        ({"metadata": {"a": "ok", "": "v", "b": 2}}, KEY_EMPTY),
        # within a list, element by element
        ({"tool_resources": {"code_interpreter": {"file_ids": ["", "f" * 129]}}}, empty_string(f"{CI}.file_ids[0]")),
        (
            {"tool_resources": {"code_interpreter": {"file_ids": ["f" * 129, ""]}}},
            string_too_long(f"{CI}.file_ids[0]", 128, 129),
        ),
        (
            {"tool_resources": {"code_interpreter": {"file_ids": ["ok", 3, ""]}}},
            wrong_type(f"{CI}.file_ids[1]", "a string", "an integer"),
        ),
        # between tools, and between the two top-level fields
        (
            {"tool_resources": {"file_search": {"vector_store_ids": [""]}, "code_interpreter": {"file_ids": [1]}}},
            empty_string(f"{FS}.vector_store_ids[0]"),
        ),
        (
            {"tool_resources": {"code_interpreter": {"file_ids": [1]}, "file_search": {"vector_store_ids": [""]}}},
            wrong_type(f"{CI}.file_ids[0]", "a string", "an integer"),
        ),
        (
            {"tool_resources": {"code_interpreter": {"file_ids": [""]}}, "metadata": {"": "v"}},
            empty_string(f"{CI}.file_ids[0]"),
        ),
        ({"metadata": {"": "v"}, "tool_resources": {"code_interpreter": {"file_ids": [""]}}}, KEY_EMPTY),
        ({"tool_resources": {"code_interpreter": {"nope": 1, "file_ids": [""]}}}, unknown(f"{CI}.nope")),
        ({"tool_resources": {"code_interpreter": {"file_ids": [""], "nope": 1}}}, empty_string(f"{CI}.file_ids[0]")),
        ({"tool_resources": "x", "foo": 1}, wrong_type("tool_resources", "an object", "a string")),
        ({"foo": 1, "tool_resources": "x"}, unknown("foo")),
    ],
)
def test_first_error_in_document_order(model, body, expected):
    assert triple(error_for(model, body)) == expected


@pytest.mark.parametrize("count", [17, 18, 56])
def test_too_many_pairs_after_the_merge_on_modify(count):
    """On modify the count is made by the store (MetadataLimitExceeded(n)); the handler answers with this error."""
    assert triple(errors.too_many_metadata_pairs(count)) == too_many_pairs(count)


def test_too_many_pairs_against_a_later_error_on_create():
    assert triple(error_for(CREATE, {"metadata": pairs(17), "foo": 1})) == too_many_pairs(17)
    assert triple(error_for(CREATE, {"foo": 1, "metadata": pairs(17)})) == unknown("foo")


# --------------------------------------------------------------------------------------------------------------
# Bodies that cannot be read, and the order of the stages before the body.

INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library "
    "correctly. The API expects a JSON payload, but what was sent was not valid JSON.)"
)


@BOTH
@pytest.mark.parametrize("text", ["{", "{'a': 1}", "NaN", '{"metadata": {"k": Infinity}}', "[" * 100_000, '"\\ud800"'])
def test_invalid_json(model, text):
    body = read_json_body(text)
    assert triple(error_for(model, body)) == (400, INVALID_JSON_MESSAGE, None, None)


@BOTH
@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_body_is_valid(model, text):
    assert validation_errors(model, read_json_body(text)) is None


@BOTH
def test_null_body_is_json_but_not_an_object(model):
    assert triple(error_for(model, read_json_body("null"))) == (
        400,
        "Invalid type for 'body': expected an object, but got null instead.",
        None,
        "invalid_type",
    )


@BOTH
def test_body_too_large(model):
    at_limit = json.dumps({"metadata": {"k": "v"}}).ljust(1_048_576)
    assert validation_errors(model, read_json_body(at_limit)) is None
    over = at_limit + " "
    assert triple(error_for(model, read_json_body(over))) == (
        413,
        "Request body too large: 1048577 bytes. The limit is 1048576 bytes.",
        None,
        "request_too_large",
    )


def test_stages_come_before_the_body():
    body = {"foo": 1}
    body_error = validation_errors(MODIFY, body)
    path_error = {
        "type": "string_pattern_mismatch",
        "loc": ("path", "thread_id"),
        "input": "abc",
        "ctx": {"pattern": "^thread"},
    }
    beta_error = {"type": "invalid_beta", "loc": ("header", "openai-beta"), "input": "assistants=v1"}
    path = (400, "Invalid 'thread_id': 'abc'. Expected an ID that begins with 'thread'.", "thread_id", "invalid_value")
    assert triple(first_error([*body_error, path_error], body)) == path
    assert triple(first_error([path_error, *body_error], body)) == path
    assert triple(first_error([*body_error, path_error, beta_error], body))[3] == "invalid_beta"
    unreadable = read_json_body("{")
    json_error = validation_errors(MODIFY, unreadable)
    assert triple(first_error([*json_error, path_error], unreadable)) == path


# --------------------------------------------------------------------------------------------------------------
# Properties over random bodies.

FIELD_NAMES = (
    "metadata",
    "tool_resources",
    "code_interpreter",
    "file_search",
    "file_ids",
    "vector_store_ids",
    "vector_stores",
    "messages",
    "id",
)
TRICKY_KEYS = ("", ".", "a.b", "[0]", "[key]", "k" * 64, "k" * 65, "𝄞" * 65)
json_keys = st.one_of(st.sampled_from(FIELD_NAMES), st.sampled_from(TRICKY_KEYS), st.text(max_size=70))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.sampled_from(("", "x" * 129, "x" * 513)),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=25),
        st.dictionaries(json_keys, children, max_size=20),
    ),
    max_leaves=60,
)


@st.composite
def shaped_bodies(draw):
    """Bodies that look like requests (the right field names, mostly), with anything where a value goes."""
    ids = st.one_of(st.text(max_size=5), json_values)
    tool = st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional={
                "file_ids": st.one_of(json_values, st.lists(ids, max_size=23)),
                "vector_store_ids": st.one_of(json_values, st.lists(ids, max_size=3)),
                "vector_stores": json_values,
                "x": json_values,
            },
        ),
    )
    tool_resources = st.one_of(
        json_values,
        st.fixed_dictionaries({}, optional={"code_interpreter": tool, "file_search": tool, "bogus": json_values}),
    )
    metadata = st.one_of(
        json_values,
        st.dictionaries(json_keys, st.one_of(st.none(), st.text(max_size=5), json_scalars), max_size=20),
    )
    body = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "metadata": metadata,
                "tool_resources": tool_resources,
                "messages": json_values,
                "foo": json_values,
            },
        )
    )
    items = list(body.items())
    order = draw(st.permutations(range(len(items))))
    return {items[i][0]: items[i][1] for i in order}


random_bodies = st.one_of(shaped_bodies(), json_values)


def names_a_place_in(body, param: str) -> bool:
    """Whether a dotted/indexed path names a place in the body (keys may themselves hold dots or brackets)."""
    if isinstance(body, dict):
        for key, value in body.items():
            if param == key:
                return True
            rest = param[len(key) :] if param.startswith(key) else None
            if rest and rest[0] == "." and isinstance(value, dict) and names_a_place_in(value, rest[1:]):
                return True
            if rest and rest[0] == "[" and names_a_place_in(value, rest):
                return True
    if isinstance(body, list) and param.startswith("["):
        index, _, rest = param[1:].partition("]")
        if index.isdigit() and int(index) < len(body):
            if not rest:
                return True
            if rest[0] == "[":
                return names_a_place_in(body[int(index)], rest)
            if rest[0] == "." and isinstance(body[int(index)], dict):
                return names_a_place_in(body[int(index)], rest[1:])
    return False


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([CREATE, MODIFY]), random_bodies)
def test_random_bodies_get_a_contract_error(model, body):
    found = validation_errors(model, body)
    assume(found is not None)
    error = first_error(found, body)
    assert isinstance(error, ApiError)
    assert error.status == 400
    assert error.code in CONTRACT_CODES
    assert error.type == "invalid_request_error"
    assert error.envelope()["error"].keys() == {"message", "type", "param", "code"}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([CREATE, MODIFY]), random_bodies)
def test_random_errors_name_a_place_in_the_body(model, body):
    """`param` is null (body-level errors) or a path to an element of the body; and the message names it."""
    found = validation_errors(model, body)
    assume(found is not None)
    error = first_error(found, body)
    if error.param is None:
        assert not isinstance(body, dict)
        return
    if error.code == "missing_required_parameter":  # the place is the object that lacks it
        parent = error.param.rpartition(".")[0]
        assert not parent or names_a_place_in(body, parent), error
        return
    assert names_a_place_in(body, error.param), error
    if error.code == "property_name_above_max_length":
        key = error.param.removeprefix("metadata.")
        assert key in body["metadata"] and len(key) > 64
    elif error.code == "string_above_max_length" and error.param.startswith("metadata."):
        assert len(body["metadata"][error.param.removeprefix("metadata.")]) > 512
    elif error.code in ("invalid_type", "unknown_parameter"):
        assert f"'{error.param}'" in error.message


@st.composite
def one_violation(draw):
    """A valid modify body with exactly one violation put in at a known place, and the error expected."""
    valid_metadata = draw(st.dictionaries(st.text(min_size=1, max_size=64), st.text(max_size=40), max_size=8))
    kind = draw(
        st.sampled_from(
            ["key_long", "key_empty", "value_long", "value_type", "unknown", "ids_long", "id_long", "id_empty"]
        )
    )
    body: dict = {}
    if kind in ("key_long", "key_empty", "value_long", "value_type"):
        if kind == "key_long":
            key = draw(st.text(min_size=65, max_size=80))
        elif kind == "key_empty":
            key = ""
        else:
            key = draw(st.text(min_size=1, max_size=64).filter(lambda k: k not in valid_metadata))
        value = {
            "value_long": draw(st.text(min_size=513, max_size=530)),
            "value_type": draw(st.one_of(st.integers(), st.booleans(), st.lists(st.text(), max_size=2))),
        }.get(kind, "v")
        items = list(valid_metadata.items())
        at = draw(st.integers(0, len(items)))
        items.insert(at, (key, value))
        body["metadata"] = dict(items)
        if kind == "key_long":
            expected = key_too_long(key)
        elif kind == "key_empty":
            expected = KEY_EMPTY
        elif kind == "value_long":
            expected = string_too_long(f"metadata.{key}", 512, len(value))
        else:
            got = {bool: "a boolean", int: "an integer", list: "an array"}[type(value)]
            expected = wrong_type(f"metadata.{key}", "a string", got)
    elif kind == "unknown":
        name = draw(st.text(min_size=1, max_size=20).filter(lambda n: n not in ("metadata", "tool_resources")))
        body = {"metadata": valid_metadata, name: draw(json_values)}
        expected = unknown(name)
    else:
        ids = draw(st.lists(st.text(min_size=1, max_size=128), max_size=20 if kind != "ids_long" else 40))
        if kind == "ids_long":
            ids = (ids + ["f"] * 21)[: max(21, len(ids))]
            expected = array_too_long(f"{CI}.file_ids", 20, len(ids))
        else:
            at = draw(st.integers(0, len(ids)))
            bad = draw(st.text(min_size=129, max_size=140)) if kind == "id_long" else ""
            ids = ids[:19]
            at = min(at, len(ids))
            ids.insert(at, bad)
            expected = (
                string_too_long(f"{CI}.file_ids[{at}]", 128, len(bad)) if bad else empty_string(f"{CI}.file_ids[{at}]")
            )
        body = {"metadata": valid_metadata, "tool_resources": {"code_interpreter": {"file_ids": ids}}}
    return body, expected


@settings(max_examples=200, deadline=None)
@given(one_violation())
def test_one_violation_is_reported_exactly(case):
    body, expected = case
    assert triple(error_for(MODIFY, json.loads(json.dumps(body)))) == expected


# --------------------------------------------------------------------------------------------------------------
# Regression: a key spelled "[key]" (pydantic's marker for a dict-key error) is an ordinary key.


@BOTH
def test_a_metadata_key_named_like_the_key_marker_is_an_ordinary_key(model):
    body = {"metadata": {"[key]": "v" * 513}}
    assert triple(error_for(model, body)) == string_too_long("metadata.[key]", 512, 513)


def test_a_null_value_under_a_key_named_like_the_key_marker_on_create():
    body = {"metadata": {"[key]": None}}
    assert triple(error_for(CREATE, body)) == wrong_type("metadata.[key]", "a string", "null")


@BOTH
def test_an_unknown_parameter_named_like_the_key_marker(model):
    assert triple(error_for(model, {"[key]": 1})) == unknown("[key]")


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"metadata": {**pairs(17), "": "v"}}, too_many_pairs(18)),
        ({"metadata": {"": "v", **pairs(17)}}, too_many_pairs(18)),
        ({"metadata": {**pairs(16), "k": 1}}, too_many_pairs(17)),
    ],
)
def test_too_many_pairs_comes_before_problems_inside_them(body, expected):
    # As an id list's length is reported before its ids: the container stands before its contents.
    assert triple(error_for(CREATE, body)) == expected
    ids = {"tool_resources": {"code_interpreter": {"file_ids": [""] + ["f"] * 21}}}
    assert error_for(CREATE, ids).code == "array_above_max_length"
