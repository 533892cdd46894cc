"""A local Lambda runtime: each execution environment is a Python process that serves one invocation at a time.

As in Lambda, concurrent requests go to different environments (separate processes, so separate module state
and caches), an environment is reused while it is warm, and one that overruns the function's timeout or dies
is thrown away and replaced. The function's logs go to this server's standard error.

Protocol between the pool and an environment: one JSON line per event on the environment's standard input,
one JSON line per result on a private pipe (standard output stays free for the function's own logs).
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from local.events import LambdaContext
from local.stack import Function

ROOT = Path(__file__).resolve().parent.parent


class InvocationFailed(Exception):
    """The function raised, timed out or its environment died: API Gateway would answer 500."""


class Environment:
    """One execution environment: a worker process with the function's code imported."""

    def __init__(self, function: Function, env: dict[str, str]):
        self.function = function
        read_fd, write_fd = os.pipe()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.runtime",
                function.code_uri,
                function.handler,
                function.name,
                str(write_fd),
                str(function.timeout_seconds),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=2,  # the function's logs go to this server's console
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        self.results = os.fdopen(read_fd, "rb")
        self.used = 0

    def invoke(self, event: dict[str, Any], timeout: float) -> Any:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(event).encode("utf-8") + b"\n")
            self.process.stdin.flush()
        except OSError as error:
            raise InvocationFailed(f"environment is gone: {error}") from error
        line = self._read_line(time.monotonic() + timeout)
        self.used += 1
        result = json.loads(line)
        if "error" in result:
            raise InvocationFailed(result["error"])
        return result["response"]

    def _read_line(self, deadline: float) -> bytes:
        """The next result line, or InvocationFailed when the deadline passes or the process dies."""
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([self.results], [], [], max(remaining, 0))
        if not ready:
            raise InvocationFailed(f"Task timed out after {self.function.timeout_seconds} seconds")
        line = self.results.readline()
        if not line.endswith(b"\n"):
            raise InvocationFailed(f"environment exited with code {self.process.wait()}")
        return line

    def close(self) -> None:
        if self.process.stdin:
            try:
                self.process.stdin.close()  # the environment's loop ends on end of input
            except OSError:
                pass
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.results.close()


class FunctionPool:
    """At most `concurrency` warm environments of one function; an invocation waits for a free one."""

    def __init__(self, function: Function, env: dict[str, str], concurrency: int):
        self.function = function
        self.env = env
        self.concurrency = concurrency
        self.idle: queue.LifoQueue[Environment] = queue.LifoQueue()
        self.slots = threading.BoundedSemaphore(concurrency)
        self.lock = threading.Lock()
        self.live: set[Environment] = set()
        self.closed = False

    def warm_up(self) -> None:
        """Start one environment now, so that a function that cannot even import fails at start."""
        with self.slots:
            self.idle.put(self._start())

    def invoke(self, event: dict[str, Any]) -> Any:
        with self.slots:
            try:
                environment = self.idle.get_nowait()
            except queue.Empty:
                environment = self._start()
            try:
                response = environment.invoke(event, timeout=self.function.timeout_seconds)
            except BaseException:
                self._discard(environment)  # timed out, died or raised: never reuse it
                raise
            self.idle.put(environment)
            return response

    def _start(self) -> Environment:
        """A new environment, initialised: as in Lambda, importing the code is an init phase with its own time
        limit, not part of the first request's timeout."""
        with self.lock:
            if self.closed:
                raise InvocationFailed("the server is stopping")
            environment = Environment(self.function, self.env)
            self.live.add(environment)
        try:
            environment.invoke(_WARM_UP, timeout=INIT_TIMEOUT_SECONDS)
        except BaseException:
            self._discard(environment)
            raise
        return environment

    def _discard(self, environment: Environment) -> None:
        with self.lock:
            self.live.discard(environment)
        environment.process.kill()
        environment.close()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            environments = list(self.live)
            self.live.clear()
        for environment in environments:
            environment.close()


# An event no route serves, used to import the code and start the environment before its first request.
_WARM_UP = {"local-warm-up": True}
# Lambda gives the init phase 10 s; here several environments may start at once on a small, busy machine.
INIT_TIMEOUT_SECONDS = 60


def _serve(code_uri: str, handler: str, function_name: str, result_fd: int, timeout_seconds: int) -> int:
    """The environment's loop: import the handler once, then answer events until standard input ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the pool decides
    results = os.fdopen(result_fd, "wb")
    sys.path.insert(0, str(ROOT / code_uri))
    module_name, _, attribute = handler.rpartition(".")
    entry = getattr(importlib.import_module(module_name), attribute)
    for line in sys.stdin.buffer:
        event = json.loads(line)
        if event == _WARM_UP:
            answer: dict[str, Any] = {"response": None}
        else:
            context = LambdaContext(
                function_name=function_name,
                aws_request_id=str(uuid.uuid4()),
                invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
                log_group_name=f"/aws/lambda/{function_name}",
                timeout_ms=timeout_seconds * 1000,
            )
            try:
                answer = {"response": entry(event, context)}
            except Exception:
                traceback.print_exc()  # to the server's console, as Lambda logs an unhandled error
                answer = {"error": "the function raised an unhandled exception"}
        try:
            data = json.dumps(answer)
        except (TypeError, ValueError):
            data = json.dumps({"error": "the function returned a value that is not JSON"})
        results.write(data.encode("utf-8") + b"\n")
        results.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(_serve(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
