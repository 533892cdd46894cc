"""The OpenAPI document of the service, as Powertools generates it from the routes and models.

`python -m local.openapi` writes it to functions/threads/openapi.json; a test fails when the two drift apart.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCUMENT_PATH = ROOT / "functions" / "threads" / "openapi.json"


def openapi_document() -> dict[str, Any]:
    """The generated document, with Powertools' default 422 replaced by the errors the service really answers."""
    import app  # importable: this package puts the function's code on the path

    document: dict[str, Any] = json.loads(
        app.app.get_openapi_json_schema(
            title="Threads API",
            version="1.0.0",
            summary="A self-hosted, OpenAI-compatible Threads API.",
            description="The Assistants Threads API of OpenAI, served from AWS Lambda and DynamoDB.",
        )
    )
    for path_item in document["paths"].values():
        for operation in path_item.values():
            operation["responses"].pop("422", None)  # validation problems answer 400, in the OpenAI envelope
    schemas = document["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    DOCUMENT_PATH.write_text(render(openapi_document()), encoding="utf-8")
    print(f"wrote {DOCUMENT_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
