"""The service driven by the official `openai` client, twice: in process through local.client (on moto), and
over real HTTP through the local endpoint, `python -m local.server` (on dynalite).

The client is in strict response-validation mode and never retries, so a response that does not match the
SDK's own types, or an error that the SDK would retry, fails here.
"""

from __future__ import annotations

import json

import openai
import pytest
from openai.types.beta import Thread, ThreadDeleted

from local.client import openai_client
from local.embedded import TABLE_NAME
from local.fixtures import BASIC, CREATED_AT, EMPTY, FULL, UNKNOWN_ID

# The SDK marks the Assistants API deprecated; every call warns.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BAD = openai.BadRequestError
MISSING = openai.NotFoundError


@pytest.fixture(params=["in-process", "http"])
def table(request):
    """The boto3 client of the table the `client` fixture's service stores in."""
    fixture = "dynamodb" if request.param == "in-process" else "http_table"
    return request.getfixturevalue(fixture)


@pytest.fixture
def client(request, table):
    if request.node.callspec.params["table"] == "in-process":
        options = {}
    else:
        server = request.getfixturevalue("http_server")
        options = {"base_url": server.base_url, "http_client": openai.DefaultHttpx2Client()}
    with openai_client(**options) as client:
        yield client


def sent_json(raw) -> object:
    """The JSON body the SDK put on the wire for a `with_raw_response` call."""
    return json.loads(raw.http_request.content)


def etag_version(raw) -> int:
    etag = raw.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"'), etag
    return int(etag[1:-1])


def expect_error(call, error_class, *, status: int, message: str, param: str | None, code: str | None):
    """Run `call`, which must raise exactly `error_class` carrying this envelope."""
    with pytest.raises(openai.APIStatusError) as info:
        call()
    error = info.value
    assert type(error) is error_class, (type(error), error.body)
    assert error.status_code == status
    assert error.body == {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    assert (error.code, error.param, error.type) == (code, param, "invalid_request_error")
    assert error.response.json() == {"error": error.body}  # the envelope, all four keys
    assert error.request_id  # the SDK exposes x-request-id on errors too
    return error


def not_found(thread_id: str) -> dict:
    return dict(status=404, message=f"No thread found with id '{thread_id}'.", param=None, code=None)


def invalid_thread_id(thread_id: str) -> dict:
    return dict(
        status=400,
        message=f"Invalid 'thread_id': '{thread_id}'. Expected an ID that begins with 'thread'.",
        param="thread_id",
        code="invalid_value",
    )


def unknown_parameter(path: str) -> dict:
    return dict(status=400, message=f"Unknown parameter: '{path}'.", param=path, code="unknown_parameter")


def invalid_type(path: str, expected: str, got: str) -> dict:
    return dict(
        status=400,
        message=f"Invalid type for '{path}': expected {expected}, but got {got} instead.",
        param=path,
        code="invalid_type",
    )


def too_many_pairs(count: int) -> dict:
    return dict(
        status=400,
        message="Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
        f"but got an object with {count} properties instead.",
        param="metadata",
        code="object_above_max_properties",
    )


def string_too_long(path: str, limit: int, length: int) -> dict:
    return dict(
        status=400,
        message=f"Invalid '{path}': string too long. Expected a string with maximum length {limit}, "
        f"but got a string with length {length} instead.",
        param=path,
        code="string_above_max_length",
    )


def array_too_long(path: str, limit: int, length: int) -> dict:
    return dict(
        status=400,
        message=f"Invalid '{path}': array too long. Expected an array with maximum length {limit}, "
        f"but got an array with length {length} instead.",
        param=path,
        code="array_above_max_length",
    )


INVALID_BETA = dict(
    status=400,
    message="The v1 Assistants API has been deprecated. Please try again by setting the header "
    "'OpenAI-Beta: assistants=v2'.",
    param=None,
    code="invalid_beta",
)
INVALID_JSON = dict(
    status=400,
    message="We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The API expects a JSON payload, but what was sent was not valid JSON.)",
    param=None,
    code=None,
)
V1 = {"OpenAI-Beta": "assistants=v1"}
LONG_KEY = "k" * 65
FILE_IDS = "tool_resources.code_interpreter.file_ids"
VECTOR_STORE_IDS = "tool_resources.file_search.vector_store_ids"


# The lifecycle.


def test_lifecycle_create_merge_retrieve_delete(client):
    threads = client.beta.threads

    created = threads.create(
        metadata={"user": "alice", "topic": "billing", "tier": "gold"},
        tool_resources={"code_interpreter": {"file_ids": ["file-a", "file-b"]}},
    )
    assert isinstance(created, Thread)
    assert created.id.startswith("thread_") and len(created.id) == len("thread_") + 24
    assert created.id[len("thread_") :].isalnum() and created.id.isascii()
    assert created.object == "thread" and type(created.created_at) is int
    assert created.metadata == {"user": "alice", "topic": "billing", "tier": "gold"}
    assert created.tool_resources.code_interpreter.file_ids == ["file-a", "file-b"]
    assert created.tool_resources.file_search is None

    # Merge: a new key, a changed key; the keys not given are kept.
    merged = threads.update(created.id, metadata={"priority": "high", "topic": "refund"})
    assert isinstance(merged, Thread)
    assert merged.metadata == {"user": "alice", "topic": "refund", "tier": "gold", "priority": "high"}
    assert merged.tool_resources == created.tool_resources  # untouched
    assert (merged.id, merged.created_at) == (created.id, created.created_at)

    # A key given as None reaches the server as JSON null, which removes it.
    raw = threads.with_raw_response.update(created.id, metadata={"tier": None})
    assert sent_json(raw) == {"metadata": {"tier": None}}
    assert b'"tier":null' in raw.http_request.content
    assert raw.parse().metadata == {"user": "alice", "topic": "refund", "priority": "high"}

    # tool_resources: a list given replaces the stored one, a new tool is added, a tool given as None is removed.
    raw = threads.with_raw_response.update(
        created.id,
        tool_resources={"code_interpreter": {"file_ids": ["file-c"]}, "file_search": {"vector_store_ids": ["vs_1"]}},
    )
    assert raw.http_response.json()["tool_resources"] == {
        "code_interpreter": {"file_ids": ["file-c"]},
        "file_search": {"vector_store_ids": ["vs_1"]},
    }
    raw = threads.with_raw_response.update(created.id, tool_resources={"code_interpreter": None})  # type: ignore[typeddict-item]
    assert sent_json(raw) == {"tool_resources": {"code_interpreter": None}}
    assert raw.http_response.json()["tool_resources"] == {"file_search": {"vector_store_ids": ["vs_1"]}}
    updated = raw.parse()
    assert updated.tool_resources.code_interpreter is None
    assert updated.tool_resources.file_search.vector_store_ids == ["vs_1"]
    assert updated.metadata == {"user": "alice", "topic": "refund", "priority": "high"}

    retrieved = threads.retrieve(created.id)
    assert isinstance(retrieved, Thread)
    assert retrieved == updated

    deleted = threads.delete(created.id)
    assert isinstance(deleted, ThreadDeleted)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "thread.deleted", True)

    gone = not_found(created.id)
    expect_error(lambda: threads.retrieve(created.id), MISSING, **gone)
    expect_error(lambda: threads.update(created.id, metadata={"user": "bob"}), MISSING, **gone)
    expect_error(lambda: threads.delete(created.id), MISSING, **gone)


def test_create_with_nothing_gives_empty_objects(client):
    raw = client.beta.threads.with_raw_response.create()
    assert sent_json(raw) == {}
    body = raw.http_response.json()
    assert body["metadata"] == {} and body["tool_resources"] == {}
    thread = raw.parse()
    assert thread.metadata == {}
    assert thread.tool_resources.code_interpreter is None and thread.tool_resources.file_search is None


def test_create_accepts_empty_messages_and_empty_vector_stores(client):
    thread = client.beta.threads.create(
        messages=[], tool_resources={"file_search": {"vector_store_ids": ["vs_1"], "vector_stores": []}}
    )
    assert thread.tool_resources.file_search.vector_store_ids == ["vs_1"]


def test_metadata_none_clears_all_keys(client):
    raw = client.beta.threads.with_raw_response.update(BASIC.id, metadata=None)
    assert sent_json(raw) == {"metadata": None}
    thread = raw.parse()
    assert thread.metadata == {}
    assert thread.tool_resources.code_interpreter.file_ids == ["file-abc123"]


def test_sixteen_pairs_counted_after_the_merge(client):
    threads = client.beta.threads
    # FULL holds 16 pairs: changing one, or adding one while removing another, stays at 16.
    assert threads.update(FULL.id, metadata={"key01": "changed"}).metadata["key01"] == "changed"
    swapped = threads.update(FULL.id, metadata={"key17": "new", "key02": None})
    assert len(swapped.metadata) == 16 and "key17" in swapped.metadata and "key02" not in swapped.metadata


# Typed responses.


def test_retrieve_parses_as_a_typed_thread(client):
    raw = client.beta.threads.with_raw_response.retrieve(BASIC.id)
    assert raw.http_request.method == "GET"
    assert raw.http_request.headers["openai-beta"] == "assistants=v2"  # the SDK asks for v2 itself
    assert raw.headers["content-type"] == "application/json"
    assert type(raw.http_response.json()["created_at"]) is int  # an integer on the wire, not 1764028800.0
    thread = raw.parse()
    assert isinstance(thread, Thread)
    assert (thread.id, thread.object, thread.created_at) == (BASIC.id, "thread", CREATED_AT)
    assert type(thread.created_at) is int
    assert thread.metadata == BASIC.metadata
    assert thread.tool_resources.code_interpreter.file_ids == ["file-abc123"]


def test_every_route_answers_types_the_sdk_accepts_strictly(client):
    threads = client.beta.threads
    assert client._strict_response_validation is True
    for thread in (
        threads.create(metadata={"a": "b"}),
        threads.retrieve(EMPTY.id),
        threads.update(EMPTY.id, metadata={"a": "b"}),
        threads.update(EMPTY.id),
    ):
        assert isinstance(thread, Thread) and type(thread.created_at) is int
    assert isinstance(threads.delete(EMPTY.id), ThreadDeleted)


# x-request-id and ETag.


def test_request_id_is_exposed(client):
    threads = client.beta.threads
    raw = threads.with_raw_response.create()
    assert raw.headers["x-request-id"]
    assert raw.request_id == raw.headers["x-request-id"]
    thread = threads.retrieve(raw.parse().id)
    assert thread._request_id and thread._request_id != raw.request_id  # one per request
    assert threads.update(thread.id, metadata={"a": "b"})._request_id
    assert threads.delete(thread.id)._request_id


def test_etag_is_the_version_and_moves_once_per_applied_update(client):
    threads = client.beta.threads
    created = threads.with_raw_response.create(metadata={"a": "1"})
    thread_id = created.parse().id
    version = etag_version(created)
    assert created.headers["etag"] == f'"{version}"'
    assert etag_version(threads.with_raw_response.retrieve(thread_id)) == version

    patches = [
        {"metadata": {"b": "2"}},
        {"metadata": {"b": "2"}},  # the same values again: still an applied modify
        {"metadata": {"a": None}},
        {"tool_resources": {"code_interpreter": {"file_ids": ["file-1"]}}},
        {"tool_resources": {"code_interpreter": None}},
        {"metadata": None},
    ]
    for patch in patches:
        updated = threads.with_raw_response.update(thread_id, **patch)
        assert etag_version(updated) == version + 1, patch
        version += 1
        assert threads.with_raw_response.retrieve(thread_id).headers["etag"] == f'"{version}"'

    empty = threads.with_raw_response.update(thread_id)  # body {}: nothing written
    assert sent_json(empty) == {}
    assert etag_version(empty) == version
    assert etag_version(threads.with_raw_response.retrieve(thread_id)) == version


# Contract errors, each as the SDK's own exception class.

ERROR_CASES = {
    "unknown parameter on create": (
        lambda c: c.beta.threads.create(extra_body={"colour": "blue"}),
        BAD,
        unknown_parameter("colour"),
    ),
    "unknown parameter on modify": (
        lambda c: c.beta.threads.update(BASIC.id, metadata={"a": "b"}, extra_body={"created_at": 1}),
        BAD,
        unknown_parameter("created_at"),
    ),
    "unknown nested parameter": (
        lambda c: c.beta.threads.update(
            BASIC.id, extra_body={"tool_resources": {"code_interpreter": {"file_ids": [], "extra": True}}}
        ),
        BAD,
        unknown_parameter("tool_resources.code_interpreter.extra"),
    ),
    "vector_stores on modify": (
        lambda c: c.beta.threads.update(
            BASIC.id, extra_body={"tool_resources": {"file_search": {"vector_stores": []}}}
        ),
        BAD,
        unknown_parameter("tool_resources.file_search.vector_stores"),
    ),
    "metadata value not a string": (
        lambda c: c.beta.threads.update(BASIC.id, metadata={"user": 5}),  # type: ignore[dict-item]
        BAD,
        invalid_type("metadata.user", "a string", "an integer"),
    ),
    "metadata value null on create": (
        lambda c: c.beta.threads.create(metadata={"user": None}),  # type: ignore[dict-item]
        BAD,
        invalid_type("metadata.user", "a string", "null"),
    ),
    "metadata not an object": (
        lambda c: c.beta.threads.update(BASIC.id, metadata=["a"]),  # type: ignore[arg-type]
        BAD,
        invalid_type("metadata", "a metadata object", "an array"),
    ),
    "tool_resources not an object": (
        lambda c: c.beta.threads.create(tool_resources="code_interpreter"),  # type: ignore[arg-type]
        BAD,
        invalid_type("tool_resources", "an object", "a string"),
    ),
    "tool not an object": (
        lambda c: c.beta.threads.update(BASIC.id, tool_resources={"file_search": ["vs_1"]}),  # type: ignore[typeddict-item]
        BAD,
        invalid_type("tool_resources.file_search", "an object", "an array"),
    ),
    "id list not an array": (
        lambda c: c.beta.threads.update(BASIC.id, tool_resources={"code_interpreter": {"file_ids": {"a": 1}}}),  # type: ignore[typeddict-item]
        BAD,
        invalid_type(FILE_IDS, "an array of strings", "an object"),
    ),
    "id not a string": (
        lambda c: c.beta.threads.create(tool_resources={"code_interpreter": {"file_ids": ["file-a", True]}}),  # type: ignore[list-item]
        BAD,
        invalid_type(f"{FILE_IDS}[1]", "a string", "a boolean"),
    ),
    "17 pairs after the merge": (
        lambda c: c.beta.threads.update(FULL.id, metadata={"key17": "value17"}),
        BAD,
        too_many_pairs(17),
    ),
    "17 pairs on create": (
        lambda c: c.beta.threads.create(metadata={f"k{i}": "v" for i in range(17)}),
        BAD,
        too_many_pairs(17),
    ),
    "metadata key too long": (
        lambda c: c.beta.threads.update(BASIC.id, metadata={LONG_KEY: "v"}),
        BAD,
        dict(
            status=400,
            message=f"Invalid property name in 'metadata': '{LONG_KEY}' is too long. Expected a string with "
            "maximum length 64, but got a string with length 65 instead.",
            param=f"metadata.{LONG_KEY}",
            code="property_name_above_max_length",
        ),
    ),
    "metadata key empty": (
        lambda c: c.beta.threads.create(metadata={"": "v"}),
        BAD,
        dict(
            status=400,
            message="Invalid property name in 'metadata': property names must not be empty.",
            param="metadata",
            code="invalid_value",
        ),
    ),
    "metadata value too long": (
        lambda c: c.beta.threads.update(BASIC.id, metadata={"user": "x" * 513}),
        BAD,
        string_too_long("metadata.user", 512, 513),
    ),
    "metadata value too long in code points": (
        lambda c: c.beta.threads.create(metadata={"note": "\N{GRINNING FACE}" * 513}),
        BAD,
        string_too_long("metadata.note", 512, 513),
    ),
    "more than 20 file_ids": (
        lambda c: c.beta.threads.update(
            BASIC.id, tool_resources={"code_interpreter": {"file_ids": [f"file-{i}" for i in range(21)]}}
        ),
        BAD,
        array_too_long(FILE_IDS, 20, 21),
    ),
    "more than 1 vector_store_ids": (
        lambda c: c.beta.threads.create(tool_resources={"file_search": {"vector_store_ids": ["vs_1", "vs_2"]}}),
        BAD,
        array_too_long(VECTOR_STORE_IDS, 1, 2),
    ),
    "empty id": (
        lambda c: c.beta.threads.update(BASIC.id, tool_resources={"code_interpreter": {"file_ids": ["file-a", ""]}}),
        BAD,
        dict(
            status=400,
            message=f"Invalid '{FILE_IDS}[1]': empty string. Expected a string with minimum length 1, "
            "but got an empty string instead.",
            param=f"{FILE_IDS}[1]",
            code="empty_string",
        ),
    ),
    "id too long": (
        lambda c: c.beta.threads.create(tool_resources={"file_search": {"vector_store_ids": ["v" * 129]}}),
        BAD,
        string_too_long(f"{VECTOR_STORE_IDS}[0]", 128, 129),
    ),
    "invalid thread id on retrieve": (
        lambda c: c.beta.threads.retrieve("abc"),
        BAD,
        invalid_thread_id("abc"),
    ),
    "invalid thread id on modify": (
        lambda c: c.beta.threads.update("abc", metadata={"a": "b"}),
        BAD,
        invalid_thread_id("abc"),
    ),
    "invalid thread id on delete": (
        lambda c: c.beta.threads.delete("abc"),
        BAD,
        invalid_thread_id("abc"),
    ),
    "path id checked before the body": (
        lambda c: c.beta.threads.update("abc", extra_body={"colour": "blue"}),
        BAD,
        invalid_thread_id("abc"),
    ),
    "unknown thread on retrieve": (
        lambda c: c.beta.threads.retrieve(UNKNOWN_ID),
        MISSING,
        not_found(UNKNOWN_ID),
    ),
    "unknown thread on modify": (
        lambda c: c.beta.threads.update(UNKNOWN_ID, metadata={"a": "b"}),
        MISSING,
        not_found(UNKNOWN_ID),
    ),
    "unknown thread on delete": (
        lambda c: c.beta.threads.delete(UNKNOWN_ID),
        MISSING,
        not_found(UNKNOWN_ID),
    ),
    "thread id of a shape never issued": (
        lambda c: c.beta.threads.retrieve("thread_abc"),
        MISSING,
        not_found("thread_abc"),
    ),
    "v1 beta header on retrieve": (
        lambda c: c.beta.threads.retrieve(BASIC.id, extra_headers=V1),
        BAD,
        INVALID_BETA,
    ),
    "v1 beta header on create, before the body": (
        lambda c: c.beta.threads.create(extra_headers=V1, extra_body={"colour": "blue"}),
        BAD,
        INVALID_BETA,
    ),
    "v1 beta header on modify": (
        lambda c: c.beta.threads.update(BASIC.id, metadata={"a": "b"}, extra_headers=V1),
        BAD,
        INVALID_BETA,
    ),
    "v1 beta header on delete": (
        lambda c: c.beta.threads.delete(BASIC.id, extra_headers=V1),
        BAD,
        INVALID_BETA,
    ),
    "body not JSON": (
        lambda c: c.post("/threads", cast_to=Thread, content=b'{"metadata": '),
        BAD,
        INVALID_JSON,
    ),
    "body not UTF-8 (sent base64-encoded)": (
        lambda c: c.post("/threads", cast_to=Thread, content=b'{"metadata": {"a": "\xff"}}'),
        BAD,
        INVALID_JSON,
    ),
    "body not an object": (
        lambda c: c.post("/threads", cast_to=Thread, content=b"[]"),
        BAD,
        dict(
            status=400,
            message="Invalid type for 'body': expected an object, but got an array instead.",
            param=None,
            code="invalid_type",
        ),
    ),
    "unknown route": (
        lambda c: c.get("/nothing", cast_to=Thread),
        MISSING,
        dict(status=404, message="Invalid URL (GET /v1/nothing)", param=None, code=None),
    ),
    "unknown method": (
        lambda c: c.patch(f"/threads/{BASIC.id}", cast_to=Thread, body={}),
        MISSING,
        dict(status=404, message=f"Invalid URL (PATCH /v1/threads/{BASIC.id})", param=None, code=None),
    ),
    # 413 has no class of its own in the SDK: it is the base APIStatusError (and is not retried).
    "body over 1 MiB": (
        lambda c: c.post(f"/threads/{BASIC.id}", cast_to=Thread, content=b" " * 1_048_577),
        openai.APIStatusError,
        dict(
            status=413,
            message="Request body too large: 1048577 bytes. The limit is 1048576 bytes.",
            param=None,
            code="request_too_large",
        ),
    ),
    "create body over 4 MiB": (
        lambda c: c.post("/threads", cast_to=Thread, content=b" " * 4_194_305),
        openai.APIStatusError,
        dict(
            status=413,
            message="Request body too large: 4194305 bytes. The limit is 4194304 bytes.",
            param=None,
            code="request_too_large",
        ),
    ),
}


@pytest.mark.parametrize("case", ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_contract_error_raises_the_sdk_exception(client, case):
    call, error_class, expected = case
    expect_error(lambda: call(client), error_class, **expected)


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (
            lambda c: c.beta.threads.create(
                tool_resources={"file_search": {"vector_stores": [{"file_ids": ["file-a"]}]}}
            ),
            "tool_resources.file_search.vector_stores",
        ),
    ],
    ids=["vector_stores on create"],
)
def test_unsupported_parameter_on_create(client, call, param):
    # The contract fixes param and code; the message only has to say that the parameter is not supported.
    with pytest.raises(BAD) as info:
        call(client)
    error = info.value
    assert (error.status_code, error.param, error.code, error.type) == (
        400,
        param,
        "unsupported_parameter",
        "invalid_request_error",
    )
    assert f"'{param}'" in error.message and f"'{param}'" in error.body["message"]


def test_failed_requests_change_nothing(client, table):
    threads = client.beta.threads
    before = threads.with_raw_response.retrieve(FULL.id)
    expect_error(lambda: threads.update(FULL.id, metadata={"key17": "value17"}), BAD, **too_many_pairs(17))
    after = threads.with_raw_response.retrieve(FULL.id)
    assert after.headers["etag"] == before.headers["etag"]
    assert after.parse().metadata == FULL.metadata

    expect_error(lambda: threads.update(UNKNOWN_ID, metadata={"a": "b"}), MISSING, **not_found(UNKNOWN_ID))
    assert "Item" not in table.get_item(TableName=TABLE_NAME, Key={"thread_id": {"S": UNKNOWN_ID}})


def test_beta_header_naming_v2_is_served(client):
    thread = client.beta.threads.retrieve(BASIC.id, extra_headers={"OpenAI-Beta": "assistants=v1, assistants=v2"})
    assert thread.id == BASIC.id


def test_sdk_refuses_an_empty_thread_id_before_sending(client):
    with pytest.raises(ValueError, match="non-empty value for `thread_id`"):
        client.beta.threads.retrieve("")
