"""What a list page costs against the size of its thread: a thread of 10 messages beside one of 10,000.

    python -m bench.pages [PAGES]        (prints JSON; run by bench.run in the project's environment, which has moto)

A page is one `BatchGetItem` (the thread, and the cursor's message) and one `Query` of the `by_position` index
that reads `limit + 1` items from where the page starts, so neither its latency nor what DynamoDB reads for it
should grow with the thread. Both threads are on the embedded DynamoDB (moto), seeded directly with
`BatchWriteItem` in the MessageStore's format (about 1 KB of text per message); then PAGES pages of each kind
(the newest 20, and 20 from the middle of the thread with `after`) go through the entry point, the two sizes
interleaved. Per page: the items DynamoDB read (the Query's `ScannedCount` and the items the `BatchGetItem`
answered, from botocore's `after-call` events), the latency, and the time moto itself took to answer: moto goes
through every item of the table at each Query of an index, which DynamoDB does not, so the latency that speaks
for the function is the rest.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

from bench.canned import message_text
from local.embedded import MESSAGES_TABLE_NAME, TABLE_NAME
from local.events import LambdaContext, http_event
from local.fixtures import API_KEY, CREATED_AT, DEFAULT_PROJECT
from threads_api.message import LAST_POSITION, POSITIONS_PER_SECOND, Message, new_message_id
from threads_api.thread import Thread, new_thread_id

SIZES = (10, 10_000)
LIMIT = 20
DEFAULT_PAGES = 20
_BATCH = 25  # BatchWriteItem's most items per call


def seed_thread(client, size: int) -> tuple[str, list[str]]:
    """A thread of `size` messages as the MessageStore writes them, positions increasing; its id and the message
    ids, oldest first."""
    from threads_api.messages import encode_body, message_to_item
    from threads_api.store import new_write_token, to_item

    thread = Thread(id=new_thread_id(), project=DEFAULT_PROJECT, created_at=CREATED_AT)
    first = CREATED_AT * POSITIONS_PER_SECOND
    thread_item = to_item(thread, new_write_token())
    thread_item[LAST_POSITION] = {"N": str(first + size - 1)}
    client.put_item(TableName=TABLE_NAME, Item=thread_item)
    ids = [new_message_id() for _ in range(size)]
    requests = []
    for n, message_id in enumerate(ids):
        content = [{"type": "text", "text": {"value": message_text(n), "annotations": []}}]
        message = Message(message_id, thread.id, CREATED_AT, "user" if n % 2 else "assistant", content, first + n)
        body = {"body": {"B": encode_body(content, [])}}
        requests.append({"PutRequest": {"Item": message_to_item(message, DEFAULT_PROJECT, body)}})
    for start in range(0, len(requests), _BATCH):
        pending = {MESSAGES_TABLE_NAME: requests[start : start + _BATCH]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return thread.id, ids


class Meter:
    """What one invocation asked of DynamoDB: the items read, and the time the embedded DynamoDB took."""

    def __init__(self, client):
        from moto.core.models import botocore_stubber

        self.items_read = 0
        self.storage_ns = 0
        self._stubber = botocore_stubber
        events = client.meta.events
        # Every `before-send` handler is called, the first answer taken: moto's own is replaced by one that times it.
        events.unregister("before-send", botocore_stubber)
        events.register("before-send.dynamodb", self._answer)
        events.register("after-call.dynamodb.Query", self._queried)
        events.register("after-call.dynamodb.BatchGetItem", self._batch_read)

    def reset(self) -> None:
        self.items_read = self.storage_ns = 0

    def _answer(self, event_name, request, **kwargs):
        started = time.perf_counter_ns()
        response = self._stubber(event_name, request, **kwargs)
        self.storage_ns += time.perf_counter_ns() - started
        return response

    def _queried(self, parsed, **_):
        self.items_read += parsed.get("ScannedCount", 0)

    def _batch_read(self, parsed, **_):
        self.items_read += sum(len(items) for items in parsed.get("Responses", {}).values())


def _page_event(thread_id: str, after: str | None) -> dict:
    query = f"limit={LIMIT}" + (f"&after={after}" if after else "")
    headers = {"authorization": f"Bearer {API_KEY}", "openai-beta": "assistants=v2"}
    return http_event("GET", f"/v1/threads/{thread_id}/messages", headers=headers, query=query)


def measure(pages: int) -> dict:
    from local.embedded import embedded_dynamodb

    with embedded_dynamodb() as client:
        import app
        from threads_api import resources

        seeded, seed_started = {}, time.perf_counter()
        for size in SIZES:
            seeded[size] = seed_thread(client, size)
        seed_seconds = time.perf_counter() - seed_started
        meter = Meter(resources.dynamodb_client())
        # The newest page, and a page from the middle: the 20 older than the thread's middle message.
        kinds = {
            "newest first": {size: _page_event(thread_id, None) for size, (thread_id, _) in seeded.items()},
            "from the middle, after": {
                size: _page_event(thread_id, ids[size // 2]) for size, (thread_id, ids) in seeded.items()
            },
        }
        samples: dict[str, dict[int, dict[str, list]]] = {
            kind: {size: {"wall_ns": [], "storage_ns": [], "items_read": [], "messages": []} for size in SIZES}
            for kind in kinds
        }
        for round_ in range(pages + 1):  # the first round warms up, unrecorded
            for kind, events in kinds.items():
                for size in SIZES if round_ % 2 else reversed(SIZES):
                    meter.reset()
                    started = time.perf_counter_ns()
                    response = app.lambda_handler(events[size], LambdaContext())
                    wall = time.perf_counter_ns() - started
                    if response["statusCode"] != 200:
                        raise SystemExit(f"bench.pages: {kind} at {size}: {response}")
                    if round_:
                        taken = samples[kind][size]
                        taken["wall_ns"].append(wall)
                        taken["storage_ns"].append(meter.storage_ns)
                        taken["items_read"].append(meter.items_read)
                        taken["messages"].append(len(json.loads(response["body"])["data"]))
    return {"seed_seconds": round(seed_seconds, 1), **summarise(samples)}


def summarise(samples: dict) -> dict:
    kinds = {}
    for kind, by_size in samples.items():
        sizes = {}
        for size, taken in by_size.items():
            outside = [wall - storage for wall, storage in zip(taken["wall_ns"], taken["storage_ns"], strict=True)]
            messages, items = statistics.median(taken["messages"]), statistics.median(taken["items_read"])
            sizes[str(size)] = {
                "messages": messages,
                "items_read": items,
                "items_read_per_message": round(items / messages, 2) if messages else None,
                "p50_ms": round(statistics.median(taken["wall_ns"]) / 1e6, 2),
                "storage_p50_ms": round(statistics.median(taken["storage_ns"]) / 1e6, 2),
                "outside_storage_p50_ms": round(statistics.median(outside) / 1e6, 2),
                "n": len(taken["wall_ns"]),
            }
        small, large = sizes[str(SIZES[0])], sizes[str(SIZES[-1])]
        ratios = {
            key: round(large[key] / small[key], 2) if small[key] else None
            for key in ("items_read", "items_read_per_message", "p50_ms", "outside_storage_p50_ms")
        }
        kinds[kind] = {"sizes": sizes, "ratio_large_to_small": ratios}
    return {"sizes": list(SIZES), "limit": LIMIT, "pages": kinds}


def main(argv: list[str]) -> int:
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "threads")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    pages = int(argv[0]) if argv else DEFAULT_PAGES
    print(json.dumps({"pages_per_kind": pages, **measure(pages)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
