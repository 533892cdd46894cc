"""The four thread routes: thin HTTP glue between validated requests and the ThreadStore."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from .body import refuse_unreadable
from .models import CreateThreadRequest, DeletedThreadObject, ErrorResponse, ModifyThreadRequest, ThreadObject
from .patch import ThreadPatch
from .resources import thread_store
from .store import ThreadStore
from .thread import Thread, deleted_wire

router = Router()


def caller_project() -> str:
    """The project of the caller's API key, which the entry point checked before routing."""
    return router.context["project"]


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
Store = Annotated[ThreadStore, Depends(thread_store)]
Project = Annotated[str, Depends(caller_project)]


def _json(description: str, model: type) -> dict:
    return {"description": description, "content": {content_types.APPLICATION_JSON: {"model": model}}}


_ERRORS = {
    400: _json("The request is not valid; `error.param` names the field.", ErrorResponse),
    413: _json("The request body is larger than 1 MiB.", ErrorResponse),
    503: _json("Storage is throttled or unavailable; retry after `Retry-After` seconds.", ErrorResponse),
}
_NOT_FOUND = {404: _json("No thread with that id in the caller's project.", ErrorResponse)}
_THREAD = {200: _json("The thread.", ThreadObject)}


def _thread_response(thread: Thread):
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=thread.to_wire(),
        headers={"ETag": thread.etag},
    )


@router.post("/v1/threads", summary="Create a thread", responses={**_THREAD, **_ERRORS}, operation_id="createThread")
def create_thread(
    store: Store,
    project: Project,
    openai_beta: OpenAIBeta = None,
    body: Annotated[CreateThreadRequest | None, BeforeValidator(refuse_unreadable), Body()] = None,
):
    metadata, tool_resources = ThreadPatch.from_request(body).apply({}, {})
    return _thread_response(store.create(project, metadata, tool_resources))


@router.get(
    "/v1/threads/<thread_id>",
    summary="Retrieve a thread",
    responses={**_THREAD, **_ERRORS, **_NOT_FOUND},
    operation_id="getThread",
)
def retrieve_thread(thread_id: ThreadId, store: Store, project: Project, openai_beta: OpenAIBeta = None):
    return _thread_response(store.get(project, thread_id))


@router.post(
    "/v1/threads/<thread_id>",
    summary="Modify a thread",
    description="Merges `metadata` and `tool_resources` as a JSON Merge Patch (RFC 7396): `null` removes.",
    responses={**_THREAD, **_ERRORS, **_NOT_FOUND},
    operation_id="modifyThread",
)
def modify_thread(
    thread_id: ThreadId,
    store: Store,
    project: Project,
    openai_beta: OpenAIBeta = None,
    body: Annotated[ModifyThreadRequest | None, BeforeValidator(refuse_unreadable), Body()] = None,
):
    patch = ThreadPatch.from_request(body)
    if patch.is_empty():
        return _thread_response(store.get(project, thread_id))
    return _thread_response(store.update(project, thread_id, patch))


@router.delete(
    "/v1/threads/<thread_id>",
    summary="Delete a thread",
    responses={200: _json("The thread was deleted.", DeletedThreadObject), **_ERRORS, **_NOT_FOUND},
    operation_id="deleteThread",
)
def delete_thread(thread_id: ThreadId, store: Store, project: Project, openai_beta: OpenAIBeta = None):
    store.delete(project, thread_id)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=deleted_wire(thread_id))
