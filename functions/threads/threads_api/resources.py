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


# A DynamoDB call gives up after at most 2 attempts of (0.5 s to connect + 1 s to answer) and one backoff of at
# most 1 s: 4 s. A request makes at most two calls in all but the rare near-limit merge, so a slow or absent
# DynamoDB is a 503 within 8 s, inside the function's 10 s timeout, itself inside API Gateway's 30 s.
DYNAMODB_CONFIG = Config(
    connect_timeout=0.5,
    read_timeout=1,
    retries={"mode": "standard", "total_max_attempts": 2},
)


@cache
def dynamodb_client():
    # A plain botocore client: boto3 adds nothing used here but import time.
    return botocore.session.get_session().create_client("dynamodb", config=DYNAMODB_CONFIG)


# "false" where the storage never sends the stored item back with a failed condition (dynalite): the store then
# reads it. DynamoDB sends it, and a failed condition with no item means there is none.
RETURNS_ITEM_VARIABLE = "DYNAMODB_RETURNS_ITEM_ON_CONDITION_FAILURE"


@cache
def thread_store() -> ThreadStore:
    returns_item = os.environ.get(RETURNS_ITEM_VARIABLE, "true").lower() != "false"
    return ThreadStore(dynamodb_client(), os.environ["TABLE_NAME"], returns_item_on_failure=returns_item)


@cache
def authenticator() -> Authenticator:
    ttl = float(os.environ.get("API_KEY_CACHE_SECONDS", DEFAULT_KEY_CACHE_SECONDS))
    return Authenticator(KeyTable(dynamodb_client(), os.environ["KEYS_TABLE_NAME"]), ttl_seconds=ttl)


def reset() -> None:
    """Forget the client and everything built on it (cached key answers included)."""
    from . import idempotency  # a light module: what is heavy it imports on first use

    for made in (idempotency.persistence_layer, authenticator, thread_store, dynamodb_client):
        made.cache_clear()
