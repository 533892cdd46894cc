"""The Lambda entry point of the Threads API (API Gateway HTTP API, payload format 2.0)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths

from threads_api import document, errors, resources
from threads_api.body import as_json_text_event, read_json_body
from threads_api.errors import ApiError
from threads_api.idempotency import IdempotencyKeyInFlight, IdempotencyKeyReused
from threads_api.keys import InvalidApiKey, MissingApiKey
from threads_api.routes import router
from threads_api.store import MetadataLimitExceeded, PreconditionFailed, StorageUnavailable, ThreadNotFound
from threads_api.validation import first_error

logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=read_json_body)
app.include_router(router)
app.include_router(document.router)

# SnapStart resumes many execution environments from one snapshot of this initialised module. Thread ids need
# nothing done: they come from `secrets`, each drawn from the operating system (os.urandom) when it is made, so
# after the restore, and no random generator state of ours is in the snapshot to be shared. The DynamoDB client
# (and the key answers cached by it) is dropped instead, so that each restored environment makes its own, with
# fresh connections and credentials.
try:
    from snapshot_restore_py import register_after_restore
except ImportError:  # only the Lambda runtime has it; nothing is ever restored elsewhere
    pass
else:
    register_after_restore(resources.reset)


def _error_response(error: ApiError) -> Response:
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=error.envelope(),
        headers=error.headers,
    )


@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response:
    return _error_response(first_error(error.errors(), app.current_event.json_body))


@app.exception_handler(ThreadNotFound)
def _thread_not_found(error: ThreadNotFound) -> Response:
    return _error_response(errors.thread_not_found(error.args[0]))


@app.exception_handler(MetadataLimitExceeded)
def _too_many_pairs(error: MetadataLimitExceeded) -> Response:
    return _error_response(errors.too_many_metadata_pairs(error.count))


@app.exception_handler(PreconditionFailed)
def _changed(_: PreconditionFailed) -> Response:
    return _error_response(errors.precondition_failed())


@app.exception_handler(IdempotencyKeyReused)
def _key_reused(_: IdempotencyKeyReused) -> Response:
    return _error_response(errors.idempotency_key_reused())


@app.exception_handler(IdempotencyKeyInFlight)
def _key_in_flight(_: IdempotencyKeyInFlight) -> Response:
    return _error_response(errors.idempotency_key_in_flight())


def _unavailable(error: StorageUnavailable) -> ApiError:
    logger.warning("storage unavailable", reason=str(error))
    return errors.storage_unavailable()


@app.exception_handler(StorageUnavailable)
def _storage_unavailable(error: StorageUnavailable) -> Response:
    return _error_response(_unavailable(error))


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response:
    logger.exception("unexpected error")
    return _error_response(errors.internal_error())


@app.not_found
def _unknown_route(_: NotFoundError) -> Response:
    event = app.current_event
    return _error_response(errors.invalid_url(event.request_context.http.method, event.raw_path))


def _proxy_response(error: ApiError) -> dict[str, Any]:
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **(error.headers or {})},
        "body": json.dumps(error.envelope()),
        "isBase64Encoded": False,
    }


def _caller_project(event: dict[str, Any]) -> str | ApiError:
    """The project of the request's API key, or the error that answers it. Checked before anything else, unknown
    routes included, so that a caller without a valid key learns nothing."""
    headers = event.get("headers") or {}
    try:
        return resources.authenticator().project_for(headers.get("authorization"))
    except MissingApiKey:
        return errors.missing_api_key()
    except InvalidApiKey as invalid:
        return errors.invalid_api_key(invalid.masked)
    except StorageUnavailable as error:
        return _unavailable(error)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = (event.get("requestContext") or {}).get("requestId") or context.aws_request_id
    try:
        project = _caller_project(event)
        if isinstance(project, ApiError):
            response = _proxy_response(project)
        else:
            app.append_context(project=project)
            response = app.resolve(as_json_text_event(event), context)
    except Exception:  # the event itself could not be handled: still the contract's envelope
        logger.exception("request could not be resolved")
        response = _proxy_response(errors.internal_error())
    response.setdefault("headers", {})["x-request-id"] = request_id
    return response
