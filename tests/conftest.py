"""Shared fixtures: the embedded DynamoDB table and a way to call the Lambda entry point."""

from __future__ import annotations

import base64
import json
import os
import re

import pytest

import local  # noqa: F401  (puts the function's code, `app` and `threads_api`, on sys.path, as for every tool here)

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "threads")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ThreadsApi")


@pytest.fixture
def dynamodb():
    """A fresh embedded threads table, seeded with the fixture threads; yields the boto3 client."""
    from local.embedded import embedded_dynamodb

    with embedded_dynamodb() as client:
        yield client


@pytest.fixture
def fixture_messages(dynamodb):
    """The fixture messages of BASIC in the `dynamodb` fixture's messages table (which is otherwise empty)."""
    from local.embedded import MESSAGES_TABLE_NAME
    from local.fixtures import FIXTURE_MESSAGES, seed_fixture_messages

    seed_fixture_messages(dynamodb, MESSAGES_TABLE_NAME)
    return FIXTURE_MESSAGES


class Invoked:
    """A Lambda proxy response, with its body parsed."""

    def __init__(self, response: dict):
        self.raw = response
        self.status = response["statusCode"]
        self.headers = {name.lower(): value for name, value in response.get("headers", {}).items()}
        body = response.get("body") or ""
        if response.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("utf-8")
        self.json = json.loads(body) if body else None

    def __repr__(self) -> str:
        return f"Invoked({self.status}, {self.json})"


@pytest.fixture
def invoke(dynamodb):
    """invoke(method, path, body=None, headers=None, ...) -> Invoked, through app.lambda_handler.

    The request carries the fixture project's API key unless `headers` gives another `authorization` (None: none).
    """
    import app
    from local.events import LambdaContext, http_event
    from local.fixtures import API_KEY

    def call(method: str, path: str, body=None, headers=None, **kwargs) -> Invoked:
        sent = {"content-type": "application/json", "authorization": f"Bearer {API_KEY}", **(headers or {})}
        sent = {name: value for name, value in sent.items() if value is not None}
        event = http_event(method, path, body, headers=sent, **kwargs)
        return Invoked(app.lambda_handler(event, LambdaContext()))

    return call


@pytest.fixture(scope="session")
def dynalite_endpoint():
    """One dynalite server for the whole run: a second, independent DynamoDB-compatible implementation."""
    from local.launch import dynalite

    with dynalite() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def http_server(dynalite_endpoint):
    """The local endpoint (`python -m local.server`) on a free port, storing in dynalite."""
    from local.launch import local_endpoint
    from local.storage import EMBEDDED_AWS

    with local_endpoint(AWS_ENDPOINT_URL_DYNAMODB=dynalite_endpoint, **EMBEDDED_AWS) as server:
        yield server


@pytest.fixture
def http_table(http_server, dynalite_endpoint):
    """The boto3 client of the local endpoint's table, with the fixture threads put back as they were."""
    from local.embedded import KEYS_TABLE_NAME, TABLE_NAME
    from local.fixtures import UNKNOWN_ID, seed_fixture_keys, seed_fixture_threads
    from local.launch import dynamodb_client

    client = dynamodb_client(dynalite_endpoint)
    seed_fixture_keys(client, KEYS_TABLE_NAME)
    seed_fixture_threads(client, TABLE_NAME)
    client.delete_item(TableName=TABLE_NAME, Key={"thread_id": {"S": UNKNOWN_ID}})
    return client


@pytest.fixture(scope="session")
def moto_http_server():
    """The local endpoint on a free port, storing in its embedded moto: messages need TransactWriteItems, which
    dynalite lacks."""
    from local.launch import local_endpoint

    with local_endpoint() as server:
        yield server


@pytest.fixture
def moto_http_table(moto_http_server):
    """The boto3 client of the moto endpoint's storage (the DynamoDB URL its banner gives for `make keys`), with
    the fixture threads and messages put back as they were."""
    from local.embedded import MESSAGES_TABLE_NAME, TABLE_NAME
    from local.fixtures import seed_fixture_messages, seed_fixture_threads
    from local.launch import dynamodb_client

    storage = re.search(r"--endpoint (http://127\.0\.0\.1:\d+) ", moto_http_server.banner)
    assert storage, moto_http_server.banner
    client = dynamodb_client(storage.group(1))
    seed_fixture_threads(client, TABLE_NAME)
    seed_fixture_messages(client, MESSAGES_TABLE_NAME)
    return client


def pytest_collection_modifyitems(items):
    """Schemathesis names each generated test after its operation (`test_x[POST /v1/threads]`) but leaves them all
    one node id; give each its name, so that pytest-xdist runs every one of them, not one per id."""
    from _pytest.nodeid import NodeId  # schemathesis sets the older `_nodeid`, which this pytest no longer reads

    for item in items:
        if not item.nodeid.endswith(item.name):
            item._id = NodeId.parse(item.nodeid.rsplit("::", 1)[0] + "::" + item.name)
