"""Writes applied exactly once, with lost answers among concurrent writers.

Several writers change one thread at once through ThreadStore, on moto. The storage applies each request whole,
one at a time, and loses the answer of randomly chosen first attempts after applying them (a read timeout), so
botocore sends the same write again. Afterwards, from the answers alone:

- every applied write was acknowledged, each with a version of its own: the versions are exactly 2 .. the final
  one (a resend applied again would leave a version no answer names);
- replaying the acknowledged patches in version order gives the stored thread (nothing lost or applied twice);
- an answer that was not lost shows exactly the replayed metadata of its version.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import botocore.endpoint
import botocore.exceptions
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.embedded import TABLE_NAME
from local.fixtures import DEFAULT_PROJECT
from tests.reference import reference_metadata
from threads_api.exceptions import MetadataLimitExceeded, PreconditionFailed, StorageUnavailable
from threads_api.models import ModifyThreadRequest
from threads_api.patch import ThreadPatch
from threads_api.store import ThreadStore

WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
KEYS = [f"k{i}" for i in range(18)]  # more than 16: some writes are refused for the pair limit


class LossyStorage:
    """A before-send hook on the client: moto applies every request, one at a time; the first attempt of a write
    call made while the calling thread's `lose` flag is set loses its answer after being applied."""

    def __init__(self, client):
        from moto.core.models import botocore_stubber

        self.apply = botocore_stubber
        self.client = client
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.local = threading.local()
        self.lost = 0
        client.meta.events.register("before-send.dynamodb", self)

    def close(self) -> None:
        self.client.meta.events.unregister("before-send.dynamodb", self)

    def __call__(self, request, event_name, **_):
        operation = request.headers["X-Amz-Target"].decode().rpartition(".")[2]
        call = request.headers["amz-sdk-invocation-id"]
        with self.lock:
            first_attempt = call not in self.seen
            self.seen.add(call)
            response = self.apply(event_name=event_name, request=request)
            lose = first_attempt and operation in WRITES and getattr(self.local, "lose", False)
            self.lost += lose
        if lose:
            raise botocore.exceptions.ReadTimeoutError(endpoint_url=request.url)
        return response


@dataclass
class Write:
    writer: int
    patch: dict
    if_match: bool
    lose: bool
    status: str = ""
    version: int | None = None
    metadata: dict | None = None


values = st.one_of(st.none(), st.sampled_from(["x", "y", "z"]))
small_patch = st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=4)
large_patch = st.builds(  # over 32 keys: merged here and written whole
    lambda removed, kept: {**{f"gone{i}": None for i in range(33)}, **removed, **kept},
    st.dictionaries(st.sampled_from(KEYS), st.none(), max_size=3),
    st.dictionaries(st.sampled_from(KEYS), st.just("big"), max_size=2),
)
write = st.tuples(
    st.one_of(small_patch, small_patch, small_patch, large_patch), st.booleans(), st.booleans()
)  # patch, If-Match on the version last seen, lose the answer
writers = st.lists(st.lists(write, min_size=1, max_size=5), min_size=2, max_size=4)


@pytest.fixture
def lossless_backoff(monkeypatch):
    monkeypatch.setattr(botocore.endpoint, "time", type("NoSleep", (), {"sleep": staticmethod(lambda _: None)}))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=writers, start=st.dictionaries(st.sampled_from(KEYS), st.just("s"), max_size=6))
def test_lost_answers_among_concurrent_writers(dynamodb, lossless_backoff, plan, start):
    store = ThreadStore(dynamodb, TABLE_NAME)
    thread = store.create(DEFAULT_PROJECT, start, {})
    storage = LossyStorage(dynamodb)
    done = [[Write(n, patch, if_match, lose) for patch, if_match, lose in steps] for n, steps in enumerate(plan)]
    barrier = threading.Barrier(len(done))

    def run(entries: list[Write]) -> None:
        seen = thread.version
        barrier.wait()
        for entry in entries:
            patch = ThreadPatch.from_request(ModifyThreadRequest.model_validate({"metadata": entry.patch}))
            storage.local.lose = entry.lose
            try:
                expected = frozenset({seen}) if entry.if_match else None
                answered = store.update(DEFAULT_PROJECT, thread.id, patch, expected)
            except (MetadataLimitExceeded, PreconditionFailed, StorageUnavailable) as refused:
                entry.status = type(refused).__name__
                seen = store.get(DEFAULT_PROJECT, thread.id).version
                continue
            finally:
                storage.local.lose = False
            entry.status, entry.version, entry.metadata = "ok", answered.version, answered.metadata
            seen = answered.version

    workers = [threading.Thread(target=run, args=(entries,)) for entries in done]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
    finally:
        storage.close()
    final = store.get(DEFAULT_PROJECT, thread.id)
    acknowledged = sorted(
        (entry for entries in done for entry in entries if entry.status == "ok"), key=lambda e: e.version
    )

    assert [entry.version for entry in acknowledged] == list(range(2, final.version + 1))
    metadata = dict(start)
    for entry in acknowledged:
        metadata = reference_metadata(metadata, {"metadata": entry.patch})
        if not entry.lose:
            assert entry.metadata == metadata, entry
    assert metadata == final.metadata
