"""`python -m admin.threads` against the local endpoint's storage, as an operator runs it: its exit status and
report, an import killed half way and run again, the export on standard output, and the openai client reading
the imported threads over HTTP."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import uuid

import openai
import pytest

from local.embedded import TABLE_NAME
from local.launch import ROOT, dynamodb_client
from local.storage import EMBEDDED_AWS


@pytest.fixture
def endpoint(moto_http_server) -> str:
    found = re.search(r"--endpoint (http://127\.0\.0\.1:\d+) ", moto_http_server.banner)
    assert found, moto_http_server.banner
    return found.group(1)


def command(endpoint: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "admin.threads", "--endpoint", endpoint, *args]


def run(endpoint: str, *args: str) -> subprocess.CompletedProcess:
    environment = {"PATH": "/usr/bin:/bin", **EMBEDDED_AWS}
    return subprocess.run(command(endpoint, *args), cwd=ROOT, env=environment, capture_output=True, timeout=300)


def saved(prefix: str, threads: int, messages: int) -> list[dict]:
    """Threads and their messages, as an export writes them (thread ids of 24 characters after `thread_`)."""
    lines: list[dict] = []
    for t in range(threads):
        tid = f"thread_{prefix}{t:016d}"
        lines.append({"id": tid, "object": "thread", "created_at": 1_700_000_000, "metadata": {}, "tool_resources": {}})
        for m in range(messages):
            lines.append(
                {
                    "id": f"msg_{prefix}{t:08d}{m:08d}",
                    "object": "thread.message",
                    "created_at": 1_700_000_000 + m,
                    "thread_id": tid,
                    "status": "completed",
                    "incomplete_details": None,
                    "completed_at": None,
                    "incomplete_at": None,
                    "role": "user",
                    "content": [{"type": "text", "text": {"value": f"{t}.{m}", "annotations": []}}],
                    "assistant_id": None,
                    "run_id": None,
                    "attachments": [],
                    "metadata": {},
                }
            )
    return lines


def write(path, lines: list[dict]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_refused_line_makes_the_exit_status_1_and_the_rest_is_imported(endpoint, tmp_path):
    project, prefix = f"proj_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    lines = saved(prefix, 2, 2)
    lines[4]["role"] = "system"  # the second thread's first message
    write(tmp_path / "saved.jsonl", lines)
    first = run(endpoint, "import", str(tmp_path / "saved.jsonl"), "--project", project)
    assert first.returncode == 1, first.stderr
    assert first.stderr.decode().splitlines() == [
        f"line 5: Invalid value: 'system'. Supported values are: 'user' and 'assistant'."
        f" (thread_{prefix}{1:016d} not imported)"
    ]
    assert first.stdout.decode().startswith("imported 1 threads (2 messages), 0 already imported, 1 threads refused")
    again = run(endpoint, "import", str(tmp_path / "saved.jsonl"), "--project", project)
    assert again.stdout.decode().startswith("imported 0 threads (0 messages), 1 already imported, 1 threads refused")
    missing = run(endpoint, "import", str(tmp_path / "nothing.jsonl"), "--project", project)
    assert (missing.returncode, missing.stderr.decode()) == (1, f"admin.threads: no file {tmp_path}/nothing.jsonl\n")


def test_an_import_killed_half_way_is_finished_by_running_it_again(endpoint, moto_http_server, tmp_path):
    project, prefix = f"proj_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    lines = saved(prefix, 40, 30)
    write(tmp_path / "saved.jsonl", lines)
    threads = [line["id"] for line in lines if line["object"] == "thread"]
    client = dynamodb_client(endpoint)

    def committed() -> int:
        keys = [{"thread_id": {"S": tid}} for tid in threads]
        found = client.batch_get_item(RequestItems={TABLE_NAME: {"Keys": keys, "ConsistentRead": True}})
        return sum("project" in item for item in found["Responses"][TABLE_NAME])

    process = subprocess.Popen(
        command(endpoint, "import", str(tmp_path / "saved.jsonl"), "--project", project, "--workers", "2"),
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **EMBEDDED_AWS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while committed() < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = committed()
    assert 3 <= done < len(threads), "the import was not stopped half way"

    finished = run(endpoint, "import", str(tmp_path / "saved.jsonl"), "--project", project)
    assert finished.returncode == 0, finished.stderr
    summary = finished.stdout.decode()
    imported = int(re.match(r"imported (\d+) threads", summary).group(1))
    assert imported + int(re.search(r"(\d+) already imported", summary).group(1)) == len(threads)
    assert imported >= len(threads) - done

    export = run(endpoint, "export", "--project", project)
    assert export.returncode == 0, export.stderr
    assert [json.loads(line) for line in export.stdout.splitlines()] == lines  # nothing duplicated or missing
    assert export.stderr.decode() == f"exported 40 threads (1,200 messages) of {project}\n"

    # The fixture key's project is another: a key for this one, made with the keys command, reads them.
    key = subprocess.run(
        [sys.executable, "-m", "admin.keys", "--endpoint", endpoint, "create", "--project", project],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **EMBEDDED_AWS},
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.splitlines()[-1]
    with openai.OpenAI(base_url=moto_http_server.base_url, api_key=key) as openai_client:
        messages = openai_client.beta.threads.messages.list(threads[-1], order="asc", limit=7)
        assert [m.id for m in messages] == [line["id"] for line in lines[-30:]]
