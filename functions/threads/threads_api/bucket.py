"""The content bucket: message bodies too large for a DynamoDB item, as S3 objects.

An object is written tagged `state=pending` before the transaction that stores its message, and the tag is
removed once that committed: the bucket's lifecycle expires objects still pending after a day, so a create
that failed leaves nothing for long (the cleanup function removes the tag too, should the request not have).
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from .exceptions import StorageUnavailable
from .s3 import S3Client

PENDING_TAG = "state=pending"
_UNAVAILABLE = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503"})


def _checked[R](operation: Callable[[], R]) -> R:
    try:
        return operation()
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _UNAVAILABLE:
            raise StorageUnavailable(f"s3: {code}") from error
        raise
    except BotoCoreError as error:
        raise StorageUnavailable(f"s3: {type(error).__name__}") from error


class ContentBucket:
    """The bucket named `name`, through a client made on first use (most requests never need one)."""

    def __init__(self, name: str, client: Callable[[], S3Client]):
        self._name = name
        self._client = client

    def put_pending(self, key: str, blob: bytes) -> None:
        self._put(key, blob, PENDING_TAG)

    def put(self, key: str, blob: bytes) -> None:
        """An object kept from the start (an import's: its message is not seen before its thread is stored)."""
        self._put(key, blob, None)

    def _put(self, key: str, blob: bytes, tagging: str | None) -> None:
        def put() -> object:
            client, kind = self._client(), "application/octet-stream"
            if tagging is None:
                return client.put_object(Bucket=self._name, Key=key, Body=blob, ContentType=kind)
            return client.put_object(Bucket=self._name, Key=key, Body=blob, ContentType=kind, Tagging=tagging)

        _checked(put)

    def keep(self, key: str) -> None:
        """The object's message is stored: it is no longer an orphan to expire."""
        _checked(lambda: self._client().delete_object_tagging(Bucket=self._name, Key=key))

    def get(self, key: str) -> bytes:
        return _checked(lambda: self._client().get_object(Bucket=self._name, Key=key)["Body"].read())
