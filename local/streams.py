"""Lambda's DynamoDB stream event sources, played locally: `make serve` reads the tables' streams and invokes the
functions that template.yaml feeds from them, as Lambda's event source mappings do.

For each `Type: DynamoDB` event of a function, a poller thread reads the table's stream (DescribeStream,
GetShardIterator, GetRecords), keeps the records that match the event's `FilterCriteria` (read from the template,
matched as Lambda matches event patterns), and invokes the function with batches of at most `BatchSize` of them,
in the shape Lambda sends. With `ReportBatchItemFailures`, a batch whose answer names failed records is retried
from the first of them (the records before it are done); an invocation that fails whole is retried whole. After
`MaximumRetryAttempts` retries the batch is given up, and said so on standard error, where Lambda would describe
it to the `OnFailure` destination. A DynamoDB without streams (dynalite keeps none) is said so at start.
"""

from __future__ import annotations

import base64
import datetime
import sys
import threading
from collections.abc import Callable
from typing import Any

from local.stack import StreamSource

POLL_SECONDS = 0.25  # Lambda polls a shard about four times a second
RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0)  # between attempts of a failed batch, the last one repeated

_MISSING = object()
_OPERATORS = {"exists"}  # what the template's patterns use; any other is refused at start, not matched wrongly


class UnsupportedPattern(ValueError):
    """A filter pattern with an operator this local stand-in does not evaluate."""


def check_pattern(pattern: Any) -> None:
    """Raise UnsupportedPattern unless every rule of `pattern` is one `matches` evaluates as Lambda does."""
    if not isinstance(pattern, dict):
        raise UnsupportedPattern(f"a pattern is an object of fields: {pattern!r}")
    for rule in pattern.values():
        if isinstance(rule, dict):
            check_pattern(rule)
        elif isinstance(rule, list):
            for option in rule:
                if isinstance(option, dict) and (len(option) != 1 or not set(option) <= _OPERATORS):
                    raise UnsupportedPattern(f"operator {option!r}")
        else:
            raise UnsupportedPattern(f"a field's rule is a list or an object: {rule!r}")


def matches(pattern: dict[str, Any], record: Any) -> bool:
    """Whether a record matches an event pattern: every field of the pattern matches, an object by its fields, a
    list when the record's value is one of its values (or satisfies its operator)."""
    fields = record if isinstance(record, dict) else {}
    return all(_field_matches(rule, fields.get(name, _MISSING)) for name, rule in pattern.items())


def _field_matches(rule: Any, value: Any) -> bool:
    if isinstance(rule, dict):
        return matches(rule, value)
    return any(_option_matches(option, value) for option in rule)


def _option_matches(option: Any, value: Any) -> bool:
    if isinstance(option, dict):
        ((operator, argument),) = option.items()
        if operator == "exists":
            return (value is not _MISSING) == bool(argument)
        raise UnsupportedPattern(f"operator {operator!r}")
    return value is not _MISSING and not isinstance(value, dict | list) and value == option


def delivered(source: StreamSource, record: dict[str, Any]) -> bool:
    """Whether Lambda would deliver the record to the source's function: no filter, or any one matching."""
    return not source.filters or any(matches(pattern, record) for pattern in source.filters)


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stream record as boto3 reads it -> as Lambda puts it in the event: JSON throughout (binary values in
    base64, the creation time in epoch seconds) and the stream's ARN as `eventSourceARN`."""
    return {**_as_json(record), "eventSourceARN": stream_arn}


def lambda_event(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    return {"Records": [lambda_record(record, stream_arn) for record in records]}


def _as_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_as_json(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    return value


def failed_from(response: Any, batch: list[dict[str, Any]]) -> int | None:
    """The index in `batch` of the first record a partial batch response names as failed; None if none."""
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    failed = {str(failure.get("itemIdentifier")) for failure in failures or []}
    for index, record in enumerate(batch):
        if record["dynamodb"]["SequenceNumber"] in failed:
            return index
    return 0 if failed else None  # an identifier that names no record: Lambda retries the whole batch


class StreamPoller(threading.Thread):
    """One event source: a table's stream read and delivered to a function, until `stop`."""

    def __init__(
        self,
        source: StreamSource,
        streams: Any,  # a boto3 dynamodbstreams client
        stream_arn: str,
        invoke: Callable[[dict[str, Any]], Any],  # raises when the invocation fails whole
        log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    ):
        super().__init__(name=f"stream-{source.table}-{source.function}", daemon=True)
        self.source = source
        self.streams = streams
        self.stream_arn = stream_arn
        self.invoke = invoke
        self.log = log
        self.stopping = threading.Event()
        self.iterators: dict[str, str | None] = {}  # shard id -> next iterator (None: the shard is closed)
        self.invocations = 0

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                delivered_any = self._poll_once()
            except Exception as error:  # the storage went away (the server is stopping) or answered oddly
                if self.stopping.is_set():
                    return
                self.log(f"{self.name}: reading the stream failed: {error!r}")
                delivered_any = False
            if not delivered_any:
                self.stopping.wait(POLL_SECONDS)

    def _poll_once(self) -> bool:
        self._discover_shards()
        read_any = False
        for shard, iterator in list(self.iterators.items()):
            if iterator is None or self.stopping.is_set():
                continue
            answer = self.streams.get_records(ShardIterator=iterator)
            self.iterators[shard] = answer.get("NextShardIterator")
            records = [record for record in answer.get("Records", []) if delivered(self.source, record)]
            read_any = read_any or bool(answer.get("Records"))
            for start in range(0, len(records), self.source.batch_size):
                self._deliver(records[start : start + self.source.batch_size])
        return read_any

    def _discover_shards(self) -> None:
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self.iterators:
                iterator = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=self.source.starting_position
                )
                self.iterators[shard_id] = iterator["ShardIterator"]

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        """Invoke with the batch until it is done, retrying from the first failed record."""
        retries = 0
        while batch and not self.stopping.is_set():
            self.invocations += 1
            try:
                response = self.invoke(lambda_event(batch, self.stream_arn))
                first_failed = failed_from(response, batch) if self.source.reports_item_failures else None
            except Exception as error:
                self.log(f"{self.name}: the invocation failed: {error}")
                first_failed = 0
            if first_failed is None:
                return
            batch = batch[first_failed:]
            limit = self.source.maximum_retry_attempts
            if 0 <= limit <= retries:
                numbers = ", ".join(record["dynamodb"]["SequenceNumber"] for record in batch)
                self.log(f"{self.name}: gave up on records {numbers} after {retries} retries (Lambda's OnFailure)")
                return
            self.stopping.wait(RETRY_SECONDS[min(retries, len(RETRY_SECONDS) - 1)])
            retries += 1
