"""The local endpoint's keys: THREADS_API_KEYS is installed without replacing what is stored, only into a local
DynamoDB, without echoing a key, and nothing of it (nor the caller's AWS credentials) reaches the functions."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from local import stack
from local.embedded import KEYS_TABLE_NAME
from local.launch import ROOT, dynamodb_client, local_endpoint, server_environment
from local.server import function_environment, is_local_endpoint
from local.storage import EMBEDDED_AWS
from threads_api.keys import KeyTable, key_hash


def run_server(**extra: str) -> subprocess.CompletedProcess:
    """The local endpoint, expected to refuse to start: its exit and everything it printed."""
    return subprocess.run(
        [sys.executable, "-m", "local.server"],
        cwd=ROOT,
        env=server_environment(**extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def keys(dynalite_endpoint) -> KeyTable:
    from local.table import create_table

    client = dynamodb_client(dynalite_endpoint)
    create_table(client, KEYS_TABLE_NAME, "KeysTable")
    return KeyTable(client, KEYS_TABLE_NAME)


def raw_key(keys: KeyTable, secret: str) -> dict | None:
    return keys._client.get_item(TableName=KEYS_TABLE_NAME, Key={"key_hash": {"S": key_hash(secret)}}).get("Item")


def test_a_key_stored_for_another_project_is_not_taken_over(dynalite_endpoint, keys):
    secret = f"sk-taken-{uuid.uuid4().hex}"
    keys.add(secret, "proj_owner")
    before = raw_key(keys, secret)
    done = run_server(
        AWS_ENDPOINT_URL_DYNAMODB=dynalite_endpoint, THREADS_API_KEYS=f"{secret}=proj_intruder", **EMBEDDED_AWS
    )
    assert done.returncode != 0
    assert "THREADS_API_KEYS: key 1 is stored already" in done.stderr
    assert "Traceback" not in done.stderr
    assert secret not in done.stdout + done.stderr and secret[-12:] not in done.stdout + done.stderr
    assert raw_key(keys, secret) == before


def test_a_revoked_key_is_not_brought_back(dynalite_endpoint, keys):
    secret = f"sk-revoked-{uuid.uuid4().hex}"
    keys.revoke(keys.add(secret, "proj_owner").key_id)
    done = run_server(
        AWS_ENDPOINT_URL_DYNAMODB=dynalite_endpoint, THREADS_API_KEYS=f"{secret}=proj_owner", **EMBEDDED_AWS
    )
    assert done.returncode != 0 and "is stored already" in done.stderr
    assert keys.stored(secret).revoked


def test_the_same_keys_again_start_the_server(dynalite_endpoint, keys):
    """A restart on the same storage finds its keys as it stored them, and keeps them."""
    secret = f"sk-again-{uuid.uuid4().hex}"
    keys.add(secret, "proj_same")
    before = raw_key(keys, secret)
    with local_endpoint(
        AWS_ENDPOINT_URL_DYNAMODB=dynalite_endpoint, THREADS_API_KEYS=f"{secret}=proj_same", **EMBEDDED_AWS
    ):
        pass
    assert raw_key(keys, secret) == before


def test_a_malformed_entry_is_refused_without_showing_it():
    secret = f"sk-malformed-{uuid.uuid4().hex}"
    done = run_server(THREADS_API_KEYS=f"sk-fine=proj_a,{secret}")
    assert done.returncode != 0
    assert "THREADS_API_KEYS: entry 2 is not KEY=PROJECT" in done.stderr
    assert secret not in done.stdout + done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "endpoint",
    ["https://dynamodb.us-east-1.amazonaws.com", "http://10.0.0.5:8000", "http://example.com:8000", "http://0.0.0.0:1"],
)
def test_only_a_local_dynamodb_is_used(endpoint):
    done = run_server(AWS_ENDPOINT_URL_DYNAMODB=endpoint, THREADS_API_KEYS="sk-some-key=proj_a")
    assert done.returncode != 0
    assert f"AWS_ENDPOINT_URL_DYNAMODB={endpoint} is not on this machine" in done.stderr
    assert "sk-some-key" not in done.stdout + done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "endpoint, local",
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.5.6.7:8000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://localhost.example.com:8000", False),
        ("http://169.254.169.254", False),
        ("not a url", False),
    ],
)
def test_what_counts_as_local(endpoint, local):
    assert is_local_endpoint(endpoint) is local


def test_functions_inherit_neither_the_keys_nor_the_callers_aws_session(monkeypatch):
    caller = {
        "THREADS_API_KEYS": "sk-secret-key=proj_a",
        "AWS_ACCESS_KEY_ID": "ASIACALLERKEY",
        "AWS_SECRET_ACCESS_KEY": "caller-secret",
        "AWS_SESSION_TOKEN": "caller-session-token",
        "AWS_PROFILE": "production",
        "AWS_SHARED_CREDENTIALS_FILE": "caller-credentials-file",
        "UNRELATED": "kept",
    }
    for name, value in caller.items():
        monkeypatch.setenv(name, value)
    template = stack.load_template()
    aws = {**EMBEDDED_AWS, "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}
    for function in stack.functions(template).values():
        environment = function_environment(function, template, aws)
        assert environment["UNRELATED"] == "kept"
        for name in caller.keys() - {"UNRELATED", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}:
            assert name not in environment
        assert environment["AWS_ACCESS_KEY_ID"] == EMBEDDED_AWS["AWS_ACCESS_KEY_ID"]
        assert environment["AWS_SECRET_ACCESS_KEY"] == EMBEDDED_AWS["AWS_SECRET_ACCESS_KEY"]
        values = set(environment.values())
        assert not values & {
            "ASIACALLERKEY",
            "caller-secret",
            "caller-session-token",
            "production",
            "caller-credentials-file",
        }
        assert not any("sk-secret-key" in value for value in values)
