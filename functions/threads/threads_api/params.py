"""What the routes share: the caller's project, the headers and path ids they take, and their documented errors.

Annotations are real objects here (no `from __future__ import annotations`): Powertools reads them at run time.
"""

import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import AfterValidator, BaseModel
from pydantic_core import PydanticCustomError

from .models import ErrorResponse
from .store import Versions


def caller_project(router: Router) -> str:
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
MessageId = Annotated[str, Path(pattern="^msg", description="The ID of the message.")]


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
    Header(description='[ours] `"<version>"` ETags (comma-separated) or `*`: change only an object at one of them.'),
]
IdempotencyKey = Annotated[
    str | None,
    Header(description="[ours] Create at most once per key and project within 24 hours; a retry gets the answer."),
]


def documented(description: str, model: type[BaseModel]) -> OpenAPIResponse:
    return {"description": description, "content": {content_types.APPLICATION_JSON: {"model": model}}}


def errors(body_limit: str = "1 MiB") -> dict[int, OpenAPIResponse]:
    return {
        400: documented("The request is not valid; `error.param` names the field.", ErrorResponse),
        401: documented("No API key, or one that is unknown or revoked.", ErrorResponse),
        413: documented(f"The request body is larger than {body_limit}.", ErrorResponse),
        503: documented("Storage is throttled or unavailable; retry after `Retry-After` seconds.", ErrorResponse),
    }


THREAD_NOT_FOUND = {404: documented("No thread with that id in the caller's project.", ErrorResponse)}
IN_FLIGHT = {
    409: documented("A request with this Idempotency-Key is in flight; retry after `Retry-After`.", ErrorResponse)
}


def changed(what: str) -> dict[int, Any]:
    return {412: documented(f"The {what} is not at a version If-Match names.", ErrorResponse)}
