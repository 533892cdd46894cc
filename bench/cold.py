"""One cold start, in a fresh process: import a Lambda entry point and serve one modify event.

    <runtime venv python> bench/cold.py ours|floor|ours-stages|floor-stages|ours-restore|floor-restore EVENT_FILE

Run by `bench.run` with the function's code on PYTHONPATH (as /var/task is in Lambda) and a Lambda-like
environment. DynamoDB is answered by `canned` at the HTTP layer, installed on the handler's own client after the
import, so nothing is imported in the measured path beyond what the handler imports itself. The last line of
standard output is `BENCH <json>`; times are `time.perf_counter_ns()` (CLOCK_MONOTONIC, shared by every process
on Linux, so the parent can measure from the moment it started this process).

The `-stages` variants import in steps and invoke several times, to show where the time goes. The `-restore`
variants play SnapStart: a stand-in for the runtime's `snapshot_restore_py` records the hooks the entry point
registers; after the import (the initialisation), the before-snapshot hooks run, then the after-restore hooks,
which start the clock, then the first modify, which stops it (and a second modify, for reference).
"""

import time

STARTED = time.perf_counter_ns()

import sys  # noqa: E402

VARIANT = sys.argv[1]
marks: list[tuple[str, int]] = [("start", STARTED)]


def mark(name: str) -> None:
    marks.append((name, time.perf_counter_ns()))


hooks: dict[str, list] = {"before_snapshot": [], "after_restore": []}
if VARIANT.endswith("-restore"):
    import types

    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = lambda hook, *a, **k: hooks["before_snapshot"].append((hook, a, k))
    runtime.register_after_restore = lambda hook, *a, **k: hooks["after_restore"].append((hook, a, k))
    sys.modules["snapshot_restore_py"] = runtime

if VARIANT == "ours-stages":
    import botocore.session  # noqa: F401

    mark("import botocore.session")
    import pydantic  # noqa: F401

    mark("import pydantic")
    import aws_lambda_powertools  # noqa: F401

    mark("import aws_lambda_powertools (Logger)")
    import threads_api  # noqa: F401  (as app does first: Powertools' packages load their re-exports on first use)

    mark("import threads_api (Powertools' package re-exports made lazy)")
    import aws_lambda_powertools.event_handler.api_gateway  # noqa: F401

    mark("import aws_lambda_powertools.event_handler.api_gateway (the resolver)")
    from pydantic import BaseModel  # noqa: F401

    mark("from pydantic import BaseModel (its machinery, imported lazily)")
    import threads_api.models  # noqa: F401

    mark("import threads_api.models (pydantic models)")
    import threads_api.routes  # noqa: F401

    mark("import threads_api.routes (Powertools router, dependencies)")
elif VARIANT == "floor-stages":
    import boto3  # noqa: F401

    mark("import boto3")

if VARIANT.startswith("ours"):
    import app
    from threads_api import resources

    mark("import app" if VARIANT != "ours-stages" else "import app (resolver with validation, exception handlers)")
    handler = app.lambda_handler
    for hook, args, kwargs in hooks["before_snapshot"]:
        hook(*args, **kwargs)
    if VARIANT == "ours-restore":
        mark("before the snapshot")
    client = resources.dynamodb_client()
    mark("create the DynamoDB client")
else:
    import floor

    mark("import floor (boto3 client made at import)")
    handler = floor.handler
    client = floor.client

import json  # noqa: E402  (already imported by both handlers)

import canned  # noqa: E402  (imports only json and botocore.awsrequest, both already imported)

canned.install(client)
botocore_ns: list[int] = []
if VARIANT.endswith("-stages"):
    # Time spent inside botocore per call: from its first event to its last.
    def _call_started(**_):
        botocore_ns.append(-time.perf_counter_ns())

    def _call_ended(**_):
        botocore_ns[-1] += time.perf_counter_ns()

    client.meta.events.register("provide-client-params.dynamodb", _call_started)
    client.meta.events.register("after-call.dynamodb", _call_ended)


class Context:
    function_name = "ThreadsFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ThreadsFunction"
    log_group_name = "/aws/lambda/ThreadsFunction"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


with open(sys.argv[2], encoding="utf-8") as file:
    event = json.load(file)
mark("install the canned DynamoDB, read the event")
RESTORED = time.perf_counter_ns()
for hook, args, kwargs in hooks["after_restore"]:
    hook(*args, **kwargs)
if VARIANT.endswith("-restore"):
    mark("after-restore hooks")
status = handler(event, Context())["statusCode"]
mark("first modify")
ENDED = marks[-1][1]
calls_in_first = list(botocore_ns)
if VARIANT.endswith("-restore"):
    handler(event, Context())
    mark("second modify")

if VARIANT.endswith("-stages"):
    handler(event, Context())
    mark("second modify")
    base = {key: value for key, value in event.items() if key not in ("pathParameters", "body")}
    base["requestContext"] = {**event["requestContext"], "http": {**event["requestContext"]["http"]}}
    create = {**base, "routeKey": "POST /v1/threads", "rawPath": "/v1/threads", "body": '{"metadata": {"a": "b"}}'}
    create["requestContext"]["http"].update(method="POST", path="/v1/threads")
    retrieve = {**base, "routeKey": "GET /v1/threads/{thread_id}", "pathParameters": event["pathParameters"]}
    retrieve["requestContext"] = {**base["requestContext"], "http": {**base["requestContext"]["http"]}}
    retrieve["requestContext"]["http"].update(method="GET")
    for name, sample in (("create", create), ("retrieve", retrieve)):
        for ordinal in ("first", "second"):
            answer = handler(sample, Context())
            assert answer["statusCode"] == 200, answer
            mark(f"{ordinal} {name}")

import resource  # noqa: E402

usage = resource.getrusage(resource.RUSAGE_SELF)
result = {
    "variant": VARIANT,
    "status": status,
    "started_ns": STARTED,
    "ended_ns": ENDED,
    "restored_ns": RESTORED,
    "hooks": {name: len(registered) for name, registered in hooks.items()},
    "marks": marks,
    "botocore_call_ns": calls_in_first,
    "maxrss_kb": usage.ru_maxrss,
    "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,  # to the end of the last invocation, a hair after ENDED
    "modules": len(sys.modules),
}
print("BENCH " + json.dumps(result), flush=True)
