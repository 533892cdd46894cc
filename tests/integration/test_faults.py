"""Storage faults, through the Lambda entry point: what a throttled, unreachable or misbehaving DynamoDB makes of
each operation, and the DynamoDB client's time budget.

The contract's "Errors" table: storage throttled or unavailable is a 503 (type `server_error`) with
`Retry-After`; anything unexpected is a generic 500, with no internals in the body and the full error in the log
under the request id. Faults are injected on the function's own DynamoDB client with a `before-send` hook, so
botocore's retry handler sees them as it would see DynamoDB's own answers (a hook on `before-send.dynamodb` runs
ahead of moto's generic one); every attempt of the chosen call fails, and the backoff sleep between attempts is
recorded instead of slept. After every fault the stored threads are what they were.

The budget is measured end to end against a real, silent server on loopback. A write DynamoDB applied whose
answer was lost, then resent by botocore, is answered as the success it was, and applied once.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import botocore.endpoint
import botocore.exceptions
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse

from local.embedded import IDEMPOTENCY_TABLE_NAME, KEYS_TABLE_NAME, TABLE_NAME, embedded_dynamodb
from local.fixtures import API_KEY, BASIC, DEFAULT_PROJECT, FULL, OTHER_API_KEY, seed_fixture_threads
from local.table import load_template
from threads_api import errors

ENDPOINT = "https://dynamodb.us-east-1.amazonaws.com"
SECRET_DETAIL = "internal detail 7f3a: table threads-local, arn:aws:dynamodb:us-east-1:123456789012"

# DynamoDB's own error answers: code -> HTTP status.
THROTTLED = {
    "ProvisionedThroughputExceededException": 400,
    "ThrottlingException": 400,
    "RequestLimitExceeded": 400,
    "LimitExceededException": 400,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
}
UNEXPECTED = {"ValidationException": 400, "AccessDeniedException": 400}
# The network's: raised by the HTTP layer instead of an answer.
UNREACHABLE = {
    "ReadTimeoutError": lambda: botocore.exceptions.ReadTimeoutError(endpoint_url=ENDPOINT),
    "ConnectTimeoutError": lambda: botocore.exceptions.ConnectTimeoutError(endpoint_url=ENDPOINT),
    "EndpointConnectionError": lambda: botocore.exceptions.EndpointConnectionError(endpoint_url=ENDPOINT),
    "ConnectionClosedError": lambda: botocore.exceptions.ConnectionClosedError(endpoint_url=ENDPOINT),
}
RETRIED = [*THROTTLED, *UNREACHABLE]  # answered 503, after the client's second attempt
ALL_FAULTS = [*RETRIED, *UNEXPECTED]

INJECTED = {"faults": 0}  # every failed attempt, over the whole module (reported at its end)


# --------------------------------------------------------------------------------------------------------------
# The embedded DynamoDB, once for the module (a fault changes nothing, and the fixture threads are put back).


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[object]:
    """Overrides conftest's: one embedded DynamoDB for the module, so that the `invoke` fixture is cheap here."""
    with embedded_dynamodb() as client:
        yield client


@pytest.fixture(scope="module")
def _session():
    """One botocore session for the module's function clients: a client made from it costs a few milliseconds
    instead of loading DynamoDB's service model again."""
    return botocore.session.get_session()


@pytest.fixture(autouse=True)
def _fresh(request, monkeypatch):
    """The fixture threads as they were, and a new function client (no cached key, a full retry quota)."""
    from threads_api import resources

    if "dynamodb" in request.fixturenames:
        seed_fixture_threads(request.getfixturevalue("dynamodb"), TABLE_NAME)
        session = request.getfixturevalue("_session")
        monkeypatch.setattr(botocore.session, "get_session", lambda: session)
    resources.reset()
    yield
    resources.reset()


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\ntest_faults: {INJECTED['faults']} faulted DynamoDB attempts injected")


def snapshot(dynamodb) -> dict:
    """Every stored item of the threads table, by id: the whole of what a fault must not change."""
    items = dynamodb.scan(TableName=TABLE_NAME, ConsistentRead=True)["Items"]
    return {item["thread_id"]["S"]: item for item in items}


# --------------------------------------------------------------------------------------------------------------
# Injecting faults.


class _Raw:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data


def dynamodb_error(url: str, code: str, status: int) -> AWSResponse:
    """DynamoDB's answer for an error, as it is on the wire (JSON 1.0, the code in `__type`)."""
    data = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": SECRET_DETAIL}).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "Content-Length": str(len(data)),
        "x-amzn-RequestId": uuid.uuid4().hex,
    }
    return AWSResponse(url, status, headers, _Raw(data))


@dataclass
class Fault:
    operation: str  # "PutItem", ...
    table: str
    kind: str  # a DynamoDB error code, or a network fault of UNREACHABLE
    skip: int = 0  # calls of that operation on that table let through first
    times: int | None = None  # attempts to fail; None: all of them
    seen: int = 0
    failed: int = 0


@dataclass(eq=False)
class Injector:
    """A before-send hook on a client: the calls a `Fault` names fail, every other reaches the storage."""

    client: object
    faults: list[Fault] = field(default_factory=list)
    sent: list[tuple[str, str]] = field(default_factory=list)  # (operation, table) of every attempt
    bodies: list[dict] = field(default_factory=list)
    calls: set = field(default_factory=set)

    def __post_init__(self) -> None:
        self.client.meta.events.register("before-send.dynamodb", self)

    def close(self) -> None:
        self.client.meta.events.unregister("before-send.dynamodb", self)
        self.faults = []

    def attempts(self, operation: str, table: str) -> int:
        return self.sent.count((operation, table))

    def __call__(self, request, **_):
        operation = request.headers["X-Amz-Target"].decode().rpartition(".")[2]
        body = json.loads(request.body or b"{}")
        table = body.get("TableName", "")
        call = request.headers["amz-sdk-invocation-id"]  # one per call, the same on each of its attempts
        first_attempt = call not in self.calls
        self.calls.add(call)
        self.sent.append((operation, table))
        self.bodies.append(body)
        for fault in self.faults:
            if (fault.operation, fault.table) != (operation, table):
                continue
            if first_attempt:
                fault.seen += 1
            if fault.seen <= fault.skip or (fault.times is not None and fault.failed >= fault.times):
                continue
            fault.failed += 1
            INJECTED["faults"] += 1
            if fault.kind in UNREACHABLE:
                raise UNREACHABLE[fault.kind]()
            status = {**THROTTLED, **UNEXPECTED}.get(fault.kind, 400)
            # Handlers later in the chain still run (moto's among them): a URL no storage serves keeps this
            # attempt from reaching it, as a refused request never reaches the table.
            request.url = "http://fault-injected.invalid/"
            return dynamodb_error(request.url, fault.kind, status)
        return None


@pytest.fixture
def inject(monkeypatch):
    """inject(Fault, ...) -> Injector on the function's DynamoDB client; backoff sleeps are recorded, not slept."""
    from threads_api import resources

    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=slept.append))
    made: list[Injector] = []

    def start(*faults: Fault) -> Injector:
        injector = Injector(resources.dynamodb_client(), list(faults))
        injector.slept = slept
        made.append(injector)
        return injector

    yield start
    for injector in made:
        injector.close()


@pytest.fixture
def logged():
    """The function's JSON log lines (Powertools), parsed, as the test goes."""
    import app

    records: list[str] = []
    collector = logging.Handler()
    collector.emit = lambda record: records.append(app.logger.registered_formatter.format(record))
    app.logger.addHandler(collector)

    class Lines:
        def entries(self) -> list[dict]:
            return [json.loads(line) for line in records]

    yield Lines()
    app.logger.removeHandler(collector)


def key_checked(invoke) -> None:
    """One request first, so that the caller's key is cached and the faults below hit the thread calls."""
    assert invoke("GET", f"/v1/threads/{BASIC.id}").status == 200


def envelope_of(result) -> dict:
    assert set(result.json) == {"error"}
    assert set(result.json["error"]) == {"message", "type", "param", "code"}
    return result.json["error"]


def assert_unavailable(result) -> None:
    assert result.status == 503, result
    assert result.headers["retry-after"] == "1"
    assert result.json == errors.storage_unavailable().envelope()
    assert result.headers["content-type"] == "application/json" and result.headers["x-request-id"]


def assert_generic_500(result, fault: str) -> None:
    assert result.status == 500, result
    assert result.json == errors.internal_error().envelope()
    assert "retry-after" not in result.headers
    raw = result.raw["body"]
    for internal in (fault, SECRET_DETAIL, "Traceback", "botocore", TABLE_NAME, 'File "'):
        assert internal not in raw


def assert_logged(logged, request_id: str, fault: str, level: str) -> None:
    """The full error is in the log, under the request's id."""
    mine = [entry for entry in logged.entries() if entry.get("correlation_id") == request_id]
    assert mine, logged.entries()
    assert any(entry["level"] == level for entry in mine), mine
    if level == "ERROR":
        assert any(fault in entry.get("exception", "") for entry in mine), mine
        assert any(SECRET_DETAIL in entry.get("exception", "") for entry in mine if fault in UNEXPECTED)
    else:
        assert any(fault in json.dumps(entry) for entry in mine), mine


# --------------------------------------------------------------------------------------------------------------
# Each operation, each fault.


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    body: dict | None
    call: tuple[str, str]  # the DynamoDB call that fails: (operation, table)
    skip: int = 0  # earlier calls of the same operation and table let through
    idempotent: bool = False  # sends an Idempotency-Key
    cached_key: bool = True  # the key checked before the fault (False: the fault hits the key lookup)


OPERATIONS = {
    "create": Operation("POST", "/v1/threads", {"metadata": {"a": "1"}}, ("PutItem", TABLE_NAME)),
    "retrieve": Operation("GET", f"/v1/threads/{BASIC.id}", None, ("GetItem", TABLE_NAME)),
    "modify": Operation("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "b"}}, ("UpdateItem", TABLE_NAME)),
    # A full thread: the first UpdateItem's condition fails and the merge is written by a second one.
    "modify-merge-write": Operation(
        "POST", f"/v1/threads/{FULL.id}", {"metadata": {"key01": "x"}}, ("UpdateItem", TABLE_NAME), skip=1
    ),
    "modify-if-match": Operation(
        "POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "b"}}, ("UpdateItem", TABLE_NAME)
    ),
    "delete": Operation("DELETE", f"/v1/threads/{BASIC.id}", None, ("UpdateItem", TABLE_NAME)),  # to a tombstone
    "delete-if-match": Operation("DELETE", f"/v1/threads/{BASIC.id}", None, ("UpdateItem", TABLE_NAME)),
    "create-idempotent-record": Operation(
        "POST", "/v1/threads", {"metadata": {"a": "1"}}, ("PutItem", IDEMPOTENCY_TABLE_NAME), idempotent=True
    ),
    "create-idempotent-thread": Operation(
        "POST", "/v1/threads", {"metadata": {"a": "1"}}, ("PutItem", TABLE_NAME), idempotent=True
    ),
    "key-lookup": Operation("GET", f"/v1/threads/{BASIC.id}", None, ("GetItem", KEYS_TABLE_NAME), cached_key=False),
}


def send(invoke, operation: Operation, request_id: str, idempotency_key: str | None = None):
    headers = {}
    if operation.idempotent:
        headers["idempotency-key"] = idempotency_key or f"faults-{uuid.uuid4()}"
    if operation in (OPERATIONS["modify-if-match"], OPERATIONS["delete-if-match"]):
        headers["if-match"] = '"1"'
    return invoke(operation.method, operation.path, operation.body, headers=headers, request_id=request_id)


@pytest.mark.parametrize("fault", ALL_FAULTS)
@pytest.mark.parametrize("name", OPERATIONS)
def test_a_fault_answers_the_contracts_error_and_changes_nothing(invoke, dynamodb, inject, logged, name, fault):
    operation = OPERATIONS[name]
    if operation.cached_key:
        key_checked(invoke)
    before = snapshot(dynamodb)
    injector = inject(Fault(*operation.call, fault, skip=operation.skip))
    request_id = f"req-{uuid.uuid4()}"
    key = f"faults-{uuid.uuid4()}"
    result = send(invoke, operation, request_id, key)
    assert result.headers["x-request-id"] == request_id

    attempts = injector.attempts(*operation.call) - operation.skip
    if fault in RETRIED:
        assert_unavailable(result)
        assert attempts == 2  # the client's budget: one retry, then the 503
        assert len(injector.slept) == 1 and 0 <= injector.slept[0] <= 1  # one backoff of at most 1 s
        assert_logged(logged, request_id, fault, "WARNING")
    else:
        assert_generic_500(result, fault)
        assert attempts == 1  # not retried: it would fail the same way
        assert injector.slept == []
        assert_logged(logged, request_id, fault, "ERROR")
    injector.close()
    assert snapshot(dynamodb) == before  # no thread made, changed or deleted

    if operation.idempotent:  # a failure is not remembered: the same key and body now create the thread
        retried = send(invoke, operation, f"req-{uuid.uuid4()}", key)
        assert retried.status == 200 and retried.json["metadata"] == {"a": "1"}
        assert len(snapshot(dynamodb)) == len(before) + 1


@pytest.mark.parametrize("fault", ["ThrottlingException", "ReadTimeoutError"])
def test_one_failed_attempt_is_retried_and_answered(invoke, dynamodb, inject, fault):
    """Within the budget: the second attempt succeeds, and the caller never knows."""
    key_checked(invoke)
    injector = inject(Fault("UpdateItem", TABLE_NAME, fault, times=1))
    result = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "b"}})
    assert result.status == 200 and result.headers["etag"] == '"2"'
    assert injector.attempts("UpdateItem", TABLE_NAME) == 2 and len(injector.slept) == 1


@pytest.mark.parametrize("fault", ALL_FAULTS)
def test_a_fault_when_an_idempotent_create_is_recorded(invoke, dynamodb, inject, fault):
    """The thread is written, then recording the answer fails. The caller gets the error (503 or 500); the same
    key meanwhile is "in flight" (409, retried by the client), never a second thread. The thread written stays,
    unacknowledged (the record's in-progress state expires with the invocation's deadline)."""
    key_checked(invoke)
    before = snapshot(dynamodb)
    injector = inject(Fault("UpdateItem", IDEMPOTENCY_TABLE_NAME, fault))
    operation = OPERATIONS["create-idempotent-record"]
    key = f"recorded-late-{uuid.uuid4()}"
    result = send(invoke, operation, f"req-{uuid.uuid4()}", key)
    if fault in RETRIED:
        assert_unavailable(result)
    else:
        assert_generic_500(result, fault)
    injector.close()
    assert len(snapshot(dynamodb)) == len(before) + 1
    again = send(invoke, operation, f"req-{uuid.uuid4()}", key)
    assert again.status == 409 and again.headers["retry-after"] == "1"
    assert envelope_of(again)["code"] == "idempotency_key_in_progress"
    assert len(snapshot(dynamodb)) == len(before) + 1


def test_the_503_and_the_500_say_what_the_contract_says(invoke, dynamodb, inject):
    key_checked(invoke)
    injector = inject(Fault("GetItem", TABLE_NAME, "ThrottlingException"))
    throttled = invoke("GET", f"/v1/threads/{BASIC.id}")
    injector.close()
    assert throttled.status == 503 and throttled.headers["retry-after"] == "1"
    assert throttled.json == {
        "error": {
            "message": "The service is temporarily unable to store or read threads. Please retry your request shortly.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    injector = inject(Fault("GetItem", TABLE_NAME, "ValidationException"))
    failed = invoke("GET", f"/v1/threads/{BASIC.id}")
    injector.close()
    assert failed.status == 500 and "retry-after" not in failed.headers
    assert failed.json == {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }


# --------------------------------------------------------------------------------------------------------------
# ConditionalCheckFailed where it is not the answer the store expects.


def test_a_new_id_that_is_taken_leaves_that_thread_alone(invoke, dynamodb, monkeypatch):
    """The id generator draws an existing thread's id once: the create's condition keeps that thread as it was,
    and the create draws again."""
    from threads_api import store
    from threads_api.thread import new_thread_id

    key_checked(invoke)
    before = snapshot(dynamodb)
    drawn = iter([BASIC.id])
    monkeypatch.setattr(store, "new_thread_id", lambda: next(drawn, None) or new_thread_id())
    result = invoke("POST", "/v1/threads", {"metadata": {"a": "1"}})
    assert result.status == 200 and result.json["id"] != BASIC.id and result.json["metadata"] == {"a": "1"}
    after = snapshot(dynamodb)
    assert after[BASIC.id] == before[BASIC.id]
    assert set(after) == set(before) | {result.json["id"]}


def test_a_taken_id_on_create_is_drawn_again(invoke, dynamodb, inject):
    key_checked(invoke)
    before = snapshot(dynamodb)
    injector = inject(Fault("PutItem", TABLE_NAME, "ConditionalCheckFailedException", times=1))
    result = invoke("POST", "/v1/threads", {"metadata": {"a": "1"}})
    assert result.status == 200 and result.json["metadata"] == {"a": "1"}
    tried = [body["Item"]["thread_id"]["S"] for body in injector.bodies if body.get("TableName") == TABLE_NAME]
    assert len(tried) == 2 and tried[0] != tried[1] and tried[1] == result.json["id"]
    assert set(snapshot(dynamodb)) == set(before) | {result.json["id"]}


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotent"])
def test_three_taken_ids_in_a_row_are_a_generic_500(invoke, dynamodb, inject, logged, idempotent):
    key_checked(invoke)
    before = snapshot(dynamodb)
    injector = inject(Fault("PutItem", TABLE_NAME, "ConditionalCheckFailedException"))
    operation = OPERATIONS["create-idempotent-thread" if idempotent else "create"]
    request_id = f"req-{uuid.uuid4()}"
    key = f"three-taken-{uuid.uuid4()}"
    result = send(invoke, operation, request_id, key)
    assert_generic_500(result, "ConditionalCheckFailedException")
    assert injector.attempts("PutItem", TABLE_NAME) == 3
    assert any(
        "new thread ids in a row were taken" in entry.get("exception", "")
        for entry in logged.entries()
        if entry.get("correlation_id") == request_id
    )
    injector.close()
    assert snapshot(dynamodb) == before
    if idempotent:
        assert send(invoke, operation, f"req-{uuid.uuid4()}", key).status == 200


def test_a_condition_failure_on_modify_is_resolved_by_a_read_and_applied_once(invoke, dynamodb, inject, monkeypatch):
    """On a storage that never sends the stored item back (dynalite, behind the switch), an UpdateItem refused
    without it is resolved by a read: the store reads, merges, writes once."""
    from threads_api import resources

    monkeypatch.setenv(resources.RETURNS_ITEM_VARIABLE, "false")
    resources.reset()
    key_checked(invoke)
    injector = inject(Fault("UpdateItem", TABLE_NAME, "ConditionalCheckFailedException", times=1))
    result = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "b"}})
    assert result.status == 200 and result.headers["etag"] == '"2"'
    assert result.json["metadata"] == {**BASIC.metadata, "a": "b"}
    assert [call for call in injector.sent if call[1] == TABLE_NAME] == [
        ("UpdateItem", TABLE_NAME),
        ("GetItem", TABLE_NAME),
        ("UpdateItem", TABLE_NAME),
    ]
    stored = snapshot(dynamodb)[BASIC.id]
    assert stored["version"] == {"N": "2"}


def test_on_dynamodb_a_condition_failure_without_an_item_is_a_missing_thread(invoke, dynamodb, inject):
    """DynamoDB sends the stored item back with a failed condition, so none means none: a 404 with no read."""
    key_checked(invoke)
    before = snapshot(dynamodb)
    injector = inject(Fault("UpdateItem", TABLE_NAME, "ConditionalCheckFailedException", times=1))
    result = invoke("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "b"}})
    assert result.status == 404 and result.json == {"error": errors.thread_not_found(BASIC.id).envelope()["error"]}
    assert [call for call in injector.sent if call[1] == TABLE_NAME] == [("UpdateItem", TABLE_NAME)]
    assert snapshot(dynamodb) == before


# --------------------------------------------------------------------------------------------------------------
# A write that DynamoDB applied, whose answer was lost (a read timeout after the request reached it).


class AppliedThenLost:
    """A before-send hook: the first attempt of the chosen call reaches the storage (moto applies it), then its
    answer is lost as a read timeout; botocore's retry sends the same write again."""

    def __init__(self, client, operation: str, skip: int = 0, between=None):
        from moto.core.models import botocore_stubber

        self.storage = botocore_stubber
        self.client = client
        self.operation = operation
        self.skip = skip  # earlier calls of the operation let through
        self.between = between  # run after the write is applied, before its resend: another writer
        self.seen: list[str] = []
        self.lost = 0
        self.resent = 0
        client.meta.events.register("before-send.dynamodb", self)

    def close(self) -> None:
        self.client.meta.events.unregister("before-send.dynamodb", self)

    def __call__(self, request, event_name, **_):
        target = request.headers["X-Amz-Target"].decode().rpartition(".")[2]
        if target != self.operation or json.loads(request.body)["TableName"] != TABLE_NAME:
            return None
        call = request.headers["amz-sdk-invocation-id"]  # one per call, the same on each of its attempts
        if call not in self.seen:
            self.seen.append(call)
        if self.seen.index(call) != self.skip:
            return None
        if self.lost:
            self.resent += 1
            return None
        self.lost += 1
        INJECTED["faults"] += 1
        self.storage(event_name=event_name, request=request)  # applied...
        if self.between is not None:
            self.between()
        raise botocore.exceptions.ReadTimeoutError(endpoint_url=request.url)  # ...and the answer lost


LOST = [
    "modify",
    "modify-if-match",
    "modify-merge-write",
    "create",
    "create-idempotent-thread",
    "delete",
    "delete-if-match",
]


@pytest.mark.parametrize("name", LOST)
def test_a_write_applied_whose_answer_was_lost_counts_once(invoke, dynamodb, monkeypatch, name):
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda seconds: None))
    from threads_api import resources

    key_checked(invoke)
    before = snapshot(dynamodb)
    operation = OPERATIONS[name]
    lost = AppliedThenLost(resources.dynamodb_client(), operation.call[0], skip=operation.skip)
    try:
        result = send(invoke, operation, f"req-{uuid.uuid4()}")
    finally:
        lost.close()
    assert lost.lost == 1 and lost.resent == 1
    after = snapshot(dynamodb)
    assert result.status == 200, result
    if name.startswith("create"):
        made = result.json["id"]
        assert set(after) == set(before) | {made}  # one thread made, the one answered
        assert result.headers["etag"] == '"1"' and after[made]["metadata"] == {"M": {"a": {"S": "1"}}}
    elif name.startswith("delete"):
        assert result.json == {"id": BASIC.id, "object": "thread.deleted", "deleted": True}
        assert after[BASIC.id]["version"] == {"N": "2"} and "deleted_at" in after[BASIC.id]
        assert invoke("GET", operation.path).status == 404
    else:
        thread = FULL if name == "modify-merge-write" else BASIC
        assert result.headers["etag"] == '"2"' and after[thread.id]["version"] == {"N": "2"}
        assert invoke("GET", operation.path).json == result.json


def test_a_resent_write_overtaken_by_another_does_not_undo_it(invoke, dynamodb, monkeypatch):
    """A sets k=A (applied, its answer lost); B sets k=B (acknowledged); A's resend arrives: it is recognised as
    applied, so B's acknowledged value stays, and A's answer names the version A's write made."""
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda seconds: None))
    from threads_api import resources

    key_checked(invoke)
    path = f"/v1/threads/{BASIC.id}"
    answers = {}

    def writer_b() -> None:
        answers["B"] = invoke("POST", path, {"metadata": {"k": "B"}}, headers={"authorization": f"Bearer {API_KEY}"})

    lost = AppliedThenLost(resources.dynamodb_client(), "UpdateItem", between=writer_b)
    try:
        answers["A"] = invoke("POST", path, {"metadata": {"k": "A"}})
    finally:
        lost.close()
    assert lost.lost == 1 and lost.resent == 1
    assert answers["B"].status == 200 and answers["B"].headers["etag"] == '"3"'
    assert answers["A"].status == 200 and answers["A"].headers["etag"] == '"2"'
    stored = invoke("GET", path)
    assert stored.json["metadata"]["k"] == "B" and stored.headers["etag"] == '"3"'
    assert snapshot(dynamodb)[BASIC.id]["version"] == {"N": "3"}


# --------------------------------------------------------------------------------------------------------------
# The key lookup.


@pytest.mark.parametrize("fault", ["ThrottlingException", "EndpointConnectionError", "ValidationException"])
def test_a_failed_key_lookup_is_not_cached(invoke, inject, fault):
    """The key lookup fails: 503 (or 500), and nothing is cached; the next request looks the key up again."""
    other_project = {"authorization": f"Bearer {OTHER_API_KEY}"}
    injector = inject(Fault("GetItem", KEYS_TABLE_NAME, fault))
    result = invoke("GET", f"/v1/threads/{BASIC.id}", headers=other_project)
    if fault in RETRIED:
        assert_unavailable(result)
    else:
        assert_generic_500(result, fault)
    injector.close()
    again = invoke("GET", f"/v1/threads/{BASIC.id}", headers=other_project)
    assert again.status == 404  # looked up afresh: a valid key, of a project that does not own the thread
    assert injector.attempts("GetItem", KEYS_TABLE_NAME) == (2 if fault in RETRIED else 1)


# --------------------------------------------------------------------------------------------------------------
# The client's budget.


def attempts_of(config) -> int:
    retries = config.retries or {}
    if "total_max_attempts" in retries:
        return retries["total_max_attempts"]
    return retries["max_attempts"] + 1


MAX_BACKOFF_SECONDS = 1.0  # botocore's standard mode, one retry: rand(0, 1) * min(2 ** 0, 20)


def call_budget() -> float:
    """The longest one DynamoDB call can take before the client gives up."""
    from threads_api.dynamodb import CLIENT_CONFIG as config

    attempts = attempts_of(config)
    return (config.connect_timeout + config.read_timeout) * attempts + MAX_BACKOFF_SECONDS * (attempts - 1)


def test_the_client_has_explicit_timeouts_and_a_small_retry_budget():
    from threads_api.dynamodb import CLIENT_CONFIG as config

    assert config.connect_timeout and config.read_timeout  # never botocore's 60 s defaults
    assert config.retries["mode"] == "standard"
    assert 2 <= attempts_of(config) <= 3
    assert call_budget() <= 4
    timeout = load_template()["Resources"]["ThreadsFunction"]["Properties"]["Timeout"]
    assert 2 * call_budget() < timeout < 30  # two calls fit in the function, the function in API Gateway's 30 s


def test_the_client_made_is_the_configured_one():
    from threads_api import dynamodb, resources

    client = resources.dynamodb_client()
    assert client.meta.config.connect_timeout == dynamodb.CLIENT_CONFIG.connect_timeout
    assert client.meta.config.read_timeout == dynamodb.CLIENT_CONFIG.read_timeout
    assert client.meta.config.retries == dynamodb.CLIENT_CONFIG.retries


class SilentDynamoDB:
    """A DynamoDB endpoint on loopback that answers the fixture key's lookup at once and never answers anything
    else: it reads the request and holds the connection open, as a DynamoDB that stopped answering would."""

    def __init__(self, answer_keys: bool = True):
        self.answer_keys = answer_keys
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[str] = []
        self.connections: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                target = ""
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                    if name.strip().lower() == "x-amz-target":
                        target = value.strip().rpartition(".")[2]
                while len(buffer) < length:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                body, buffer = json.loads(buffer[:length]), buffer[length:]
                self.requests.append(f"{target} {body.get('TableName')}")
                if self.answer_keys and target == "GetItem" and body.get("TableName") == KEYS_TABLE_NAME:
                    item = {
                        "key_hash": body["Key"]["key_hash"],
                        "project": {"S": DEFAULT_PROJECT},
                        "key_id": {"S": "key_silentserver"},
                        "created_at": {"N": "1764028800"},
                        "revoked": {"BOOL": False},
                    }
                    data = json.dumps({"Item": item}).encode()
                    connection.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
                        b"x-amzn-RequestId: silent\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data)
                    )
                    continue
                while connection.recv(65536):  # silence, until the client gives up and closes
                    pass
                return
        except OSError:
            return

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for connection in self.connections:
            connection.close()


def point_function_at(monkeypatch, url: str) -> None:
    """The function's environment, as the template sets it, with its DynamoDB at `url` (outside moto)."""
    for name, value in {
        "AWS_ENDPOINT_URL_DYNAMODB": url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": TABLE_NAME,
        "KEYS_TABLE_NAME": KEYS_TABLE_NAME,
        "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE_NAME,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.fixture
def silent_dynamodb(monkeypatch):
    """The function pointed at a SilentDynamoDB, with a new client made for it (reset() drops the old one)."""
    from threads_api import resources

    server = SilentDynamoDB()
    point_function_at(monkeypatch, server.url)
    resources.reset()
    try:
        yield server
    finally:
        resources.reset()
        server.close()


def handle(method: str, path: str, body=None, api_key: str = "sk-local-example"):
    import app
    from local.events import LambdaContext, http_event

    event = http_event(method, path, body, headers={"authorization": f"Bearer {api_key}"})
    response = app.lambda_handler(event, LambdaContext())
    return response["statusCode"], response.get("headers", {}), json.loads(response["body"])


def test_a_dynamodb_that_never_answers_is_a_503_within_the_budget(silent_dynamodb):
    from threads_api.dynamodb import CLIENT_CONFIG as DYNAMODB_CONFIG

    assert handle("GET", "/v1/nothing")[0] == 404  # the key is looked up (answered) and cached
    assert silent_dynamodb.requests == [f"GetItem {KEYS_TABLE_NAME}"]
    started = time.monotonic()
    status, headers, answer = handle("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"a": "b"}})
    elapsed = time.monotonic() - started
    assert status == 503 and headers["Retry-After"] == "1"
    assert answer == errors.storage_unavailable().envelope()
    attempts = attempts_of(DYNAMODB_CONFIG)
    assert len(silent_dynamodb.requests) == 1 + attempts  # every attempt reached the server, then it gave up
    assert attempts * DYNAMODB_CONFIG.read_timeout * 0.9 <= elapsed <= call_budget() + 0.5, elapsed
    INJECTED["faults"] += attempts


def test_a_key_lookup_that_never_answers_is_a_503_within_the_budget(silent_dynamodb):
    from threads_api.dynamodb import CLIENT_CONFIG as DYNAMODB_CONFIG

    silent_dynamodb.answer_keys = False
    started = time.monotonic()
    status, headers, answer = handle("GET", f"/v1/threads/{BASIC.id}")
    elapsed = time.monotonic() - started
    assert status == 503 and headers["Retry-After"] == "1"
    assert answer == errors.storage_unavailable().envelope()
    attempts = attempts_of(DYNAMODB_CONFIG)
    assert silent_dynamodb.requests == [f"GetItem {KEYS_TABLE_NAME}"] * attempts
    assert attempts * DYNAMODB_CONFIG.read_timeout * 0.9 <= elapsed <= call_budget() + 0.5, elapsed
    INJECTED["faults"] += attempts


def test_a_refused_connection_is_a_503_at_once(monkeypatch):
    """Nothing listens on the port: the connection is refused, and the answer is a 503 well inside the budget."""
    from threads_api import resources

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    point_function_at(monkeypatch, f"http://127.0.0.1:{port}")
    resources.reset()
    try:
        started = time.monotonic()
        status, headers, answer = handle("GET", f"/v1/threads/{BASIC.id}")
        assert time.monotonic() - started < call_budget()
    finally:
        resources.reset()
    assert status == 503 and headers["Retry-After"] == "1"
    assert answer == errors.storage_unavailable().envelope()
