"""The composition root: what an execution environment makes once and then reuses.

The DynamoDB client, the thread store, the key check and the idempotency records are each made on first use; so
are the S3 client and the cleanup, which the cleanup function's entry point uses. With SnapStart, the stores and
their clients are made before the snapshot instead (`before_snapshot`) and kept across a restore, which renews
only what may not be shared or kept (`after_restore`). `reset` drops them all (tests that switch DynamoDB).
Nothing below this module imports it: each part is handed what it needs.
"""

from __future__ import annotations

import os
import random
from functools import cache
from typing import TYPE_CHECKING

from . import dynamodb, s3
from .dynamodb import DynamoDBClient
from .idempotency import Records, records
from .keys import Authenticator, KeyTable
from .s3 import S3Client
from .store import ThreadStore

if TYPE_CHECKING:
    from .cleanup import Cleanup
    from .messages import MessageStore

# How long a warm environment trusts its last answer about a key: the longest a revoked key keeps working.
DEFAULT_KEY_CACHE_SECONDS = 30

# "false" where the storage never sends the stored item back with a failed condition (dynalite): the store then
# reads it. DynamoDB sends it, and a failed condition with no item means there is none.
RETURNS_ITEM_VARIABLE = "DYNAMODB_RETURNS_ITEM_ON_CONDITION_FAILURE"


@cache
def dynamodb_client() -> DynamoDBClient:
    return dynamodb.new_client()


def _returns_item() -> bool:
    return os.environ.get(RETURNS_ITEM_VARIABLE, "true").lower() != "false"


@cache
def thread_store() -> ThreadStore:
    return ThreadStore(dynamodb_client(), os.environ["TABLE_NAME"], returns_item_on_failure=_returns_item())


@cache
def s3_client() -> S3Client:
    """Made on the first message too large for its item: most execution environments never need one."""
    return s3.new_client()


@cache
def message_store() -> MessageStore:
    """Made, and its modules imported, on the first message request: the thread routes' cold start skips them."""
    from .bucket import ContentBucket
    from .messages import MessageStore

    return MessageStore(
        dynamodb_client(),
        os.environ["TABLE_NAME"],
        os.environ["MESSAGES_TABLE_NAME"],
        ContentBucket(os.environ["CONTENT_BUCKET_NAME"], s3_client),
        returns_item_on_failure=_returns_item(),
    )


@cache
def authenticator() -> Authenticator:
    ttl = float(os.environ.get("API_KEY_CACHE_SECONDS", DEFAULT_KEY_CACHE_SECONDS))
    return Authenticator(KeyTable(dynamodb_client(), os.environ["KEYS_TABLE_NAME"]), ttl_seconds=ttl)


@cache
def idempotency_records() -> Records:
    """Made on the first create with an Idempotency-Key: it imports Powertools' idempotency package (and boto3)."""
    return records(os.environ["IDEMPOTENCY_TABLE_NAME"], dynamodb_client())


@cache
def cleanup() -> Cleanup:
    """The cleanup function's work (its entry point is the only caller)."""
    from .cleanup import Cleanup

    return Cleanup(dynamodb_client(), s3_client(), os.environ["MESSAGES_TABLE_NAME"], os.environ["CONTENT_BUCKET_NAME"])


def before_snapshot() -> None:
    """SnapStart, before the snapshot: make the stores and their clients, which a restored environment would
    otherwise make on its first requests (the key check, which holds answers, is made anew after each restore).
    botocore's session, the service models it loaded and the clients made from them are safe to keep:
    `after_restore` says what is renewed."""
    thread_store()
    message_store()
    s3_client()


def after_restore() -> None:
    """SnapStart, in each environment restored from the snapshot, before its first request: renew what may not be
    kept, and only that (a new client would cost the first request the client's making again). Kept: the clients,
    the botocore session and its service models, and the clients' credentials, which botocore renews itself
    before they expire when they are refreshable ones. Thread and message ids need nothing: `secrets` draws each
    from the operating system when it is made."""
    # botocore's retries wait a random share of their backoff, drawn from `random`: without a seed of their own,
    # the environments restored from one snapshot would draw the same waits and retry a throttled table in step.
    random.seed()
    # A connection made before the snapshot is not guaranteed to work after a restore (AWS's SnapStart networking
    # guidance). Priming sends nothing, so the pools are empty and this costs nothing; it keeps that true.
    for made in (dynamodb_client, s3_client):
        if made.cache_info().currsize:
            made().close()
    # The key check's answers are trusted for a time measured on a clock that a snapshot may have stood still in,
    # for as long as it was stored: a key revoked since would keep working. Priming keeps none: this keeps it so.
    authenticator.cache_clear()


def reset() -> None:
    """Forget the clients and everything built on them (cached key answers included)."""
    for built in (cleanup, message_store, s3_client, idempotency_records, authenticator, thread_store, dynamodb_client):
        built.cache_clear()
