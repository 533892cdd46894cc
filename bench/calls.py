"""DynamoDB calls per operation, counted from botocore's `before-call` events on the function's own client.

    python -m bench.calls        (prints JSON; run by bench.run in the project's environment, which has moto)

Every request goes through the real entry point, `app.lambda_handler`, against the embedded DynamoDB (moto, with
real conditional-write semantics), once with the key check's answers cached (the common warm case: each key used
was checked by an earlier request) and once with `API_KEY_CACHE_SECONDS=0` (every request looks its key up).
This counts calls; it does not time them.
"""

from __future__ import annotations

import json
import os

from local.embedded import IDEMPOTENCY_TABLE_NAME, KEYS_TABLE_NAME, MESSAGES_TABLE_NAME, TABLE_NAME
from local.events import LambdaContext, http_event
from local.fixtures import API_KEY, BASIC, EMPTY, FULL, OTHER_PROJECT, UNKNOWN_ID
from threads_api.message import POSITIONS_PER_SECOND, Message
from threads_api.thread import Thread

OTHER_ID = "thread_" + "OtherProjects".ljust(24, "0")  # a thread of another project

UNKNOWN_KEY = "sk-unknown-key-for-the-bench"
THREADS = "/v1/threads/"
MESSAGES = THREADS + BASIC.id + "/messages"
# Three messages of BASIC, stored before the count: the ones the message scenarios read, change and page by.
SEEDED = [f"msg_BenchCalls{n:014d}" for n in (1, 2, 3)]
FIRST, MIDDLE, LAST = SEEDED
UNKNOWN_MESSAGE = "msg_" + "NeverStored".ljust(24, "0")
TABLES = {
    TABLE_NAME: "threads",
    KEYS_TABLE_NAME: "keys",
    MESSAGES_TABLE_NAME: "messages",
    IDEMPOTENCY_TABLE_NAME: "idempotency",
}

# name, method, path, body, key (None: no Authorization header), the status the scenario is about[, If-Match].
SCENARIOS = [
    ("create", "POST", "/v1/threads", {"metadata": {"user": "alice"}}, API_KEY, 200),
    ("retrieve", "GET", THREADS + BASIC.id, None, API_KEY, 200),
    ("modify", "POST", THREADS + BASIC.id, {"metadata": {"topic": "refunds", "priority": "high"}}, API_KEY, 200),
    ("modify, remove a key", "POST", THREADS + BASIC.id, {"metadata": {"priority": None}}, API_KEY, 200),
    (
        "modify tool_resources",
        "POST",
        THREADS + BASIC.id,
        {"tool_resources": {"code_interpreter": {"file_ids": []}}},
        API_KEY,
        200,
    ),
    (
        "modify at 16 pairs, an existing key",
        "POST",
        THREADS + FULL.id,
        {"metadata": {"key01": "changed"}},
        API_KEY,
        200,
    ),
    ("modify at 16 pairs, a 17th key", "POST", THREADS + FULL.id, {"metadata": {"key17": "x"}}, API_KEY, 400),
    ("empty modify", "POST", THREADS + BASIC.id, {}, API_KEY, 200),
    ("modify, unknown thread", "POST", THREADS + UNKNOWN_ID, {"metadata": {"a": "b"}}, API_KEY, 404),
    ("modify, invalid body", "POST", THREADS + BASIC.id, {"metadata": {"a": 1}}, API_KEY, 400),
    ("retrieve, unknown thread", "GET", THREADS + UNKNOWN_ID, None, API_KEY, 404),
    ("retrieve, malformed id", "GET", THREADS + "thread_nope", None, API_KEY, 404),
    ("delete", "DELETE", THREADS + EMPTY.id, None, API_KEY, 200),
    ("modify with If-Match", "POST", THREADS + BASIC.id, {"metadata": {"m": "1"}}, API_KEY, 200, '"4"'),
    ("modify with a stale If-Match", "POST", THREADS + BASIC.id, {"metadata": {"m": "2"}}, API_KEY, 412, '"1"'),
    ("modify, another project's thread", "POST", THREADS + OTHER_ID, {"metadata": {"a": "b"}}, API_KEY, 404),
    ("delete, unknown thread", "DELETE", THREADS + UNKNOWN_ID, None, API_KEY, 404),
    ("delete with If-Match, another project's thread", "DELETE", THREADS + OTHER_ID, None, API_KEY, 404, '"1"'),
    ("unknown API key (401)", "GET", THREADS + BASIC.id, None, UNKNOWN_KEY, 401),
    ("no API key (401)", "GET", THREADS + BASIC.id, None, None, 401),
    ("unknown route", "GET", "/v1/assistants", None, API_KEY, 404),
    # The message routes (after the thread's: a message create changes the thread item, not its version).
    ("message create", "POST", MESSAGES, {"role": "user", "content": "Where is my refund?"}, API_KEY, 200),
    (
        "create thread with 3 messages",
        "POST",
        "/v1/threads",
        {"messages": [{"role": "user", "content": f"message {n}"} for n in (1, 2, 3)]},
        API_KEY,
        200,
    ),
    ("message retrieve", "GET", f"{MESSAGES}/{FIRST}", None, API_KEY, 200),
    ("message modify", "POST", f"{MESSAGES}/{FIRST}", {"metadata": {"tag": "billing"}}, API_KEY, 200),
    ("empty message modify", "POST", f"{MESSAGES}/{FIRST}", {}, API_KEY, 200),
    ("list", "GET", MESSAGES, None, API_KEY, 200),
    ("list, limit 100, oldest first", "GET", MESSAGES + "?limit=100&order=asc", None, API_KEY, 200),
    ("list, after a cursor", "GET", f"{MESSAGES}?after={MIDDLE}", None, API_KEY, 200),
    ("list, before a cursor", "GET", f"{MESSAGES}?before={MIDDLE}", None, API_KEY, 200),
    ("list, after and before", "GET", f"{MESSAGES}?after={LAST}&before={FIRST}", None, API_KEY, 200),
    ("list, a cursor never stored", "GET", f"{MESSAGES}?after={UNKNOWN_MESSAGE}", None, API_KEY, 400),
    ("list, unknown thread", "GET", THREADS + UNKNOWN_ID + "/messages", None, API_KEY, 404),
    ("message retrieve, unknown message", "GET", f"{MESSAGES}/{UNKNOWN_MESSAGE}", None, API_KEY, 404),
    ("message delete", "DELETE", f"{MESSAGES}/{LAST}", None, API_KEY, 200),
    ("list, after a deleted message", "GET", f"{MESSAGES}?after={LAST}", None, API_KEY, 200),
]


def _invoke(app, method: str, path: str, body, key: str | None, if_match: str | None = None) -> dict:
    headers = {"content-type": "application/json"}
    if if_match is not None:
        headers["if-match"] = if_match
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    path, _, query = path.partition("?")
    return app.lambda_handler(http_event(method, path, body, headers=headers, query=query), LambdaContext())


def _seed_messages(client) -> None:
    """BASIC's three messages, as the MessageStore writes them, oldest first."""
    from threads_api.messages import encode_body, message_to_item

    for n, message_id in enumerate(SEEDED):
        content = [{"type": "text", "text": {"value": f"seeded {n}", "annotations": []}}]
        message = Message(
            message_id, BASIC.id, BASIC.created_at, "user", content, BASIC.created_at * POSITIONS_PER_SECOND + n
        )
        item = message_to_item(message, BASIC.project, {"body": {"B": encode_body(content, [])}})
        client.put_item(TableName=MESSAGES_TABLE_NAME, Item=item)


def _described(model, params) -> str:
    """A call and the tables it touches: `TransactWriteItems(threads, messages)`."""
    request = json.loads(params["body"] or b"{}")
    if "RequestItems" in request:
        tables = list(request["RequestItems"])
    elif "TransactItems" in request:
        tables = [next(iter(action.values()))["TableName"] for action in request["TransactItems"]]
    else:
        tables = [request.get("TableName", "")]
    return f"{model.name}({', '.join(TABLES.get(table, table) for table in tables)})"


def count(cached: bool) -> dict:
    from local.embedded import embedded_dynamodb

    with embedded_dynamodb() as client:  # sets the template's variables, API_KEY_CACHE_SECONDS among them
        os.environ["API_KEY_CACHE_SECONDS"] = "30" if cached else "0"
        import app
        from threads_api.store import to_item

        client.put_item(TableName=TABLE_NAME, Item=to_item(Thread(id=OTHER_ID, project=OTHER_PROJECT, created_at=0)))
        _seed_messages(client)
        from threads_api import resources

        resources.reset()  # the key check is made again with this API_KEY_CACHE_SECONDS
        if cached:  # each key's answer is cached by an earlier request, as in a warm environment
            for key in (API_KEY, UNKNOWN_KEY):
                _invoke(app, "GET", THREADS + UNKNOWN_ID, None, key)
        calls: list[str] = []

        def record(model, params, **_):
            calls.append(_described(model, params))

        resources.dynamodb_client().meta.events.register("before-call.dynamodb", record)
        counted = {}
        for name, method, path, body, key, expected, *if_match in SCENARIOS:
            calls.clear()
            status = _invoke(app, method, path, body, key, *if_match)["statusCode"]
            counted[name] = {"calls": len(calls), "operations": list(calls), "status": status, "expected": expected}
        return counted


def main() -> int:
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "threads")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    cached, uncached = count(cached=True), count(cached=False)
    result = {
        name: {
            "cached": cached[name]["calls"],
            "uncached": uncached[name]["calls"],
            "cached_operations": cached[name]["operations"],
            "uncached_operations": uncached[name]["operations"],
            "status": cached[name]["status"],
            "status_as_expected": cached[name]["status"] == uncached[name]["status"] == cached[name]["expected"],
        }
        for name, *_ in SCENARIOS
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
