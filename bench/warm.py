"""Warm requests: many invocations of one entry point in one process, DynamoDB answered in process.

    <runtime venv python> bench/warm.py ours|floor CALLS OUT_JSON

Run by `bench.run` with the function's code and the repository on PYTHONPATH. Each operation (the thread's
modify, create and retrieve; a message's create and retrieve; list pages of 20 and 100) is invoked CALLS times
(a list page fewer) through the entry point with a real API Gateway v2 event, in interleaved blocks, after a
warm-up; every call's wall time (`perf_counter_ns`) and CPU time (`process_time_ns`) is kept. Then, on
fewer calls: the share of a modify spent inside botocore, a cProfile of modify by package, and, for the function,
the key check alone and a modify whose key is looked up every time (`API_KEY_CACHE_SECONDS=0`); for the floor, its
modify with botocore's parameter validation off, as the function's client has it.
"""

import cProfile
import json
import os
import pstats
import sys
import time

import canned

from local.events import LambdaContext, http_event

VARIANT, CALLS, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3]
BLOCK = 100
THREAD_PATH = "/v1/threads/" + canned.THREAD_ID

if VARIANT == "ours":
    import app
    from local.fixtures import API_KEY
    from threads_api import resources

    handler = app.lambda_handler

    def client():
        return resources.dynamodb_client()
else:
    import floor

    API_KEY = "sk-not-checked"
    handler = floor.handler

    def client():
        return floor.client


canned.install(client())


def _event(method: str, path: str, route: str, body: dict | None = None, query: str = "") -> dict:
    headers = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json", "openai-beta": "assistants=v2"}
    event = http_event(method, path, body, headers=headers, query=query)
    # As the deployed HTTP API sends it: the matched route and its path parameters.
    event["routeKey"] = event["requestContext"]["routeKey"] = route
    if path != "/v1/threads":
        event["pathParameters"] = {"thread_id": canned.THREAD_ID}
    if route.endswith("{message_id}"):
        event["pathParameters"]["message_id"] = canned.MESSAGE_ID
    return event


MESSAGES_PATH, MESSAGES_ROUTE = THREAD_PATH + "/messages", "/v1/threads/{thread_id}/messages"


EVENTS = {
    "modify": _event(
        "POST", THREAD_PATH, "POST /v1/threads/{thread_id}", {"metadata": {"topic": "refunds", "priority": "high"}}
    ),
    "create": _event("POST", "/v1/threads", "POST /v1/threads", {"metadata": {"user": "alice"}}),
    "retrieve": _event("GET", THREAD_PATH, "GET /v1/threads/{thread_id}"),
    "message create": _event(
        "POST", MESSAGES_PATH, "POST " + MESSAGES_ROUTE, {"role": "user", "content": canned.message_text(1)}
    ),
    "message retrieve": _event(
        "GET", MESSAGES_PATH + "/" + canned.MESSAGE_ID, "GET " + MESSAGES_ROUTE + "/{message_id}"
    ),
    **{
        f"list {limit}": _event("GET", MESSAGES_PATH, "GET " + MESSAGES_ROUTE, query=f"limit={limit}")
        for limit in canned.PAGE_LIMITS
    },
}
NO_CALL = "modify, no DynamoDB call (a 404)"
if VARIANT == "ours":  # all of a modify but DynamoDB: a thread id this service cannot have issued is a 404, no call
    EVENTS[NO_CALL] = _event("POST", "/v1/threads/thread_x", "POST /v1/threads/{thread_id}", {"metadata": {"a": "b"}})
    EVENTS[NO_CALL]["pathParameters"] = {"thread_id": "thread_x"}
CONTEXT = LambdaContext()


def timed(event: dict, calls: int, wall: list[int], cpu: list[int], expected: int = 200) -> None:
    perf, process = time.perf_counter_ns, time.process_time_ns
    for _ in range(calls):
        cpu_started, started = process(), perf()
        response = handler(event, CONTEXT)
        ended, cpu_ended = perf(), process()
        wall.append(ended - started)
        cpu.append(cpu_ended - cpu_started)
    if response["statusCode"] != expected:
        raise SystemExit(f"{VARIANT}: {response}")


# A list page takes many times a single message's work: these take a share of the calls (in smaller blocks, so
# that they stay interleaved with the rest), which keeps a full run within minutes.
FEWER = {"list 20": 4, "list 100": 10}


def operations() -> dict:
    samples = {name: {"wall_ns": [], "cpu_ns": []} for name in EVENTS}
    for name, event in EVENTS.items():
        warm_up = max(50, CALLS // 10) // FEWER.get(name, 1)
        timed(event, warm_up, [], [], 404 if name == NO_CALL else 200)
    done = 0
    while done < CALLS:
        block = min(BLOCK, CALLS - done)
        for name, event in EVENTS.items():
            calls = max(1, block // FEWER.get(name, 1))
            timed(event, calls, samples[name]["wall_ns"], samples[name]["cpu_ns"], 404 if name == NO_CALL else 200)
        done += block
    return samples


def botocore_share(calls: int) -> dict:
    """Per modify: the wall time inside botocore (its first event to its last) and the whole invocation."""
    inside: list[int] = []
    events = client().meta.events

    def started(**_):
        inside.append(-time.perf_counter_ns())

    def ended(**_):
        inside[-1] += time.perf_counter_ns()

    events.register("provide-client-params.dynamodb", started)
    events.register("after-call.dynamodb", ended)
    wall: list[int] = []
    timed(EVENTS["modify"], calls, wall, [])
    events.unregister("provide-client-params.dynamodb", started)
    events.unregister("after-call.dynamodb", ended)
    return {"botocore_ns": sorted(inside)[len(inside) // 2], "invocation_ns": sorted(wall)[len(wall) // 2]}


TASK_ROOT = os.environ.get("LAMBDA_TASK_ROOT", "\0") + os.sep
BENCH_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _package(filename: str) -> str:
    if filename.startswith(("~", "<")):
        return "built-in functions (C)"
    if filename.startswith(TASK_ROOT):  # the function's package: its code and requirements.txt
        top = filename.removeprefix(TASK_ROOT).split(os.sep, 1)[0].removesuffix(".py")
        return "threads_api and app (ours)" if top in ("app", "threads_api") else top
    if "site-packages" + os.sep in filename:  # the runtime's SDK
        return filename.split("site-packages" + os.sep, 1)[1].split(os.sep, 1)[0].removesuffix(".py")
    if filename.startswith(BENCH_DIR):
        return "the floor handler" if filename.endswith("floor.py") else "bench (canned DynamoDB, timing loop)"
    return "Python standard library"


def profile(calls: int) -> dict:
    """Where a modify's time goes, by package (cProfile's own time per function, summed)."""
    profiler = cProfile.Profile()
    profiler.enable()
    timed(EVENTS["modify"], calls, [], [])
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    by_package: dict[str, float] = {}
    functions = []
    for (filename, line, name), (_, calls_made, own, cumulative, _) in stats.items():
        package = _package(filename)
        by_package[package] = by_package.get(package, 0.0) + own
        functions.append((cumulative, own, calls_made, f"{package}: {name} ({os.path.basename(filename)}:{line})"))
    total = sum(by_package.values())
    top = sorted(functions, reverse=True)
    return {
        "by_package": {key: round(value / total, 4) for key, value in sorted(by_package.items(), key=lambda i: -i[1])},
        "top_cumulative": [
            {"function": label, "cumulative_share": round(cum / total, 4), "own_share": round(own / total, 4)}
            for cum, own, _, label in top[:25]
        ],
    }


def key_check(calls: int) -> dict:
    """The key check alone, with the answer cached: header parsing, SHA-256, the LRU."""
    check = resources.authenticator()
    header = f"Bearer {API_KEY}"
    check.project_for(header)
    started = time.perf_counter_ns()
    for _ in range(calls):
        check.project_for(header)
    return {"cached_key_check_ns": (time.perf_counter_ns() - started) // calls}


def modifies(calls: int) -> dict:
    """`calls` modifies after a warm-up, each timed: for a handler set up otherwise than `operations` measured."""
    wall: list[int] = []
    cpu: list[int] = []
    timed(EVENTS["modify"], max(50, calls // 10), [], [])
    timed(EVENTS["modify"], calls, wall, cpu)
    return {"wall_ns": wall, "cpu_ns": cpu}


def unvalidated_floor_modify(calls: int) -> dict:
    """The floor's modify with botocore's parameter validation off, as the function's client has it: the floor
    keeps botocore's defaults, this is how much of the difference that one setting is."""
    import boto3
    from botocore.config import Config

    floor.client = boto3.client("dynamodb", config=Config(parameter_validation=False))
    canned.install(floor.client)
    return modifies(calls)


def uncached_modify(calls: int) -> dict:
    os.environ["API_KEY_CACHE_SECONDS"] = "0"
    resources.reset()
    canned.install(client())
    return modifies(calls)


result = {"variant": VARIANT, "operations": operations()}
few = max(100, CALLS // 4)
result["botocore_share"] = botocore_share(few)
result["profile"] = profile(few)
if VARIANT == "ours":
    result.update(key_check(few * 10))
    result["modify_uncached_key"] = uncached_modify(CALLS)
else:
    result["modify_unvalidated"] = unvalidated_floor_modify(CALLS)
with open(OUT, "w", encoding="utf-8") as file:
    json.dump(result, file)
