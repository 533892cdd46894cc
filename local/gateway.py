"""API Gateway in process: HTTP requests become HTTP API (payload 2.0) events for `app.lambda_handler`.

The translation is two plain functions, `event_from_http` and `http_from_proxy_response`, free of any HTTP
library, so a local HTTP server can use them as well. `LambdaTransport` puts them behind an `httpx2`
transport, the HTTP library of the `openai` client (3.x takes an `httpx2.Client`, or a legacy `httpx.Client`,
as `http_client=`):

    client = openai_client()
    thread = client.beta.threads.create(metadata={"user": "alice"})

The function runs against whatever DynamoDB the environment names (the tests' `dynamodb` fixture, or
`local.embedded.embedded_dynamodb()`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import httpx2
import openai

from local.events import LambdaContext, http_event
from local.stack import Route, match_route, routes

Handler = Callable[[dict[str, Any], Any], Any]

BASE_URL = "http://threads.local/v1"
API_KEY = "sk-local-example"


def event_from_http(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes | None,
    route_key: str = "$default",
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The event API Gateway sends for one request; `target` is the path and query exactly as requested.

    Header names are lowercased and repeated headers joined with commas, cookies are moved to `cookies`, and
    a body that is not UTF-8 is sent base64-encoded, as API Gateway does. `route_key` and `path_parameters`
    name the route that matched (see `local.stack.match_route`).
    """
    path, _, query = target.partition("?")
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies += [cookie.strip() for cookie in value.split(";") if cookie.strip()]
        else:
            joined[name] = f"{joined[name]},{value}" if name in joined else value
    text: str | bytes | None = None
    binary = False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, binary = body, True
    event = http_event(method.upper(), path, text, headers=joined, query=query, base64_body=binary)
    if cookies:
        event["cookies"] = cookies
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


def routed_event(
    method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None, routes: list[Route] | None = None
) -> tuple[Route, dict[str, Any]] | None:
    """The route of template.yaml (or of `routes`) that takes the request, and the event API Gateway sends it;
    None if no route does (API Gateway's own 404)."""
    matched = match_route(routes if routes is not None else template_routes(), method, target.partition("?")[0])
    if matched is None:
        return None
    route, path_parameters = matched
    return route, event_from_http(method, target, headers, body, route.key, path_parameters)


@cache
def template_routes() -> list[Route]:
    return routes()


def routed_event_or_default(method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None) -> dict:
    """The event for the in-process transports, whose template always has a $default route."""
    routed = routed_event(method, target, headers, body)
    assert routed is not None, "template.yaml has no $default route"
    return routed[1]


def http_from_proxy_response(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body bytes of the HTTP response API Gateway makes of a function's result."""
    if not (isinstance(response, dict) and "statusCode" in response):
        # Payload 2.0 lets a function return just the body: API Gateway answers it as 200 JSON.
        body = response if isinstance(response, str) else json.dumps(response)
        return 200, [("content-type", "application/json")], body.encode("utf-8")
    headers = [(name, str(value)) for name, value in (response.get("headers") or {}).items()]
    headers += [("set-cookie", cookie) for cookie in response.get("cookies") or ()]
    body = response.get("body") or ""
    content = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
    return int(response["statusCode"]), headers, content


def _lambda_handler(event: dict[str, Any], context: Any) -> Any:
    import app  # functions/threads on sys.path (pytest's pythonpath does it)

    return app.lambda_handler(event, context)


class LambdaTransport(httpx2.BaseTransport):
    """An httpx2 transport that answers each request by invoking the Lambda handler in process."""

    def __init__(self, handler: Handler = _lambda_handler):
        self.handler = handler

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read()
        target = request.url.raw_path.decode("ascii")  # path and query, still percent-encoded
        event = routed_event_or_default(request.method, target, request.headers.multi_items(), body)
        status, headers, content = http_from_proxy_response(self.handler(event, LambdaContext()))
        return httpx2.Response(status, headers=headers, content=content, request=request)


def lambda_http_client(handler: Handler = _lambda_handler) -> httpx2.Client:
    """An `httpx2.Client` with the SDK's defaults whose requests all go to the Lambda handler."""
    return openai.DefaultHttpx2Client(transport=LambdaTransport(handler))


def openai_client(**kwargs: Any) -> openai.OpenAI:
    """The official client, talking to the function in process, strict about the responses it parses."""
    options: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": BASE_URL,
        "max_retries": 0,
        "_strict_response_validation": True,
    }
    options.update(kwargs)
    if options.get("http_client") is None:
        options["http_client"] = lambda_http_client()
    return openai.OpenAI(**options)
