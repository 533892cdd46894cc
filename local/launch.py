"""Start real servers as child processes on free loopback ports: the local endpoint and dynalite (tests, bench)."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from local import storage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
DYNALITE = ROOT / "node_modules" / "dynalite" / "cli.js"
BASE_URL_LINE = re.compile(r"^Threads API on (http://127\.0\.0\.1:(\d+)/v1)$", re.MULTILINE)


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    base_url: str
    banner: str
    output: list[str]  # every line printed so far, banner included

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1].split("/")[0])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pump(stream: IO[str], lines: list[str], seen: threading.Event, marker: str) -> None:
    for line in stream:
        lines.append(line)
        if marker in line:
            seen.set()


def start_server(command: list[str], env: dict[str, str], new_session: bool = False) -> RunningServer:
    """Start the local endpoint with `command` and wait for its banner (the line that says how to stop it)."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=new_session,
    )
    lines: list[str] = []
    ready = threading.Event()
    threading.Thread(target=_pump, args=(process.stdout, lines, ready, "Ctrl-C"), daemon=True).start()
    if not ready.wait(timeout=60) or process.poll() is not None:
        process.kill()
        raise RuntimeError("the local endpoint did not start:\n" + "".join(lines))
    banner = "".join(lines)
    found = BASE_URL_LINE.search(banner)
    assert found, banner
    return RunningServer(process, found.group(1), banner, lines)


def server_environment(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "PORT", "TABLE_NAME"))}
    env.update(PORT="0", QUIET="1")
    env.update(extra)
    return env


def fixture_keys() -> str:
    """THREADS_API_KEYS for the fixture keys of local/fixtures.py."""
    from local.fixtures import API_KEY, DEFAULT_PROJECT, OTHER_API_KEY, OTHER_PROJECT

    return f"{API_KEY}={DEFAULT_PROJECT},{OTHER_API_KEY}={OTHER_PROJECT}"


@contextmanager
def local_endpoint(**extra: str) -> Iterator[RunningServer]:
    """`python -m local.server` on a free port, with the fixture keys unless THREADS_API_KEYS is given; stopped
    with SIGTERM, which must end it cleanly."""
    extra.setdefault("THREADS_API_KEYS", fixture_keys())
    server = start_server([sys.executable, "-m", "local.server"], server_environment(**extra))
    try:
        yield server
    finally:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            raise


@contextmanager
def dynalite() -> Iterator[str]:
    """dynalite (installed by `make test` from package-lock.json) in memory on a free port; yields its URL."""
    node = shutil.which("node")
    assert node and DYNALITE.exists(), "dynalite is installed by `make test` (npm ci); run it once"
    port = _free_port()
    process = subprocess.Popen(
        [node, str(DYNALITE), "--host", "127.0.0.1", "--port", str(port), "--createTableMs", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("dynalite did not start") from None
                time.sleep(0.05)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def dynamodb_client(endpoint: str) -> DynamoDBClient:
    """A boto3 client for a local DynamoDB-compatible server."""
    return storage.dynamodb_client(endpoint, storage.EMBEDDED_AWS)
