"""An embedded DynamoDB (moto, in process) holding the template's tables, the fixture threads, messages and keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from local.stack import buckets, functions, local_table_name, resolve_environment, tables
from local.storage import EMBEDDED_AWS
from local.table import load_template

TABLE_NAME = local_table_name("ThreadsTable")
KEYS_TABLE_NAME = local_table_name("KeysTable")
IDEMPOTENCY_TABLE_NAME = local_table_name("IdempotencyTable")
MESSAGES_TABLE_NAME = local_table_name("MessagesTable")


def local_bucket_name(logical_id: str = "ContentBucket") -> str:
    return local_table_name(logical_id)


def _environment() -> dict[str, str]:
    """What the function sees in Lambda, played locally: its variables from template.yaml (tables by their local
    names), and credentials the embedded DynamoDB accepts (a real session token must not leak in)."""
    template = load_template()
    function = functions(template)["ThreadsFunction"]
    return {**EMBEDDED_AWS, "AWS_SESSION_TOKEN": "local", **resolve_environment(function, template, overrides={})}


@contextmanager
def embedded_dynamodb(seed: bool = True, messages: bool = False) -> Iterator[object]:
    """Within it, the function's DynamoDB calls reach in-memory tables; yields the boto3 client. `messages`: BASIC
    holds the fixture messages (the sample events name them)."""
    import boto3
    from moto import mock_aws

    from local.fixtures import seed_fixture_keys, seed_fixture_messages, seed_fixture_threads
    from local.table import create_table
    from threads_api import resources

    environment = _environment()
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    resources.reset()
    try:
        with mock_aws():
            client = boto3.client("dynamodb")
            for logical_id in tables():
                create_table(client, local_table_name(logical_id), logical_id)
            s3 = boto3.client("s3")
            for logical_id in buckets():
                s3.create_bucket(Bucket=local_table_name(logical_id))
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
