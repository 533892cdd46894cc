"""API Gateway HTTP API (payload 2.0) events, shaped as `sam local generate-event apigateway http-api-proxy`."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


def http_event(
    method: str,
    path: str,
    body: str | bytes | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    base64_body: bool = False,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The event API Gateway sends to the function for one HTTP request."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, bytes) and not base64_body:
        body = body.decode("utf-8")
    if base64_body and body is not None:
        raw = body if isinstance(body, bytes) else body.encode("utf-8")
        body = base64.b64encode(raw).decode("ascii")
    now = time.time()
    request_id = request_id or str(uuid.uuid4())
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {name.lower(): value for name, value in (headers or {}).items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": (headers or {}).get("user-agent", "local"),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": base64_body and body is not None,
    }
    if query:
        # As API Gateway: a repeated parameter's values joined with commas, an empty value kept.
        parsed = parse_qs(query, keep_blank_values=True)
        event["queryStringParameters"] = {key: ",".join(values) for key, values in parsed.items()}
    if body is not None:
        event["body"] = body
    return event


@dataclass
class LambdaContext:
    """The parts of the Lambda context object the function reads."""

    function_name: str = "ThreadsFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ThreadsFunction"
    log_group_name: str = "/aws/lambda/ThreadsFunction"
    log_stream_name: str = "local"
    timeout_ms: int = 10_000  # the function's Timeout: the remaining time counts down from it
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self.started) * 1000))
