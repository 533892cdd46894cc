"""The costliest bodies the 1 MiB limit allows, on every route that takes a body, over HTTP.

Each is answered with the contract's 400 for its first problem in document order, inside the function's timeout
(the local endpoint ends an environment that overruns the template's `Timeout` and answers 500): the work of
choosing that one error among tens of thousands stays linear in the body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

import httpx
import pytest

from local.fixtures import API_KEY, BASIC
from threads_api import errors
from threads_api.errors import ApiError
from threads_api.limits import MAX_BODY_BYTES

CREATE = "/v1/threads"
MODIFY = f"/v1/threads/{BASIC.id}"
ROUTES = {"create": CREATE, "modify": MODIFY}


def fill(make: Callable[[int], dict], budget: int = MAX_BODY_BYTES) -> bytes:
    """The body `make(n)` with the largest n that fits the limit. Every `make` here grows by the same number of
    bytes per step, so n is worked out from two sizes, then checked."""
    one, two = (len(json.dumps(make(n)).encode()) for n in (1, 2))
    n = 1 + (budget - one) // (two - one)
    body = json.dumps(make(n)).encode()
    assert budget - (two - one) < len(body) <= budget, (len(body), budget)
    return body


def unknown_keys(n: int) -> dict:
    return {f"k{i:07d}": 0 for i in range(n)}


def wrong_type_values(n: int) -> dict:
    return {"metadata": {f"k{i:07d}": 0 for i in range(n)}}


def unknown_keys_in_tool_resources(n: int) -> dict:
    return {"tool_resources": {f"t{i:07d}": {} for i in range(n)}}


def wrong_type_ids(n: int) -> dict:
    return {"tool_resources": {"code_interpreter": {"file_ids": [0] * n}}}


def nested(depth: int) -> dict:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return {"metadata": {"deep": value}}


def long_value(n: int) -> dict:
    return {"metadata": {"k": "v" * n}}


def long_unknown_key(n: int) -> dict:
    return {"k" * n: 0}


def deep_bracket_body(budget: int = MAX_BODY_BYTES) -> bytes:
    """Nesting far deeper than any JSON reader recurses: invalid JSON, not a crash."""
    depth = (budget - len('{"metadata":{"k":}}')) // 2
    return b'{"metadata":{"k":' + b"[" * depth + b"]" * depth + b"}}"


def too_many_pairs(body: dict) -> ApiError:
    return errors.too_many_metadata_pairs(len(body["metadata"]))


def too_many_ids(body: dict) -> ApiError:
    ids = body["tool_resources"]["code_interpreter"]["file_ids"]
    return errors.array_too_long("tool_resources.code_interpreter.file_ids", 20, len(ids))


def value_too_long(body: dict) -> ApiError:
    return errors.string_too_long("metadata.k", 512, len(body["metadata"]["k"]))


def the_unknown_key(body: dict) -> ApiError:
    return errors.unknown_parameter(next(iter(body)))


def always(error: ApiError) -> Callable[[dict], ApiError]:
    return lambda body: error


NESTED_OK = 900  # as deep as Python's JSON reader goes on its default recursion limit


def cases():
    """(name, route, the body's builder, the error for the parsed body). Bodies are built when a test runs."""
    yield "unknown-keys", "create", partial(fill, unknown_keys), always(errors.unknown_parameter("k0000000"))
    yield "unknown-keys", "modify", partial(fill, unknown_keys), always(errors.unknown_parameter("k0000000"))
    first_value = errors.invalid_type("metadata.k0000000", "a string", 0)
    yield "wrong-type-values", "modify", partial(fill, wrong_type_values), always(first_value)
    # On create, more than 16 pairs is the first problem, whatever is inside them.
    yield "wrong-type-values", "create", partial(fill, wrong_type_values), too_many_pairs
    for route in ROUTES:
        first_tool = errors.unknown_parameter("tool_resources.t0000000")
        yield "unknown-tools", route, partial(fill, unknown_keys_in_tool_resources), always(first_tool)
        yield "wrong-type-ids", route, partial(fill, wrong_type_ids), too_many_ids  # the length comes before the items
        yield "long-value", route, partial(fill, long_value), value_too_long
        yield "long-unknown-key", route, partial(fill, long_unknown_key), the_unknown_key
        deep = errors.invalid_type("metadata.deep", "a string", [])
        yield "nested", route, lambda: json.dumps(nested(NESTED_OK)).encode(), always(deep)
        yield "nested-too-deep", route, deep_bracket_body, lambda body: errors.invalid_json()


CASES = [pytest.param(route, build, expect, id=f"{name}-{route}") for name, route, build, expect in cases()]


@pytest.fixture(scope="module")
def http(http_server):
    with httpx.Client(
        base_url=http_server.base_url.removesuffix("/v1"),
        headers={"authorization": f"Bearer {API_KEY}", "content-type": "application/json"},
        timeout=60,
    ) as client:
        yield client


def parsed(body: bytes) -> dict:
    try:
        return json.loads(body)
    except RecursionError:
        return {}


@pytest.mark.parametrize("route, build, expect", CASES)
def test_the_worst_bodies_get_the_contracts_400(http, http_table, route, build, expect):
    body = build()
    assert len(body) <= MAX_BODY_BYTES
    before = http.get(MODIFY).json()
    answer = http.post(ROUTES[route], content=body)
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json() == expect(parsed(body)).envelope()
    assert http.get(MODIFY).json() == before
