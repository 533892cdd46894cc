"""API Gateway as one WSGI application: each request becomes the HTTP API (payload 2.0) event of the route it
matches, is answered by the function, and its result becomes the HTTP response (`local.gateway`'s translation).

Every way in drives this one application: the local endpoint (gunicorn serves it, `local.listener`), the fuzz
tests (schemathesis through werkzeug's test client) and the in-process `openai` client (httpx's
`WSGITransport`, `local.client`). What it answers itself, as API Gateway does before any function runs: a body
over API Gateway's 10 MB payload limit (the API's 413), a transfer coding other than chunked, a method HTTP does not
define, a path no route takes.

    import schemathesis
    from local.wsgi import application
    schema = schemathesis.openapi.from_path("functions/threads/openapi.json")
    case.call(app=application)

`application` runs the function in process, against whatever DynamoDB the environment names (e.g.
`local.embedded.embedded_dynamodb()`); the local endpoint gives `gateway_application` its execution environments.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import IO, Any
from urllib.parse import quote, urlsplit
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from local.events import LambdaContext
from local.gateway import http_from_proxy_response, routed_event
from local.runtime import InvocationFailed
from local.stack import Route
from threads_api.errors import ApiError, body_too_large, internal_error
from threads_api.limits import MAX_CREATE_BODY_BYTES

# The function's result for the event of a route (it may raise InvocationFailed: API Gateway's 500).
Invoke = Callable[[Route, dict[str, Any]], Any]

# API Gateway refuses a payload over 10 MB before any function sees it; the function's own limit is lower.
GATEWAY_BODY_LIMIT = 10 * 1024 * 1024
# A body larger than the limit is still read and dropped up to this size, so that a client that sends its whole
# body before it reads sees the 413 rather than a reset connection.
DRAIN_LIMIT = 64 * 1024 * 1024
# The methods HTTP defines (RFC 9110's, PATCH of RFC 5789, and QUERY, which OpenAPI 3.2 lists too) go to the
# routes; any other is refused with 501, as RFC 9110 has a server answer a method it does not recognise.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "QUERY"})
# Environ keys that carry request headers without the HTTP_ prefix.
_UNPREFIXED = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}
# Response headers that describe the connection or the framing: the server's to write, never the function's.
_SERVERS_OWN = frozenset({"content-length", "connection", "transfer-encoding", "date", "server", "keep-alive"})
_READ_SIZE = 64 * 1024


class _Refused(Exception):
    """A request API Gateway answers itself, before any function runs."""

    def __init__(self, error: ApiError):
        self.error = error


def in_process(route: Route, event: dict[str, Any]) -> Any:
    """The Lambda entry point, called in this process (functions/threads on sys.path, as `local` puts it)."""
    import app

    return app.lambda_handler(event, LambdaContext())


def request_target(environ: WSGIEnvironment) -> str:
    """The path and query as requested, still percent-encoded; an absolute-form target (as proxies send it) in
    origin form."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    query = environ.get("QUERY_STRING", "")
    # werkzeug's test client leaves the query out of RAW_URI when it is given apart from the path (as
    # schemathesis gives it): the query is QUERY_STRING's then.
    if raw:
        if raw.startswith("/"):
            return raw if "?" in raw or not query else f"{raw}?{query}"
        parts = urlsplit(raw)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # PATH_INFO is the decoded path, its bytes as latin-1 (PEP 3333): encode it back.
    path = quote(
        environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/:@!$&'()*+,;=-._~", encoding="latin-1"
    )
    return f"{path}?{query}" if query else path


def request_headers(environ: WSGIEnvironment) -> list[tuple[str, str]]:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in _UNPREFIXED and value:
            name = _UNPREFIXED[key]
        else:
            continue
        headers.append((name, _header_text(value)))
    return headers


def _header_text(value: str) -> str:
    """WSGI hands a header value over as a latin-1 string of its bytes (PEP 3333): read them as UTF-8 where they
    are, as latin-1 where they are not."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def request_body(environ: WSGIEnvironment) -> bytes:
    """The whole body (a chunked one decoded by the server), or _Refused: over API Gateway's payload limit, or in
    a transfer coding other than chunked."""
    coding = environ.get("HTTP_TRANSFER_ENCODING")
    if coding is not None and coding.strip().lower() != "chunked":
        raise _Refused(ApiError(501, f"Transfer-Encoding {coding!r} is not supported."))
    stream: IO[bytes] = environ["wsgi.input"]
    declared = (environ.get("CONTENT_LENGTH") or "").strip()
    if declared:
        if not declared.isdigit():
            raise _Refused(ApiError(400, "Invalid Content-Length header."))
        length = int(declared)
        if length > GATEWAY_BODY_LIMIT:
            if length <= DRAIN_LIMIT:
                _read(stream, length)
            raise _Refused(body_too_large(length, MAX_CREATE_BODY_BYTES))
        return _read(stream, length)
    if environ.get("wsgi.input_terminated"):  # chunked: the stream ends where the body does
        return _read(stream, None)
    return b""


def _read(stream: IO[bytes], length: int | None) -> bytes:
    """`length` bytes (None: up to the end); past the gateway's limit they are counted and dropped, up to the
    drain limit, and refused."""
    parts: list[bytes] = []
    size = 0
    while length is None or size < length:
        chunk = stream.read(_READ_SIZE if length is None else min(_READ_SIZE, length - size))
        if not chunk:
            break
        size += len(chunk)
        if size <= GATEWAY_BODY_LIMIT:
            parts.append(chunk)
        elif size > DRAIN_LIMIT:
            break
    if size > GATEWAY_BODY_LIMIT:
        raise _Refused(body_too_large(size, MAX_CREATE_BODY_BYTES))
    if length is not None and size < length:  # the client left mid-body: no function sees part of a request
        raise _Refused(ApiError(400, "The request body ended before its Content-Length."))
    return b"".join(parts)


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def envelope(error: ApiError) -> bytes:
    return json.dumps(error.envelope()).encode("utf-8")


def gateway_application(invoke: Invoke = in_process, routes: list[Route] | None = None) -> WSGIApplication:
    """API Gateway in front of `invoke`, for the routes of template.yaml (or `routes`)."""

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = str(uuid.uuid4())
        method = environ["REQUEST_METHOD"]

        def respond(status: int, headers: list[tuple[str, str]], content: bytes) -> Iterable[bytes]:
            sent = [(name, value) for name, value in headers if name.lower() not in _SERVERS_OWN]
            if not any(name.lower() == "x-request-id" for name, _ in sent):
                sent.append(("x-request-id", request_id))
            sent += [("apigw-requestid", request_id), ("Content-Length", str(len(content)))]
            start_response(_status_line(status), sent)
            return [b"" if method == "HEAD" else content]

        def refuse(error: ApiError) -> Iterable[bytes]:
            return respond(error.status, [("content-type", "application/json")], envelope(error))

        if method not in METHODS:
            return refuse(ApiError(501, f"Unsupported method ({method!r})."))
        try:
            body = request_body(environ)
        except _Refused as refused:
            return refuse(refused.error)
        routed = routed_event(method, request_target(environ), request_headers(environ), body, routes)
        if routed is None:  # a template without a $default route: API Gateway's own answer
            return respond(404, [("content-type", "application/json")], b'{"message":"Not Found"}')
        route, event = routed
        event["requestContext"]["requestId"] = request_id
        event["requestContext"]["http"]["sourceIp"] = environ.get("REMOTE_ADDR") or "127.0.0.1"
        try:
            status, headers, content = http_from_proxy_response(invoke(route, event))
        except InvocationFailed as failure:
            print(f"{route.function} failed: {failure}", file=environ["wsgi.errors"], flush=True)
            return refuse(internal_error())
        return respond(status, headers, content)

    return application


application = gateway_application()
