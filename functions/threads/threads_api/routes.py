"""The four thread routes: thin HTTP glue between validated requests and the ThreadStore (and the MessageStore,
for a thread created with messages).

Annotations are real objects here (no `from __future__ import annotations`), and the store and the caller's
project are plain calls rather than `Depends`: Powertools resolves string annotations and dependency trees on
every request, which cost more than the rest of a warm request's own work (measured by make bench).
"""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BeforeValidator

from .body import refuse_unreadable
from .idempotency import create_once
from .message import MessageDraft
from .models import CreateMessageRequest, CreateThreadRequest, DeletedThreadObject, ModifyThreadRequest, ThreadObject
from .params import (
    IN_FLIGHT,
    THREAD_NOT_FOUND,
    IdempotencyKey,
    IfMatch,
    OpenAIBeta,
    ThreadId,
    caller_project,
    changed,
    documented,
    errors,
    expected_versions,
)
from .patch import ThreadPatch
from .resources import idempotency_records, message_store, thread_store
from .thread import Thread, deleted_wire

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

_THREAD = {200: documented("The thread.", ThreadObject)}


def draft_of(request: CreateMessageRequest) -> MessageDraft:
    """A create's message, as the store takes it (its content normalised by validation)."""
    return MessageDraft(
        role=request.role,
        content=request.content,
        attachments=[attachment.model_dump() for attachment in request.attachments or []],
        metadata=dict(request.metadata or {}),
    )


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
    responses={**_THREAD, **errors("4 MiB"), **IN_FLIGHT},
    operation_id="createThread",
)
def create_thread(
    openai_beta: OpenAIBeta = None,
    idempotency_key: IdempotencyKey = None,
    # The default None is "no body"; the type leaves None out so that the document does not offer a JSON `null`
    # body, which the contract refuses (as it does any body that is not an object).
    body: Annotated[CreateThreadRequest, BeforeValidator(refuse_unreadable), Body()] = None,  # type: ignore[assignment]
) -> Response[dict[str, object]]:
    store, project = thread_store(), caller_project(router)
    metadata, tool_resources = ThreadPatch.from_request(body).apply({}, {})
    drafts = [draft_of(message) for message in (body.messages or [])] if body is not None else []

    def create() -> Thread:
        if drafts:
            return message_store().create_thread(project, metadata, tool_resources, drafts)
        return store.create(project, metadata, tool_resources)

    if idempotency_key is None:
        return _thread_response(create())
    created = create_once(
        idempotency_records(),  # made on first use: it imports boto3, so only requests that need it pay
        project,
        idempotency_key,
        router.current_event.json_body,
        create,
        lambda thread_id: store.get(project, thread_id),
        router.lambda_context,
    )
    return _thread_response(created)


@router.get(
    "/v1/threads/<thread_id>",
    summary="Retrieve a thread",
    responses={**_THREAD, **errors(), **THREAD_NOT_FOUND},
    operation_id="getThread",
)
def retrieve_thread(thread_id: ThreadId, openai_beta: OpenAIBeta = None) -> Response[dict[str, object]]:
    return _thread_response(thread_store().get(caller_project(router), thread_id))


@router.post(
    "/v1/threads/<thread_id>",
    summary="Modify a thread",
    description="Merges `metadata` and `tool_resources` as a JSON Merge Patch (RFC 7396): `null` removes.",
    responses={**_THREAD, **errors(), **THREAD_NOT_FOUND, **changed("thread")},
    operation_id="modifyThread",
)
def modify_thread(
    thread_id: ThreadId,
    openai_beta: OpenAIBeta = None,
    if_match: IfMatch = None,
    body: Annotated[ModifyThreadRequest, BeforeValidator(refuse_unreadable), Body()] = None,  # type: ignore[assignment]
) -> Response[dict[str, object]]:
    store, project = thread_store(), caller_project(router)
    patch = ThreadPatch.from_request(body)
    expected = expected_versions(if_match)
    if patch.is_empty():
        return _thread_response(store.get(project, thread_id, expected))
    return _thread_response(store.update(project, thread_id, patch, expected))


@router.delete(
    "/v1/threads/<thread_id>",
    summary="Delete a thread",
    responses={
        200: documented("The thread was deleted.", DeletedThreadObject),
        **errors(),
        **THREAD_NOT_FOUND,
        **changed("thread"),
    },
    operation_id="deleteThread",
)
def delete_thread(
    thread_id: ThreadId, openai_beta: OpenAIBeta = None, if_match: IfMatch = None
) -> Response[dict[str, object]]:
    thread_store().delete(caller_project(router), thread_id, expected_versions(if_match))
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=deleted_wire(thread_id))
