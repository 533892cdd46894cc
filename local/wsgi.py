"""API Gateway in process, as a WSGI application: each request becomes an HTTP API (payload 2.0) event for
`app.lambda_handler`, and its proxy response the HTTP response.

The translation is `local.gateway`'s (`event_from_http`, `http_from_proxy_response`), as for `LambdaTransport`;
this only adapts it to WSGI, so that WSGI test clients (werkzeug's, and schemathesis through it) can drive the
function without a network:

    import schemathesis
    from local.wsgi import application
    schema = schemathesis.openapi.from_path("functions/threads/openapi.json")
    case.call(app=application)

Like `LambdaTransport`, every request reaches the function through the `$default` route. The function runs
against whatever DynamoDB the environment names (e.g. `local.embedded.embedded_dynamodb()`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from local.events import LambdaContext
from local.gateway import Handler, _lambda_handler, http_from_proxy_response, routed_event_or_default

# Environ keys that carry request headers without the HTTP_ prefix.
_UNPREFIXED = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def request_target(environ: dict[str, Any]) -> str:
    """The path and query as requested, still percent-encoded."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    query = environ.get("QUERY_STRING", "")
    # werkzeug's test client leaves the query out of RAW_URI when it is given apart from the path (as
    # schemathesis gives it): the query is QUERY_STRING's then.
    if raw:
        return raw if "?" in raw or not query else f"{raw}?{query}"
    # PATH_INFO is the decoded path, its bytes as latin-1 (PEP 3333): encode it back.
    path = quote(
        environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/:@!$&'()*+,;=-._~", encoding="latin-1"
    )
    return f"{path}?{query}" if query else path


def request_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
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
    are, as latin-1 where they are not (as httpx does for `LambdaTransport`)."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def request_body(environ: dict[str, Any]) -> bytes:
    length = environ.get("CONTENT_LENGTH") or ""
    if length.strip().isdigit():
        return environ["wsgi.input"].read(int(length))
    return b""


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def wsgi_application(handler: Handler = _lambda_handler) -> Callable[..., Iterable[bytes]]:
    """A WSGI application whose requests all go to `handler` (the Lambda entry point by default)."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        event = routed_event_or_default(
            environ["REQUEST_METHOD"], request_target(environ), request_headers(environ), request_body(environ)
        )
        status, headers, content = http_from_proxy_response(handler(event, LambdaContext()))
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
        headers.append(("Content-Length", str(len(content))))
        start_response(_status_line(status), headers)
        return [content]

    return application


application = wsgi_application()
