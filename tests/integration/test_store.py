"""ThreadStore against two DynamoDB implementations, seeded with local/fixtures.py threads: moto in process, and
dynalite (a separate server, stricter in places where moto is lenient)."""

from __future__ import annotations

import time

import boto3
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from local.embedded import TABLE_NAME
from local.fixtures import BASIC, DEFAULT_PROJECT, EMPTY, FIXTURE_THREADS, FULL, UNKNOWN_ID
from local.table import create_threads_table, table_definition
from tests.reference import reference_merge
from threads_api.exceptions import MetadataLimitExceeded, PreconditionFailed, StorageUnavailable, ThreadNotFound
from threads_api.models import TOOL_ID_LISTS, ModifyThreadRequest
from threads_api.patch import ThreadPatch
from threads_api.store import TOMBSTONE_SECONDS, ThreadStore
from threads_api.thread import is_issued_thread_id

OTHER_PROJECT = "proj_other"
TOKEN_SLOTS = {f"wt{i}" for i in range(16)}


@pytest.fixture(params=["moto", "dynalite"])
def dynamodb(request):
    """A threads table holding exactly the fixture threads; yields a boto3 client."""
    if request.param == "moto":
        from local.embedded import embedded_dynamodb

        with embedded_dynamodb() as client:
            yield client
        return
    from local.fixtures import seed_fixture_threads
    from local.launch import dynamodb_client
    from local.table import create_table

    client = dynamodb_client(request.getfixturevalue("dynalite_endpoint"))
    create_table(client, TABLE_NAME, "ThreadsTable")
    for page in client.get_paginator("scan").paginate(TableName=TABLE_NAME, ProjectionExpression="thread_id"):
        for item in page["Items"]:
            client.delete_item(TableName=TABLE_NAME, Key=item)
    seed_fixture_threads(client, TABLE_NAME)
    yield client


class Calls(list):
    """The DynamoDB operations a client made, by name, in order."""


@pytest.fixture
def calls(request, dynamodb):
    """The calls the store makes. On dynalite, which never sends the stored item back with a failed condition,
    the read the store makes instead (a GetItem right after a failed conditional write) is not listed: the rest
    must be what DynamoDB sees."""
    made = Calls()
    sends_old_item = request.node.callspec.params["dynamodb"] == "moto"
    last_failed = [False]

    def record(model, parsed, **_):
        if not sends_old_item and model.name == "GetItem" and last_failed[0]:
            last_failed[0] = False
            return
        failed = parsed.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
        last_failed[0] = failed and "Item" not in parsed
        made.append(model.name)

    dynamodb.meta.events.register("after-call.dynamodb.*", record)
    yield made
    dynamodb.meta.events.unregister("after-call.dynamodb.*", record)


@pytest.fixture
def new_store(request, dynamodb):
    """new_store(client=dynamodb, **options): a ThreadStore told whether its storage sends the stored item back
    with a failed condition (moto does, as DynamoDB; dynalite never does)."""
    sends_old_item = request.node.callspec.params["dynamodb"] == "moto"

    def make(client=dynamodb, **options) -> ThreadStore:
        return ThreadStore(client, TABLE_NAME, returns_item_on_failure=sends_old_item, **options)

    return make


@pytest.fixture
def store(new_store):
    return new_store()


def raw_item(client, thread_id):
    return client.get_item(TableName=TABLE_NAME, Key={"thread_id": {"S": thread_id}}, ConsistentRead=True).get("Item")


def patch_of(body) -> ThreadPatch:
    return ThreadPatch.from_request(ModifyThreadRequest.model_validate(body))


# --------------------------------------------------------------------------------------------------------------
# Create, get, update, delete.


def test_fixtures_are_readable(store):
    for fixture in FIXTURE_THREADS:
        assert store.get(DEFAULT_PROJECT, fixture.id) == fixture


def test_create_then_get(store, dynamodb):
    metadata = {"user": "alice", "𝄞" * 64: "😀" * 512, "empty": ""}
    tools = {"code_interpreter": {"file_ids": ["file-1", "file-2"]}, "file_search": {"vector_store_ids": []}}
    created = store.create(DEFAULT_PROJECT, metadata, tools)
    assert is_issued_thread_id(created.id)
    assert created.version == 1
    assert isinstance(created.created_at, int)
    assert created.project == DEFAULT_PROJECT
    fetched = store.get(DEFAULT_PROJECT, created.id)
    assert fetched == created
    assert type(fetched.created_at) is int and type(fetched.version) is int
    assert fetched.metadata == metadata and fetched.tool_resources == tools
    assert fetched.to_wire() == {
        "id": created.id,
        "object": "thread",
        "created_at": created.created_at,
        "metadata": metadata,
        "tool_resources": tools,
    }
    assert raw_item(dynamodb, created.id)["project"] == {"S": DEFAULT_PROJECT}


def test_created_ids_differ(store):
    ids = {store.create(DEFAULT_PROJECT, {}, {}).id for _ in range(20)}
    assert len(ids) == 20


def test_update_returns_the_whole_thread(store):
    updated = store.update(DEFAULT_PROJECT, BASIC.id, patch_of({"metadata": {"topic": None, "team": "x"}}))
    assert updated.metadata == {"user": "alice", "team": "x"}
    assert updated.tool_resources == BASIC.tool_resources
    assert (updated.id, updated.created_at, updated.project) == (BASIC.id, BASIC.created_at, BASIC.project)
    assert updated.version == BASIC.version + 1
    assert store.get(DEFAULT_PROJECT, BASIC.id) == updated


@pytest.mark.parametrize(
    ("body", "metadata", "tools"),
    [
        ({"metadata": None}, {}, BASIC.tool_resources),
        ({"tool_resources": None}, BASIC.metadata, {}),
        ({"metadata": None, "tool_resources": None}, {}, {}),
        ({"tool_resources": {"code_interpreter": None}}, BASIC.metadata, {}),
        ({"tool_resources": {"code_interpreter": {"file_ids": None}}}, BASIC.metadata, {}),
        (
            {"tool_resources": {"code_interpreter": {"file_ids": []}}},
            BASIC.metadata,
            {"code_interpreter": {"file_ids": []}},
        ),
        (
            {"tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}}},
            BASIC.metadata,
            {**BASIC.tool_resources, "file_search": {"vector_store_ids": ["vs_1"]}},
        ),
        ({"tool_resources": {"file_search": None}}, BASIC.metadata, BASIC.tool_resources),
        ({"metadata": {"absent": None}}, BASIC.metadata, BASIC.tool_resources),
        ({"metadata": {"user": "alice"}}, BASIC.metadata, BASIC.tool_resources),
        (
            {
                "metadata": {
                    "a.b": "1",
                    "[0]": "2",
                    "#md": "3",
                    ":one": "4",
                    "version": "5",
                    "thread_id": "6",
                    "𝄞" * 64: "7",
                }
            },
            {
                **BASIC.metadata,
                "a.b": "1",
                "[0]": "2",
                "#md": "3",
                ":one": "4",
                "version": "5",
                "thread_id": "6",
                "𝄞" * 64: "7",
            },
            BASIC.tool_resources,
        ),
    ],
)
def test_update_merges(store, calls, body, metadata, tools):
    updated = store.update(DEFAULT_PROJECT, BASIC.id, patch_of(body))
    assert (updated.metadata, updated.tool_resources) == (metadata, tools)
    assert (updated.metadata, updated.tool_resources) == reference_merge(BASIC.metadata, BASIC.tool_resources, body)
    assert updated.version == BASIC.version + 1  # even when nothing changed in value
    assert calls == ["UpdateItem"]
    assert store.get(DEFAULT_PROJECT, BASIC.id) == updated


def test_version_moves_by_one_per_update(store):
    thread = store.create(DEFAULT_PROJECT, {}, {})
    for i in range(1, 6):
        thread = store.update(DEFAULT_PROJECT, thread.id, patch_of({"metadata": {"n": str(i)}}))
        assert thread.version == 1 + i
    assert store.get(DEFAULT_PROJECT, thread.id).version == 6


TOMBSTONE_KEYS = {"thread_id", "project", "created_at", "version", "deleted_at", "expires_at", *TOKEN_SLOTS}


def test_delete_leaves_a_tombstone_without_the_threads_content(store, dynamodb):
    before = time.time()
    store.delete(DEFAULT_PROJECT, BASIC.id)
    tombstone = raw_item(dynamodb, BASIC.id)
    assert set(tombstone) == TOMBSTONE_KEYS  # no metadata, no tool resources
    assert tombstone["version"] == {"N": "2"}
    assert before - 1 <= int(tombstone["deleted_at"]["N"]) <= time.time()
    assert int(tombstone["expires_at"]["N"]) - int(tombstone["deleted_at"]["N"]) == TOMBSTONE_SECONDS
    with pytest.raises(ThreadNotFound):
        store.get(DEFAULT_PROJECT, BASIC.id)
    for body in PATCHES:
        with pytest.raises(ThreadNotFound):
            store.update(DEFAULT_PROJECT, BASIC.id, patch_of(body))
    with pytest.raises(ThreadNotFound):
        store.delete(DEFAULT_PROJECT, BASIC.id)  # a second delete
    with pytest.raises(ThreadNotFound):
        store.delete(DEFAULT_PROJECT, BASIC.id, frozenset({2}))
    assert raw_item(dynamodb, BASIC.id) == tombstone  # nothing brought it back


# --------------------------------------------------------------------------------------------------------------
# Unknown ids and other projects.

PATCHES = [
    {"metadata": {"a": "b"}},
    {"metadata": {"a": None}},
    {"metadata": None},
    {"tool_resources": {"code_interpreter": {"file_ids": ["f"]}}},
    {"tool_resources": None},
    {"metadata": {f"k{i}": None for i in range(40)}},  # the large-patch path
    {"metadata": {**{f"k{i}": None for i in range(30)}, **{f"n{i}": "v" for i in range(5)}}},
]


@pytest.mark.parametrize("body", PATCHES)
def test_update_of_an_unknown_id_creates_nothing(store, dynamodb, body):
    with pytest.raises(ThreadNotFound) as raised:
        store.update(DEFAULT_PROJECT, UNKNOWN_ID, patch_of(body))
    assert raised.value.args == (UNKNOWN_ID,)
    assert raw_item(dynamodb, UNKNOWN_ID) is None
    assert dynamodb.scan(TableName=TABLE_NAME)["Count"] == len(FIXTURE_THREADS)


def test_get_and_delete_of_an_unknown_id(store, dynamodb):
    with pytest.raises(ThreadNotFound):
        store.get(DEFAULT_PROJECT, UNKNOWN_ID)
    with pytest.raises(ThreadNotFound):
        store.delete(DEFAULT_PROJECT, UNKNOWN_ID)
    assert dynamodb.scan(TableName=TABLE_NAME)["Count"] == len(FIXTURE_THREADS)


@pytest.mark.parametrize("body", [*PATCHES, {"metadata": {"key01": "x"}}, {"metadata": {"new": "x"}}])
@pytest.mark.parametrize("fixture", [BASIC, FULL, EMPTY], ids=["basic", "full", "empty"])
def test_another_projects_thread_is_not_found_and_unchanged(store, dynamodb, fixture, body):
    before = raw_item(dynamodb, fixture.id)
    with pytest.raises(ThreadNotFound):
        store.get(OTHER_PROJECT, fixture.id)
    with pytest.raises(ThreadNotFound):
        store.update(OTHER_PROJECT, fixture.id, patch_of(body))
    with pytest.raises(ThreadNotFound):
        store.delete(OTHER_PROJECT, fixture.id)
    assert raw_item(dynamodb, fixture.id) == before


def test_threads_of_another_project_are_its_own(store):
    mine = store.create(OTHER_PROJECT, {"a": "b"}, {})
    assert store.get(OTHER_PROJECT, mine.id) == mine
    with pytest.raises(ThreadNotFound):
        store.get(DEFAULT_PROJECT, mine.id)
    assert store.update(OTHER_PROJECT, mine.id, patch_of({"metadata": {"c": "d"}})).metadata == {"a": "b", "c": "d"}
    store.delete(OTHER_PROJECT, mine.id)


NOT_ISSUED = [
    "thread_",
    "thread",
    "thread_abc",
    BASIC.id[:-1],
    BASIC.id + "0",
    BASIC.id + "\n",
    "THREAD_" + BASIC.id[7:],
    "thread-" + BASIC.id[7:],
    "thread_" + "é" * 24,
    "thread_" + "０" * 24,  # full-width digits are digits, but not of the issued alphabet
    "thread_" + "_" * 24,
    "thread_" + "a" * 23 + " ",
    "thread_" + "a" * 23 + "/",
    "thread_" + "a" * 1000,
    " " + BASIC.id,
    "",
]


@pytest.mark.parametrize("thread_id", NOT_ISSUED)
def test_ids_not_of_the_issued_shape_never_reach_dynamodb(store, calls, thread_id):
    with pytest.raises(ThreadNotFound):
        store.get(DEFAULT_PROJECT, thread_id)
    with pytest.raises(ThreadNotFound):
        store.update(DEFAULT_PROJECT, thread_id, patch_of({"metadata": {"a": "b"}}))
    with pytest.raises(ThreadNotFound):
        store.update(DEFAULT_PROJECT, thread_id, patch_of({"metadata": {f"k{i}": None for i in range(40)}}))
    with pytest.raises(ThreadNotFound):
        store.delete(DEFAULT_PROJECT, thread_id)
    assert calls == []


# --------------------------------------------------------------------------------------------------------------
# The 16-pair limit, exact after the merge, and the number of calls.


@pytest.mark.parametrize(
    ("body", "metadata"),
    [
        ({"metadata": {"key01": "changed"}}, {**FULL.metadata, "key01": "changed"}),
        ({"metadata": {"key01": "value01"}}, FULL.metadata),
        (
            {"metadata": {"key01": None, "new": "v"}},
            {**{k: v for k, v in FULL.metadata.items() if k != "key01"}, "new": "v"},
        ),
        (
            {"metadata": {"key01": None, "key02": None, "new1": "v", "key03": "c", "new2": "w"}},
            {
                **{k: v for k, v in FULL.metadata.items() if k not in ("key01", "key02")},
                "key03": "c",
                "new1": "v",
                "new2": "w",
            },
        ),
        ({"metadata": {f"key{i:02d}": f"x{i}" for i in range(1, 17)}}, {f"key{i:02d}": f"x{i}" for i in range(1, 17)}),
    ],
)
def test_full_thread_accepts_a_patch_that_stays_at_16(store, calls, body, metadata):
    updated = store.update(DEFAULT_PROJECT, FULL.id, patch_of(body))
    assert updated.metadata == metadata
    assert len(updated.metadata) == 16
    assert updated.version == FULL.version + 1  # one applied update, however many calls it took
    assert 1 <= len(calls) <= 2
    assert all(call == "UpdateItem" or call == "GetItem" for call in calls)
    assert store.get(DEFAULT_PROJECT, FULL.id) == updated


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ({"metadata": {"new": "v"}}, 17),
        ({"metadata": {"key01": "changed", "new": "v"}}, 17),
        ({"metadata": {"key01": None, "new1": "v", "new2": "w"}}, 17),
        ({"metadata": {"absent": None, "new": "v"}}, 17),
        ({"metadata": {f"new{i}": "v" for i in range(4)}}, 20),
        ({"metadata": {f"new{i}": "v" for i in range(20)}}, 36),
        ({"metadata": {f"new{i}": "v" for i in range(40)}}, 56),  # the large-patch path
        ({"metadata": {**{f"gone{i}": None for i in range(35)}, "new": "v"}}, 17),  # the large-patch path
    ],
)
def test_full_thread_refuses_a_17th_pair_and_is_unchanged(store, dynamodb, calls, body, count):
    before = raw_item(dynamodb, FULL.id)
    calls.clear()
    with pytest.raises(MetadataLimitExceeded) as raised:
        store.update(DEFAULT_PROJECT, FULL.id, patch_of(body))
    assert raised.value.count == count
    assert len(calls) <= 2
    assert raw_item(dynamodb, FULL.id) == before


def test_adding_up_to_16_pairs_then_one_more(store):
    thread = store.create(DEFAULT_PROJECT, {}, {})
    thread = store.update(DEFAULT_PROJECT, thread.id, patch_of({"metadata": {f"a{i}": "v" for i in range(10)}}))
    thread = store.update(DEFAULT_PROJECT, thread.id, patch_of({"metadata": {f"b{i}": "v" for i in range(6)}}))
    assert len(thread.metadata) == 16 and thread.version == 3
    with pytest.raises(MetadataLimitExceeded) as raised:
        store.update(DEFAULT_PROJECT, thread.id, patch_of({"metadata": {"c": "v"}}))
    assert raised.value.count == 17
    assert store.get(DEFAULT_PROJECT, thread.id) == thread


@pytest.mark.parametrize(
    "body",
    [
        {"metadata": {"user": "bob"}},
        {"metadata": {"new": "v"}},
        {"metadata": {"user": None}},
        {"metadata": {f"k{i}": "v" for i in range(14)}},  # 2 + 14 = 16: still room, still one call
        {"metadata": None},
        {"tool_resources": {"code_interpreter": {"file_ids": ["f"] * 20}, "file_search": {"vector_store_ids": ["vs"]}}},
        {"tool_resources": {"code_interpreter": None}},
        {"tool_resources": None},
        {"metadata": {"a": "b", "user": None}, "tool_resources": {"file_search": {"vector_store_ids": []}}},
    ],
)
def test_modify_is_one_update_item_in_the_common_case(store, calls, body):
    store.update(DEFAULT_PROJECT, BASIC.id, patch_of(body))
    assert calls == ["UpdateItem"]


def test_removing_keys_from_a_full_thread_is_one_call(store, calls):
    updated = store.update(DEFAULT_PROJECT, FULL.id, patch_of({"metadata": {"key01": None, "key16": None}}))
    assert len(updated.metadata) == 14
    assert calls == ["UpdateItem"]


def test_near_limit_path_is_at_most_two_calls(store, calls):
    updated = store.update(DEFAULT_PROJECT, FULL.id, patch_of({"metadata": {"key05": "changed"}}))
    assert updated.metadata["key05"] == "changed"
    assert 1 <= len(calls) <= 2
    assert set(calls) <= {"UpdateItem", "GetItem"}


@pytest.mark.parametrize("fixture", [BASIC, FULL, EMPTY], ids=["basic", "full", "empty"])
def test_a_big_patch_of_nulls(store, calls, fixture):
    body = {"metadata": {f"gone{i}": None for i in range(40)}}
    updated = store.update(DEFAULT_PROJECT, fixture.id, patch_of(body))
    assert updated.metadata == fixture.metadata
    assert updated.tool_resources == fixture.tool_resources
    assert updated.version == fixture.version + 1
    assert len(calls) <= 2
    assert store.get(DEFAULT_PROJECT, fixture.id) == updated


def test_a_big_patch_that_replaces_every_pair(store, calls):
    body = {"metadata": {**{f"key{i:02d}": None for i in range(1, 17)}, **{f"gone{i}": None for i in range(10)}}}
    body["metadata"].update({f"new{i:02d}": "v" for i in range(16)})
    updated = store.update(DEFAULT_PROJECT, FULL.id, patch_of(body))
    assert updated.metadata == {f"new{i:02d}": "v" for i in range(16)}
    assert updated.version == FULL.version + 1
    assert len(calls) <= 2


def test_a_big_patch_with_tools_and_metadata(store):
    body = {
        "metadata": {**{f"gone{i}": None for i in range(40)}, "user": None, "x": "y"},
        "tool_resources": {"code_interpreter": None, "file_search": {"vector_store_ids": ["vs_9"]}},
    }
    updated = store.update(DEFAULT_PROJECT, BASIC.id, patch_of(body))
    assert (updated.metadata, updated.tool_resources) == reference_merge(BASIC.metadata, BASIC.tool_resources, body)


def test_concurrent_updates_of_different_keys_both_land(new_store):
    first, second = new_store(), new_store()
    first.update(DEFAULT_PROJECT, EMPTY.id, patch_of({"metadata": {"a": "1"}}))
    second.update(DEFAULT_PROJECT, EMPTY.id, patch_of({"metadata": {"b": "2"}}))
    thread = first.get(DEFAULT_PROJECT, EMPTY.id)
    assert thread.metadata == {"a": "1", "b": "2"} and thread.version == EMPTY.version + 2


def test_a_smaller_limit_is_honoured(new_store):
    store = new_store(max_metadata_pairs=2)
    with pytest.raises(MetadataLimitExceeded) as raised:
        store.update(DEFAULT_PROJECT, BASIC.id, patch_of({"metadata": {"c": "3"}}))
    assert raised.value.count == 3
    assert store.update(DEFAULT_PROJECT, BASIC.id, patch_of({"metadata": {"user": None, "c": "3"}})).metadata == {
        "topic": "billing",
        "c": "3",
    }


# --------------------------------------------------------------------------------------------------------------
# Property: a random sequence of valid patches through the store is the sequence of reference merges.

ASTRAL = st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, exclude_categories=("Cs",))
POOL = [f"p{i}" for i in range(22)] + ["a.b", "[0]", "#md", "version", "𝄞" * 64]
keys = st.one_of(st.sampled_from(POOL), st.text(min_size=1, max_size=64), st.text(ASTRAL, min_size=1, max_size=64))
values = st.one_of(st.text(max_size=20), st.sampled_from(("", "x" * 512, "😀" * 512)))
resource_ids = st.one_of(st.text(min_size=1, max_size=128), st.sampled_from(("file-a", "vs_a")))
LIST_MAX = {"file_ids": 20, "vector_store_ids": 1}


def tool_patch(tool):
    name = TOOL_ID_LISTS[tool]
    return st.one_of(
        st.none(),
        st.just({}),
        st.fixed_dictionaries({name: st.one_of(st.none(), st.lists(resource_ids, max_size=LIST_MAX[name]))}),
    )


bodies = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.one_of(
            st.none(),
            st.dictionaries(keys, st.one_of(st.none(), values), max_size=8),
            st.dictionaries(st.sampled_from(POOL), st.one_of(st.none(), values), min_size=1, max_size=4),
            st.dictionaries(st.sampled_from(POOL), st.one_of(st.none(), values), min_size=5, max_size=20),
            st.dictionaries(keys, st.none(), min_size=33, max_size=40),  # the large-patch path
        ),
        "tool_resources": st.one_of(
            st.none(),
            st.fixed_dictionaries({}, optional={tool: tool_patch(tool) for tool in TOOL_ID_LISTS}),
        ),
    },
)
start_metadata = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(POOL), keys), values, max_size=16),
    st.dictionaries(st.sampled_from(POOL), values, min_size=13, max_size=16),  # near the limit
)
start_tools = st.fixed_dictionaries(
    {},
    optional={
        tool: st.lists(resource_ids, max_size=LIST_MAX[name]).map(lambda ids, name=name: {name: ids})
        for tool, name in TOOL_ID_LISTS.items()
    },
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(start_metadata, start_tools, st.lists(bodies, min_size=1, max_size=8))
def test_store_follows_the_reference_merge(new_store, calls, metadata, tools, patches):
    store = new_store()
    made = calls
    thread = store.create(DEFAULT_PROJECT, metadata, tools)
    expected_md, expected_tr, version = metadata, tools, 1
    try:
        for body in patches:
            patch = patch_of(body)
            if patch.is_empty():
                continue  # the route answers an empty patch with a read, never an update
            merged_md, merged_tr = reference_merge(expected_md, expected_tr, body)
            per_key = len(patch.metadata_set) + len(patch.metadata_remove) <= 32
            has_room = len(expected_md) <= 16 - len(patch.metadata_set)
            made.clear()
            if len(merged_md) > 16:
                with pytest.raises(MetadataLimitExceeded) as raised:
                    store.update(DEFAULT_PROJECT, thread.id, patch)
                assert raised.value.count == len(merged_md)
                event("a patch refused: over 16 pairs")
            else:
                thread = store.update(DEFAULT_PROJECT, thread.id, patch)
                expected_md, expected_tr, version = merged_md, merged_tr, version + 1
                assert (thread.metadata, thread.tool_resources, thread.version) == (expected_md, expected_tr, version)
            assert len(made) <= 2
            event(
                f"{len(made)} call(s), {'per-key' if per_key else 'large'} patch, "
                f"{'room' if has_room else 'near limit'}"
            )
            if per_key and (not patch.metadata_set or has_room):
                assert made == ["UpdateItem"]  # the common case: one round trip
            stored = store.get(DEFAULT_PROJECT, thread.id)
            assert (stored.metadata, stored.tool_resources, stored.version) == (expected_md, expected_tr, version)
            assert len(stored.metadata) <= 16
    finally:
        store.delete(DEFAULT_PROJECT, thread.id)


# --------------------------------------------------------------------------------------------------------------
# The near-limit path when the thread changes between the read and the write.


def _changed_before_each_merge_write(client, change, times: int):
    """Make `change` (through another client) just before each of the next `times` merge writes."""
    made = []

    def before_update(params, **_):
        if "#version = :seen" in params["ConditionExpression"] and len(made) < times:
            made.append(change(len(made)))

    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", before_update)
    return made


def _bump(dynamodb, key: str):
    def change(i: int):
        dynamodb.update_item(
            TableName=TABLE_NAME,
            Key={"thread_id": {"S": FULL.id}},
            UpdateExpression="SET #md.#k = :v, #version = #version + :one",
            ExpressionAttributeNames={"#md": "metadata", "#k": key, "#version": "version"},
            ExpressionAttributeValues={":v": {"S": f"concurrent{i}"}, ":one": {"N": "1"}},
        )

    return change


def own_client(dynamodb):
    """A client of its own on the same storage, so hooks on it do not see the test's direct writes."""
    import boto3

    from local.storage import EMBEDDED_AWS

    return boto3.client(
        "dynamodb",
        endpoint_url=dynamodb.meta.endpoint_url,
        region_name=dynamodb.meta.region_name,
        aws_access_key_id=EMBEDDED_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMBEDDED_AWS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def own_store(dynamodb, new_store):
    """A store on a client of its own."""
    return new_store(own_client(dynamodb))


def test_a_change_between_read_and_write_is_merged_again_not_lost(own_store, dynamodb):
    made = _changed_before_each_merge_write(own_store._client, _bump(dynamodb, "key02"), times=1)
    updated = own_store.update(DEFAULT_PROJECT, FULL.id, patch_of({"metadata": {"key01": None, "new": "v"}}))
    assert len(made) == 1
    expected = {k: v for k, v in FULL.metadata.items() if k != "key01"} | {"key02": "concurrent0", "new": "v"}
    assert updated.metadata == expected
    assert updated.version == FULL.version + 2  # the concurrent write and this one, each counted once


def test_a_change_that_fills_the_thread_meanwhile_is_refused(own_store, dynamodb):
    _changed_before_each_merge_write(own_store._client, _bump(dynamodb, "sneaked"), times=1)
    with pytest.raises(MetadataLimitExceeded) as raised:
        own_store.update(DEFAULT_PROJECT, FULL.id, patch_of({"metadata": {"key01": None, "new": "v"}}))
    assert raised.value.count == 17
    stored = own_store.get(DEFAULT_PROJECT, FULL.id)
    assert "new" not in stored.metadata and stored.metadata["key01"] == FULL.metadata["key01"]


def test_a_thread_that_keeps_changing_gives_up_as_unavailable(own_store, dynamodb):
    made = _changed_before_each_merge_write(own_store._client, _bump(dynamodb, "key02"), times=100)
    with pytest.raises(StorageUnavailable):
        own_store.update(DEFAULT_PROJECT, FULL.id, patch_of({"metadata": {"key01": None, "new": "v"}}))
    assert len(made) == 5
    stored = own_store.get(DEFAULT_PROJECT, FULL.id)
    assert "new" not in stored.metadata and stored.version == FULL.version + 5


def test_a_thread_deleted_between_read_and_merge_write_is_not_found(own_store, dynamodb):
    def delete(_: int):
        ThreadStore(dynamodb, TABLE_NAME).delete(DEFAULT_PROJECT, FULL.id)

    made = _changed_before_each_merge_write(own_store._client, delete, times=1)
    with pytest.raises(ThreadNotFound) as raised:
        own_store.update(DEFAULT_PROJECT, FULL.id, patch_of({"metadata": {"key01": None, "new": "v"}}))
    assert len(made) == 1 and raised.value.args == (FULL.id,)
    assert "metadata" not in raw_item(dynamodb, FULL.id)  # the tombstone stays one


def test_without_the_item_sent_back_a_merge_conflict_is_read_again(dynamodb):
    """A storage that never sends the stored item with a failed condition (the switch off): the merge reads the
    thread again by its id, and merges on what it finds."""
    client = own_client(dynamodb)
    store = ThreadStore(client, TABLE_NAME, returns_item_on_failure=False)
    made = _changed_before_each_merge_write(client, _bump(dynamodb, "key02"), times=1)
    updated = store.update(DEFAULT_PROJECT, FULL.id, patch_of({"metadata": {"key01": None, "new": "v"}}))
    assert len(made) == 1 and updated.metadata["key02"] == "concurrent0" and updated.metadata["new"] == "v"
    assert updated.version == FULL.version + 2


def test_an_if_match_merge_overtaken_between_read_and_write_is_412(own_store, dynamodb):
    """Near the limit, an If-Match write is merged on the version read; if another write lands before the merge's
    write, the thread is no longer at a version If-Match names: 412, not a merge on the new version."""
    made = _changed_before_each_merge_write(own_store._client, _bump(dynamodb, "key02"), times=1)
    with pytest.raises(PreconditionFailed):
        own_store.update(DEFAULT_PROJECT, FULL.id, patch_of({"metadata": {"key01": "x"}}), frozenset({FULL.version}))
    assert len(made) == 1
    stored = own_store.get(DEFAULT_PROJECT, FULL.id)
    assert stored.metadata["key01"] == FULL.metadata["key01"] and stored.version == FULL.version + 1


def test_a_resent_merge_write_overtaken_by_another_answers_its_own_version(request, own_store, new_store):
    """The merge's write is applied, its answer lost, another write lands, then botocore resends it: recognised,
    and answered with the version the merge made, not the one stored now. (Applying a request in the send hook
    is moto's: on dynalite the hook cannot apply it.)"""
    if request.node.callspec.params["dynamodb"] != "moto":
        pytest.skip("the write is applied in botocore's send hook, which only moto serves")
    import botocore.exceptions
    from moto.core.models import botocore_stubber

    client, resent = own_store._client, []

    def apply_then_lose(request, event_name, **_):
        if b"#version = :seen" not in request.body:
            return None
        if resent:
            return None
        resent.append(True)
        botocore_stubber(event_name=event_name, request=request)  # applied...
        new_store().update(DEFAULT_PROJECT, FULL.id, patch_of({"metadata": {"key02": "overtaking"}}))  # overtaken...
        raise botocore.exceptions.ReadTimeoutError(endpoint_url=request.url)  # ...and its answer lost

    client.meta.events.register("before-send.dynamodb", apply_then_lose)
    try:
        updated = own_store.update(DEFAULT_PROJECT, FULL.id, patch_of({"metadata": {"key01": None, "new": "v"}}))
    finally:
        client.meta.events.unregister("before-send.dynamodb", apply_then_lose)
    assert resent and updated.version == FULL.version + 1
    stored = own_store.get(DEFAULT_PROJECT, FULL.id)
    assert stored.version == FULL.version + 2 and stored.metadata["new"] == "v" and "key01" not in stored.metadata
    assert stored.metadata["key02"] == "overtaking"


@pytest.fixture
def bare_moto(monkeypatch):
    """moto with no table at all, and none of the caller's AWS settings."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def test_create_threads_table_matches_template_and_is_reused(bare_moto):
    create_threads_table(bare_moto, "threads-test")
    table = bare_moto.describe_table(TableName="threads-test")["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == table_definition()["KeySchema"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    bare_moto.put_item(TableName="threads-test", Item={"thread_id": {"S": "thread_kept"}})
    create_threads_table(bare_moto, "threads-test")
    assert bare_moto.list_tables()["TableNames"] == ["threads-test"]
    assert "Item" in bare_moto.get_item(TableName="threads-test", Key={"thread_id": {"S": "thread_kept"}})
