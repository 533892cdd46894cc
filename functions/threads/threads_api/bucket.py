"""The content bucket: message bodies too large for a DynamoDB item, as S3 objects.

An object is written tagged `state=pending` before the transaction that stores its message, and the tag is
removed once that committed: the bucket's lifecycle expires objects still pending after a day, so a create
that failed leaves nothing for long (the cleanup function removes the tag too, should the request not have).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, cast

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .exceptions import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client as S3Client
else:
    S3Client = Any

PENDING_TAG = "state=pending"
_UNAVAILABLE = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503"})


def new_client() -> S3Client:
    """A plain botocore S3 client; path-style addressing for an endpoint of one's own (moto, MinIO)."""
    style: Literal["path", "virtual"] = "path" if os.environ.get("AWS_ENDPOINT_URL_S3") else "virtual"
    config = Config(
        connect_timeout=0.5,
        read_timeout=5,
        retries={"mode": "standard", "total_max_attempts": 2},
        s3={"addressing_style": style},
    )
    return cast("S3Client", botocore.session.get_session().create_client("s3", config=config))


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
        _checked(
            lambda: self._client().put_object(
                Bucket=self._name,
                Key=key,
                Body=blob,
                ContentType="application/octet-stream",
                Tagging=PENDING_TAG,
            )
        )

    def keep(self, key: str) -> None:
        """The object's message is stored: it is no longer an orphan to expire."""
        _checked(lambda: self._client().delete_object_tagging(Bucket=self._name, Key=key))

    def get(self, key: str) -> bytes:
        return _checked(lambda: self._client().get_object(Bucket=self._name, Key=key)["Body"].read())
