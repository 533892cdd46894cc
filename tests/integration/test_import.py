"""Import and export (`admin.threads`) on the embedded storage: saved OpenAI threads keep their ids, their
messages' order and every field the client returned; an export gives back what was imported; a refused line
is reported with its line number and the API's text, and only its thread is left out; a second run changes
nothing, and a stopped run is finished by the next."""

from __future__ import annotations

import io
import itertools
import json
import string
import uuid

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admin.threads import Storage, export_project, import_file
from local.client import openai_client
from local.embedded import CONTENT_BUCKET_NAME, MESSAGES_TABLE_NAME, TABLE_NAME
from local.fixtures import BASIC as BASIC_THREAD
from local.fixtures import DEFAULT_PROJECT
from threads_api.transfer import Tables

PROJECT = DEFAULT_PROJECT  # the fixture key's project: what `invoke` and the openai client act for
OTHER = "proj_other"
BASIC = BASIC_THREAD.id
ALNUM = string.ascii_letters + string.digits
EXAMPLES = itertools.count()  # each generated thread's id is its own, in every example


def thread_id(n: int) -> str:
    return f"thread_{n:024d}"


def message_id(n: int) -> str:
    return f"msg_{n:024d}"


def thread_line(tid: str, created_at: int = 1_700_000_000, **fields) -> dict:
    return {"id": tid, "object": "thread", "created_at": created_at, "metadata": {}, "tool_resources": {}, **fields}


def message_line(mid: str, tid: str, created_at: int = 1_700_000_000, text: str = "hi", **fields) -> dict:
    """A message object as the client returned it (the wire shape the service answers, too)."""
    return {
        "id": mid,
        "object": "thread.message",
        "created_at": created_at,
        "thread_id": tid,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": None,
        "incomplete_at": None,
        "role": "user",
        "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
        **fields,
    }


def jsonl(objects: list[dict]) -> bytes:
    return b"".join(json.dumps(o, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for o in objects)


@pytest.fixture
def storage(dynamodb) -> Storage:
    return Storage(dynamodb, boto3.client("s3"), Tables(TABLE_NAME, MESSAGES_TABLE_NAME), CONTENT_BUCKET_NAME)


@pytest.fixture
def run(storage, tmp_path):
    """run(lines or bytes, project=PROJECT) -> (summary, reported lines)."""

    def run_import(content, project: str = PROJECT):
        path = tmp_path / "saved.jsonl"
        path.write_bytes(content if isinstance(content, bytes) else jsonl(content))
        reported: list[str] = []
        return import_file(path, project, storage, workers=3, report=reported.append), reported

    return run_import


def exported(storage, project: str = PROJECT, skip: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    export_project(project, storage, out)
    return b"".join(line + b"\n" for line in out.getvalue().splitlines() if not any(s.encode() in line for s in skip))


FIXTURES = tuple(f"thread_Fixture{name}" for name in ("Basic", "Empty", "Full"))


# The round trip


detail = st.sampled_from(["auto", "low", "high"])
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
annotation = st.fixed_dictionaries(
    {
        "type": st.just("file_citation"),
        "text": text,
        "file_citation": st.fixed_dictionaries({"file_id": st.just("file-abc")}),
        "start_index": st.integers(0, 100),
        "end_index": st.integers(0, 100),
    }
) | st.fixed_dictionaries(
    {
        "type": st.just("file_path"),
        "text": text,
        "file_path": st.fixed_dictionaries({"file_id": st.just("file-xyz")}),
        "start_index": st.integers(0, 100),
        "end_index": st.integers(0, 100),
    }
)
part = (
    st.builds(
        lambda v, a: {"type": "text", "text": {"value": v, "annotations": a}}, text, st.lists(annotation, max_size=2)
    )
    | st.builds(lambda d: {"type": "image_file", "image_file": {"file_id": "file-img", "detail": d}}, detail)
    | st.builds(lambda d: {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": d}}, detail)
)
attachment = st.fixed_dictionaries(
    {
        "file_id": st.just("file-att"),
        "tools": st.lists(st.sampled_from([{"type": "code_interpreter"}, {"type": "file_search"}]), max_size=2),
    }
)
metadata = st.dictionaries(st.text(ALNUM, min_size=1, max_size=8), text, max_size=3)


@st.composite
def saved_threads(draw) -> list[dict]:
    """Threads and their messages in the export's order: each thread, then its messages by created_at."""
    lines: list[dict] = []
    count = 0
    for _ in range(draw(st.integers(1, 3))):
        tid = f"thread_{next(EXAMPLES):08d}" + draw(st.text(ALNUM, min_size=16, max_size=16))
        tools = draw(
            st.sampled_from(
                [{}, {"code_interpreter": {"file_ids": ["file-1"]}}, {"file_search": {"vector_store_ids": ["vs_1"]}}]
            )
        )
        lines.append(
            thread_line(tid, draw(st.integers(0, 2_000_000_000)), metadata=draw(metadata), tool_resources=tools)
        )
        at = draw(st.integers(1_600_000_000, 1_700_000_000))
        for _ in range(draw(st.integers(0, 5))):
            at += draw(st.integers(0, 2))
            count += 1
            run = draw(st.none() | st.just("run_abc"))
            lines.append(
                message_line(
                    f"msg_{count:04d}" + draw(st.text(ALNUM, min_size=20, max_size=20)),
                    tid,
                    at,
                    role="assistant" if run else "user",
                    content=draw(st.lists(part, min_size=1, max_size=3)),
                    attachments=draw(st.lists(attachment, max_size=2)),
                    metadata=draw(metadata),
                    assistant_id="asst_abc" if run else None,
                    run_id=run,
                )
            )
    seen: set[str] = set()
    unique = [line for line in lines if line["object"] != "thread" or not (line["id"] in seen or seen.add(line["id"]))]
    return [line for line in unique if line["object"] == "thread" or line["thread_id"] in seen]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=saved_threads())
def test_export_gives_back_what_was_imported(storage, run, lines):
    project = f"proj_{uuid.uuid4().hex}"  # the examples share one storage
    mine = [line["id"] for line in lines if line["object"] == "thread"]
    summary, reported = run(lines, project)
    assert reported == [] and summary.imported == len(mine)
    expected = sorted_by_thread(lines)
    assert parsed(exported(storage, project)) == expected
    again, reported = run(lines, project)
    assert reported == [] and again.imported == 0 and again.unchanged == len(mine)
    assert parsed(exported(storage, project)) == expected


def parsed(exported: bytes) -> list[dict]:
    return [json.loads(line) for line in exported.splitlines()]


def sorted_by_thread(lines: list[dict]) -> list[dict]:
    """What an export writes: threads in id order, each followed by its messages in file order (created_at)."""
    threads = sorted((line for line in lines if line["object"] == "thread"), key=lambda line: line["id"])
    ordered: list[dict] = []
    for thread in threads:
        ordered.append(thread)
        ordered += [line for line in lines if line.get("thread_id") == thread["id"]]
    return ordered


def test_export_of_an_import_into_an_empty_project_is_the_same_file(storage, run, fixture_messages):
    """Export the fixture project (threads made by the API, with messages), import the file into an empty
    project: its export is the same file, byte for byte."""
    first = exported(storage)
    assert first.count(b"\n") > 3
    summary, reported = run(first, project="proj_empty")
    assert len(reported) == 3 and summary.imported == 0 and summary.refused_threads == 3  # the ids are taken here
    # An empty project of another deployment holds none of them: here, the same threads under ids of their own.
    renamed = first.replace(b"thread_Fixture", b"thread_Another")
    summary, reported = run(renamed, project="proj_empty")
    assert reported == [] and summary.imported == 3
    assert exported(storage, "proj_empty") == renamed


def test_largest_content_goes_to_the_bucket_and_comes_back_whole(storage, run, invoke):
    """256,000 four-byte characters in each of four parts: too large for an item, kept in the content bucket."""
    tid = thread_id(1)
    astral = "\U0001f600" * 256_000
    content = [{"type": "text", "text": {"value": astral, "annotations": []}} for _ in range(4)]
    lines = [thread_line(tid), message_line(message_id(1), tid, content=content)]
    summary, reported = run(lines)
    assert reported == [] and summary.imported == 1
    got = invoke("GET", f"/v1/threads/{tid}/messages/{message_id(1)}").json
    assert got["content"] == content
    assert exported(storage, skip=FIXTURES) == jsonl(lines)


# Order, filters, and the client


def test_messages_list_by_created_at_then_file_order_and_filter_by_run(run, invoke):
    tid = thread_id(2)
    # File order: not created_at order, and three share a second; the thread object comes last.
    lines = [
        message_line(message_id(30), tid, 1_700_000_010, run_id="run_b", assistant_id="asst_1", role="assistant"),
        message_line(message_id(20), tid, 1_700_000_005),
        message_line(message_id(10), tid, 1_700_000_010),
        message_line(message_id(40), tid, 1_700_000_010, run_id="run_b", assistant_id="asst_1", role="assistant"),
        thread_line(tid),
    ]
    summary, reported = run(lines)
    assert reported == [] and summary.imported == 1
    order = [message_id(n) for n in (20, 30, 10, 40)]
    page = invoke("GET", f"/v1/threads/{tid}/messages", query="order=asc").json
    assert [m["id"] for m in page["data"]] == order
    page = invoke("GET", f"/v1/threads/{tid}/messages", query="run_id=run_b").json
    assert [m["id"] for m in page["data"]] == [message_id(40), message_id(30)]
    assert page["data"][0]["assistant_id"] == "asst_1"
    created = invoke("POST", f"/v1/threads/{tid}/messages", {"role": "user", "content": "after"}).json
    assert invoke("GET", f"/v1/threads/{tid}/messages", query="limit=1").json["data"][0]["id"] == created["id"]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_the_openai_client_reads_an_imported_thread_and_auto_pages_its_messages(run, order):
    tid = thread_id(3)
    saved = [message_line(message_id(n), tid, 1_700_000_000 + n // 7, text=f"m{n}") for n in range(45)]
    page = {
        "object": "list",
        "data": saved[:20],
        "first_id": saved[0]["id"],
        "last_id": saved[19]["id"],
        "has_more": True,
    }
    summary, reported = run([thread_line(tid, metadata={"user": "ada"}), page, *saved[20:]])
    assert reported == [] and summary.imported == 1 and summary.messages == 45
    with openai_client() as client:
        thread = client.beta.threads.retrieve(tid)
        assert (thread.id, thread.metadata) == (tid, {"user": "ada"})
        got = [m.id for m in client.beta.threads.messages.list(tid, order=order, limit=7)]
    expected = [m["id"] for m in saved]
    assert got == (expected if order == "asc" else expected[::-1])


# Refusals


def test_each_refused_line_is_reported_with_its_number_and_only_its_thread_is_left_out(run, invoke):
    good, bad = thread_id(4), thread_id(5)
    lines = [
        json.dumps(thread_line(good)),
        json.dumps(message_line(message_id(1), good)),
        json.dumps(thread_line(bad)),
        json.dumps(message_line(message_id(2), bad, metadata={f"k{i}": "v" for i in range(17)})),
        json.dumps(message_line(message_id(3), bad)),
        "{not json",
        json.dumps(thread_line(thread_id(6), id="thread_short")),
    ]
    summary, reported = run(("\n".join(lines) + "\n").encode())
    assert summary.imported == 1
    assert reported == [
        "line 4: Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an"
        f" object with 17 properties instead. ({bad} not imported)",
        "line 7: Invalid 'id': 'thread_short'. Expected an ID of 'thread_' followed by 24 letters and digits."
        " (thread_short not imported)",
    ]  # line 6, which is not JSON, stands among the lines of the thread already refused
    assert invoke("GET", f"/v1/threads/{good}/messages/{message_id(1)}").status == 200
    assert invoke("GET", f"/v1/threads/{bad}").status == 404
    assert invoke("GET", f"/v1/threads/{bad}/messages/{message_id(3)}").status == 404


REFUSED = [
    (
        "content",
        lambda tid: [thread_line(tid), message_line(message_id(1), tid, content=[])],
        "line 2: Invalid 'content': empty array. Expected an array with minimum length 1, but got an empty array"
        " instead.",
    ),
    (
        "annotation",
        lambda tid: [
            thread_line(tid),
            message_line(
                message_id(1),
                tid,
                content=[
                    {
                        "type": "text",
                        "text": {
                            "value": "x",
                            "annotations": [
                                {
                                    "type": "file_citation",
                                    "text": "x",
                                    "file_citation": {"file_id": "f"},
                                    "start_index": -1,
                                    "end_index": 0,
                                }
                            ],
                        },
                    }
                ],
            ),
        ],
        "line 2: Invalid value for 'content[0].text.annotations[0].start_index'.",
    ),
    (
        "role",
        lambda tid: [thread_line(tid), message_line(message_id(1), tid, role="system")],
        "line 2: Invalid value: 'system'.",
    ),
    (
        "text",
        lambda tid: [thread_line(tid), message_line(message_id(1), tid, text="x" * 256_001)],
        "line 2: Invalid 'content[0].text.value': string too long.",
    ),
    (
        "object",
        lambda tid: [thread_line(tid), {**message_line(message_id(1), tid), "object": "thread.run"}],
        "line 2: Invalid value: 'thread.run'.",
    ),
    ("no thread", lambda tid: [message_line(message_id(1), tid)], "line 1: no thread object for"),
    ("two threads", lambda tid: [thread_line(tid), thread_line(tid)], "line 2: a second thread object for"),
    (
        "same message twice",
        lambda tid: [thread_line(tid), message_line(message_id(1), tid), message_line(message_id(1), tid)],
        "line 3: message msg_000000000000000000000001 is in the file twice",
    ),
    ("unknown key", lambda tid: [thread_line(tid, colour="red")], "line 1: Unknown parameter: 'colour'."),
    (
        "vector stores",
        lambda tid: [thread_line(tid, tool_resources={"file_search": {"vector_stores": []}})],
        "line 1: Unknown parameter: 'tool_resources.file_search.vector_stores'.",
    ),
]


@pytest.mark.parametrize(("case", "lines", "start"), REFUSED, ids=[case for case, _, _ in REFUSED])
def test_a_thread_with_a_bad_line_is_not_imported(run, invoke, case, lines, start):
    tid = thread_id(7)
    summary, reported = run(lines(tid))
    assert summary.imported == 0 and summary.refused_threads == 1
    [line] = reported
    assert line.startswith(start), line
    assert line.endswith(f"({tid} not imported)")
    assert invoke("GET", f"/v1/threads/{tid}").status == 404


def test_lines_of_a_thread_apart_are_refused(run):
    a, b = thread_id(8), thread_id(9)
    summary, reported = run([thread_line(a), thread_line(b), message_line(message_id(1), a)])
    assert summary.imported == 2 and summary.refused_lines == 1
    assert reported == [f"line 3: the lines of {a} must stand together; it was read from line 1 without this one"]


def test_an_id_of_another_project_is_refused_and_that_thread_is_not_touched(run, invoke):
    before = invoke("GET", f"/v1/threads/{BASIC}/messages").json
    summary, reported = run([thread_line(BASIC), message_line(message_id(1), BASIC)], project=OTHER)
    assert summary.imported == 0
    assert reported == [f"lines 1-2: {BASIC} exists in another project: it is not imported"]
    assert invoke("GET", f"/v1/threads/{BASIC}/messages").json == before
    assert invoke("GET", f"/v1/threads/{BASIC}/messages/{message_id(1)}").status == 404


def test_a_thread_of_the_project_made_here_or_imported_from_other_lines_is_refused(run, invoke):
    summary, reported = run([thread_line(BASIC)])
    assert reported == [f"line 1: {BASIC} is in the project already and was not imported: it is left as it is"]
    tid = thread_id(10)
    run([thread_line(tid), message_line(message_id(1), tid)])
    summary, reported = run([thread_line(tid), message_line(message_id(1), tid, text="changed")])
    assert summary.imported == 0 and reported[0].startswith(f"lines 1-2: {tid} was imported from other lines")
    assert invoke("GET", f"/v1/threads/{tid}/messages/{message_id(1)}").json["content"][0]["text"]["value"] == "hi"


def test_a_deleted_thread_is_not_imported_over_its_tombstone(run, invoke):
    tid = thread_id(11)
    run([thread_line(tid)])
    assert invoke("DELETE", f"/v1/threads/{tid}").status == 200
    summary, reported = run([thread_line(tid)])
    assert summary.imported == 0 and reported[0].startswith(f"line 1: {tid} was deleted here")


# Interruption


def test_a_stopped_import_is_finished_by_running_it_again(storage, run, invoke, dynamodb):
    """Writes fail after a while (the import stops with the error); the next run finishes every thread, and
    nothing is duplicated or missing. A claim with other lines is emptied before those are written."""
    lines = []
    for t in range(6):
        tid = thread_id(100 + t)
        lines += [
            thread_line(tid),
            *(message_line(message_id(1000 * t + m), tid, 1_700_000_000 + m) for m in range(60)),
        ]
    calls = {"n": 0}

    def fail_after_some(**_):
        calls["n"] += 1
        if calls["n"] > 5:  # raised before the call is sent: that batch is not written
            raise RuntimeError("the machine went away")

    dynamodb.meta.events.register("before-call.dynamodb.BatchWriteItem", fail_after_some)
    with pytest.raises(RuntimeError):
        run(lines)
    dynamodb.meta.events.unregister("before-call.dynamodb.BatchWriteItem", fail_after_some)
    visible = [t for t in range(6) if invoke("GET", f"/v1/threads/{thread_id(100 + t)}").status == 200]
    assert len(visible) < 6
    for t in set(range(6)) - set(visible):  # not there at all: no thread, no message
        assert invoke("GET", f"/v1/threads/{thread_id(100 + t)}/messages").status == 404
    summary, reported = run(lines)
    assert reported == [] and summary.imported + summary.unchanged == 6 and summary.imported == 6 - len(visible)
    assert exported(storage, skip=FIXTURES) == jsonl(lines)
