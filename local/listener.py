"""The local endpoint's HTTP server: gunicorn, with its gthread worker, serving the gateway's WSGI application.

gunicorn parses HTTP/1.1 strictly (RFC 9112): a request with both Content-Length and Transfer-Encoding, a
repeated chunked coding, a malformed chunk size or request line is refused with 400 and its connection closed.
What this module adds to it:

- malformed HTTP is answered with the API's JSON error envelope, not gunicorn's HTML page;
- a deadline for each whole request, from its first byte: its line, headers and body must all arrive within
  REQUEST_DEADLINE seconds, however the client spreads them, or the connection is dropped;
- limits: THREADS requests at once, MAX_CONNECTIONS connections held (past that, new ones wait in the listen
  backlog of BACKLOG), a connection idle for KEEPALIVE seconds closed; TCP_NODELAY on every connection.

One worker process: the master holds the listening socket and whatever the caller started before (the embedded
DynamoDB); the worker loads the application (the execution environments live there) and serves.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast
from wsgiref.types import WSGIApplication

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.http import errors
from gunicorn.http.message import Request
from gunicorn.workers.gthread import TConn, ThreadWorker

from local.wsgi import envelope
from threads_api.errors import ApiError, internal_error

if TYPE_CHECKING:
    from gunicorn._types import _WSGIAppType

THREADS = 64
MAX_CONNECTIONS = 256
BACKLOG = 128
REQUEST_DEADLINE = 10.0
KEEPALIVE = 10
# Seconds a stopping worker has to finish the requests in flight.
GRACEFUL_TIMEOUT = 10
# Seconds the master lets the worker go without a sign of life (its start, with the environments', included).
WORKER_TIMEOUT = 120

# Malformed requests, by what gunicorn's parser raised: (status, message); any other ParseException is a 400.
_REFUSALS: list[tuple[type[Exception], int, str]] = [
    (errors.LimitRequestHeaders, 431, "Request header fields too large."),
    (errors.LimitRequestLine, 414, "Request line too long."),
    (errors.UnsupportedTransferCoding, 501, "Transfer-Encoding is not supported."),
    (errors.ExpectationFailed, 417, "Expectation failed."),
    (errors.InvalidRequestLine, 400, "Invalid request line."),
    (errors.InvalidRequestMethod, 400, "Invalid method."),
    (errors.InvalidHTTPVersion, 400, "Unsupported HTTP version."),
    (errors.InvalidChunkSize, 400, "Invalid chunked body."),
    (errors.ChunkMissingTerminator, 400, "Invalid chunked body."),
    (errors.InvalidChunkExtension, 400, "Invalid chunked body."),
]


def refusal(error: BaseException) -> ApiError:
    """The envelope a request that made `error` gets: the client's fault (4xx, 501), or the API's 500."""
    # gunicorn 27's; types-gunicorn, of 26, does not have these two yet.
    if isinstance(error, errors.InvalidResponseHeader | errors.InvalidResponseHeaderName):  # type: ignore[attr-defined]
        return internal_error()  # a header the function sent
    for kind, status, message in _REFUSALS:
        if isinstance(error, kind):
            return ApiError(status, message)
    if isinstance(error, errors.InvalidHeader):
        return ApiError(400, f"Invalid {str(error.hdr).title()} header.")
    if isinstance(error, errors.ParseException):
        return ApiError(400, "Malformed request.")
    return internal_error()


def error_response(error: ApiError, request_id: str) -> bytes:
    """A whole response that closes the connection, for a request the parser refused."""
    content = envelope(error)
    head = (
        f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"x-request-id: {request_id}\r\n"
        f"apigw-requestid: {request_id}\r\n"
        f"Content-Length: {len(content)}\r\n\r\n"
    )
    return head.encode("latin-1") + content


class DeadlineSocket(socket.socket):
    """A client connection whose reads share one deadline: once it passes, reading ends (the connection is then
    dropped), however slowly the bytes were trickling in."""

    deadline: float | None = None

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self.deadline is None:
            return super().recv(bufsize, flags)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return b""
        self.settimeout(remaining)
        try:
            return super().recv(bufsize, flags)
        except TimeoutError:
            return b""


class GatewayWorker(ThreadWorker):
    """gunicorn's gthread worker, with the whole-request deadline and the API's error envelope."""

    def handle(self, conn: TConn) -> bool:
        if not isinstance(conn.sock, DeadlineSocket):
            blocking = conn.sock.getblocking()
            conn.sock = DeadlineSocket(fileno=conn.sock.detach())
            conn.sock.setblocking(blocking)
        assert isinstance(conn.sock, DeadlineSocket)
        conn.sock.deadline = time.monotonic() + REQUEST_DEADLINE
        try:
            return super().handle(conn)
        finally:
            conn.sock.deadline = None

    def handle_error(self, req: Request | None, client: socket.socket, addr: Any, exc: BaseException) -> None:
        error = refusal(exc)
        if error.status >= 500 and error.status != 501:
            self.log.exception("Error handling request: %s", exc)
        else:
            self.log.warning("Invalid request from %s: %s", addr[0] if addr else "?", exc)
        try:
            client.setblocking(True)
            client.sendall(error_response(error, request_id=os.urandom(16).hex()))
        except OSError:
            self.log.debug("Failed to send the error response.")


Hook = Callable[[], None]


class GatewayServer(BaseApplication):
    """gunicorn, in this process, on an already listening socket (which it takes over); `load` makes the WSGI
    application in the worker, `ready` runs there once it serves (for its first start only), `leaving` as it
    exits."""

    def __init__(self, listener: socket.socket, load: Callable[[], WSGIApplication], ready: Hook, leaving: Hook):
        self.listener_fd = listener.detach()
        self.make_application = load
        self.ready = ready
        self.leaving = leaving
        super().__init__()

    def load_config(self) -> None:
        quiet = bool(os.environ.get("QUIET"))
        settings: dict[str, Any] = {
            "bind": [f"fd://{self.listener_fd}"],
            "workers": 1,
            "worker_class": GatewayWorker,
            "threads": THREADS,
            "worker_connections": MAX_CONNECTIONS,
            "backlog": BACKLOG,
            "limit_request_line": 0,  # 1 MiB, gunicorn's most: a long path is the function's to judge
            "keepalive": KEEPALIVE,
            "timeout": WORKER_TIMEOUT,
            "graceful_timeout": GRACEFUL_TIMEOUT,
            "control_socket_disable": True,
            "accesslog": None if quiet else "/dev/stderr",
            "loglevel": "warning" if quiet else "info",
            "post_worker_init": self._post_worker_init,
            "worker_exit": self._worker_exit,
        }
        for name, value in settings.items():
            self.cfg.set(name, value)

    def load(self) -> _WSGIAppType:
        # gunicorn hands the application a dict, as PEP 3333 says; its stubs say any MutableMapping.
        return cast("_WSGIAppType", self.make_application())

    def _post_worker_init(self, worker: ThreadWorker) -> None:
        if worker.age == 1:
            self.ready()

    def _worker_exit(self, arbiter: Arbiter, worker: ThreadWorker) -> None:
        self.leaving()

    def run(self) -> None:
        """Serve until a signal stops it: SIGINT or SIGTERM (gunicorn's arbiter handles them), then return."""
        master = os.getpid()
        try:
            super().run()
        except SystemExit as stop:
            if os.getpid() != master:  # the worker leaving: what the master holds is not its to release
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(stop.code if isinstance(stop.code, int) else 1)
            if stop.code not in (0, None):
                raise
