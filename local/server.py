"""The local endpoint: an HTTP server that plays API Gateway for the functions of template.yaml.

    make serve                      # http://127.0.0.1:3000/v1 on an embedded DynamoDB
    PORT=0 make serve               # any free port (printed)
    AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 make serve   # DynamoDB Local or dynalite, on this machine

The Docker-free twin of `sam local start-api`. Each request becomes an HTTP API (payload 2.0) event for the
route it matches in template.yaml and is answered by the same Lambda entry point the deployed stack calls,
running in a local execution environment (`local.runtime`).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import pathlib
import shlex
import signal
import socket
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from local import stack
from local.gateway import http_from_proxy_response, routed_event
from local.runtime import FunctionPool, InvocationFailed
from local.storage import (
    EMBEDDED_AWS,
    aws_client,
    dynamodb_client,
    embedded_dynamodb_server,
    prepare_buckets,
    prepare_tables,
)
from local.streams import StreamPoller, UnsupportedPattern, check_pattern
from threads_api.errors import ApiError, body_too_large, internal_error
from threads_api.exceptions import KeyExists
from threads_api.keys import KeyTable
from threads_api.resources import RETURNS_ITEM_VARIABLE

ROOT = pathlib.Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_PORT = 3000
DEFAULT_CONCURRENCY = 4
# API Gateway refuses a payload over 10 MB before any function sees it; the function's own limit is lower.
GATEWAY_BODY_LIMIT = 10 * 1024 * 1024
# A body declared larger than the limit is still read and dropped up to this size, so that the client, which
# sends its whole body before it reads, sees the 413 instead of a reset connection.
DRAIN_LIMIT = 64 * 1024 * 1024
# Seconds a client may stay silent mid-request, or idle between two requests on one connection.
CLIENT_TIMEOUT = 10


def _envelope(error: ApiError) -> bytes:
    return json.dumps(error.envelope()).encode("utf-8")


def _gateway_error(status: int, message: str) -> bytes:
    return _envelope(ApiError(status, message))


class _Refused(Exception):
    """A request the gateway answers itself, before any function runs."""

    def __init__(self, status: int, body: bytes):
        self.status = status
        self.body = body


class GatewayRequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway
    timeout = CLIENT_TIMEOUT  # a slow or silent client loses its connection, not the server a thread for ever

    def version_string(self) -> str:
        return "threads-local"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        request_id = str(uuid.uuid4())
        try:
            body = self._read_body()
        except _Refused as refused:
            self._respond(refused.status, [("content-type", "application/json")], refused.body, request_id, True)
            return
        target = self.path if self.path.startswith("/") else _origin_form(self.path)
        routed = routed_event(self.command, target, self.headers.items(), body, self.server.routes)
        if routed is None:  # a template without a $default route: API Gateway's own answer
            self._respond(404, [("content-type", "application/json")], b'{"message":"Not Found"}', request_id)
            return
        route, event = routed
        event["requestContext"]["requestId"] = request_id
        event["requestContext"]["http"]["sourceIp"] = self.client_address[0]
        try:
            status, headers, content = http_from_proxy_response(self.server.pools[route.function].invoke(event))
        except InvocationFailed as failure:
            self.log_message("%s failed: %s", route.function, failure)
            status, headers, content = 500, [("content-type", "application/json")], _envelope(internal_error())
        self._respond(status, headers, content, request_id)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def _read_body(self) -> bytes:
        encoding = self.headers.get("transfer-encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise _Refused(501, _gateway_error(501, f"Transfer-Encoding {encoding!r} is not supported."))
            return self._read_chunked()
        lengths = self.headers.get_all("content-length") or []
        if not lengths:
            return b""
        if len(set(lengths)) != 1 or not lengths[0].strip().isdigit():
            raise _Refused(400, _gateway_error(400, "Invalid Content-Length header."))
        length = int(lengths[0])
        if length > GATEWAY_BODY_LIMIT:
            self._drain(length)
            raise _Refused(413, _envelope(body_too_large(length)))
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionAbortedError("the client closed the connection mid-body")
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _Refused(400, _gateway_error(400, "Invalid chunked body.")) from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            if len(body) + size > GATEWAY_BODY_LIMIT:
                self.close_connection = True
                raise _Refused(413, _envelope(body_too_large(len(body) + size)))
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise ConnectionAbortedError("the client closed the connection mid-body")
            body += chunk
            self.rfile.readline(3)  # the CRLF after the chunk

    def _drain(self, length: int) -> None:
        self.close_connection = True
        if length > DRAIN_LIMIT:
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)

    def _respond(
        self, status: int, headers: list[tuple[str, str]], content: bytes, request_id: str, close: bool = False
    ) -> None:
        self.send_response(status)
        names = set()
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
                names.add(name.lower())
        if "x-request-id" not in names:
            self.send_header("x-request-id", request_id)
        self.send_header("apigw-requestid", request_id)
        self.send_header("Content-Length", str(len(content)))
        if close or self.close_connection:
            self.close_connection = True
            self.send_header("Connection", "close")
        if self.command != "HEAD":
            self._headers_buffer.append(b"\r\n" + content)  # one write: no Nagle/delayed-ACK stall per response
            self.flush_headers()
        else:
            self.end_headers()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed HTTP (bad request line, oversized headers, unknown method) gets a JSON envelope too."""
        self.close_connection = True
        if not self.request_version.startswith("HTTP/1."):
            self.request_version = "HTTP/1.1"  # an unparsable request line: still answer with status and headers
        text = message or HTTPStatus(code).phrase
        self._respond(code, [("content-type", "application/json")], _gateway_error(code, text), str(uuid.uuid4()), True)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")


def _origin_form(target: str) -> str:
    """`http://host/path?q` (absolute form, as proxies send) -> `/path?q`."""
    parts = urlsplit(target)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class LocalApiServer(ThreadingHTTPServer):
    daemon_threads = True  # a stop does not wait for idle keep-alive connections
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], routes: list[stack.Route], pools: dict[str, FunctionPool]):
        self.routes = routes
        self.pools = pools
        self.quiet = bool(os.environ.get("QUIET"))
        super().__init__(address, GatewayRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return  # the client went away or stalled: its connection is closed, nothing else is affected
        super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"


def function_environment(function: stack.Function, template: dict, aws: dict[str, str]) -> dict[str, str]:
    """What an execution environment of `function` sees: this process's environment, the AWS settings, and the
    function's own variables from the template."""
    # Not the keys to install, nor any AWS credentials or profile of the caller's: the function gets the local
    # storage's settings only, as a deployed one gets its role's and nothing of the deployer's.
    environment = {name: value for name, value in os.environ.items() if not _kept_from_functions(name)}
    environment.update(aws)
    environment.update(stack.resolve_environment(function, template, overrides=dict(os.environ)))
    environment.setdefault("AWS_REGION", environment.get("AWS_DEFAULT_REGION", "us-east-1"))
    return environment


def _kept_from_functions(name: str) -> bool:
    return name in ("PORT", "THREADS_API_KEYS") or name.startswith("AWS_")


def is_local_endpoint(url: str) -> bool:
    """Whether a DynamoDB endpoint is on this machine (a loopback address)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


LOCAL_PROJECT = "proj_local"


def configured_keys(text: str) -> dict[str, str]:
    """THREADS_API_KEYS: comma-separated KEY=PROJECT pairs (a key: any non-empty string without `,` or `=`)."""
    keys = {}
    for position, pair in enumerate(text.split(","), 1):
        key, equals, project = (part.strip() for part in pair.partition("="))
        if not (key and equals and project) or "=" in project:
            # The entry is not shown: it may hold a key.
            raise SystemExit(f"THREADS_API_KEYS: entry {position} is not KEY=PROJECT")
        keys[key] = project
    return keys


def install_keys(keys: KeyTable) -> tuple[str, str | None]:
    """Store the keys THREADS_API_KEYS names, or mint one for the local project; returns (what to say, the key
    the snippet may show: only a freshly minted one)."""
    text = os.environ.get("THREADS_API_KEYS", "").strip()
    if text:
        configured = configured_keys(text)
        for position, (secret, project) in enumerate(configured.items(), 1):
            try:
                keys.add(secret, project)
            except KeyExists:
                stored = keys.stored(secret)  # stored by an earlier run on the same storage: kept if it is the same
                if stored is None or stored.project != project or stored.revoked:
                    raise SystemExit(
                        f"THREADS_API_KEYS: key {position} is stored already, revoked or for another project; "
                        "it is not replaced"
                    ) from None
        projects = ", ".join(sorted(set(configured.values())))
        return f"the {len(configured)} keys of THREADS_API_KEYS (projects {projects})", None
    secret, key = keys.create(LOCAL_PROJECT)
    return f"{secret}  (project {LOCAL_PROJECT}, {key.key_id}; made now, shown once)", secret


def stream_pollers(
    template: dict, client: Any, streams: Any, tables: dict[str, str], pools: dict[str, FunctionPool]
) -> tuple[list[StreamPoller], str]:
    """A poller for each of the template's stream event sources whose table has a stream here, and a line saying
    what runs (or why nothing does)."""
    pollers, without = [], []
    for source in stack.stream_sources(template):
        for pattern in source.filters:
            try:
                check_pattern(pattern)
            except UnsupportedPattern as error:
                raise SystemExit(f"make serve: {source.function}'s filter on {source.table}: {error}") from None
        table = tables[source.table]
        arn = client.describe_table(TableName=table)["Table"].get("LatestStreamArn")
        if arn:
            pollers.append(StreamPoller(source, streams, arn, pools[source.function].invoke))
        else:
            without.append(table)
    running = ", ".join(f"{tables[p.source.table]} -> {p.source.function}" for p in pollers)
    if without:
        # dynalite takes a table's StreamSpecification and keeps no stream.
        tables_without = ", ".join(sorted(set(without)))
        note = f"none on {tables_without}: this DynamoDB keeps no streams, so nothing cleans up after deletes"
        return pollers, f"{running}; {note}" if running else note
    return pollers, running or "none in the template"


def banner(
    base_url: str,
    storage: str,
    keys_endpoint: str,
    routes: list[stack.Route],
    auth: str,
    key: str | None,
    streams: str = "",
):
    credential = f'api_key="{key}"' if key else 'api_key=os.environ["OPENAI_API_KEY"]'
    snippet = "\n".join(
        [
            "from openai import OpenAI" if key else "import os; from openai import OpenAI",
            f'client = OpenAI(base_url="{base_url}", {credential})',
            'print(client.beta.threads.update(client.beta.threads.create().id, metadata={"hello": "world"}))',
        ]
    )
    listed = ", ".join(route.key for route in routes)
    # The project's Python has the openai client; `cd` first, so that the lines work from any terminal.
    here = shlex.quote(str(ROOT))
    return (
        f"Threads API on {base_url}\n"
        f"  routes: {listed}\n"
        f"  storage: {storage}\n" + (f"  streams: {streams}\n" if streams else "") + f"  API key: {auth}\n"
        "    send it as `Authorization: Bearer <key>`; each key acts for its project only. More keys:\n"
        f'    cd {here} && make keys ARGS="--endpoint {keys_endpoint} create --project <project>"\n'
        "\n"
        f"Try it: in another terminal, start the project's Python with `cd {here} && make python`"
        + ("" if key else " (with OPENAI_API_KEY set to one of your keys)")
        + " and paste these three lines:\n"
        "\n"
        f"{snippet}\n"
        "\n"
        "Ctrl-C stops the server.\n"
    )


def port_from_environment() -> int:
    text = os.environ.get("PORT", str(DEFAULT_PORT)).strip()
    if not text.isdigit() or int(text) > 65535:
        raise SystemExit(f"make serve: PORT={text!r} is not a port number (0 to 65535; 0 picks any free one)")
    return int(text)


def bind(port: int, routes: list[stack.Route]) -> LocalApiServer:
    """The server, listening; a port in use or refused is one line, not a traceback."""
    try:
        return LocalApiServer((HOST, port), routes, {})
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise SystemExit(
                f"make serve: port {port} on {HOST} is in use (another make serve?): "
                f"PORT={port + 1 if port < 65535 else 3001} make serve uses another, PORT=0 any free one"
            ) from None
        raise SystemExit(
            f"make serve: cannot listen on {HOST}:{port}: {error.strerror} (PORT=0: any free port)"
        ) from None


def main() -> int:
    port = port_from_environment()
    concurrency = int(os.environ.get("LAMBDA_CONCURRENCY", DEFAULT_CONCURRENCY))
    template = stack.load_template()
    all_routes = stack.routes(template)
    with ExitStack() as cleanup:
        server = bind(port, all_routes)  # first: a busy port is found before anything else starts
        cleanup.callback(server.server_close)
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        if endpoint and not is_local_endpoint(endpoint):
            raise SystemExit(
                f"AWS_ENDPOINT_URL_DYNAMODB={endpoint} is not on this machine: the local endpoint stores in a local "
                "DynamoDB only (a loopback address), and installs keys there. Deploy the stack for DynamoDB on AWS."
            )
        s3_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
        if s3_endpoint and not is_local_endpoint(s3_endpoint):
            raise SystemExit(
                f"AWS_ENDPOINT_URL_S3={s3_endpoint} is not on this machine: the local endpoint stores content in a "
                "local S3 only (a loopback address). Deploy the stack for S3 on AWS."
            )
        if endpoint:
            # Not every DynamoDB-compatible server sends the stored item back with a failed condition: unless told
            # otherwise, the function reads it (one more call on such a failure, the same answers).
            aws = {
                **EMBEDDED_AWS,
                "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
                RETURNS_ITEM_VARIABLE: os.environ.get(RETURNS_ITEM_VARIABLE, "false"),
            }
            storage = f"DynamoDB at {endpoint} (AWS_ENDPOINT_URL_DYNAMODB)"
            embedded = None
        else:
            endpoint = embedded = cleanup.enter_context(embedded_dynamodb_server(HOST))
            aws = {**EMBEDDED_AWS, "AWS_ENDPOINT_URL_DYNAMODB": endpoint}
            storage = f"embedded (moto in server mode, in memory, on {endpoint})"
        if s3_endpoint:
            s3_storage = f"S3 at {s3_endpoint} (AWS_ENDPOINT_URL_S3)"
        elif embedded:
            s3_endpoint, s3_storage = embedded, "S3 on the same server"  # moto serves S3 too
        else:
            # Never the S3 of the caller's AWS account: an embedded one, beside the DynamoDB given.
            s3_endpoint = cleanup.enter_context(embedded_dynamodb_server(HOST))
            s3_storage = f"S3 embedded (moto, in memory, on {s3_endpoint})"
        aws["AWS_ENDPOINT_URL_S3"] = s3_endpoint
        client = dynamodb_client(endpoint, aws)
        try:
            tables = prepare_tables(client, template, {**os.environ, **aws})
        except (BotoCoreError, ClientError) as error:
            raise SystemExit(f"make serve: the DynamoDB at {endpoint} did not answer as one: {error}") from None
        try:
            buckets = prepare_buckets(aws_client("s3", s3_endpoint, aws), template, {**os.environ, **aws})
        except (BotoCoreError, ClientError) as error:
            raise SystemExit(f"make serve: the S3 at {s3_endpoint} did not answer as one: {error}") from None
        storage += "; tables " + ", ".join(tables.values())
        storage += f"; {s3_storage}, bucket " + ", ".join(buckets.values())
        auth, shown_key = install_keys(KeyTable(client, tables["KeysTable"]))

        pools = server.pools
        for name, function in stack.functions(template).items():
            pools[name] = FunctionPool(function, function_environment(function, template, aws), concurrency)
            cleanup.callback(pools[name].close)
        for pool in pools.values():
            pool.warm_up()
        # The stream event sources, as Lambda's event source mappings: stopped first when the server stops.
        pollers, streams = stream_pollers(template, client, aws_client("dynamodbstreams", endpoint, aws), tables, pools)
        for poller in pollers:
            cleanup.callback(poller.stop)

        def stop(signum: int, frame: Any) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        print(banner(server.base_url, storage, endpoint, all_routes, auth, shown_key, streams), flush=True)
        for poller in pollers:
            poller.start()
        started = time.monotonic()
        server.serve_forever()
    print(f"Stopped after {time.monotonic() - started:.0f} s.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
