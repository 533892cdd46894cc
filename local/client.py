"""The official `openai` client talking to the function in process, through the gateway's WSGI application
(`local.wsgi`) and httpx's `WSGITransport`: no network, the same translation as the local endpoint's.

    client = openai_client()
    thread = client.beta.threads.create(metadata={"user": "alice"})

The function runs against whatever DynamoDB the environment names (the tests' `dynamodb` fixture, or
`local.embedded.embedded_dynamodb()`).
"""

from __future__ import annotations

from typing import Any

import httpx2
import openai

from local.wsgi import application

BASE_URL = "http://threads.local/v1"
API_KEY = "sk-local-example"


def lambda_http_client() -> httpx2.Client:
    """An `httpx2.Client` with the SDK's defaults whose requests all go to the gateway's application in process."""
    return openai.DefaultHttpx2Client(transport=httpx2.WSGITransport(app=application))


def openai_client(**kwargs: Any) -> openai.OpenAI:
    """The official client, talking to the function in process, strict about the responses it parses."""
    options: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": BASE_URL,
        "max_retries": 0,
        "_strict_response_validation": True,
    }
    options.update(kwargs)
    if options.get("http_client") is None:
        options["http_client"] = lambda_http_client()
    return openai.OpenAI(**options)
