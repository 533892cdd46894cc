"""API Gateway's translation: an HTTP request becomes the HTTP API (payload 2.0) event for the route it matches,
and the function's result the HTTP response.

Two plain functions, `routed_event` (with `event_from_http`) and `http_from_proxy_response`, free of any HTTP
library; `local.wsgi` is their one user, the application that the local endpoint, the fuzz tests and the
in-process `openai` client all drive.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from local.events import http_event
from local.stack import Route, match_route, routes


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
