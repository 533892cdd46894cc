"""The five message routes: thin HTTP glue between validated requests and the MessageStore.

Annotations are real objects here (no `from __future__ import annotations`), as in routes.py.
"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BeforeValidator, PlainValidator, WithJsonSchema

from .body import refuse_unreadable
from .content import ORDERS, choice
from .idempotency import create_once
from .limits import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from .message import Message, Page, PageRequest, deleted_wire
from .models import (
    CreateMessageRequest,
    DeletedMessageObject,
    ErrorResponse,
    MessageListObject,
    MessageObject,
    ModifyMessageRequest,
)
from .params import (
    IN_FLIGHT,
    THREAD_NOT_FOUND,
    IdempotencyKey,
    IfMatch,
    MessageId,
    OpenAIBeta,
    ThreadId,
    caller_project,
    changed,
    documented,
    errors,
    expected_versions,
)
from .patch import ThreadPatch
from .resources import idempotency_records, message_store
from .routes import draft_of

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

_MESSAGE = {200: documented("The message.", MessageObject)}
_NOT_FOUND = {
    404: documented("No thread with that id in the caller's project, or no message with that id in it.", ErrorResponse)
}

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT, description="1 to 100.")]
Order = Annotated[
    str,
    Query(description="`desc` (newest first) or `asc`."),
    PlainValidator(lambda value: choice(value, ORDERS)),
    WithJsonSchema({"type": "string", "enum": list(ORDERS), "default": "desc"}),
]
Cursor = Annotated[str | None, Query(pattern="^msg", description="A message id; the page excludes it.")]
RunId = Annotated[str | None, Query(description="Only the messages of this run.")]


def _json(body: dict[str, object], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def _message_response(message: Message) -> Response[Any]:
    return _json(message.to_wire(), {"ETag": message.etag})


def _list_wire(page: Page) -> dict[str, object]:
    data = [message.to_wire() for message in page.messages]
    return {
        "object": "list",
        "data": data,
        "first_id": page.messages[0].id if page.messages else None,
        "last_id": page.messages[-1].id if page.messages else None,
        "has_more": page.has_more,
    }


@router.post(
    "/v1/threads/<thread_id>/messages",
    summary="Create a message",
    responses={**_MESSAGE, **errors("4 MiB"), **THREAD_NOT_FOUND, **IN_FLIGHT},
    operation_id="createMessage",
)
def create_message(
    thread_id: ThreadId,
    # Required: no body at all is answered as a body without `role`.
    body: Annotated[CreateMessageRequest, BeforeValidator(refuse_unreadable), Body()],
    openai_beta: OpenAIBeta = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[Any]:
    store, project = message_store(), caller_project(router)
    draft = draft_of(body)
    if idempotency_key is None:
        return _message_response(store.create(project, thread_id, draft))
    created = create_once(
        idempotency_records(),
        project,
        idempotency_key,
        {"thread_id": thread_id, "message": router.current_event.json_body},
        lambda: store.create(project, thread_id, draft),
        lambda message_id: store.get(project, thread_id, message_id),
        router.lambda_context,
        record_field="message_id",
    )
    return _message_response(created)


@router.get(
    "/v1/threads/<thread_id>/messages",
    summary="List messages",
    responses={200: documented("A page of the thread's messages.", MessageListObject), **errors(), **THREAD_NOT_FOUND},
    operation_id="listMessages",
)
def list_messages(
    thread_id: ThreadId,
    openai_beta: OpenAIBeta = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
    order: Order = "desc",
    after: Cursor = None,
    before: Cursor = None,
    run_id: RunId = None,
) -> Response[Any]:
    request = PageRequest(limit=limit, order=order, after=after, before=before, run_id=run_id)
    page = message_store().page(caller_project(router), thread_id, request)
    return _json(_list_wire(page))


@router.get(
    "/v1/threads/<thread_id>/messages/<message_id>",
    summary="Retrieve a message",
    responses={**_MESSAGE, **errors(), **_NOT_FOUND},
    operation_id="getMessage",
)
def retrieve_message(thread_id: ThreadId, message_id: MessageId, openai_beta: OpenAIBeta = None) -> Response[Any]:
    return _message_response(message_store().get(caller_project(router), thread_id, message_id))


@router.post(
    "/v1/threads/<thread_id>/messages/<message_id>",
    summary="Modify a message",
    description="Merges `metadata` as a JSON Merge Patch (RFC 7396): `null` removes.",
    responses={**_MESSAGE, **errors(), **_NOT_FOUND, **changed("message")},
    operation_id="modifyMessage",
)
def modify_message(
    thread_id: ThreadId,
    message_id: MessageId,
    openai_beta: OpenAIBeta = None,
    if_match: IfMatch = None,
    body: Annotated[ModifyMessageRequest, BeforeValidator(refuse_unreadable), Body()] = None,  # type: ignore[assignment]
) -> Response[Any]:
    store, project = message_store(), caller_project(router)
    patch = ThreadPatch.from_request(body)
    expected = expected_versions(if_match)
    if patch.is_empty():
        return _message_response(store.get(project, thread_id, message_id, expected))
    return _message_response(store.update(project, thread_id, message_id, patch, expected))


@router.delete(
    "/v1/threads/<thread_id>/messages/<message_id>",
    summary="Delete a message",
    responses={
        200: documented("The message was deleted.", DeletedMessageObject),
        **errors(),
        **_NOT_FOUND,
        **changed("message"),
    },
    operation_id="deleteMessage",
)
def delete_message(
    thread_id: ThreadId, message_id: MessageId, openai_beta: OpenAIBeta = None, if_match: IfMatch = None
) -> Response[Any]:
    message_store().delete(caller_project(router), thread_id, message_id, expected_versions(if_match))
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=deleted_wire(message_id))
