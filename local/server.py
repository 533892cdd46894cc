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
import os
import pathlib
import shlex
import socket
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from wsgiref.types import WSGIApplication

from botocore.exceptions import BotoCoreError, ClientError

from local import listener, stack
from local.runtime import FunctionPool
from local.storage import (
    EMBEDDED_AWS,
    aws_client,
    dynamodb_client,
    embedded_dynamodb_server,
    prepare_buckets,
    prepare_tables,
)
from local.streams import StreamPoller, UnsupportedPattern, check_pattern
from local.table import load_template
from local.wsgi import gateway_application
from threads_api.exceptions import KeyExists
from threads_api.keys import KeyTable
from threads_api.resources import RETURNS_ITEM_VARIABLE

ROOT = pathlib.Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_PORT = 3000
DEFAULT_CONCURRENCY = 4


def function_environment(function: stack.Function, template: dict[str, Any], aws: dict[str, str]) -> dict[str, str]:
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


@dataclass(frozen=True)
class StreamPlan:
    """The template's stream event sources whose table has a stream here, to be polled by the serving process."""

    sources: list[tuple[stack.StreamSource, str]]  # (event source, stream ARN)
    summary: str  # what runs, or why nothing does


def stream_plan(template: dict[str, Any], client: Any, tables: dict[str, str]) -> StreamPlan:
    sources, without = [], []
    for source in stack.stream_sources(template):
        for pattern in source.filters:
            try:
                check_pattern(pattern)
            except UnsupportedPattern as error:
                raise SystemExit(f"make serve: {source.function}'s filter on {source.table}: {error}") from None
        table = tables[source.table]
        arn = client.describe_table(TableName=table)["Table"].get("LatestStreamArn")
        if arn:
            sources.append((source, arn))
        else:
            without.append(table)
    running = ", ".join(f"{tables[source.table]} -> {source.function}" for source, _ in sources)
    if without:
        # dynalite takes a table's StreamSpecification and keeps no stream.
        tables_without = ", ".join(sorted(set(without)))
        note = f"none on {tables_without}: this DynamoDB keeps no streams, so nothing cleans up after deletes"
        return StreamPlan(sources, f"{running}; {note}" if running else note)
    return StreamPlan(sources, running or "none in the template")


def banner(
    base_url: str,
    storage: str,
    keys_endpoint: str,
    routes: list[stack.Route],
    auth: str,
    key: str | None,
    streams: str = "",
) -> str:
    credential = f'api_key="{key}"' if key else 'api_key=os.environ["OPENAI_API_KEY"]'
    snippet = "\n".join(
        [
            "from openai import OpenAI" if key else "import os; from openai import OpenAI",
            f'client = OpenAI(base_url="{base_url}", {credential})',
            'thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])',
            "print(thread.id, client.beta.threads.messages.list(thread.id).data[0].content[0].text.value)",
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
        + " and paste these four lines:\n"
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


def bind(port: int) -> socket.socket:
    """The listening socket; a port in use or refused is one line, not a traceback."""
    try:
        return socket.create_server((HOST, port), backlog=listener.BACKLOG)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise SystemExit(
                f"make serve: port {port} on {HOST} is in use (another make serve?): "
                f"PORT={port + 1 if port < 65535 else 3001} make serve uses another, PORT=0 any free one"
            ) from None
        raise SystemExit(
            f"make serve: cannot listen on {HOST}:{port}: {error.strerror} (PORT=0: any free port)"
        ) from None


def base_url(listening: socket.socket) -> str:
    host, port = listening.getsockname()[:2]
    return f"http://{host}:{port}/v1"


def serving_application(
    template: dict[str, Any],
    routes: list[stack.Route],
    aws: dict[str, str],
    concurrency: int,
    pools: ExitStack,
    streams: StreamPlan,
) -> WSGIApplication:
    """The gateway in front of each function's execution environments (one pool per function, started now, so
    that a function that cannot even import fails at start), and the stream event sources delivering to them, as
    Lambda's event source mappings; `pools` stops the pollers, then closes the pools."""
    running: dict[str, FunctionPool] = {}
    for name, function in stack.functions(template).items():
        running[name] = FunctionPool(function, function_environment(function, template, aws), concurrency)
        pools.callback(running[name].close)
    for pool in running.values():
        pool.warm_up()
    reader = aws_client("dynamodbstreams", aws["AWS_ENDPOINT_URL_DYNAMODB"], aws)  # made here, after the fork
    for source, arn in streams.sources:
        poller = StreamPoller(source, reader, arn, running[source.function].invoke)
        pools.callback(poller.stop)
        poller.start()

    def invoke(route: stack.Route, event: dict[str, Any]) -> Any:
        return running[route.function].invoke(event)

    return gateway_application(invoke, routes)


def main() -> int:
    port = port_from_environment()
    concurrency = int(os.environ.get("LAMBDA_CONCURRENCY", DEFAULT_CONCURRENCY))
    template = load_template()
    all_routes = stack.routes(template)
    with ExitStack() as cleanup:
        listening = bind(port)  # first: a busy port is found before anything else starts
        cleanup.callback(listening.close)
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
        streams = stream_plan(template, client, tables)
        text = banner(base_url(listening), storage, endpoint, all_routes, auth, shown_key, streams.summary)
        pools = ExitStack()  # the worker's: its execution environments and stream pollers
        server = listener.GatewayServer(
            listening,
            load=lambda: serving_application(template, all_routes, aws, concurrency, pools, streams),
            ready=lambda: print(text, flush=True),
            leaving=pools.close,
        )
        started = time.monotonic()
        server.run()
    print(f"Stopped after {time.monotonic() - started:.0f} s.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
