"""The four thread routes: thin HTTP glue between validated requests and the ThreadStore.

Annotations are real objects here (no `from __future__ import annotations`), and the store and the caller's
project are plain calls rather than `Depends`: Powertools resolves string annotations and dependency trees on
every request, which cost more than the rest of a warm request's own work (measured by make bench).
"""

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import AfterValidator, BaseModel, BeforeValidator
from pydantic_core import PydanticCustomError

from .body import refuse_unreadable
from .idempotency import create_once
from .models import CreateThreadRequest, DeletedThreadObject, ErrorResponse, ModifyThreadRequest, ThreadObject
from .patch import ThreadPatch
from .resources import idempotency_records, thread_store
from .store import Versions
from .thread import Thread, deleted_wire

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


def caller_project() -> str:
    """The project of the caller's API key, which the entry point checked before routing."""
    project: str = router.context["project"]
    return project


def _served_beta(value: str | None) -> str | None:
    """Refuse a header that asks for the v1 Assistants API only."""
    if value is not None:
        features = {feature.strip() for feature in value.split(",")}
        if "assistants=v1" in features and "assistants=v2" not in features:
            raise PydanticCustomError("invalid_beta", "the v1 Assistants API is not served")
    return value


OpenAIBeta = Annotated[
    str | None,
    Header(description="`assistants=v2` or absent; `assistants=v1` alone is refused."),
    AfterValidator(_served_beta),
]
ThreadId = Annotated[str, Path(pattern="^thread", description="The ID of the thread.")]


# A version's ETag: 1 to 19 ASCII digits, no leading zero (versions count up from 1).
_VERSION_TAG = re.compile(r'"([1-9][0-9]{0,18})"', re.ASCII)


def expected_versions(if_match: str | None) -> Versions:
    """The versions an If-Match header allows: None for any (absent, or `*`). Strong ETags only, as RFC 9110
    compares them for If-Match: a weak or malformed one, or one no version can be, matches nothing."""
    if if_match is None or if_match.strip() == "*":
        return None
    versions = set()
    for tag in if_match.split(","):
        matched = _VERSION_TAG.fullmatch(tag.strip())
        if matched:
            versions.add(int(matched[1]))
    return frozenset(versions)


IfMatch = Annotated[
    str | None,
    Header(description='[ours] `"<version>"` ETags (comma-separated) or `*`: change only a thread at one of them.'),
]
IdempotencyKey = Annotated[
    str | None,
    Header(description="[ours] Create at most once per key and project within 24 hours; a retry gets the answer."),
]


def _documented(description: str, model: type[BaseModel]) -> OpenAPIResponse:
    return {"description": description, "content": {content_types.APPLICATION_JSON: {"model": model}}}


_ERRORS = {
    400: _documented("The request is not valid; `error.param` names the field.", ErrorResponse),
    401: _documented("No API key, or one that is unknown or revoked.", ErrorResponse),
    413: _documented("The request body is larger than 1 MiB.", ErrorResponse),
    503: _documented("Storage is throttled or unavailable; retry after `Retry-After` seconds.", ErrorResponse),
}
_NOT_FOUND = {404: _documented("No thread with that id in the caller's project.", ErrorResponse)}
_CHANGED = {412: _documented("The thread is not at a version If-Match names.", ErrorResponse)}
_IN_FLIGHT = {
    409: _documented("A request with this Idempotency-Key is in flight; retry after `Retry-After`.", ErrorResponse)
}
_THREAD = {200: _documented("The thread.", ThreadObject)}


def _thread_response(thread: Thread) -> Response[dict[str, object]]:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=thread.to_wire(),
        headers={"ETag": thread.etag},
    )


@router.post(
    "/v1/threads",
    summary="Create a thread",
    responses={**_THREAD, **_ERRORS, **_IN_FLIGHT},
    operation_id="createThread",
)
def create_thread(
    openai_beta: OpenAIBeta = None,
    idempotency_key: IdempotencyKey = None,
    # The default None is "no body"; the type leaves None out so that the document does not offer a JSON `null`
    # body, which the contract refuses (as it does any body that is not an object).
    body: Annotated[CreateThreadRequest, BeforeValidator(refuse_unreadable), Body()] = None,  # type: ignore[assignment]
) -> Response[dict[str, object]]:
    store, project = thread_store(), caller_project()
    metadata, tool_resources = ThreadPatch.from_request(body).apply({}, {})
    if idempotency_key is None:
        return _thread_response(store.create(project, metadata, tool_resources))
    created = create_once(
        idempotency_records(),  # made on first use: it imports boto3, so only requests that need it pay
        project,
        idempotency_key,
        router.current_event.json_body,
        lambda: store.create(project, metadata, tool_resources),
        lambda thread_id: store.get(project, thread_id),
        router.lambda_context,
    )
    return _thread_response(created)


@router.get(
    "/v1/threads/<thread_id>",
    summary="Retrieve a thread",
    responses={**_THREAD, **_ERRORS, **_NOT_FOUND},
    operation_id="getThread",
)
def retrieve_thread(thread_id: ThreadId, openai_beta: OpenAIBeta = None) -> Response[dict[str, object]]:
    return _thread_response(thread_store().get(caller_project(), thread_id))


@router.post(
    "/v1/threads/<thread_id>",
    summary="Modify a thread",
    description="Merges `metadata` and `tool_resources` as a JSON Merge Patch (RFC 7396): `null` removes.",
    responses={**_THREAD, **_ERRORS, **_NOT_FOUND, **_CHANGED},
    operation_id="modifyThread",
)
def modify_thread(
    thread_id: ThreadId,
    openai_beta: OpenAIBeta = None,
    if_match: IfMatch = None,
    body: Annotated[ModifyThreadRequest, BeforeValidator(refuse_unreadable), Body()] = None,  # type: ignore[assignment]
) -> Response[dict[str, object]]:
    store, project = thread_store(), caller_project()
    patch = ThreadPatch.from_request(body)
    expected = expected_versions(if_match)
    if patch.is_empty():
        return _thread_response(store.get(project, thread_id, expected))
    return _thread_response(store.update(project, thread_id, patch, expected))


@router.delete(
    "/v1/threads/<thread_id>",
    summary="Delete a thread",
    responses={200: _documented("The thread was deleted.", DeletedThreadObject), **_ERRORS, **_NOT_FOUND, **_CHANGED},
    operation_id="deleteThread",
)
def delete_thread(
    thread_id: ThreadId, openai_beta: OpenAIBeta = None, if_match: IfMatch = None
) -> Response[dict[str, object]]:
    thread_store().delete(caller_project(), thread_id, expected_versions(if_match))
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=deleted_wire(thread_id))
