"""Races over real HTTP: many clients modifying one thread at once, through the local endpoint.

24 clients, each with a connection of its own, are released together on one fresh thread. First each sets a
key of its own: exactly 16 can fit, so exactly 8 must get the 400 too-many. Then, released together again,
each makes a fixed, seeded mix of writes: its own key set again, a key all of them share, its own key deleted,
and If-Match writes (read the ETag, then write on condition of it; 412 allowed). A reader retrieves the thread
all along.

Afterwards, from the answers alone:
- every acknowledged (200) write has its own version, and the versions are exactly 2 .. the final one: each
  applied write counted once, and none applied without being acknowledged;
- replaying the acknowledged patches in version order on an empty map gives, after each, exactly the metadata
  that write answered with, never more than 16 pairs, and at the end the thread's metadata: no acknowledged
  write is lost or reordered;
- every retrieve shows exactly the replayed state of the version it shows;
- an If-Match write that applied was applied on the version it named.
The only other answer allowed is a 503 for a write that was not applied (which the version check proves): a
write near the 16-pair limit that loses the race for the thread five times in a row gives up with one.

On dynalite (the `http_server` fixture) and on the local endpoint's embedded moto.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx2
import pytest

from local.fixtures import API_KEY
from local.launch import local_endpoint

CLIENTS = 24
STEPS = 5  # writes per client after the first
MAX_PAIRS = 16
TOO_MANY = "object_above_max_properties"
COUNTS: dict[str, dict[str, int]] = {}


@pytest.fixture(scope="module")
def embedded_server():
    """The local endpoint on its embedded moto."""
    with local_endpoint() as server:
        yield server


@dataclass
class Write:
    client: int
    kind: str  # own, shared, delete, if-match, first
    patch: dict
    status: int = 0
    version: int | None = None  # from the answer's ETag
    metadata: dict | None = None
    code: str | None = None
    read_version: int | None = None  # If-Match: the version read, and named


@dataclass
class Seen:
    version: int
    metadata: dict


def http_client(server) -> httpx2.Client:
    return httpx2.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)


def version_of(response) -> int:
    return int(response.headers["etag"].strip('"'))


def warm(server, thread_id: str) -> None:
    """Start every execution environment before the race: a cold start that overruns the function's timeout
    is a 500 of the local runtime, not of the service, and would leave a write's outcome unknown."""

    def retrieve(_: int) -> int:
        with http_client(server) as http:
            return http.get(f"/threads/{thread_id}").status_code

    statuses: list[int] = []
    for _ in range(5):
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(retrieve, range(8)))
        if all(status == 200 for status in statuses):
            return
    pytest.fail(f"the local endpoint did not warm up: {statuses}")


def write(http: httpx2.Client, thread_id: str, entry: Write, if_match: int | None = None) -> Write:
    headers = {} if if_match is None else {"If-Match": f'"{if_match}"'}
    response = http.post(f"/threads/{thread_id}", json=entry.patch, headers=headers)
    entry.status = response.status_code
    if response.status_code == 200:
        entry.version = version_of(response)
        entry.metadata = response.json()["metadata"]
    else:
        entry.code = response.json()["error"]["code"]
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1"
    return entry


def apply(metadata: dict, patch: dict) -> dict:
    merged = dict(metadata)
    for key, value in patch["metadata"].items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


@pytest.mark.parametrize("storage", ["dynalite", "embedded"])
def test_many_clients_modifying_one_thread(storage, request):
    server = request.getfixturevalue("http_server" if storage == "dynalite" else "embedded_server")
    with http_client(server) as http:
        created = http.post("/threads", json={})
        assert created.status_code == 200 and version_of(created) == 1
        thread_id = created.json()["id"]
    warm(server, thread_id)

    writes: list[Write] = []
    seen: list[Seen] = []
    lock = threading.Lock()
    start, phase_two = threading.Barrier(CLIENTS), threading.Barrier(CLIENTS)
    writers_done = threading.Event()
    failures: list[BaseException] = []

    def record(entry: Write) -> None:
        with lock:
            writes.append(entry)

    def client(index: int) -> None:
        try:
            chooser = random.Random(index)
            with http_client(server) as http:
                start.wait()
                record(write(http, thread_id, Write(index, "first", {"metadata": {f"c{index}": "0"}})))
                phase_two.wait()
                for step in range(1, STEPS + 1):
                    kind = chooser.choice(["own", "shared", "delete", "if-match", "if-match"])
                    if kind == "own":
                        entry = write(http, thread_id, Write(index, kind, {"metadata": {f"c{index}": str(step)}}))
                    elif kind == "shared":
                        entry = write(http, thread_id, Write(index, kind, {"metadata": {"shared": f"{index}-{step}"}}))
                    elif kind == "delete":
                        entry = write(http, thread_id, Write(index, kind, {"metadata": {f"c{index}": None}}))
                    else:
                        read = http.get(f"/threads/{thread_id}")
                        assert read.status_code == 200
                        read_version = version_of(read)
                        with lock:
                            seen.append(Seen(read_version, read.json()["metadata"]))
                        patch = {"metadata": {"shared": f"{index}-{step}-if", f"c{index}": f"{step}-if"}}
                        entry = Write(index, kind, patch, read_version=read_version)
                        write(http, thread_id, entry, if_match=read_version)
                    record(entry)
        except BaseException as error:  # reported below, with the others
            failures.append(error)
            start.abort()
            phase_two.abort()

    def reader() -> None:
        with http_client(server) as http:
            while not writers_done.is_set():
                response = http.get(f"/threads/{thread_id}")
                if response.status_code == 200:
                    with lock:
                        seen.append(Seen(version_of(response), response.json()["metadata"]))
                time.sleep(0.1)

    watcher = threading.Thread(target=reader)
    watcher.start()
    workers = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    writers_done.set()
    watcher.join(timeout=30)
    assert not failures, failures

    with http_client(server) as http:
        final = http.get(f"/threads/{thread_id}")
    final_version, final_metadata = version_of(final), final.json()["metadata"]

    by_status: dict[int, int] = {}
    for entry in writes:
        by_status[entry.status] = by_status.get(entry.status, 0) + 1
    acknowledged = sorted((entry for entry in writes if entry.status == 200), key=lambda entry: entry.version)
    COUNTS[storage] = {
        "clients": CLIENTS,
        "writes": len(writes),
        "acknowledged": len(acknowledged),
        "412": by_status.get(412, 0),
        "400": by_status.get(400, 0),
        "503": by_status.get(503, 0),
        "retrieves": len(seen),
        "final_version": final_version,
    }
    print(f"\ntest_races[{storage}]: {COUNTS[storage]}")

    assert len(writes) == CLIENTS * (1 + STEPS)
    # A 503 is allowed only as a write that was not applied (the checks of versions below prove it was not):
    # near the 16-pair limit a write is merged on a read and written on condition of the version read, and one
    # that loses that race five times in a row gives up with a 503 (the client retries it).
    assert set(by_status) <= {200, 400, 412, 503}, by_status
    for entry in writes:
        if entry.status == 400:
            assert entry.code == TOO_MANY, entry
        if entry.status == 412:
            assert entry.kind == "if-match" and entry.code == "precondition_failed", entry
        if entry.status == 503:
            assert entry.code is None, entry

    # The first round: 24 new keys on an empty thread, exactly 16 fit.
    first = [entry for entry in writes if entry.kind == "first"]
    assert sorted(entry.status for entry in first) == [200] * MAX_PAIRS + [400] * (CLIENTS - MAX_PAIRS)

    # Each applied write counted once: the versions acknowledged are 2 .. final, each once.
    versions = [entry.version for entry in acknowledged]
    assert versions == list(range(2, final_version + 1)), versions
    assert final_version == 1 + len(acknowledged)

    # Replayed in version order, the acknowledged patches give each answer, and the final thread.
    replayed: dict[int, dict] = {1: {}}
    state: dict = {}
    for entry in acknowledged:
        state = apply(state, entry.patch)
        assert len(state) <= MAX_PAIRS
        assert len(entry.metadata) <= MAX_PAIRS
        assert entry.metadata == state, (entry, state)
        replayed[entry.version] = state
        if entry.kind == "if-match":
            assert entry.version == entry.read_version + 1  # applied on the version it named, nowhere else
    assert final_metadata == state

    # Every retrieve, made while the writes went on, shows the replayed state of its version.
    for observed in seen:
        assert observed.metadata == replayed[observed.version], observed
        assert len(observed.metadata) <= MAX_PAIRS

    assert by_status.get(400, 0) >= CLIENTS - MAX_PAIRS
