"""An embedded DynamoDB (moto, in process) holding the threads table and the fixture threads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

TABLE_NAME = "threads-local"
_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def embedded_dynamodb(seed: bool = True) -> Iterator[object]:
    """Within it, the function's DynamoDB calls reach an in-memory table; yields the boto3 client."""
    import boto3
    from moto import mock_aws

    from local.fixtures import seed_fixture_threads
    from local.table import create_threads_table
    from threads_api.routes import thread_store

    saved = {name: os.environ.get(name) for name in (*_FAKE_AWS, "TABLE_NAME")}
    os.environ.update(_FAKE_AWS, TABLE_NAME=TABLE_NAME)
    thread_store.cache_clear()
    try:
        with mock_aws():
            client = boto3.client("dynamodb")
            create_threads_table(client, TABLE_NAME)
            if seed:
                seed_fixture_threads(client, TABLE_NAME)
            yield client
    finally:
        thread_store.cache_clear()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
