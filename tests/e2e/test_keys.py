"""API keys (issue 4), through the public entry points: the Lambda handler with real HTTP API events, the official
`openai` client in process and over HTTP, the local endpoint as a process, and the admin command as a subprocess.

What the contract asks ("Errors" and "Projects and keys"): no key, or one
that is not `Bearer <key>`, is a 401 before anything else; a wrong or revoked key is a 401 that shows only a
masked key; a key never sees, changes or deletes another project's thread (the same 404 as a thread that never
existed); keys are stored only as hashes; a revoked key stops working within a bounded time; and secrets never
reach a log.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import openai
import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from local.client import openai_client
from local.embedded import KEYS_TABLE_NAME, TABLE_NAME
from local.fixtures import (
    API_KEY,
    BASIC,
    DEFAULT_PROJECT,
    FIXTURE_THREADS,
    OTHER_API_KEY,
    REVOKED_API_KEY,
    UNKNOWN_ID,
)
from local.launch import (
    BASE_URL_LINE,
    ROOT,
    RunningServer,
    dynamodb_client,
    fixture_keys,
    local_endpoint,
    server_environment,
)
from local.storage import EMBEDDED_AWS
from threads_api.exceptions import InvalidApiKey, MissingApiKey
from threads_api.keys import Authenticator, KeyTable, key_hash, masked, new_secret

# The SDK marks the Assistants API deprecated; every call warns.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MISSING_KEY = {
    "message": "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    "type": "invalid_request_error",
    "param": None,
    "code": None,
}
WRONG_KEY = "sk-wrongkey1234"
SECRET = re.compile(r"^sk-[A-Za-z0-9]{48}$")
EMBEDDED_STORAGE = re.compile(r"storage: embedded \(moto in server mode, in memory, on (http://127\.0\.0\.1:\d+)\)")
CREATED_KEY = re.compile(r"^(key_[A-Za-z0-9]{12}) for project (\S+)\. The key, shown only now:\n(\S+)\n\Z")


def incorrect_key(shown: str) -> dict:
    """The contract's error object for a wrong or revoked key, shown masked."""
    return {
        "message": f"Incorrect API key provided: {shown}.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


def not_found(thread_id: str) -> dict:
    return {
        "message": f"No thread found with id '{thread_id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def all_threads(dynamodb) -> list[dict]:
    """Every stored thread item, whole, in a stable order."""
    items = dynamodb.scan(TableName=TABLE_NAME, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: item["thread_id"]["S"])


def stored(dynamodb, thread_id: str) -> dict | None:
    return dynamodb.get_item(TableName=TABLE_NAME, Key={"thread_id": {"S": thread_id}}, ConsistentRead=True).get("Item")


# Every route, unknown ones included: (method, path, body).
ROUTES = [
    ("POST", "/v1/threads", {"metadata": {"user": "mallory"}}),
    ("GET", f"/v1/threads/{BASIC.id}", None),
    ("POST", f"/v1/threads/{BASIC.id}", {"metadata": {"user": "mallory"}}),
    ("DELETE", f"/v1/threads/{BASIC.id}", None),
    ("GET", "/v1/openapi.json", None),
    ("GET", "/v1/nothing", None),
    ("PATCH", "/v1/threads", None),
]
NOT_BEARER = [None, "Basic abc", "Bearer", "Bearer   ", API_KEY, "Token x", "", f"Basic {API_KEY}"]
TWO_MIB = 2 * 1024 * 1024
FIVE_MIB = 5 * 1024 * 1024
# Requests that a valid key would get another error for: (name, method, path, body, headers, that error's status).
OTHER_ERRORS = [
    ("beta v1 on create", "POST", "/v1/threads", {}, {"openai-beta": "assistants=v1"}, 400),
    ("beta v1 on retrieve", "GET", f"/v1/threads/{BASIC.id}", None, {"openai-beta": "assistants=v1"}, 400),
    ("5 MiB body", "POST", "/v1/threads", '{"metadata": {"a": "' + "x" * FIVE_MIB + '"}}', {}, 413),
    ("2 MiB body on modify", "POST", f"/v1/threads/{BASIC.id}", "x" * TWO_MIB, {}, 413),
    ("invalid JSON", "POST", "/v1/threads", "{not json", {}, 400),
    ("invalid JSON on modify", "POST", f"/v1/threads/{BASIC.id}", '{"metadata": ', {}, 400),
    ("bad thread id", "GET", "/v1/threads/nope", None, {}, 400),
    ("bad thread id on delete", "DELETE", "/v1/threads/nope", None, {}, 400),
    ("unknown field", "POST", f"/v1/threads/{BASIC.id}", {"name": "x"}, {}, 400),
    ("all at once", "POST", "/v1/threads/nope", "{" + " " * TWO_MIB, {"openai-beta": "assistants=v1"}, 400),
]


# 1. No key, or not `Bearer <key>`: 401 before anything else.


@pytest.mark.parametrize("authorization", NOT_BEARER, ids=repr)
def test_a_missing_key_is_a_401_on_every_route(invoke, dynamodb, authorization):
    before = all_threads(dynamodb)
    for method, path, body in ROUTES:
        result = invoke(method, path, body, headers={"authorization": authorization}, request_id=f"req-{method}")
        assert result.status == 401, (method, path, result)
        assert result.json == {"error": MISSING_KEY}, (method, path)
        assert result.headers == {"content-type": "application/json", "x-request-id": f"req-{method}"}
    assert all_threads(dynamodb) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [case[1:] for case in OTHER_ERRORS],
    ids=[case[0] for case in OTHER_ERRORS],
)
def test_a_missing_or_wrong_key_wins_over_every_other_error(invoke, dynamodb, method, path, body, headers, status):
    before = all_threads(dynamodb)
    for authorization in NOT_BEARER:
        result = invoke(method, path, body, headers={**headers, "authorization": authorization})
        assert (result.status, result.json) == (401, {"error": MISSING_KEY}), authorization
        assert result.headers["content-type"] == "application/json" and result.headers["x-request-id"]
    for key, shown in [(WRONG_KEY, "sk-***1234"), (REVOKED_API_KEY, "sk-***-key")]:
        result = invoke(method, path, body, headers={**headers, **bearer(key)})
        assert (result.status, result.json) == (401, {"error": incorrect_key(shown)}), key
    assert all_threads(dynamodb) == before
    assert invoke(method, path, body, headers=headers).status == status  # what the valid key gets instead


# 2. A wrong or revoked key: 401 invalid_api_key, the key masked.


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        (WRONG_KEY, "sk-***1234"),
        ("sk-" + "A" * 45 + "wxyz", "sk-***wxyz"),
        ("12345678", "123***5678"),  # 8 characters: shown masked
        ("1234567", "***"),  # shorter than 8: not shown at all
        ("a", "***"),
        (API_KEY + "x", "sk-***plex"),  # the right key and one more character
        (API_KEY[:-1], "sk-***ampl"),  # the right key but its last character
        ("sk-lőcál-ключ-🔑🔑", "sk-***ч-🔑🔑"),
        (REVOKED_API_KEY, "sk-***-key"),
    ],
)
def test_a_wrong_or_revoked_key_is_a_401_that_shows_it_masked(invoke, dynamodb, key, shown):
    assert masked(key) == shown
    before = all_threads(dynamodb)
    for method, path, body in ROUTES:
        result = invoke(method, path, body, headers=bearer(key), request_id="req-wrong")
        assert (result.status, result.json) == (401, {"error": incorrect_key(shown)}), (method, path)
        assert result.headers == {"content-type": "application/json", "x-request-id": "req-wrong"}
        if len(key) >= 8:
            assert key not in result.raw["body"]
    assert all_threads(dynamodb) == before


def test_the_bearer_scheme_is_case_insensitive_and_spaces_around_the_key_do_not_count(invoke):
    for authorization in [f"bearer {API_KEY}", f"BEARER {API_KEY}", f"Bearer   {API_KEY}  ", f"  Bearer {API_KEY}"]:
        assert invoke("GET", f"/v1/threads/{BASIC.id}", headers={"authorization": authorization}).status == 200


# 3. Through the openai client, in process and over HTTP.


@pytest.fixture(params=["in-process", "http"])
def clients(request) -> Callable[[str], openai.OpenAI]:
    """clients(api_key) -> an openai client for the service, in process on moto or over HTTP on dynalite."""
    if request.param == "in-process":
        request.getfixturevalue("dynamodb")
        options = {}
    else:
        request.getfixturevalue("http_table")
        server = request.getfixturevalue("http_server")
        options = {"base_url": server.base_url}
    made: list[openai.OpenAI] = []

    def make(api_key: str) -> openai.OpenAI:
        extra = {} if not options else {**options, "http_client": openai.DefaultHttpx2Client()}
        made.append(openai_client(api_key=api_key, **extra))
        return made[-1]

    yield make
    for client in made:
        client.close()


def expect(call, error_class, status: int, body: dict) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as info:
        call()
    error = info.value
    assert type(error) is error_class, (type(error), error.body)
    assert error.status_code == status
    assert error.body == body
    assert error.response.json() == {"error": body}
    assert error.request_id
    return error


@pytest.mark.parametrize(("key", "shown"), [(WRONG_KEY, "sk-***1234"), (REVOKED_API_KEY, "sk-***-key")])
def test_the_client_gets_an_authentication_error_for_a_wrong_or_revoked_key(clients, key, shown):
    threads = clients(key).beta.threads
    for call in [
        threads.create,
        lambda: threads.retrieve(BASIC.id),
        lambda: threads.update(BASIC.id, metadata={"user": "mallory"}),
        lambda: threads.delete(BASIC.id),
    ]:
        expect(call, openai.AuthenticationError, 401, incorrect_key(shown))
    owner = clients(API_KEY).beta.threads
    assert owner.retrieve(BASIC.id).metadata == BASIC.metadata


def test_a_thread_of_another_project_is_the_same_404_as_one_that_never_existed(clients):
    owner, other = clients(API_KEY).beta.threads, clients(OTHER_API_KEY).beta.threads
    created = owner.create(metadata={"user": "alice"}, tool_resources={"code_interpreter": {"file_ids": ["f-1"]}})
    before = owner.with_raw_response.retrieve(created.id)

    def attempts(thread_id: str) -> list[Callable]:
        return [
            lambda: other.retrieve(thread_id),
            lambda: other.update(thread_id, metadata={"user": "mallory"}),
            lambda: other.update(thread_id),
            lambda: other.delete(thread_id),
        ]

    foreign = [expect(call, openai.NotFoundError, 404, not_found(created.id)) for call in attempts(created.id)]
    unknown = [expect(call, openai.NotFoundError, 404, not_found(UNKNOWN_ID)) for call in attempts(UNKNOWN_ID)]
    for seen, never in zip(foreign, unknown, strict=True):  # nothing else tells them apart either
        assert sorted(seen.response.headers.keys()) == sorted(never.response.headers.keys())
        assert "etag" not in seen.response.headers
        assert seen.response.text.replace(created.id, UNKNOWN_ID) == never.response.text

    after = owner.with_raw_response.retrieve(created.id)
    assert after.headers["etag"] == before.headers["etag"]
    assert after.parse() == before.parse()
    assert after.parse().metadata == {"user": "alice"}
    # And the other way round: the owner does not see the other project's threads either.
    theirs = other.create(metadata={"user": "bob"})
    expect(lambda: owner.retrieve(theirs.id), openai.NotFoundError, 404, not_found(theirs.id))
    assert other.retrieve(theirs.id).metadata == {"user": "bob"}


def test_an_idempotency_key_of_another_project_is_not_shared(http_server, http_table):
    owner = openai.OpenAI(base_url=http_server.base_url, api_key=API_KEY, max_retries=0)
    other = openai.OpenAI(base_url=http_server.base_url, api_key=OTHER_API_KEY, max_retries=0)
    key = {"Idempotency-Key": f"shared-{time.time_ns()}"}
    mine = owner.beta.threads.create(metadata={"user": "alice"}, extra_headers=key)
    assert owner.beta.threads.create(metadata={"user": "alice"}, extra_headers=key).id == mine.id  # a retry
    theirs = other.beta.threads.create(metadata={"user": "alice"}, extra_headers=key)
    assert theirs.id != mine.id
    expect(lambda: other.beta.threads.retrieve(mine.id), openai.NotFoundError, 404, not_found(mine.id))


# 4. Raw events: cross-project calls are the UNKNOWN_ID answer, and change nothing.


@pytest.mark.parametrize("fixture", FIXTURE_THREADS, ids=lambda thread: thread.id)
def test_cross_project_calls_answer_exactly_what_an_unknown_id_does(invoke, dynamodb, fixture):
    item = stored(dynamodb, fixture.id)
    etag = f'"{item["version"]["N"]}"'
    calls = [
        ("GET", None, {}),
        ("POST", {"metadata": {"user": "mallory"}}, {}),
        ("POST", {}, {}),
        ("POST", None, {}),
        ("POST", {"metadata": {f"new{i}": "x" for i in range(16)}}, {}),  # over 16 for FULL: existence first
        ("POST", {"metadata": {"user": "mallory"}}, {"if-match": etag}),
        ("POST", {"metadata": {"user": "mallory"}}, {"if-match": '"999"'}),
        ("DELETE", None, {}),
        ("DELETE", None, {"if-match": etag}),
        ("DELETE", None, {"if-match": '"999"'}),
        ("GET", None, {"openai-beta": "assistants=v2"}),
    ]
    for method, body, headers in calls:
        seen = invoke(method, f"/v1/threads/{fixture.id}", body, headers={**headers, **bearer(OTHER_API_KEY)})
        never = invoke(method, f"/v1/threads/{UNKNOWN_ID}", body, headers={**headers, **bearer(OTHER_API_KEY)})
        assert (seen.status, seen.json) == (404, {"error": not_found(fixture.id)}), (method, body, headers)
        assert seen.raw["body"].replace(fixture.id, UNKNOWN_ID) == never.raw["body"]
        assert seen.status == never.status and set(seen.headers) == set(never.headers)
        # An unknown id answers the same whoever asks.
        assert invoke(method, f"/v1/threads/{UNKNOWN_ID}", body, headers=headers).raw["body"] == never.raw["body"]
    assert stored(dynamodb, fixture.id) == item
    assert invoke("GET", f"/v1/threads/{fixture.id}").json["metadata"] == fixture.metadata


# 5. Property: whatever the two projects and the thread id, the other project never succeeds.

PROJECT_IDS = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=40)
ARBITRARY_IDS = st.text(alphabet=string.ascii_letters + string.digits + "_-.~", max_size=40).map("thread_".__add__)
OWNED = "a thread A created"
TARGETS = st.one_of(st.just(OWNED), st.sampled_from([thread.id for thread in FIXTURE_THREADS]), ARBITRARY_IDS)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    projects=st.tuples(PROJECT_IDS, PROJECT_IDS).filter(lambda pair: pair[0] != pair[1]),
    target=TARGETS,
    metadata=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3),
)
def test_no_call_by_another_project_ever_succeeds(invoke, dynamodb, projects, target, metadata):
    project_a, project_b = projects
    assume(project_b != DEFAULT_PROJECT)  # the fixture threads' project
    keys = KeyTable(dynamodb, KEYS_TABLE_NAME)
    key_a, key_b = new_secret(), new_secret()
    keys.add(key_a, project_a)
    keys.add(key_b, project_b)
    if target == OWNED:
        created = invoke("POST", "/v1/threads", {"metadata": {"owner": project_a}}, headers=bearer(key_a))
        assert created.status == 200 and created.json["metadata"] == {"owner": project_a}
        target = created.json["id"]
    before = stored(dynamodb, target)
    etag = f'"{before["version"]["N"]}"' if before else '"1"'
    for method, body, headers in [
        ("GET", None, {}),
        ("POST", {"metadata": metadata}, {}),
        ("POST", {"metadata": {"owner": project_b}}, {"if-match": etag}),
        ("POST", {}, {}),
        ("DELETE", None, {}),
        ("DELETE", None, {"if-match": etag}),
    ]:
        result = invoke(method, f"/v1/threads/{target}", body, headers={**headers, **bearer(key_b)})
        assert result.status != 200, (method, result)
        assert (result.status, result.json) == (404, {"error": not_found(target)}), (method, body)
    assert stored(dynamodb, target) == before
    if before is not None:
        owner_key = key_a if before["project"]["S"] == project_a else API_KEY
        assert invoke("GET", f"/v1/threads/{target}", headers=bearer(owner_key)).status == 200


# 6a. The key check's cache: a revoked key works at most `ttl` longer; a bounded number of answers is kept.


class CountingKeys:
    """A KeyTable that counts its lookups."""

    def __init__(self, table: KeyTable):
        self.table = table
        self.lookups: list[str] = []

    def project_of(self, digest: str) -> str | None:
        self.lookups.append(digest)
        return self.table.project_of(digest)


class FakeClock:
    def __init__(self):
        self.now = [1000.0]

    def __call__(self) -> float:
        return self.now[-1]

    def advance(self, seconds: float) -> None:
        self.now.append(self.now[-1] + seconds)


@pytest.fixture
def key_table(dynamodb) -> KeyTable:
    return KeyTable(dynamodb, KEYS_TABLE_NAME)


def test_a_revoked_key_keeps_working_until_the_ttl_passes(key_table):
    keys, clock = CountingKeys(key_table), FakeClock()
    authenticator = Authenticator(keys, ttl_seconds=30, clock=clock)
    secret, key = key_table.create("proj_a")
    assert authenticator.project_for(f"Bearer {secret}") == "proj_a"
    assert key_table.revoke(key.key_id).revoked
    clock.advance(29.9)
    assert authenticator.project_for(f"Bearer {secret}") == "proj_a"  # cached: the table is not asked
    assert len(keys.lookups) == 1
    clock.advance(0.2)
    with pytest.raises(InvalidApiKey) as info:
        authenticator.project_for(f"Bearer {secret}")
    assert info.value.masked == masked(secret) and secret not in str(info.value) and secret not in repr(info.value)
    assert len(keys.lookups) == 2
    clock.advance(1000)
    with pytest.raises(InvalidApiKey):
        authenticator.project_for(f"Bearer {secret}")


def test_a_minted_key_works_at_once_and_wrong_keys_are_cached_too(key_table):
    keys, clock = CountingKeys(key_table), FakeClock()
    authenticator = Authenticator(keys, ttl_seconds=30, clock=clock)
    assert authenticator.project_for(f"Bearer {API_KEY}") == DEFAULT_PROJECT  # a warm cache
    secret, _ = key_table.create("proj_new")
    assert authenticator.project_for(f"Bearer {secret}") == "proj_new"
    for _ in range(3):
        with pytest.raises(InvalidApiKey):
            authenticator.project_for(f"Bearer {WRONG_KEY}")
        with pytest.raises(InvalidApiKey):
            authenticator.project_for(f"Bearer {REVOKED_API_KEY}")
    assert len(keys.lookups) == 4  # one per key, not one per request
    for authorization in NOT_BEARER:
        with pytest.raises(MissingApiKey):
            authenticator.project_for(authorization)
    assert len(keys.lookups) == 4  # no key: the table is not asked


def test_the_cache_keeps_at_most_max_entries_and_drops_the_least_recently_used(key_table):
    keys, clock = CountingKeys(key_table), FakeClock()
    authenticator = Authenticator(keys, ttl_seconds=30, max_entries=2, clock=clock)
    first, second, third = (key_table.create(f"proj_{n}")[0] for n in range(3))

    def check(secret: str) -> int:
        """The project's number, and how many table lookups the check made."""
        count = len(keys.lookups)
        project = authenticator.project_for(f"Bearer {secret}")
        return int(project.removeprefix("proj_")), len(keys.lookups) - count

    assert check(first) == (0, 1)
    assert check(second) == (1, 1)
    assert check(first) == (0, 0)  # cached, and now the most recently used
    assert check(third) == (2, 1)  # evicts `second`, the least recently used
    assert check(first) == (0, 0)
    assert check(third) == (2, 0)
    assert check(second) == (1, 1)  # evicted: the table is asked again (and `first` goes)
    assert check(first) == (0, 1)
    sprayed = [new_secret() for _ in range(10)]
    for secret in sprayed:  # many distinct wrong keys: kept apart, only the last two of them
        with pytest.raises(InvalidApiKey):
            authenticator.project_for(f"Bearer {secret}")
    assert check(first) == (0, 0)  # the valid keys are still cached
    assert check(second) == (1, 0)
    lookups = len(keys.lookups)
    for secret in sprayed[-2:]:
        with pytest.raises(InvalidApiKey):
            authenticator.project_for(f"Bearer {secret}")
    assert len(keys.lookups) == lookups  # the last two wrong keys are cached
    with pytest.raises(InvalidApiKey):
        authenticator.project_for(f"Bearer {sprayed[0]}")
    assert len(keys.lookups) == lookups + 1  # an older one was pushed out by them


def test_a_flood_of_random_keys_does_not_evict_a_valid_one(key_table):
    keys, clock = CountingKeys(key_table), FakeClock()
    authenticator = Authenticator(keys, ttl_seconds=30, clock=clock)
    assert authenticator.project_for(f"Bearer {API_KEY}") == DEFAULT_PROJECT
    for _ in range(3 * 1024):
        with pytest.raises(InvalidApiKey):
            authenticator.project_for(f"Bearer {new_secret()}")
    lookups = len(keys.lookups)
    assert authenticator.project_for(f"Bearer {API_KEY}") == DEFAULT_PROJECT
    assert len(keys.lookups) == lookups  # still cached


@pytest.mark.parametrize("valid", [True, False])
def test_an_answer_expires_exactly_at_the_ttl(key_table, valid):
    keys, clock = CountingKeys(key_table), FakeClock()
    authenticator = Authenticator(keys, ttl_seconds=30, clock=clock)
    secret = API_KEY if valid else WRONG_KEY

    def check() -> None:
        if valid:
            assert authenticator.project_for(f"Bearer {secret}") == DEFAULT_PROJECT
        else:
            with pytest.raises(InvalidApiKey):
                authenticator.project_for(f"Bearer {secret}")

    looked_up = clock()
    check()
    clock.now.append(looked_up + 29.999)
    check()
    assert len(keys.lookups) == 1
    clock.now.append(looked_up + 30)  # exactly the TTL after the lookup: expired
    check()
    assert len(keys.lookups) == 2


def test_a_key_holding_a_lone_surrogate_is_a_401(invoke, dynamodb):
    """An event can carry any string; a key that is no Unicode text is still just a wrong key."""
    result = invoke("GET", f"/v1/threads/{BASIC.id}", headers={"authorization": "Bearer sk-\ud800abcdefgh"})
    assert result.status == 401 and result.json["error"]["code"] == "invalid_api_key"


def test_secrets_use_the_whole_base62_alphabet():
    drawn = "".join(new_secret()[3:] for _ in range(200))
    assert any(c.isdigit() for c in drawn) and any(c.isupper() for c in drawn) and any(c.islower() for c in drawn)
    assert set(drawn) <= set(string.ascii_letters + string.digits)


# 6b, 7, 8b. The admin command against a local endpoint that caches key answers for 1 s, and logs to a file.


def admin(endpoint: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m admin.keys --endpoint ENDPOINT ARGS...` as an operator runs it from the checkout."""
    environment = server_environment()
    ran = subprocess.run(
        [sys.executable, "-m", "admin.keys", "--endpoint", endpoint, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    return ran


def mint(endpoint: str, project: str) -> tuple[str, str]:
    """(key id, secret) of a key made with `admin.keys create`."""
    output = admin(endpoint, "create", "--project", project).stdout
    found = CREATED_KEY.match(output)
    assert found and found.group(2) == project, output
    assert SECRET.match(found.group(3)), output
    return found.group(1), found.group(3)


class LoggedServer:
    """The local endpoint with its standard error (access log and function logs) going to a file."""

    def __init__(self, stderr_path, **extra: str):
        environment = server_environment(**extra)
        environment.pop("QUIET")  # the access log on
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "w")  # closed in stop()
        process = subprocess.Popen(
            [sys.executable, "-m", "local.server"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        lines: list[str] = []
        ready = threading.Event()

        def pump() -> None:
            for line in process.stdout:
                lines.append(line)
                if "Ctrl-C" in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout=60) or process.poll() is not None:
            process.kill()
            raise RuntimeError("the local endpoint did not start:\n" + "".join(lines))
        banner = "".join(lines)
        self.server = RunningServer(process, BASE_URL_LINE.search(banner).group(1), banner, lines)
        self.storage = EMBEDDED_STORAGE.search(banner).group(1)

    def client(self, api_key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.server.base_url, api_key=api_key, max_retries=0)

    def stop(self) -> int | None:
        """SIGTERM, as the tests stop every local endpoint; the exit code."""
        process = self.server.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._stderr.close()
        return process.returncode


@pytest.fixture(scope="module")
def logged_server(tmp_path_factory) -> Iterator[LoggedServer]:
    """Embedded storage, the fixture keys, key answers cached for 1 s, the access log on, stderr to a file.
    test_secrets_never_reach_the_local_endpoints_log stops it: it is the last test that uses it."""
    server = LoggedServer(
        tmp_path_factory.mktemp("logged") / "stderr.log", API_KEY_CACHE_SECONDS="1", THREADS_API_KEYS=fixture_keys()
    )
    try:
        yield server
    finally:
        server.stop()


def test_a_key_made_with_the_admin_command_works_at_once_and_stops_within_the_cache_time_once_revoked(logged_server):
    endpoint = logged_server.storage
    key_id, secret = mint(endpoint, "proj_x")
    client = logged_server.client(secret)
    thread = client.beta.threads.create(metadata={"made": "by proj_x"})
    with ThreadPoolExecutor(4) as pool:  # warm several execution environments' caches with the key
        assert all(
            found.id == thread.id for found in pool.map(lambda _: client.beta.threads.retrieve(thread.id), range(8))
        )
    expect(
        lambda: logged_server.client(API_KEY).beta.threads.retrieve(thread.id),
        openai.NotFoundError,
        404,
        not_found(thread.id),
    )

    assert admin(endpoint, "revoke", key_id).stdout == f"{key_id} of project proj_x revoked\n"
    revoked_at = time.monotonic()

    def attempt(_) -> float | None:
        """When a request that the key still worked for started; None if it was refused."""
        started = time.monotonic()
        try:
            client.beta.threads.retrieve(thread.id)
        except openai.AuthenticationError as error:
            assert error.body == incorrect_key(masked(secret))
            return None
        return started

    # Each execution environment trusts what it last learnt of the key for 1 s: a request that starts once that
    # has passed since the revocation must be refused, in every environment (four requests at a time reach
    # several). Start times, not answer times, count: the machine may be busy.
    worked: list[float] = []
    with ThreadPoolExecutor(4) as pool:
        while True:
            round_started = time.monotonic()
            answers = list(pool.map(attempt, range(4)))
            worked += [started - revoked_at for started in answers if started is not None]
            assert all(after < 1 + 1.5 for after in worked), f"the revoked key still worked at {worked}"
            if round_started - revoked_at > 1 + 0.5 and not any(answers):
                break
            time.sleep(0.05)
        assert not any(pool.map(attempt, range(12)))  # and it stays revoked

    listing = admin(endpoint, "list")
    assert secret not in listing.stdout + listing.stderr and secret[3:] not in listing.stdout
    listed = {entry["key_id"]: entry for entry in map(json.loads, listing.stdout.splitlines())}
    assert listed[key_id]["revoked"] is True and listed[key_id]["project"] == "proj_x"
    assert set(listed[key_id]) == {"key_id", "project", "created_at", "revoked"}


# 7. Key format and what is stored of a key.


def test_new_secrets_are_sk_and_48_base62_characters_and_distinct():
    made = [new_secret() for _ in range(200)]
    assert all(SECRET.match(secret) for secret in made)
    assert len(set(made)) == 200
    assert len({secret[3:11] for secret in made}) == 200  # random from the start


def test_only_the_hash_of_a_minted_key_is_stored(logged_server):
    key_id, secret = mint(logged_server.storage, "proj_stored")
    items = dynamodb_client(logged_server.storage).scan(TableName=KEYS_TABLE_NAME, ConsistentRead=True)["Items"]
    assert items and all(secret not in json.dumps(item) and secret[3:] not in json.dumps(item) for item in items)
    (item,) = [item for item in items if item["key_id"]["S"] == key_id]
    assert item["key_hash"]["S"] == hashlib.sha256(secret.encode()).hexdigest()
    assert set(item) == {"key_hash", "key_id", "project", "created_at", "revoked"}
    assert (item["project"]["S"], item["revoked"]["BOOL"]) == ("proj_stored", False)
    for fixture_key in (API_KEY, OTHER_API_KEY):  # the keys THREADS_API_KEYS gave it are stored hashed too
        assert all(fixture_key not in json.dumps(item) for item in items)
        assert any(item["key_hash"]["S"] == hashlib.sha256(fixture_key.encode()).hexdigest() for item in items)
    assert logged_server.client(secret).beta.threads.create().id.startswith("thread_")


# 8. Secrets never reach a log.


@contextmanager
def function_log_to(stream) -> Iterator[None]:
    """The function's Powertools Logger writes to `stream` (pytest's captured stdout) for the duration: it holds
    the sys.stdout of the moment app was first imported."""
    import app

    handlers = [handler for handler in app.logger.handlers if hasattr(handler, "setStream")]
    assert handlers
    previous = [handler.setStream(stream) for handler in handlers]
    try:
        yield
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)


def test_secrets_never_reach_the_functions_log(invoke, dynamodb, capsys):
    import app
    from threads_api.resources import thread_store

    def with_storage_fault(code: str, call: Callable[[], object], operation: str = "get_item"):
        with Stubber(thread_store()._client) as stubber:
            stubber.add_client_error(operation, service_error_code=code, http_status_code=400)
            return call()

    capsys.readouterr()
    with function_log_to(sys.stdout):
        app.logger.info("capture check")
        retrieve = f"/v1/threads/{BASIC.id}"
        assert invoke("GET", retrieve).status == 200  # the valid key, now cached
        assert invoke("POST", "/v1/threads", {"metadata": {"a": "1"}}).status == 200
        assert invoke("GET", retrieve, headers=bearer(WRONG_KEY)).status == 401
        assert invoke("GET", retrieve, headers=bearer(REVOKED_API_KEY)).status == 401
        assert invoke("GET", retrieve, headers={"authorization": API_KEY}).status == 401  # no scheme
        throttled = "ProvisionedThroughputExceededException"
        assert with_storage_fault(throttled, lambda: invoke("GET", retrieve)).status == 503
        assert with_storage_fault("ValidationException", lambda: invoke("GET", retrieve)).status == 500
        assert (
            with_storage_fault(  # the key check itself fails: OTHER_API_KEY is not cached yet
                throttled, lambda: invoke("GET", retrieve, headers=bearer(OTHER_API_KEY))
            ).status
            == 503
        )
        assert (
            with_storage_fault(
                "ValidationException", lambda: invoke("GET", retrieve, headers=bearer(OTHER_API_KEY))
            ).status
            == 500
        )
        assert invoke("GET", "/v1/nothing", headers=bearer(OTHER_API_KEY)).status == 404
    captured = capsys.readouterr()
    logged = captured.out + captured.err
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert any(line.get("message") == "capture check" for line in lines)  # the capture works
    assert sum(line.get("message") == "storage unavailable" for line in lines) == 2
    assert sum("exception" in line for line in lines) == 2
    for secret in (API_KEY, OTHER_API_KEY, WRONG_KEY, REVOKED_API_KEY, "Bearer "):
        assert secret not in logged
    assert API_KEY[3:] not in logged and REVOKED_API_KEY[3:] not in logged


def test_secrets_never_reach_the_local_endpoints_log(logged_server):
    """Last of the tests on `logged_server`: it stops it, so that the function environments' output is all in."""
    minted = mint(logged_server.storage, "proj_logged")[1]
    for key in (API_KEY, OTHER_API_KEY, minted):
        thread = logged_server.client(key).beta.threads.create(metadata={"k": "v"})
        logged_server.client(key).beta.threads.update(thread.id, metadata={"k": "w"})
    for key in (WRONG_KEY, "short", "sk-" + "z" * 48):
        with pytest.raises(openai.AuthenticationError):
            logged_server.client(key).beta.threads.retrieve(BASIC.id)
    with pytest.raises(openai.NotFoundError):
        logged_server.client(OTHER_API_KEY).beta.threads.retrieve(BASIC.id)
    assert logged_server.stop() == 0
    logged = logged_server.stderr_path.read_text()
    assert '"POST /v1/threads HTTP/1.1" 200' in logged and '"GET /v1/threads/' in logged  # the access log is on
    assert " 401 " in logged
    for secret in (API_KEY, OTHER_API_KEY, minted, minted[3:], WRONG_KEY, "z" * 48, "Bearer "):
        assert secret not in logged
    assert minted not in "".join(logged_server.server.output)


# 9. THREADS_API_KEYS at the local endpoint.


def own_tables(dynalite_endpoint: str, name: str) -> dict[str, str]:
    """A local endpoint's settings for dynalite, with tables of its own (not the session's `http_server`'s)."""
    return {
        **EMBEDDED_AWS,
        "AWS_ENDPOINT_URL_DYNAMODB": dynalite_endpoint,
        "TABLE_NAME": f"threads-{name}",
        "KEYS_TABLE_NAME": f"keys-{name}",
    }


def test_threads_api_keys_pairs_each_key_with_its_project(dynalite_endpoint):
    settings = own_tables(dynalite_endpoint, "pairs")
    with local_endpoint(THREADS_API_KEYS="a=proj_a,b=proj_b", **settings) as server:
        assert "API key: the 2 keys of THREADS_API_KEYS (projects proj_a, proj_b)" in server.banner
        key_a = openai.OpenAI(base_url=server.base_url, api_key="a", max_retries=0)
        key_b = openai.OpenAI(base_url=server.base_url, api_key="b", max_retries=0)
        mine = key_a.beta.threads.create(metadata={"of": "a"})
        expect(lambda: key_b.beta.threads.retrieve(mine.id), openai.NotFoundError, 404, not_found(mine.id))
        expect(lambda: key_b.beta.threads.delete(mine.id), openai.NotFoundError, 404, not_found(mine.id))
        assert key_a.beta.threads.retrieve(mine.id).metadata == {"of": "a"}
        theirs = key_b.beta.threads.create()
        expect(lambda: key_a.beta.threads.retrieve(theirs.id), openai.NotFoundError, 404, not_found(theirs.id))
        for wrong in ("c", API_KEY, "a=proj_a"):
            client = openai.OpenAI(base_url=server.base_url, api_key=wrong, max_retries=0)
            expect(
                lambda c=client: c.beta.threads.retrieve(mine.id),
                openai.AuthenticationError,
                401,
                incorrect_key(masked(wrong)),
            )


INVALID_KEYS_SETTINGS = ["novalue", "a=", "=proj_a", "a=b=c"]


def test_an_invalid_threads_api_keys_stops_the_server_with_a_message_naming_it(dynalite_endpoint):
    settings = own_tables(dynalite_endpoint, "invalid")
    started = {
        value: subprocess.Popen(
            [sys.executable, "-m", "local.server"],
            cwd=ROOT,
            env=server_environment(THREADS_API_KEYS=value, **settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for value in INVALID_KEYS_SETTINGS
    }
    try:
        for value, process in started.items():
            out, err = process.communicate(timeout=60)
            assert process.returncode not in (0, None), (value, out, err)
            assert "THREADS_API_KEYS" in err, (value, err)
            assert "Threads API on" not in out and "Traceback" not in err, (value, out, err)
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def test_the_admin_command_finds_a_deployed_stacks_keys_table_from_its_outputs(capsys):
    """`--stack NAME`: the table comes from the stack's `KeysTableName` output, with the caller's credentials
    (CloudFormation and DynamoDB played by moto)."""
    import json as json_module

    import boto3
    from moto import mock_aws

    from admin.keys import main as admin_keys
    from local.table import create_table

    stack_template = {
        "Resources": {"Nothing": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"KeysTableName": {"Value": "threads-api-KeysTable-ABC123"}},
    }
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name="eu-west-1"), "threads-api-KeysTable-ABC123", "KeysTable")
        cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
        cloudformation.create_stack(StackName="threads-api", TemplateBody=json_module.dumps(stack_template))

        assert admin_keys(["--stack", "threads-api", "--region", "eu-west-1", "create", "--project", "proj_s"]) == 0
        secret = re.search(r"sk-[A-Za-z0-9]{48}", capsys.readouterr().out).group(0)
        table = KeyTable(boto3.client("dynamodb", region_name="eu-west-1"), "threads-api-KeysTable-ABC123")
        assert table.project_of(key_hash(secret)) == "proj_s"

        assert admin_keys(["--stack", "threads-api", "--region", "eu-west-1", "list"]) == 0
        listed = [json_module.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(key["project"], key["revoked"]) for key in listed] == [("proj_s", False)]
        assert admin_keys(["--stack", "threads-api", "--region", "eu-west-1", "revoke", listed[0]["key_id"]]) == 0
        assert table.project_of(key_hash(secret)) is None
        with pytest.raises(SystemExit):
            admin_keys(["--stack", "no-such-stack", "--region", "eu-west-1", "list"])


def test_the_event_is_not_logged_even_when_the_environment_asks_for_it():
    """POWERTOOLS_LOGGER_LOG_EVENT=true would have Powertools log each event, Authorization header and all."""
    script = (
        "import app, json; from local.events import http_event, LambdaContext; "
        "event = http_event('GET', '/v1/threads', headers={'authorization': 'Basic sk-never-in-any-log-1234'}); "
        "print(json.dumps(app.lambda_handler(event, LambdaContext())['statusCode']))"
    )
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": TABLE_NAME,
        "KEYS_TABLE_NAME": KEYS_TABLE_NAME,
        "POWERTOOLS_LOGGER_LOG_EVENT": "true",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / "threads"), str(ROOT)]),
    }
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "401"  # no key: answered before any DynamoDB call
    assert "sk-never-in-any-log" not in done.stdout + done.stderr
