"""Every exception the service raises to say how a request is answered: one module, below all others.

Each subclass of `DomainError` is answered with one of the contract's errors; the entry point (app.py) holds the
one table from exception type to error.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the service answers with one of the contract's errors rather than with a result."""


class ThreadNotFound(DomainError):
    """No thread with that id in the caller's project."""

    def __init__(self, thread_id: str):
        super().__init__(thread_id)
        self.thread_id = thread_id


class MessageNotFound(DomainError):
    """No message with that id in the thread (which is the caller's)."""

    def __init__(self, message_id: str):
        super().__init__(message_id)
        self.message_id = message_id


class UnknownCursor(DomainError):
    """A list's `after` or `before` names a message this thread never held."""

    def __init__(self, name: str, message_id: str):
        super().__init__(name, message_id)
        self.name = name
        self.message_id = message_id


class MetadataLimitExceeded(DomainError):
    """The merged metadata would hold more pairs than a thread may."""

    def __init__(self, count: int):
        super().__init__(count)
        self.count = count


class PreconditionFailed(DomainError):
    """The thread (or message) is not at any of the versions the caller's If-Match names."""

    def __init__(self, what: str = "thread"):
        super().__init__(what)
        self.what = what


class StorageUnavailable(DomainError):
    """DynamoDB throttled the call or could not be reached: the client should retry."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MissingApiKey(DomainError):
    """The request carries no bearer API key."""


class InvalidApiKey(DomainError):
    """The bearer API key is unknown or revoked."""

    def __init__(self, masked: str):
        super().__init__(masked)
        self.masked = masked


class IdempotencyKeyReused(DomainError):
    """The Idempotency-Key was used, by this project, with a different body."""


class IdempotencyKeyInFlight(DomainError):
    """The first request with this Idempotency-Key is still running."""


class KeyExists(Exception):
    """An API key with this secret is already stored (the operator's key commands, not a request)."""
