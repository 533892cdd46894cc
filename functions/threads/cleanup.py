"""The Lambda entry point of the cleanup: batches of the threads table's and the messages table's stream records.

The event source mappings' filters (template.yaml) deliver three kinds of record, and each is checked again here,
so that a record of any other kind is passed over rather than acted on:

- a thread's tombstone written (`MODIFY`, `deleted_at` in the new image): its messages and objects are purged;
- a message created with its content in the bucket (`INSERT`, `s3_key`): the object's pending tag is removed;
- a message deleted whose content is in the bucket (`MODIFY`, `deleted_position` and `s3_key`): the object goes.

A record not done (a purge out of time, a failed call) is reported as a failed item: Lambda invokes again from
it, and the purge, safe to run again, goes on with what is left.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from threads_api import resources
from threads_api.cleanup import THREAD_DELETED_AT, TIME_MARGIN_SECONDS, OutOfTime
from threads_api.message import DELETED_POSITION, MESSAGE_KEY, S3_KEY, THREAD_KEY

logger = Logger()
# A batch whose every record failed is still a partial answer, not a failed invocation: a purge that ran out of
# time is resumed from its record, and the whole batch is not split and retried for it.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)

try:
    from snapshot_restore_py import register_after_restore
except ImportError:  # only the Lambda runtime has it
    pass
else:
    register_after_restore(resources.reset)


def _string(image: dict[str, Any], name: str) -> str | None:
    value = image.get(name)
    return value.get("S") if isinstance(value, dict) else None


def handle(record: DynamoDBRecord, deadline: float) -> None:
    """One stream record, done by `deadline` (a `time.monotonic()` instant) or raised."""
    change: dict[str, Any] = record.raw_event.get("dynamodb") or {}
    keys: dict[str, Any] = change.get("Keys") or {}
    image: dict[str, Any] = change.get("NewImage") or {}
    event_name = record.raw_event.get("eventName")
    thread_id = _string(keys, THREAD_KEY)
    if time.monotonic() >= deadline:
        raise TimeoutError("no time left in this invocation")
    if MESSAGE_KEY not in keys:
        if thread_id and event_name == "MODIFY" and THREAD_DELETED_AT in image:
            purged = resources.cleanup().purge_thread(thread_id, deadline)
            logger.info("thread purged", thread_id=thread_id, messages=purged.messages, objects=purged.objects)
        return
    s3_key = _string(image, S3_KEY)
    if s3_key is None:
        return
    if event_name == "INSERT":
        resources.cleanup().untag(s3_key)
    elif event_name == "MODIFY" and DELETED_POSITION in image:
        resources.cleanup().delete_object(s3_key)
        logger.info("deleted message's content removed", thread_id=thread_id, s3_key=s3_key)


def _logged(record: DynamoDBRecord, deadline: float) -> None:
    try:
        handle(record, deadline)
    except OutOfTime as stopped:
        logger.warning(
            "thread not purged yet: resumed by the next invocation",
            thread_id=stopped.thread_id,
            messages=stopped.purged.messages,
            objects=stopped.purged.objects,
        )
        raise
    except TimeoutError:
        logger.warning("no time left: the record is resumed by the next invocation")
        raise
    except Exception:
        # The ids and the sequence number: what an operator needs to find the record or replay it.
        change = record.raw_event.get("dynamodb") or {}
        keys = {name: value.get("S") for name, value in (change.get("Keys") or {}).items() if isinstance(value, dict)}
        logger.exception("stream record failed", sequence_number=change.get("SequenceNumber"), keys=keys)
        raise


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - TIME_MARGIN_SECONDS
    return process_partial_response(
        event=event,
        record_handler=lambda record: _logged(record, deadline),
        processor=processor,
        context=context,
    )
