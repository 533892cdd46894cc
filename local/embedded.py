"""An embedded DynamoDB and S3 (moto, in process) holding the template's tables and buckets, the fixture threads,
messages and keys."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local.stack import buckets, functions, local_bucket_name, local_table_name, resolve_environment, tables
from local.storage import EMBEDDED_AWS, untag_missing_objects_as_s3_does
from local.table import load_template

TABLE_NAME = local_table_name("ThreadsTable")
KEYS_TABLE_NAME = local_table_name("KeysTable")
IDEMPOTENCY_TABLE_NAME = local_table_name("IdempotencyTable")
MESSAGES_TABLE_NAME = local_table_name("MessagesTable")
CONTENT_BUCKET_NAME = local_bucket_name("ContentBucket")


def _environment() -> dict[str, str]:
    """What the functions see in Lambda, played locally: their variables from template.yaml (tables and buckets by
    their local names), and credentials the embedded storage accepts (a real session token must not leak in)."""
    template = load_template()
    variables: dict[str, str] = {}
    for function in functions(template).values():
        variables.update(resolve_environment(function, template, overrides={}))
    return {**EMBEDDED_AWS, "AWS_SESSION_TOKEN": "local", **variables}


@contextmanager
def _one_request_at_a_time() -> Iterator[None]:
    """moto in process answers one request at a time, as the embedded server does (storage._OneRequestAtATime):
    its tables are plain Python objects, which a request served on another thread (the cleanup's workers
    deleting while it reads the next page) would change under an iteration."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request
    lock = threading.RLock()

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]


@contextmanager
def embedded_dynamodb(seed: bool = True, messages: bool = False) -> Iterator[object]:
    """Within it, the functions' DynamoDB and S3 calls reach in-memory tables and buckets; yields the boto3
    DynamoDB client. `messages`: BASIC holds the fixture messages (the sample events name them)."""
    import boto3
    from moto import mock_aws

    from local.fixtures import seed_fixture_keys, seed_fixture_messages, seed_fixture_threads
    from local.table import create_table
    from threads_api import resources

    untag_missing_objects_as_s3_does()
    environment = _environment()
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    resources.reset()
    try:
        with mock_aws(), _one_request_at_a_time():
            client = boto3.client("dynamodb")
            for logical_id in tables():
                create_table(client, local_table_name(logical_id), logical_id)
            s3 = boto3.client("s3")
            for logical_id in buckets():
                s3.create_bucket(Bucket=local_bucket_name(logical_id))
            seed_fixture_keys(client, KEYS_TABLE_NAME)
            if seed:
                seed_fixture_threads(client, TABLE_NAME)
            if seed and messages:
                seed_fixture_messages(client, MESSAGES_TABLE_NAME)
            yield client
    finally:
        resources.reset()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
