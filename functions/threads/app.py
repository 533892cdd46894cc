"""The Lambda entry point of the Threads API (API Gateway HTTP API, payload format 2.0)."""

from __future__ import annotations

# isort: off
import threads_api  # noqa: F401  (first: before Powertools is imported, its packages' re-exports are made lazy)

# isort: on
import base64
import json
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.shared.json_encoder import Encoder
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from threads_api import document, errors, keys, message_routes, resources, routes
from threads_api.body import as_json_text_event, read_json_body
from threads_api.dynamodb import answered_in_process
from threads_api.errors import ApiError
from threads_api.exceptions import (
    DomainError,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidApiKey,
    MessageNotFound,
    MetadataLimitExceeded,
    MissingApiKey,
    PreconditionFailed,
    StorageUnavailable,
    ThreadNotFound,
    UnknownCursor,
)
from threads_api.limits import MAX_BODY_BYTES, MAX_CREATE_BODY_BYTES
from threads_api.validation import first_error

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()


def _read_body(text: str) -> Any:
    """The request's body, within its route's limit: 4 MiB for the two creates, which may carry messages."""
    event = app.current_event
    path = event.raw_path.rstrip("/")
    creates = event.request_context.http.method == "POST" and (path == "/v1/threads" or path.endswith("/messages"))
    return read_json_body(text, MAX_CREATE_BODY_BYTES if creates else MAX_BODY_BYTES)


# Bodies are written as UTF-8 text, not escapes: `_carried` then sends whichever form Lambda carries smaller.
app = APIGatewayHttpResolver(
    enable_validation=True,
    json_body_deserializer=_read_body,
    serializer=partial(json.dumps, separators=(",", ":"), ensure_ascii=False, cls=Encoder),
)
app.include_router(routes.router)
app.include_router(message_routes.router)
app.include_router(document.router)


def _unavailable(failure: StorageUnavailable) -> ApiError:
    logger.warning("storage unavailable", reason=failure.reason)
    return errors.storage_unavailable()


# The one map from what the service raises to the contract's error that answers it.
_ANSWERS: dict[type[DomainError], Callable[[Any], ApiError]] = {
    MissingApiKey: lambda _: errors.missing_api_key(),
    InvalidApiKey: lambda failure: errors.invalid_api_key(failure.masked),
    ThreadNotFound: lambda failure: errors.thread_not_found(failure.thread_id),
    MessageNotFound: lambda failure: errors.message_not_found(failure.message_id),
    UnknownCursor: lambda failure: errors.unknown_cursor(failure.name, failure.message_id),
    MetadataLimitExceeded: lambda failure: errors.too_many_metadata_pairs(failure.count),
    PreconditionFailed: lambda failure: errors.precondition_failed(failure.what),
    IdempotencyKeyReused: lambda _: errors.idempotency_key_reused(),
    IdempotencyKeyInFlight: lambda _: errors.idempotency_key_in_flight(),
    StorageUnavailable: _unavailable,
}


def answer(failure: DomainError) -> ApiError:
    return _ANSWERS[type(failure)](failure)


def _response(error: ApiError) -> Response[dict[str, Any]]:
    """The one rendering of an error: the OpenAI error envelope, with the error's headers."""
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=error.envelope(),
        headers=error.headers,
    )


@app.exception_handler(DomainError)  # type: ignore[untyped-decorator]
def _domain_error(failure: DomainError) -> Response[dict[str, Any]]:
    return _response(answer(failure))


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    return _response(first_error(list(error.errors()), app.current_event.json_body))


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(error: Exception) -> Response[dict[str, Any]]:
    logger.exception("unexpected error")
    return _response(errors.internal_error())


@app.not_found
def _unknown_route(_: NotFoundError) -> Response[dict[str, Any]]:
    event = app.current_event
    return _response(errors.invalid_url(event.request_context.http.method, event.raw_path))


def _answered_alone(error: ApiError, event: dict[str, Any]) -> dict[str, Any]:
    """The proxy response for an error answered before routing, built as Powertools builds a route's."""
    return ResponseBuilder[APIGatewayProxyEventV2](_response(error)).build(APIGatewayProxyEventV2(event))


def _caller_project(event: dict[str, Any]) -> str:
    """The project of the request's API key. Checked before anything else, unknown routes included, so that a
    caller without a valid key learns nothing."""
    headers = event.get("headers") or {}
    return resources.authenticator().project_for(headers.get("authorization"))


def _carried(response: dict[str, Any]) -> dict[str, Any]:
    """The answer in the form Lambda carries in fewer bytes (it answers at most 6 MB). Lambda writes the answer as
    JSON, a body outside ASCII as escapes of up to 12 bytes a character; base64 of its UTF-8 takes 4/3 of a byte.
    So text mostly outside ASCII goes base64-encoded, which keeps the largest message the API takes (four texts of
    256,000 four-byte characters) under the limit; API Gateway decodes it, and the client sees the same bytes."""
    body = response.get("body")
    if isinstance(body, str) and not response.get("isBase64Encoded") and not body.isascii():
        encoded = body.encode("utf-8")
        if (len(encoded) + 2) * 4 // 3 < len(json.dumps(body)):
            response["body"] = base64.b64encode(encoded).decode("ascii")
            response["isBase64Encoded"] = True
    return response


# Priming: one request per route, each as far as it goes without DynamoDB but the modify, whose calls are answered
# in process (dynamodb.answered_in_process), under a key and a thread made up for it and forgotten after.
_PRIMING_PROJECT = "proj_snapshot"
_PRIMING_THREAD = "thread_SnapshotPriming000000000"
_PRIMING_ANSWERS = {
    "GetItem": {"Item": {"key_hash": {"S": "-"}, "project": {"S": _PRIMING_PROJECT}, "revoked": {"BOOL": False}}},
    "UpdateItem": {
        "Attributes": {
            "thread_id": {"S": _PRIMING_THREAD},
            "project": {"S": _PRIMING_PROJECT},
            "created_at": {"N": "0"},
            "version": {"N": "2"},
            "metadata": {"M": {"primed": {"S": "yes"}}},
            "tool_resources": {"M": {}},
        }
    },
}
# (method, path, body, the status it answers): the modify 200, every other route a 400 or 404 of its own, the OpenAPI
# document, and a path no route serves.
_PRIMING_REQUESTS: tuple[tuple[str, str, dict[str, Any] | None, int], ...] = (
    ("POST", f"/v1/threads/{_PRIMING_THREAD}", {"metadata": {"primed": "yes"}}, 200),
    ("POST", "/v1/threads", {"metadata": []}, 400),
    ("GET", "/v1/threads/thread_", None, 404),
    ("DELETE", "/v1/threads/thread_", None, 404),
    ("POST", "/v1/threads/thread_/messages", {"role": "user", "content": "primed"}, 404),
    ("GET", "/v1/threads/thread_/messages", None, 404),
    ("GET", "/v1/threads/thread_/messages/msg_", None, 404),
    ("POST", "/v1/threads/thread_/messages/msg_", {"metadata": {}}, 404),
    ("DELETE", "/v1/threads/thread_/messages/msg_", None, 404),
    ("GET", "/v1/openapi.json", None, 200),
    ("GET", "/v1/snapshot", None, 404),
)
PRIMED_STATUSES = [status for *_, status in _PRIMING_REQUESTS]


class _PrimingContext:
    function_name = "snapshot"
    memory_limit_in_mb = 0
    invoked_function_arn = "snapshot"
    aws_request_id = "snapshot"


def _priming_event(method: str, path: str, body: dict[str, Any] | None, secret: str) -> dict[str, Any]:
    """A priming request as API Gateway sends one: an HTTP API's payload 2.0, as much as the resolver reads."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"authorization": f"Bearer {secret}", "content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path}, "requestId": "snapshot", "stage": "$default"},
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def prime() -> list[int]:
    """Serve the priming requests; their statuses. The key check, the routing, each route's validation (which
    Powertools builds on a route's first request), the models, and botocore's first GetItem and UpdateItem are
    then done, the key's answer dropped (the Logger is left out: it counts a restored environment's first request
    as its cold start)."""
    secret = keys.new_secret()
    statuses = []
    try:
        with answered_in_process(resources.dynamodb_client(), _PRIMING_ANSWERS):
            for method, path, body, _ in _PRIMING_REQUESTS:
                event = _priming_event(method, path, body, secret)
                app.context["project"] = _caller_project(event)
                answered = app.resolve(as_json_text_event(event), cast("LambdaContext", _PrimingContext()))
                statuses.append(answered["statusCode"])
    finally:
        resources.authenticator.cache_clear()  # the made-up key is never kept, whatever happens
    return statuses


def _before_snapshot() -> None:
    """Never fails the snapshot: one less made or primed still serves, each first request doing the rest."""
    try:
        resources.before_snapshot()
        statuses = prime()
    except Exception:
        logger.exception("preparing the snapshot failed")
    else:
        if statuses != PRIMED_STATUSES:  # a route now answers otherwise: a 500 here is a request that failed
            logger.warning("priming answered otherwise", statuses=statuses, expected=PRIMED_STATUSES)


# SnapStart resumes many execution environments from one snapshot of this initialised module. Before the snapshot,
# `_before_snapshot` does what each restored environment would otherwise do on its first requests; after each
# restore, `resources.after_restore` renews what may not be kept (it says what, and why).
try:
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # only the Lambda runtime has it; nothing is ever restored elsewhere
    pass
else:
    register_before_snapshot(_before_snapshot)
    register_after_restore(resources.after_restore)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    gateway_request_id = (event.get("requestContext") or {}).get("requestId")
    # Every log line's correlation_id: set from the event here, rather than by a JMESPath expression that the
    # Logger would evaluate on each request (its correlation_id_path).
    logger.set_correlation_id(gateway_request_id)
    request_id = gateway_request_id or context.aws_request_id
    try:
        try:
            project = _caller_project(event)
        except DomainError as failure:
            response = _answered_alone(answer(failure), event)
        else:
            app.context["project"] = project
            response = app.resolve(as_json_text_event(event), context)
    except Exception:  # the event itself could not be handled: still the contract's envelope
        logger.exception("request could not be resolved")
        response = _answered_alone(errors.internal_error(), {})
    response.setdefault("headers", {})["x-request-id"] = request_id
    return _carried(response)
