"""The storage a local endpoint talks to: an embedded moto server (DynamoDB and S3), or the DynamoDB that
`AWS_ENDPOINT_URL_DYNAMODB` names and the S3 that `AWS_ENDPOINT_URL_S3` names.

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


def untag_missing_objects_as_s3_does() -> None:
    """moto (5.2) fails on DeleteObjectTagging of a key that is not there, where S3 answers 404 NoSuchKey; the
    cleanup meets it whenever a thread's purge removed an object before its pending tag was: moto is made to
    answer as S3 does."""
    from moto.s3.exceptions import MissingKey
    from moto.s3.models import S3Backend

    original = S3Backend.delete_object_tagging
    if getattr(original, "answers_no_such_key", False):
        return

    def delete_object_tagging(self: Any, bucket_name: str, key_name: str, version_id: str | None = None) -> None:
        if self.get_object(bucket_name, key_name, version_id=version_id) is None:
            raise MissingKey(key=key_name)
        original(self, bucket_name, key_name, version_id=version_id)

    delete_object_tagging.answers_no_such_key = True  # type: ignore[attr-defined]
    S3Backend.delete_object_tagging = delete_object_tagging  # type: ignore[method-assign]


@contextmanager
def embedded_dynamodb_server(host: str = "127.0.0.1") -> Iterator[str]:
    """moto in server mode on a free loopback port (DynamoDB, its streams and S3), for the duration; yields its
    endpoint URL."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    untag_missing_objects_as_s3_does()

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


def aws_client(service: str, endpoint_url: str | None, environment: dict[str, str], config: Any = None) -> Any:
    """A boto3 client of `service` for the endpoint, with the credentials and region of `environment` (and
    botocore's `config`, if given)."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=environment.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environment.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=environment.get("AWS_SESSION_TOKEN"),
        region_name=environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    if service == "s3":
        from botocore.config import Config

        path_style = Config(s3={"addressing_style": "path"})  # a local S3 answers on one host name
        config = path_style.merge(config) if config else path_style
    made: Any = session.client(service, endpoint_url=endpoint_url, config=config)  # type: ignore[call-overload]  # the service is a run-time name
    return made


def dynamodb_client(endpoint_url: str | None, environment: dict[str, str], config: Any = None) -> DynamoDBClient:
    """A boto3 DynamoDB client for the endpoint, with the credentials and region of `environment` (and botocore's
    `config`, if given)."""
    client: DynamoDBClient = aws_client("dynamodb", endpoint_url, environment, config)
    return client


def prepare_tables(client: Any, template: dict[str, Any], environment: dict[str, str]) -> dict[str, str]:
    """Create each of the template's tables that is missing (an existing one is reused); returns logical id -> name.

    A table's name is the one the functions will see: the caller's own value of the environment variable that
    refers to it (e.g. TABLE_NAME), else its local name.
    """
    names = stack.local_names(template, environment)
    tables = {logical_id: names[logical_id] for logical_id in stack.tables(template)}
    for logical_id, name in tables.items():
        create_table(client, name, logical_id)
    return tables


def prepare_buckets(client: Any, template: dict[str, Any], environment: dict[str, str]) -> dict[str, str]:
    """Create each of the template's buckets that is missing, named as `prepare_tables` names tables; returns
    logical id -> name."""
    names = stack.local_names(template, environment)
    buckets = {logical_id: names[logical_id] for logical_id in stack.buckets(template)}
    for name in buckets.values():
        try:
            client.create_bucket(Bucket=name)
        except (client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
            pass  # an earlier run's, on the same storage: reused
    return buckets
