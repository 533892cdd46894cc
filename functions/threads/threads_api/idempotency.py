"""Idempotent create (`Idempotency-Key`): Powertools' idempotency utility, with its records in DynamoDB.

A record is keyed by the caller's project and the key, so keys of different projects never meet, and remembers
the request body and the id of the thread made for 24 hours. The same key and a JSON-equal body answer that
thread again, read as it is now (a thread deleted since is not found: a replay never hands back a thread that
retrieve says does not exist); another body is refused; while the first request is still running, a second one
is told to retry (never a second thread). A request that fails leaves no record, so its retry runs afresh.
Payloads are hashed with SHA-256.

Powertools' idempotency package imports boto3, so it is imported on the first create that carries the header,
not at init: requests without one do not pay for it. The composition root (resources.py) makes the records once
per execution environment, with `records`, and hands them to `create_once`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .dynamodb import DynamoDBClient, unavailable_reason
from .exceptions import IdempotencyKeyInFlight, IdempotencyKeyReused, StorageUnavailable

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

RECORD_SECONDS = 24 * 60 * 60


@dataclass(frozen=True, slots=True)
class Records:
    """Where create's idempotency records are kept: Powertools' config and its DynamoDB persistence layer."""

    config: IdempotencyConfig
    persistence: DynamoDBPersistenceLayer


def records(table_name: str, client: DynamoDBClient) -> Records:
    """The records of the idempotency table, kept through `client`."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    config = IdempotencyConfig(
        event_key_jmespath="[project, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=RECORD_SECONDS,
        hash_function="sha256",
    )
    return Records(config, DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client))


class Created(Protocol):
    @property
    def id(self) -> str: ...


def create_once[T: Created](
    records: Records,
    project: str,
    key: str,
    body: Any,
    create: Callable[[], T],
    read: Callable[[str], T],
    lambda_context: Any,
    record_field: str = "thread_id",
) -> T:
    """The object (thread or message) `create` makes, or the one it made for the same project, key and body
    within 24 hours, as `read` finds it now (`read` raises for one deleted since). The record keeps its id under
    `record_field`."""
    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    # With the invocation's deadline, a record left "in progress" by a request that timed out expires with it.
    records.config.register_lambda_context(lambda_context)

    created: list[T] = []

    @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools leaves its decorator unannotated
        data_keyword_argument="request", config=records.config, persistence_store=records.persistence
    )
    def create_item(request: dict[str, Any]) -> dict[str, str]:
        created.append(create())
        return {record_field: created[0].id}  # the id only: a replay reads it, so a deleted one stays deleted

    try:
        record = create_item(request={"project": project, "key": key, "body": body})
    except IdempotencyValidationError:
        raise IdempotencyKeyReused() from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyKeyInFlight() from None
    except IdempotencyPersistenceLayerError as error:
        # Powertools wraps whatever its record calls raised: only throttling or an unreachable DynamoDB is worth a
        # retry (503); anything else (a ValidationException, AccessDenied...) is unexpected, the generic 500.
        reason = unavailable_reason(error.__cause__)
        if reason is None:
            raise
        raise StorageUnavailable(f"idempotency record: {reason}") from error
    return created[0] if created else read(record[record_field])
