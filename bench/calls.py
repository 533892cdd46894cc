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

from local.embedded import TABLE_NAME
from local.events import LambdaContext, http_event
from local.fixtures import API_KEY, BASIC, EMPTY, FULL, OTHER_PROJECT, UNKNOWN_ID
from threads_api.thread import Thread

OTHER_ID = "thread_" + "OtherProjects".ljust(24, "0")  # a thread of another project

UNKNOWN_KEY = "sk-unknown-key-for-the-bench"
THREADS = "/v1/threads/"

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
]


def _invoke(app, method: str, path: str, body, key: str | None, if_match: str | None = None) -> dict:
    headers = {"content-type": "application/json"}
    if if_match is not None:
        headers["if-match"] = if_match
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return app.lambda_handler(http_event(method, path, body, headers=headers), LambdaContext())


def count(cached: bool) -> dict:
    from local.embedded import embedded_dynamodb

    with embedded_dynamodb() as client:  # sets the template's variables, API_KEY_CACHE_SECONDS among them
        os.environ["API_KEY_CACHE_SECONDS"] = "30" if cached else "0"
        import app
        from threads_api.store import to_item

        client.put_item(TableName=TABLE_NAME, Item=to_item(Thread(id=OTHER_ID, project=OTHER_PROJECT, created_at=0)))
        from threads_api import resources

        resources.reset()  # the key check is made again with this API_KEY_CACHE_SECONDS
        if cached:  # each key's answer is cached by an earlier request, as in a warm environment
            for key in (API_KEY, UNKNOWN_KEY):
                _invoke(app, "GET", THREADS + UNKNOWN_ID, None, key)
        calls: list[str] = []

        def record(model, params, **_):
            table = json.loads(params["body"] or b"{}").get("TableName", "")
            calls.append(f"{model.name}({'keys' if 'key' in table.lower() else 'threads'})")

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
