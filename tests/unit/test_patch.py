"""The merge rule of Modify thread (contract, "Modify"): a JSON Merge Patch (RFC 7396) of `metadata` and
`tool_resources`, held to a plain reference implementation of RFC 7396."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference import reference_metadata, reference_tool_resources
from threads_api.models import TOOL_ID_LISTS, CreateThreadRequest, ModifyThreadRequest
from threads_api.patch import ThreadPatch


def holds_operation(body: dict | None) -> bool:
    """Whether a (valid) modify body asks for any change at all."""
    if not body:
        return False
    if "metadata" in body and (body["metadata"] is None or body["metadata"]):
        return True
    if "tool_resources" in body:
        resources = body["tool_resources"]
        if resources is None:
            return True
        for tool, resource in resources.items():
            if resource is None or TOOL_ID_LISTS[tool] in resource:
                return True
    return False


def merged(stored_metadata: dict, stored_tools: dict, body: dict | None) -> tuple[dict, dict]:
    request = None if body is None else ModifyThreadRequest.model_validate(body)
    return ThreadPatch.from_request(request).apply(stored_metadata, stored_tools)


# --------------------------------------------------------------------------------------------------------------
# Strategies: valid stored threads and valid modify bodies.

ASTRAL = st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, exclude_categories=("Cs",))
TRICKY_KEYS = ("a", ".", "a.b", "[0]", "[key]", "#md", ":m0", "metadata", "version", "thread_id", " ", "\x00", "𝄞")
keys = st.one_of(
    st.text(min_size=1, max_size=64),
    st.text(ASTRAL, min_size=1, max_size=64),
    st.text(ASTRAL, min_size=64, max_size=64),
    st.sampled_from(TRICKY_KEYS),
)
values = st.one_of(
    st.text(max_size=512),
    st.text(ASTRAL, max_size=20),
    st.sampled_from(("", "x" * 512, "😀" * 512)),
)
resource_ids = st.one_of(st.text(min_size=1, max_size=128), st.sampled_from(("file-abc", "vs_abc", "😀" * 128)))
LIST_MAX = {"file_ids": 20, "vector_store_ids": 1}

stored_metadata = st.dictionaries(keys, values, max_size=16)
stored_tool_resources = st.fixed_dictionaries(
    {},
    optional={
        tool: st.lists(resource_ids, max_size=LIST_MAX[name]).map(lambda ids, name=name: {name: ids})
        for tool, name in TOOL_ID_LISTS.items()
    },
)


def tool_patch(tool: str):
    name = TOOL_ID_LISTS[tool]
    return st.one_of(
        st.none(),  # the tool given as null
        st.just({}),  # {"code_interpreter": {}} changes nothing
        st.fixed_dictionaries({name: st.one_of(st.none(), st.lists(resource_ids, max_size=LIST_MAX[name]))}),
    )


tool_resources_patches = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={tool: tool_patch(tool) for tool in TOOL_ID_LISTS}),
)


def metadata_patches(known_keys=()):
    key = st.one_of(keys, st.sampled_from(sorted(known_keys))) if known_keys else keys
    return st.one_of(st.none(), st.dictionaries(key, st.one_of(st.none(), values), max_size=20))


def modify_bodies(known_keys=()):
    return st.fixed_dictionaries(
        {}, optional={"metadata": metadata_patches(known_keys), "tool_resources": tool_resources_patches}
    )


@st.composite
def stored_and_body(draw):
    metadata = draw(stored_metadata)
    tools = draw(stored_tool_resources)
    body = draw(modify_bodies(metadata.keys()))
    return metadata, tools, body


# --------------------------------------------------------------------------------------------------------------
# Examples of the rule.

STORED_MD = {"user": "alice", "topic": "billing"}
STORED_TR = {"code_interpreter": {"file_ids": ["file-a", "file-b"]}, "file_search": {"vector_store_ids": ["vs_1"]}}


@pytest.mark.parametrize(
    ("body", "metadata"),
    [
        ({"metadata": {"user": "bob"}}, {"user": "bob", "topic": "billing"}),
        ({"metadata": {"team": "x"}}, {"user": "alice", "topic": "billing", "team": "x"}),
        ({"metadata": {"user": None}}, {"topic": "billing"}),
        ({"metadata": {"absent": None}}, STORED_MD),
        ({"metadata": {"user": None, "topic": None}}, {}),
        ({"metadata": {"user": None, "team": "x"}}, {"topic": "billing", "team": "x"}),
        ({"metadata": {"user": ""}}, {"user": "", "topic": "billing"}),
        ({"metadata": {}}, STORED_MD),
        ({"metadata": None}, {}),
        ({}, STORED_MD),
        ({"tool_resources": None}, STORED_MD),
    ],
)
def test_metadata_merge(body, metadata):
    assert merged(STORED_MD, STORED_TR, body)[0] == metadata


@pytest.mark.parametrize(
    ("body", "tool_resources"),
    [
        (
            {"tool_resources": {"code_interpreter": {"file_ids": ["file-c"]}}},
            {"code_interpreter": {"file_ids": ["file-c"]}, "file_search": {"vector_store_ids": ["vs_1"]}},
        ),
        (  # arrays are replaced whole, never merged element by element
            {"tool_resources": {"code_interpreter": {"file_ids": ["file-b"]}}},
            {"code_interpreter": {"file_ids": ["file-b"]}, "file_search": {"vector_store_ids": ["vs_1"]}},
        ),
        (  # an empty list is a list, and is shown
            {"tool_resources": {"code_interpreter": {"file_ids": []}}},
            {"code_interpreter": {"file_ids": []}, "file_search": {"vector_store_ids": ["vs_1"]}},
        ),
        ({"tool_resources": {"code_interpreter": {"file_ids": None}}}, {"file_search": {"vector_store_ids": ["vs_1"]}}),
        ({"tool_resources": {"code_interpreter": None}}, {"file_search": {"vector_store_ids": ["vs_1"]}}),
        ({"tool_resources": {"file_search": None}}, {"code_interpreter": {"file_ids": ["file-a", "file-b"]}}),
        (
            {"tool_resources": {"file_search": {"vector_store_ids": None}}},
            {"code_interpreter": {"file_ids": ["file-a", "file-b"]}},
        ),
        ({"tool_resources": {"code_interpreter": None, "file_search": None}}, {}),
        ({"tool_resources": {"code_interpreter": {}}}, STORED_TR),
        ({"tool_resources": {"code_interpreter": {}, "file_search": {}}}, STORED_TR),
        ({"tool_resources": {}}, STORED_TR),
        ({"tool_resources": None}, {}),
        ({"metadata": None}, STORED_TR),
        ({}, STORED_TR),
    ],
)
def test_tool_resources_merge(body, tool_resources):
    assert merged(STORED_MD, STORED_TR, body)[1] == tool_resources


@pytest.mark.parametrize(
    ("body", "tool_resources"),
    [
        (
            {"tool_resources": {"file_search": {"vector_store_ids": ["vs_2"]}}},
            {"file_search": {"vector_store_ids": ["vs_2"]}},
        ),
        ({"tool_resources": {"file_search": {"vector_store_ids": []}}}, {"file_search": {"vector_store_ids": []}}),
        ({"tool_resources": {"file_search": {}}}, {}),  # no list: nothing to show
        ({"tool_resources": {"file_search": None}}, {}),
        ({"tool_resources": {"file_search": {"vector_store_ids": None}}}, {}),
        ({"tool_resources": None}, {}),
    ],
)
def test_tool_resources_merge_on_a_thread_without_tools(body, tool_resources):
    assert merged({}, {}, body)[1] == tool_resources


def test_null_and_set_in_one_body():
    body = {
        "metadata": {"user": None, "new": "v"},
        "tool_resources": {"code_interpreter": None, "file_search": {"vector_store_ids": ["vs_2"]}},
    }
    assert merged(STORED_MD, STORED_TR, body) == (
        {"topic": "billing", "new": "v"},
        {"file_search": {"vector_store_ids": ["vs_2"]}},
    )


def test_from_request_operations():
    body = {
        "metadata": {"a": "1", "b": None},
        "tool_resources": {"code_interpreter": {"file_ids": ["f"]}, "file_search": {"vector_store_ids": None}},
    }
    patch = ThreadPatch.from_request(ModifyThreadRequest.model_validate(body))
    assert patch.metadata_set == {"a": "1"}
    assert patch.metadata_remove == frozenset({"b"})
    assert not patch.metadata_clear
    assert patch.tools_set == {"code_interpreter": {"file_ids": ["f"]}}
    assert patch.tools_remove == frozenset({"file_search"})
    assert not patch.tools_clear
    cleared = ThreadPatch.from_request(ModifyThreadRequest.model_validate({"metadata": None, "tool_resources": None}))
    assert cleared.metadata_clear and cleared.tools_clear
    assert not (cleared.metadata_set or cleared.metadata_remove or cleared.tools_set or cleared.tools_remove)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"metadata": {}},
        {"tool_resources": {}},
        {"tool_resources": {"code_interpreter": {}}},
        {"tool_resources": {"file_search": {}}},
        {"tool_resources": {"code_interpreter": {}, "file_search": {}}},
        {"metadata": {}, "tool_resources": {"code_interpreter": {}}},
    ],
)
def test_empty_patches(body):
    request = None if body is None else ModifyThreadRequest.model_validate(body)
    patch = ThreadPatch.from_request(request)
    assert patch.is_empty()
    assert patch.apply(STORED_MD, STORED_TR) == (STORED_MD, STORED_TR)


@pytest.mark.parametrize(
    "body",
    [
        {"metadata": None},
        {"metadata": {"absent": None}},  # removes nothing, but is an operation
        {"metadata": {"user": "alice"}},  # sets the value already there: still an operation
        {"tool_resources": None},
        {"tool_resources": {"code_interpreter": None}},
        {"tool_resources": {"code_interpreter": {"file_ids": None}}},
        {"tool_resources": {"code_interpreter": {"file_ids": []}}},
        {"tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}}},
    ],
)
def test_non_empty_patches(body):
    assert not ThreadPatch.from_request(ModifyThreadRequest.model_validate(body)).is_empty()


def test_apply_leaves_its_inputs_untouched():
    metadata, tools = copy.deepcopy(STORED_MD), copy.deepcopy(STORED_TR)
    body = {
        "metadata": {"user": None, "x": "y"},
        "tool_resources": {"code_interpreter": {"file_ids": ["z"]}, "file_search": None},
    }
    merged_md, merged_tr = merged(metadata, tools, body)
    assert (metadata, tools) == (STORED_MD, STORED_TR)
    merged_md["extra"] = "1"
    merged_tr.setdefault("code_interpreter", {})["file_ids"].append("w")
    assert (metadata, tools) == (STORED_MD, STORED_TR)


def test_create_body_is_a_patch_of_an_empty_thread():
    body = {
        "messages": [],
        "metadata": {"a": "1"},
        "tool_resources": {
            "code_interpreter": {"file_ids": ["f"]},
            "file_search": {"vector_store_ids": ["vs"], "vector_stores": []},
        },
    }
    patch = ThreadPatch.from_request(CreateThreadRequest.model_validate(body))
    assert patch.apply({}, {}) == (
        {"a": "1"},
        {"code_interpreter": {"file_ids": ["f"]}, "file_search": {"vector_store_ids": ["vs"]}},
    )
    only_vector_stores = CreateThreadRequest.model_validate({"tool_resources": {"file_search": {"vector_stores": []}}})
    assert ThreadPatch.from_request(only_vector_stores).apply({}, {}) == ({}, {})
    assert ThreadPatch.from_request(
        CreateThreadRequest.model_validate({"metadata": None, "tool_resources": None})
    ).apply({}, {}) == ({}, {})


def test_astral_and_tricky_keys_are_plain_keys():
    stored = {"𝄞" * 64: "a", "a.b": "b", "[key]": "c"}
    body = {"metadata": {"𝄞" * 64: None, "a.b": "B", "[0]": "d"}}
    assert merged(stored, {}, body)[0] == {"a.b": "B", "[key]": "c", "[0]": "d"}


# --------------------------------------------------------------------------------------------------------------
# Properties against the reference model.


@settings(max_examples=300, deadline=None)
@given(stored_and_body())
def test_merge_is_rfc7396(case):
    metadata, tools, body = case
    body = json.loads(json.dumps(body))  # exactly what arrives on the wire
    before = copy.deepcopy((metadata, tools))
    merged_md, merged_tr = merged(metadata, tools, body)
    assert merged_md == reference_metadata(metadata, body)
    assert merged_tr == reference_tool_resources(tools, body)
    assert (metadata, tools) == before


@settings(max_examples=300, deadline=None)
@given(stored_and_body())
def test_is_empty_exactly_when_the_body_holds_no_operation(case):
    _, _, body = case
    patch = ThreadPatch.from_request(ModifyThreadRequest.model_validate(body))
    assert patch.is_empty() == (not holds_operation(body))


@settings(max_examples=200, deadline=None)
@given(stored_and_body())
def test_an_empty_patch_changes_nothing(case):
    metadata, tools, body = case
    patch = ThreadPatch.from_request(ModifyThreadRequest.model_validate(body))
    if patch.is_empty():
        assert patch.apply(metadata, tools) == (metadata, tools)


@settings(max_examples=150, deadline=None)
@given(stored_metadata, stored_tool_resources, st.lists(modify_bodies(TRICKY_KEYS), min_size=1, max_size=4))
def test_a_sequence_of_patches_is_the_sequence_of_merges(metadata, tools, bodies):
    expected_md, expected_tr = metadata, tools
    for body in bodies:
        metadata, tools = merged(metadata, tools, body)
        expected_md = reference_metadata(expected_md, body)
        expected_tr = reference_tool_resources(expected_tr, body)
        assert (metadata, tools) == (expected_md, expected_tr)


@settings(max_examples=100, deadline=None)
@given(stored_metadata, stored_tool_resources)
def test_merging_the_thread_onto_nothing_gives_the_thread(metadata, tools):
    """A body that states every key and every list reproduces them on an empty thread."""
    body = {"metadata": metadata, "tool_resources": tools}
    assert merged({}, {}, body) == (metadata, tools)
