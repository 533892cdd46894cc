"""What the costliest invalid bodies cost, beside a small invalid one.

    python -m bench.worst        (prints JSON; run by bench.run in the project's environment, which has moto)

Each body goes through the real entry point, `app.lambda_handler`, against the embedded DynamoDB, with the key
already checked (cached). The large bodies are the worst the 1 MiB limit allows for choosing the first error: tens
of thousands of unknown keys, or of wrong-type metadata values. Choosing it is linear in the body, so the ratio of
times should stay near the ratio of sizes.
"""

from __future__ import annotations

import json
import statistics
import time

from local.events import LambdaContext, http_event
from local.fixtures import API_KEY, BASIC
from threads_api.limits import MAX_BODY_BYTES

ROUNDS = 5


def _largest(make, limit: int) -> bytes:
    """The body make(n) for the largest n within `limit` bytes (by bisection)."""
    low, high = 1, 1 << 20
    while high - low > 1:
        middle = (low + high) // 2
        if len(json.dumps(make(middle))) <= limit:
            low = middle
        else:
            high = middle
    return json.dumps(make(low)).encode()


SMALL_BYTES = 16 * 1024
# name: method, path, the body of n problems.
FAMILIES = {
    "unknown keys, create": ("POST", "/v1/threads", lambda n: {f"k{i:07d}": 0 for i in range(n)}),
    "wrong-type metadata values, modify": (
        "POST",
        "/v1/threads/" + BASIC.id,
        lambda n: {"metadata": {f"k{i:07d}": i for i in range(n)}},
    ),
}


def _median_ms(method: str, path: str, body: bytes, headers: dict) -> float:
    import app

    times = []
    for _ in range(ROUNDS):
        event = http_event(method, path, body.decode(), headers=headers)
        started = time.perf_counter()
        answer = app.lambda_handler(event, LambdaContext())
        times.append(time.perf_counter() - started)
        assert answer["statusCode"] == 400, answer
    return statistics.median(times) * 1000


def main() -> None:
    from local.embedded import embedded_dynamodb

    with embedded_dynamodb():
        import app

        headers = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
        app.lambda_handler(http_event("GET", "/v1/threads/" + BASIC.id, headers=headers), LambdaContext())
        results = {}
        for name, (method, path, make) in FAMILIES.items():
            small, worst = _largest(make, SMALL_BYTES), _largest(make, MAX_BODY_BYTES)
            small_ms = _median_ms(method, path, small, headers)
            worst_ms = _median_ms(method, path, worst, headers)
            results[name] = {
                "small_bytes": len(small),
                "small_ms": round(small_ms, 2),
                "worst_bytes": len(worst),
                "worst_ms": round(worst_ms, 1),
                "size_ratio": round(len(worst) / len(small), 1),
                "time_ratio": round(worst_ms / small_ms, 1),
            }
        one = json.dumps({"k0000000": 0}).encode()
        results["one unknown key, create"] = {
            "bytes": len(one),
            "ms": round(_median_ms("POST", "/v1/threads", one, headers), 3),
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
