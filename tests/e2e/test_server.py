"""The local endpoint over real HTTP: how it starts (as the README says), stops, takes concurrent writers and
survives hostile clients. The full contract over HTTP is in test_openai_client.py (its `http` half)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import httpx2
import openai
import pytest

from local import stack
from local.embedded import TABLE_NAME
from local.fixtures import API_KEY
from local.launch import (
    ROOT,
    dynamodb_client,
    fixture_keys,
    local_endpoint,
    server_environment,
    start_server,
)
from local.listener import MAX_CONNECTIONS, REQUEST_DEADLINE, THREADS
from local.runtime import FunctionPool, InvocationFailed
from local.storage import EMBEDDED_AWS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CONCURRENT_WRITERS = 16


@pytest.fixture(scope="module")
def embedded_server():
    """The local endpoint on its default, embedded storage."""
    with local_endpoint(LAMBDA_CONCURRENCY="8") as server:
        yield server


def client_for(server, api_key: str = API_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0)


def raw_exchange(server, data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes on a fresh connection and read until the server closes it or goes quiet."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as connection:
        connection.sendall(data)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def parse_response(raw: bytes) -> tuple[int, dict[str, str], object]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body[: int(headers["content-length"])])


def assert_envelope(body: object, status: int, headers: dict[str, str]) -> None:
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert headers["content-type"] == "application/json" and headers["x-request-id"]
    assert 400 <= status < 600


def assert_still_serving(server) -> None:
    assert server.process.poll() is None
    thread = client_for(server).beta.threads.create(metadata={"still": "serving"})
    assert client_for(server).beta.threads.retrieve(thread.id).metadata == {"still": "serving"}


# Starting and stopping it the way the README says.


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```sh[^\n]*\n(.*?)```", readme, re.DOTALL).group(1)
    return [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]


def test_readme_starts_the_server_and_its_printed_snippet_creates_a_thread_with_a_message():
    assert readme_commands()[0] == "make serve"
    server = start_server(["make", "--no-print-directory", "serve"], server_environment(), new_session=True)
    try:
        assert server.base_url.startswith("http://127.0.0.1:") and server.port != 3000  # PORT=0: a free one
        snippet = re.search(r"^from openai import OpenAI\n(?:.*?\n){3}", server.banner, re.MULTILINE).group(0)
        assert len(snippet.splitlines()) == 4
        pasted = subprocess.run(
            [sys.executable, "-"], input=snippet, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert pasted.returncode == 0, pasted.stderr
        thread_id, printed = re.fullmatch(r"(thread_\w+) (.*)\n", pasted.stdout).groups()
        assert printed == "Hello"
        minted = re.search(r'api_key="(sk-[A-Za-z0-9]{48})"', snippet).group(1)  # made by the server, for it
        messages = client_for(server, minted).beta.threads.messages.list(thread_id)
        assert [message.content[0].text.value for message in messages] == ["Hello"]
    finally:
        os.killpg(server.process.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground group
        server.process.wait(timeout=15)
    time.sleep(0.2)
    assert any(line.startswith("Stopped") for line in server.output), server.output
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_banner_says_how_to_authenticate_and_where_the_data_is(embedded_server):
    banner = embedded_server.banner
    assert "API key: the 2 keys of THREADS_API_KEYS" in banner and "storage: embedded" in banner
    assert API_KEY not in banner  # keys given to it are not repeated
    for route in ("POST /v1/threads", "POST /v1/threads/{thread_id}", "$default"):
        assert route in banner


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_sigterm_stops_the_server_and_its_execution_environments():
    marker = f"LOCAL_TEST_MARKER={uuid.uuid4()}"
    name, value = marker.split("=")
    environment = server_environment(**{name: value}, THREADS_API_KEYS=fixture_keys())
    server = start_server([sys.executable, "-m", "local.server"], environment)
    barrier = threading.Barrier(4)

    def create() -> None:
        barrier.wait()
        client_for(server).beta.threads.create()

    workers = [threading.Thread(target=create) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(_processes_with(marker)) >= 2  # the server and at least one execution environment
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0
    deadline = time.monotonic() + 5
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(marker) == []
    assert server.output[-1].startswith("Stopped")


# Concurrent writers: every acknowledged write lands, and the version counts each once.


@pytest.mark.parametrize("storage", ["embedded", "dynalite"])
def test_sixteen_clients_setting_different_keys_at_once_all_land(storage, request):
    server = request.getfixturevalue("embedded_server" if storage == "embedded" else "http_server")
    thread = client_for(server).beta.threads.create()
    start = client_for(server).beta.threads.with_raw_response.retrieve(thread.id).headers["etag"]
    barrier = threading.Barrier(CONCURRENT_WRITERS)
    acknowledged: list[str] = []

    def write(index: int) -> None:
        client = client_for(server)  # a connection of its own
        barrier.wait()
        updated = client.beta.threads.update(thread.id, metadata={f"writer{index:02d}": str(index)})
        acknowledged.append(updated.metadata[f"writer{index:02d}"])

    writers = [threading.Thread(target=write, args=(index,)) for index in range(CONCURRENT_WRITERS)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    assert sorted(acknowledged, key=int) == [str(index) for index in range(CONCURRENT_WRITERS)]
    final = client_for(server).beta.threads.with_raw_response.retrieve(thread.id)
    assert final.parse().metadata == {f"writer{index:02d}": str(index) for index in range(CONCURRENT_WRITERS)}
    assert int(final.headers["etag"].strip('"')) == int(start.strip('"')) + CONCURRENT_WRITERS


# Storage named by AWS_ENDPOINT_URL_DYNAMODB: a missing table is created, an existing one reused.


def test_an_existing_table_is_reused(http_server, dynalite_endpoint):
    thread = client_for(http_server).beta.threads.create(metadata={"kept": "yes"})
    with local_endpoint(AWS_ENDPOINT_URL_DYNAMODB=dynalite_endpoint, **EMBEDDED_AWS) as second:
        assert f"DynamoDB at {dynalite_endpoint}" in second.banner
        assert client_for(second).beta.threads.retrieve(thread.id).metadata == {"kept": "yes"}


def test_a_missing_table_is_created_under_the_name_given(dynalite_endpoint):
    name = f"threads-{uuid.uuid4().hex[:8]}"
    dynamodb = dynamodb_client(dynalite_endpoint)
    assert name not in dynamodb.list_tables()["TableNames"]
    with local_endpoint(AWS_ENDPOINT_URL_DYNAMODB=dynalite_endpoint, TABLE_NAME=name, **EMBEDDED_AWS) as server:
        thread = client_for(server).beta.threads.create()
    item = dynamodb.get_item(TableName=name, Key={"thread_id": {"S": thread.id}})
    assert item["Item"]["thread_id"]["S"] == thread.id
    assert "Item" not in dynamodb.get_item(TableName=TABLE_NAME, Key={"thread_id": {"S": thread.id}})


# Hostile clients: each gets an answer (or loses only its own connection), and the server serves the next one.


def test_malformed_request_line_gets_the_envelope(embedded_server):
    status, headers, body = parse_response(raw_exchange(embedded_server, b"NOT AN HTTP REQUEST\r\n\r\n"))
    assert status == 400
    assert_envelope(body, status, headers)
    assert_still_serving(embedded_server)


def test_oversized_header_gets_the_envelope(embedded_server):
    request = b"GET /v1/threads/thread_x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    status, headers, body = parse_response(raw_exchange(embedded_server, request))
    assert status == 431
    assert_envelope(body, status, headers)
    assert_still_serving(embedded_server)


@pytest.mark.parametrize("length", ["abc", "-1", "5, 6"])
def test_invalid_content_length_gets_the_envelope(embedded_server, length):
    request = f"POST /v1/threads HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode()
    status, headers, body = parse_response(raw_exchange(embedded_server, request))
    assert status == 400
    assert_envelope(body, status, headers)
    assert_still_serving(embedded_server)


def test_unknown_method_gets_the_envelope(embedded_server):
    status, headers, body = parse_response(
        raw_exchange(embedded_server, b"BREW /v1/threads HTTP/1.1\r\nHost: x\r\n\r\n")
    )
    assert status == 501
    assert_envelope(body, status, headers)


@pytest.mark.parametrize("size", [5 * 1024 * 1024, 11 * 1024 * 1024])
def test_huge_bodies_get_the_contracts_413(embedded_server, size):
    # 5 MiB reaches the function, which refuses it; 11 MiB is over API Gateway's 10 MB and never reaches it.
    response = httpx2.post(
        f"{embedded_server.base_url}/threads",
        content=b"{" + b" " * (size - 2) + b"}",
        headers={"authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "message": f"Request body too large: {size} bytes. The limit is 4194304 bytes.",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_too_large",
        }
    }
    assert_still_serving(embedded_server)


def test_a_client_that_announces_a_huge_body_and_leaves_does_not_hurt(embedded_server):
    request = b"POST /v1/threads HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n{"
    raw_exchange(embedded_server, request, timeout=2)
    assert_still_serving(embedded_server)


def test_a_client_that_stops_mid_body_does_not_hurt(embedded_server):
    with socket.create_connection(("127.0.0.1", embedded_server.port)) as connection:
        connection.sendall(b"POST /v1/threads HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    assert_still_serving(embedded_server)


def test_slow_clients_do_not_hold_up_others(embedded_server):
    stalled = [socket.create_connection(("127.0.0.1", embedded_server.port)) for _ in range(32)]
    try:
        for connection in stalled:
            connection.sendall(b"POST /v1/threads HTTP/1.1\r\nHost: x\r\nContent-Le")
        started = time.monotonic()
        assert_still_serving(embedded_server)
        assert time.monotonic() - started < 5
    finally:
        for connection in stalled:
            connection.close()


def test_chunked_body_is_read(embedded_server):
    body = json.dumps({"metadata": {"sent": "in chunks"}}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    request = (
        b"POST /v1/threads HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + API_KEY.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    )
    status, headers, thread = parse_response(raw_exchange(embedded_server, request))
    assert status == 200, thread
    assert thread["metadata"] == {"sent": "in chunks"} and headers["etag"] == '"1"'


def test_keep_alive_serves_many_requests_on_one_connection(embedded_server):
    with httpx2.Client(base_url=embedded_server.base_url, headers={"authorization": f"Bearer {API_KEY}"}) as http:
        for _ in range(3):
            response = http.get("/threads/thread_000000000000000000000000")
            assert response.status_code == 404 and response.headers["x-request-id"]
    assert_still_serving(embedded_server)


def closed_after_answer(server, data: bytes) -> tuple[int, dict[str, str], object]:
    """Send raw bytes on a fresh connection; the server must answer and then close the connection itself."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(data)
        received = b""
        while chunk := connection.recv(65536):  # a TimeoutError here: the server kept the connection open
            received += chunk
    return parse_response(received)


# Framing that two HTTP parsers could read differently (request smuggling, RFC 9112 sections 6.1 and 6.3): refused
# with 400 and the connection closed, since where the next request would begin is unknown.
AMBIGUOUS_FRAMING = {
    "content-length-and-chunked": b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "chunked-and-content-length": b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "chunked-twice": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "chunked-twice-in-one-header": b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "malformed-chunk-size": b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "chunk-size-with-sign": b"Transfer-Encoding: chunked\r\n\r\n+2\r\n{}\r\n0\r\n\r\n",
    "two-content-lengths": b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
}


@pytest.mark.parametrize("framing", AMBIGUOUS_FRAMING.values(), ids=AMBIGUOUS_FRAMING.keys())
def test_ambiguous_framing_is_refused_and_the_connection_closed(embedded_server, framing):
    thread = client_for(embedded_server).beta.threads.create(metadata={"untouched": "yes"})
    # Behind the framing, a second request that a lenient parser would serve on the same connection.
    smuggled = f"DELETE /v1/threads/{thread.id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\r\n"
    request = b"POST /v1/threads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + API_KEY.encode() + b"\r\n" + framing
    status, headers, body = closed_after_answer(embedded_server, request + smuggled.encode())
    assert status == 400
    assert_envelope(body, status, headers)
    assert headers["connection"] == "close"
    assert client_for(embedded_server).beta.threads.retrieve(thread.id).metadata == {"untouched": "yes"}


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NOT AN HTTP REQUEST\r\n\r\n",
        b"GET /v1/threads/thread_x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
    ids=["request-line", "oversized-header"],
)
def test_malformed_http_closes_the_connection(embedded_server, request_bytes):
    status, headers, body = closed_after_answer(embedded_server, request_bytes)
    assert status in (400, 431) and headers["connection"] == "close"
    assert_envelope(body, status, headers)


def test_a_request_trickled_in_is_cut_at_the_whole_request_deadline(embedded_server):
    """One byte a second never leaves the connection silent for long, yet the request as a whole has its deadline:
    the connection is closed by then, with nothing answered."""
    request = b"GET /v1/threads/thread_000000000000000000000000 HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 60
    with socket.create_connection(("127.0.0.1", embedded_server.port), timeout=5) as connection:
        started = time.monotonic()
        closed_at = None
        for byte in request:
            try:
                connection.sendall(bytes([byte]))
                connection.settimeout(1)
                if connection.recv(1) == b"":
                    closed_at = time.monotonic() - started
                    break
            except TimeoutError:
                continue  # still open: the next byte
            except ConnectionError:
                closed_at = time.monotonic() - started
                break
    assert closed_at is not None, "the trickled request was never cut"
    assert REQUEST_DEADLINE - 1 <= closed_at <= REQUEST_DEADLINE + 5, closed_at
    assert_still_serving(embedded_server)


def test_connections_beyond_the_cap_wait_until_one_closes(embedded_server):
    """THREADS requests stalled mid-headers and enough kept-alive connections fill MAX_CONNECTIONS: one more
    connection is not served (it waits in the listen backlog) until some of those close."""
    held: list[socket.socket] = []
    try:
        for _ in range(MAX_CONNECTIONS - THREADS):
            connection = socket.create_connection(("127.0.0.1", embedded_server.port), timeout=5)
            held.append(connection)
            connection.sendall(b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n")  # answered by the gateway, kept alive
            assert connection.recv(65536).startswith(b"HTTP/1.1 501 "), "the connection was not kept alive"
        stalled = []
        for _ in range(THREADS):
            connection = socket.create_connection(("127.0.0.1", embedded_server.port), timeout=5)
            connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            stalled.append(connection)
        held += stalled
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", embedded_server.port), timeout=2) as extra:
            extra.sendall(b"BREW / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            with pytest.raises(TimeoutError):
                extra.recv(65536)  # accepted by the kernel, not by the server: no answer
            for connection in stalled:
                connection.close()
            extra.settimeout(5)
            assert extra.recv(65536).startswith(b"HTTP/1.1 501 ")
    finally:
        for connection in held:
            connection.close()
    assert_still_serving(embedded_server)


# The routes served are the template's.


def test_routes_come_from_the_template():
    routes = stack.routes()
    assert [route.key for route in routes][-1] == "$default"
    assert {route.key for route in routes} >= {
        "POST /v1/threads",
        "GET /v1/threads/{thread_id}",
        "POST /v1/threads/{thread_id}",
        "DELETE /v1/threads/{thread_id}",
    }
    route, params = stack.match_route(routes, "POST", "/v1/threads/thread_abc")
    assert (route.key, params) == ("POST /v1/threads/{thread_id}", {"thread_id": "thread_abc"})
    assert stack.match_route(routes, "PATCH", "/v1/threads/thread_abc")[0].key == "$default"
    assert stack.match_route(routes, "GET", "/v1/threads/a/b")[0].key == "$default"


def test_a_route_added_to_the_template_is_served():
    template = stack.load_template()
    events = template["Resources"]["ThreadsFunction"]["Properties"]["Events"]
    events["ListMessages"] = {"Type": "HttpApi", "Properties": {"Method": "GET", "Path": "/v1/threads/{id}/messages"}}
    route, params = stack.match_route(stack.routes(template), "GET", "/v1/threads/thread_abc/messages")
    assert (route.key, route.function, params) == (
        "GET /v1/threads/{id}/messages",
        "ThreadsFunction",
        {"id": "thread_abc"},
    )


# Execution environments: one that raises, hangs or dies is replaced.


FAULTY_FUNCTION = """
import os, time

def handler(event, context):
    if event.get("do") == "raise":
        raise RuntimeError("boom")
    if event.get("do") == "hang":
        time.sleep(30)
    if event.get("do") == "exit":
        os._exit(3)
    return {"statusCode": 200, "body": str(os.getpid())}
"""


def test_a_failed_environment_is_replaced(tmp_path):
    (tmp_path / "faulty.py").write_text(FAULTY_FUNCTION)
    function = stack.Function("Faulty", str(tmp_path), "faulty.handler", timeout_seconds=1, memory_mb=128)
    pool = FunctionPool(function, dict(os.environ), concurrency=1)
    try:
        first = pool.invoke({"do": "ok"})["body"]
        assert pool.invoke({"do": "ok"})["body"] == first  # warm: the same environment serves again
        for fault in ("raise", "hang", "exit"):
            with pytest.raises(InvocationFailed):
                pool.invoke({"do": fault})
            replaced = pool.invoke({"do": "ok"})["body"]
            assert replaced != first
            first = replaced
    finally:
        pool.close()


def test_routes_are_matched_most_specific_first_as_api_gateway_does():
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Events": {
                        name: {"Type": "HttpApi", "Properties": props}
                        for name, props in {
                            "Greedy": {"Method": "ANY", "Path": "/v1/{proxy+}"},
                            "Variable": {"Method": "GET", "Path": "/v1/threads/{thread_id}"},
                            "Literal": {"Method": "GET", "Path": "/v1/threads/special"},
                            "Default": {},
                        }.items()
                    }
                },
            }
        }
    }
    routes = stack.routes(template)

    def matched(method: str, path: str) -> tuple[str, dict]:
        route, params = stack.match_route(routes, method, path)
        return route.key, params

    assert matched("GET", "/v1/threads/special") == ("GET /v1/threads/special", {})
    assert matched("GET", "/v1/threads/thread_a") == ("GET /v1/threads/{thread_id}", {"thread_id": "thread_a"})
    assert matched("POST", "/v1/threads/thread_a") == ("ANY /v1/{proxy+}", {"proxy": "threads/thread_a"})
    assert matched("GET", "/other") == ("$default", {})
