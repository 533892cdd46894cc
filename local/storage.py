"""The DynamoDB a local endpoint talks to: an embedded moto server, or whatever `AWS_ENDPOINT_URL_DYNAMODB` names.

moto keeps its tables in plain Python objects and does not make one request atomic against another; the
embedded server therefore answers one DynamoDB request at a time, which is the per-item atomicity DynamoDB
itself gives. (dynalite, run by the tests, is a second, independent check of concurrent writes.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from local import stack
from local.table import create_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Credentials and region for the embedded server, which accepts any.
EMBEDDED_AWS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class _OneRequestAtATime:
    """WSGI middleware: the wrapped application serves one request, start to finish, at a time."""

    def __init__(self, app: Any):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                if hasattr(result, "close"):
                    result.close()


@contextmanager
def embedded_dynamodb_server(host: str = "127.0.0.1") -> Iterator[str]:
    """moto in server mode on a free loopback port, for the duration; yields its endpoint URL."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log of the function's DynamoDB calls
    app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="embedded-dynamodb", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def dynamodb_client(endpoint_url: str | None, environment: dict[str, str], config: Any = None) -> DynamoDBClient:
    """A boto3 DynamoDB client for the endpoint, with the credentials and region of `environment` (and botocore's
    `config`, if given)."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=environment.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environment.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=environment.get("AWS_SESSION_TOKEN"),
        region_name=environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    client: DynamoDBClient = session.client("dynamodb", endpoint_url=endpoint_url, config=config)
    return client


def prepare_tables(client: Any, template: dict[str, Any], environment: dict[str, str]) -> dict[str, str]:
    """Create each of the template's tables that is missing (an existing one is reused); returns logical id -> name.

    A table's name is the one the functions will see: the caller's own value of the environment variable that
    refers to it (e.g. TABLE_NAME), else its local name.
    """
    names = {logical_id: stack.local_table_name(logical_id) for logical_id in stack.tables(template)}
    for function in stack.functions(template).values():
        for variable, value in function.environment.items():
            ref = value.get("Ref") if isinstance(value, dict) else None
            if ref in names and environment.get(variable):
                names[ref] = environment[variable]
    for logical_id, name in names.items():
        create_table(client, name, logical_id)
    return names
