"""GET /v1/openapi.json: the service's OpenAPI document, served as checked in beside the code.

The file is the one `make openapi` writes and a test keeps equal to what the code generates, so the deployed
API describes itself exactly as the repository does. It holds routes and schemas only: no URL, account or key.
"""

from __future__ import annotations

import pathlib
import re
from functools import cache

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

DOCUMENT_PATH = pathlib.Path(__file__).resolve().parent.parent / "openapi.json"
# Powertools reads a route as a regular expression: the dot is escaped so that only this exact path matches.
DOCUMENT_ROUTE = re.escape("/v1/openapi.json")

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


@cache
def document_text() -> str:
    """Read on first use rather than at import, so that `make openapi` can import the app without the file."""
    return DOCUMENT_PATH.read_text(encoding="utf-8")


@router.get(DOCUMENT_ROUTE, include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=document_text())
