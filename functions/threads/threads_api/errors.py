"""Every error the API answers with, and the contract's exact texts.

This is the one module that holds the wording of the contract's error table.
Each error is an `ApiError` value; the HTTP layer (app.py) answers it in the OpenAI error envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .limits import MAX_METADATA_PAIRS


@dataclass(frozen=True, slots=True)
class ApiError:
    status: int
    message: str
    param: str | None = None
    code: str | None = None
    type: str = "invalid_request_error"
    headers: dict[str, str] | None = None

    def envelope(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def json_kind(value: object) -> str:
    """How the contract names the JSON type of a value: 'a string', 'an integer', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def invalid_url(method: str, path: str) -> ApiError:
    return ApiError(404, f"Invalid URL ({method} {path})")


def thread_not_found(thread_id: str) -> ApiError:
    return ApiError(404, f"No thread found with id '{thread_id}'.")


def invalid_thread_id(thread_id: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid 'thread_id': '{thread_id}'. Expected an ID that begins with 'thread'.",
        param="thread_id",
        code="invalid_value",
    )


def invalid_saved_id(name: str, value: str, prefix: str) -> ApiError:
    """An import's saved object with an id of another shape than OpenAI's (and this service's)."""
    return ApiError(
        400,
        f"Invalid '{name}': '{value}'. Expected an ID of '{prefix}' followed by 24 letters and digits.",
        param=name,
        code="invalid_value",
    )


def unknown_parameter(path: str) -> ApiError:
    return ApiError(400, f"Unknown parameter: '{path}'.", param=path, code="unknown_parameter")


def unsupported_parameter(path: str, reason: str) -> ApiError:
    return ApiError(400, f"Unsupported parameter: '{path}'. {reason}", param=path, code="unsupported_parameter")


def invalid_type(path: str, expected: str, got: object) -> ApiError:
    return ApiError(
        400,
        f"Invalid type for '{path}': expected {expected}, but got {json_kind(got)} instead.",
        param=path,
        code="invalid_type",
    )


def body_not_an_object(got: object) -> ApiError:
    return ApiError(
        400,
        f"Invalid type for 'body': expected an object, but got {json_kind(got)} instead.",
        code="invalid_type",
    )


def too_many_metadata_pairs(count: int, path: str = "metadata") -> ApiError:
    return ApiError(
        400,
        f"Invalid '{path}': too many properties. Expected an object with at most {MAX_METADATA_PAIRS} properties, "
        f"but got an object with {count} properties instead.",
        param=path,
        code="object_above_max_properties",
    )


def metadata_key_too_long(key: str, limit: int, path: str = "metadata") -> ApiError:
    return ApiError(
        400,
        f"Invalid property name in '{path}': '{key}' is too long. Expected a string with maximum length "
        f"{limit}, but got a string with length {len(key)} instead.",
        param=f"{path}.{key}",
        code="property_name_above_max_length",
    )


def metadata_key_empty(path: str = "metadata") -> ApiError:
    return ApiError(
        400,
        f"Invalid property name in '{path}': property names must not be empty.",
        param=path,
        code="invalid_value",
    )


def missing_parameter(path: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: '{path}'.", param=path, code="missing_required_parameter")


def _listed(choices: tuple[str, ...]) -> str:
    quoted = [f"'{choice}'" for choice in choices]
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def unsupported_value(path: str, value: str, choices: tuple[str, ...]) -> ApiError:
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {_listed(choices)}.",
        param=path,
        code="invalid_value",
    )


def empty_message_content(path: str) -> ApiError:
    return ApiError(400, "Message content must be non-empty.", param=path)


def empty_array(path: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid '{path}': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        param=path,
        code="empty_array",
    )


def invalid_image_url(path: str, start: str) -> ApiError:
    """`start`: the first 32 characters of the URL given."""
    return ApiError(
        400,
        f"Invalid '{path}': expected a URL (http, https or data:image/), but got '{start}' instead.",
        param=path,
        code="invalid_value",
    )


def invalid_message_id(message_id: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid 'message_id': '{message_id}'. Expected an ID that begins with 'msg'.",
        param="message_id",
        code="invalid_value",
    )


def message_not_found(message_id: str) -> ApiError:
    return ApiError(404, f"No message found with id '{message_id}'.")


def invalid_cursor(name: str, value: str) -> ApiError:
    return ApiError(
        400, f"Invalid '{name}': '{value}'. Expected an ID that begins with 'msg'.", param=name, code="invalid_value"
    )


def unknown_cursor(name: str, message_id: str) -> ApiError:
    return ApiError(
        400, f"Invalid '{name}': no message with id '{message_id}' in this thread.", param=name, code="invalid_value"
    )


def limit_not_an_integer(value: str) -> ApiError:
    return ApiError(
        400, f"Invalid 'limit': expected an integer, but got '{value}' instead.", param="limit", code="invalid_type"
    )


def limit_below_minimum(value: int, minimum: int) -> ApiError:
    return ApiError(
        400,
        f"Invalid 'limit': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
        param="limit",
        code="integer_below_min_value",
    )


def limit_above_maximum(value: int, maximum: int) -> ApiError:
    return ApiError(
        400,
        f"Invalid 'limit': integer above maximum value. Expected a value <= {maximum}, but got {value} instead.",
        param="limit",
        code="integer_above_max_value",
    )


def string_too_long(path: str, limit: int, length: int) -> ApiError:
    return ApiError(
        400,
        f"Invalid '{path}': string too long. Expected a string with maximum length {limit}, "
        f"but got a string with length {length} instead.",
        param=path,
        code="string_above_max_length",
    )


def empty_string(path: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid '{path}': empty string. Expected a string with minimum length 1, but got an empty string instead.",
        param=path,
        code="empty_string",
    )


def array_too_long(path: str, limit: int, length: int) -> ApiError:
    return ApiError(
        400,
        f"Invalid '{path}': array too long. Expected an array with maximum length {limit}, "
        f"but got an array with length {length} instead.",
        param=path,
        code="array_above_max_length",
    )


def invalid_json() -> ApiError:
    return ApiError(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
        "HTTP library correctly. The API expects a JSON payload, but what was sent was not valid JSON.)",
    )


def body_too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"Request body too large: {size} bytes. The limit is {limit} bytes.",
        code="request_too_large",
    )


def invalid_beta() -> ApiError:
    return ApiError(
        400,
        "The v1 Assistants API has been deprecated. Please try again by setting the header "
        "'OpenAI-Beta: assistants=v2'.",
        code="invalid_beta",
    )


def storage_unavailable(retry_after_seconds: int = 1) -> ApiError:
    return ApiError(
        503,
        "The service is temporarily unable to store or read threads. Please retry your request shortly.",
        type="server_error",
        headers={"Retry-After": str(retry_after_seconds)},
    )


def internal_error() -> ApiError:
    return ApiError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        type="server_error",
    )


def missing_api_key() -> ApiError:
    return ApiError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
        "auth (i.e. Authorization: Bearer YOUR_KEY).",
    )


def invalid_api_key(masked_key: str) -> ApiError:
    return ApiError(401, f"Incorrect API key provided: {masked_key}.", code="invalid_api_key")


def precondition_failed(what: str) -> ApiError:
    return ApiError(
        412,
        f"The {what} has changed since the given ETag; retrieve it and try again.",
        code="precondition_failed",
    )


def idempotency_key_reused() -> ApiError:
    return ApiError(
        400,
        "This Idempotency-Key was already used with a different request body.",
        code="idempotency_key_reused",
    )


def idempotency_key_in_flight(retry_after_seconds: int = 1) -> ApiError:
    # 409: a status the client retries (after Retry-After), by which time the first request has answered.
    return ApiError(
        409,
        "A request with this Idempotency-Key is still being processed. Please retry your request shortly.",
        code="idempotency_key_in_progress",
        headers={"Retry-After": str(retry_after_seconds)},
    )
