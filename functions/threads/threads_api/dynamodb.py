"""The storage seam: the one DynamoDB client, the one call wrapper and the classification of its errors.

Every DynamoDB call of the service goes through `call`, which sorts what can go wrong into three: a failed
condition (`ConditionFailed`, with the item DynamoDB sent back), throttling or an unreachable DynamoDB
(`StorageUnavailable`, worth a retry: the contract's 503), and anything else (raised as it is: a 500).

botocore is imported with this module, during init, so that a SnapStart snapshot already holds it: the import is
most of the cost of a first client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .exceptions import StorageUnavailable

if TYPE_CHECKING:  # the stubs are a development dependency: nothing of them ships
    from mypy_boto3_dynamodb import DynamoDBClient as DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    AttributeValue = AttributeValueTypeDef
else:
    DynamoDBClient = AttributeValue = Any

Item = dict[str, AttributeValue]

# A DynamoDB call gives up after at most 2 attempts of (0.5 s to connect + 1 s to answer) and one backoff of at
# most 1 s: 4 s. A request makes at most two calls in all but the rare near-limit merge, so a slow or absent
# DynamoDB is a 503 within 8 s, inside the function's 10 s timeout, itself inside API Gateway's 30 s.
#
# Every request is built here from values already validated, and DynamoDB checks each parameter again: botocore's
# own check of each one against the service model (parameter_validation, which botocore's documentation allows
# turning off for performance) was about an eighth of a warm modify's time inside botocore (make bench).
CLIENT_CONFIG = Config(
    connect_timeout=0.5,
    read_timeout=1,
    retries={"mode": "standard", "total_max_attempts": 2},
    parameter_validation=False,
)

RETRYABLE_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)


# What a cancelled transaction's reasons call an action that was throttled.
_THROTTLED_ACTION = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})
# TransactionInProgressException: the same ClientRequestToken is still being applied (a resend overtook it).
RETRYABLE_ERROR_CODES_TRANSACTIONS = frozenset({"TransactionInProgressException", "TransactionConflictException"})


def new_client() -> DynamoDBClient:
    """A plain botocore client: boto3 adds nothing used here but import time."""
    return cast("DynamoDBClient", botocore.session.get_session().create_client("dynamodb", config=CLIENT_CONFIG))


@contextmanager
def answered_in_process(client: DynamoDBClient, answers: Mapping[str, dict[str, Any]]) -> Iterator[None]:
    """Within the block, every call of `client` is answered in process, by operation name (`GetItem`...), with
    DynamoDB's JSON for a success, after botocore has validated, serialised and signed it: nothing is sent.

    For a snapshot's priming (app.py): the work a first call does once (loading the operation's shapes, the
    serialiser, the signer, the parser) is done before the snapshot, with no connection that a restore would find
    dead and no item read or written. An operation not in `answers` raises KeyError.
    """

    def answer(request: AWSRequest, **_: Any) -> Any:  # an AWSResponse: botocore then sends nothing
        target = request.headers["X-Amz-Target"]
        operation = (target.decode() if isinstance(target, bytes) else target).rpartition(".")[2]
        body = json.dumps(answers[operation]).encode()
        headers = HTTPHeaders.from_dict({"Content-Type": "application/x-amz-json-1.0"})
        return AWSResponse(request.url or "", 200, headers, _Raw(body))

    events = client.meta.events
    events.register_first("before-send.dynamodb", answer)
    try:
        yield
    finally:
        events.unregister("before-send.dynamodb", answer)


class _Raw:
    """An answered body, as botocore reads a response's (`raw.stream()`)."""

    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class ConditionFailed(Exception):
    """A conditional write was refused; `item` is the item as stored, if DynamoDB sent it back."""

    def __init__(self, item: Item | None):
        super().__init__()
        self.item = item


class TransactionCanceled(Exception):
    """A transaction was refused; `reasons` has one entry per action, in order: its `Code` ("None" for an action
    that was fine, "ConditionalCheckFailed", "TransactionConflict"...) and, for a failed condition, the `Item` as
    stored when the action asked for it."""

    def __init__(self, reasons: list[dict[str, Any]]):
        super().__init__([reason.get("Code") for reason in reasons])
        self.reasons = reasons

    def failed(self, action: int) -> bool:
        """Whether that action's condition failed."""
        return self._code(action) == "ConditionalCheckFailed"

    def item(self, action: int) -> Item | None:
        item: Item | None = self.reasons[action].get("Item") if action < len(self.reasons) else None
        return item

    def conflicted(self) -> bool:
        """Whether another write to one of its items was in progress: worth trying again at once."""
        return any(reason.get("Code") == "TransactionConflict" for reason in self.reasons)

    def _code(self, action: int) -> str | None:
        return self.reasons[action].get("Code") if action < len(self.reasons) else None


def call[**P, R](operation: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`operation(...)`, a bound method of a DynamoDB client, with its errors classified."""
    try:
        return operation(*args, **kwargs)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == "ConditionalCheckFailedException":
            item: Item | None = error.response.get("Item")  # type: ignore[assignment]
            raise ConditionFailed(item) from None
        if code == "TransactionCanceledException":
            reasons: list[dict[str, Any]] = error.response.get("CancellationReasons", [])  # type: ignore[assignment]
            for reason in reasons:  # a throttled action: the whole transaction is worth a retry later
                if reason.get("Code") in _THROTTLED_ACTION:
                    raise StorageUnavailable(str(reason["Code"])) from error
            raise TransactionCanceled(reasons) from None
        _raise_if_unavailable(error)
        raise
    except BotoCoreError as error:
        _raise_if_unavailable(error)
        raise


def _raise_if_unavailable(error: BaseException | None) -> None:
    """Raise StorageUnavailable (from `error`) when DynamoDB was throttled or unreachable: worth a retry."""
    reason = unavailable_reason(error)
    if reason is not None:
        raise StorageUnavailable(reason) from error


def unavailable_reason(error: BaseException | None) -> str | None:
    """Why a DynamoDB error means "throttled or unreachable" (its code, or the network fault's name); None for an
    error that retrying would not cure."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        return code if code in RETRYABLE_ERROR_CODES | RETRYABLE_ERROR_CODES_TRANSACTIONS else None
    if isinstance(error, BotoCoreError):
        return type(error).__name__
    return None
