"""What an execution environment makes once and then reuses: the DynamoDB client, the thread store, the key check.

botocore is imported with this module, during init, so that a SnapStart snapshot already holds it: the import is
most of the cost of a first client. The client itself is made on first use, after any restore; `reset` drops it
and what is built on it (SnapStart's after-restore hook, and tests that switch DynamoDB).
"""

from __future__ import annotations

import os
from functools import cache

import botocore.session
from botocore.config import Config

from .keys import Authenticator, KeyTable
from .store import ThreadStore

# How long a warm environment trusts its last answer about a key: the longest a revoked key keeps working.
DEFAULT_KEY_CACHE_SECONDS = 30


@cache
def dynamodb_client():
    # Bounded so that a slow DynamoDB answers a 503 well inside the function's timeout. A plain botocore
    # client: boto3 adds nothing used here but import time.
    config = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 3})
    return botocore.session.get_session().create_client("dynamodb", config=config)


@cache
def thread_store() -> ThreadStore:
    return ThreadStore(dynamodb_client(), os.environ["TABLE_NAME"])


@cache
def authenticator() -> Authenticator:
    ttl = float(os.environ.get("API_KEY_CACHE_SECONDS", DEFAULT_KEY_CACHE_SECONDS))
    return Authenticator(KeyTable(dynamodb_client(), os.environ["KEYS_TABLE_NAME"]), ttl_seconds=ttl)


def reset() -> None:
    """Forget the client and everything built on it (cached key answers included)."""
    from . import idempotency  # a light module: what is heavy it imports on first use

    for made in (idempotency.persistence_layer, authenticator, thread_store, dynamodb_client):
        made.cache_clear()
