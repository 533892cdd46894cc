"""API keys: how a key is made, what is kept of it, and which project a request's key acts for.

A key is `sk-` and 48 random base62 characters. Only its SHA-256 hash is stored, in the keys table, with the
project it belongs to, a short key id, its creation time and a revoked flag. The function checks the key
itself (an API Gateway authorizer could not answer the contract's 401 body), through a bounded in-memory cache:
a revoked key keeps working in an execution environment that has it cached for at most `ttl_seconds`.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .dynamodb import ConditionFailed, DynamoDBClient, Item, call
from .exceptions import InvalidApiKey, KeyExists, MissingApiKey

KEY_PREFIX = "sk-"
KEY_RANDOM_CHARACTERS = 48
_BASE62 = string.ascii_letters + string.digits


def new_secret() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_BASE62) for _ in range(KEY_RANDOM_CHARACTERS))


def new_key_id() -> str:
    return "key_" + "".join(secrets.choice(_BASE62) for _ in range(12))


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def masked(secret: str) -> str:
    """How an error shows a wrong key: its first 3 and last 4 characters; a key under 8 characters not at all."""
    return f"{secret[:3]}***{secret[-4:]}" if len(secret) >= 8 else "***"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    project: str
    created_at: int
    revoked: bool = False


class KeyTable:
    """The keys table: GetItem by hash for the function; the rest is for the admin command."""

    def __init__(self, client: DynamoDBClient, table: str):
        self._client = client
        self._table = table

    def project_of(self, digest: str) -> str | None:
        """The project of a valid key, given its hash; None for an unknown or revoked one."""
        # Consistent, so that a key works the moment it is made and stops the moment the cache lets it.
        item = call(
            self._client.get_item, TableName=self._table, Key={"key_hash": {"S": digest}}, ConsistentRead=True
        ).get("Item")
        if item is None or item.get("revoked", {}).get("BOOL", False):
            return None
        return item["project"]["S"]

    def add(self, secret: str, project: str, replace: bool = False) -> ApiKey:
        """Store a given key for a project. KeyExists if that key is stored already, unless `replace`."""
        key = ApiKey(key_id=new_key_id(), project=project, created_at=int(time.time()))
        item: Item = {
            "key_hash": {"S": key_hash(secret)},
            "key_id": {"S": key.key_id},
            "project": {"S": key.project},
            "created_at": {"N": str(key.created_at)},
            "revoked": {"BOOL": False},
        }
        if replace:
            call(self._client.put_item, TableName=self._table, Item=item)
            return key
        try:
            call(
                self._client.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(key_hash)",
            )
        except ConditionFailed:
            raise KeyExists() from None
        return key

    def stored(self, secret: str) -> ApiKey | None:
        """What is stored for a key, revoked or not; None if nothing is."""
        item = call(
            self._client.get_item, TableName=self._table, Key={"key_hash": {"S": key_hash(secret)}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else _from_item(item)

    def create(self, project: str) -> tuple[str, ApiKey]:
        """A new key for the project: the secret (shown once, stored nowhere) and what is stored."""
        secret = new_secret()
        return secret, self.add(secret, project)

    def list(self, project: str | None = None) -> list[ApiKey]:
        """Every key (of one project, if given), oldest first. A Scan: keys are few and this is an admin call."""
        found = [_from_item(item) for item in self._scan()]
        if project is not None:
            found = [key for key in found if key.project == project]
        return sorted(found, key=lambda key: (key.created_at, key.key_id))

    def revoke(self, key_id: str) -> ApiKey | None:
        """Mark the key revoked; None if no key has that id."""
        for item in self._scan(FilterExpression="key_id = :id", ExpressionAttributeValues={":id": {"S": key_id}}):
            call(
                self._client.update_item,
                TableName=self._table,
                Key={"key_hash": item["key_hash"]},
                UpdateExpression="SET revoked = :yes",
                ConditionExpression="attribute_exists(key_hash)",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
            return _from_item({**item, "revoked": {"BOOL": True}})
        return None

    def _scan(self, **kwargs: Any) -> Iterator[Item]:
        for page in self._client.get_paginator("scan").paginate(TableName=self._table, **kwargs):
            yield from page.get("Items", [])


def _from_item(item: Item) -> ApiKey:
    return ApiKey(
        key_id=item["key_id"]["S"],
        project=item["project"]["S"],
        created_at=int(item["created_at"]["N"]),
        revoked=item.get("revoked", {}).get("BOOL", False),
    )


def bearer_token(authorization: str | None) -> str:
    """The key of an `Authorization: Bearer <key>` header; MissingApiKey for anything else."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise MissingApiKey()
    return token


class Authenticator:
    """Which project a request acts for, from its Authorization header.

    Answers are cached by key hash for `ttl_seconds`, at most `max_entries` valid keys and as many unknown or
    revoked ones, each kept apart and the least recently used going first: a warm environment checks a key
    against the table at most once per interval, and a spray of random keys can only push out other wrong keys,
    never a valid one.
    """

    def __init__(
        self,
        keys: KeyTable,
        ttl_seconds: float,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._keys = keys
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._valid: OrderedDict[str, tuple[float, str]] = OrderedDict()  # hash -> (expiry, project)
        self._invalid: OrderedDict[str, float] = OrderedDict()  # hash -> expiry

    def project_for(self, authorization: str | None) -> str:
        secret = bearer_token(authorization)
        digest = key_hash(secret)
        now = self._clock()
        valid = self._valid.get(digest)
        if valid is not None and valid[0] > now:
            self._valid.move_to_end(digest)
            return valid[1]
        invalid = self._invalid.get(digest)
        if invalid is not None and invalid > now:
            self._invalid.move_to_end(digest)
            raise InvalidApiKey(masked(secret))
        project = self._keys.project_of(digest)
        self._valid.pop(digest, None)
        self._invalid.pop(digest, None)
        if project is None:
            _remember(self._invalid, digest, now + self._ttl, self._max_entries)
            raise InvalidApiKey(masked(secret))
        _remember(self._valid, digest, (now + self._ttl, project), self._max_entries)
        return project


def _remember[T](cache: OrderedDict[str, T], digest: str, answer: T, max_entries: int) -> None:
    cache[digest] = answer
    while len(cache) > max_entries:
        cache.popitem(last=False)
