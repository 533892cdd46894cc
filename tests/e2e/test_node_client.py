"""The official `openai` client for Node.js (package.json pins it) against the local endpoint on its embedded
moto: tests/node/messages.test.mjs, run with `node --test`, creates, lists with `for await` auto-paging,
retrieves, updates and deletes messages and checks the typed errors (NotFoundError, BadRequestError with
`.param` and `.code`).
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess

from local.embedded import MESSAGES_TABLE_NAME
from local.fixtures import API_KEY, BASIC, FIXTURE_MESSAGES, UNKNOWN_ID, UNKNOWN_MESSAGE_ID

ROOT = pathlib.Path(__file__).resolve().parents[2]
NODE_TESTS = ROOT / "tests" / "node" / "messages.test.mjs"
OPENAI_NODE = ROOT / "node_modules" / "openai" / "package.json"


def run_node(base_url: str, *options: str, **env: str) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    assert node and OPENAI_NODE.exists(), "the Node.js client is installed by `make test` (npm ci); run it once"
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": API_KEY,
        "THREAD_ID": BASIC.id,
        "FIXTURE_MESSAGE_IDS": ",".join(message.id for message in FIXTURE_MESSAGES),
        "UNKNOWN_MESSAGE_ID": UNKNOWN_MESSAGE_ID,
        **env,
    }
    return subprocess.run(
        [node, "--test", "--test-reporter=tap", *options, str(NODE_TESTS)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def tap_counts(output: str) -> dict[str, int]:
    return {
        name: int(count) for name, count in re.findall(r"^# (tests|pass|fail|skipped) (\d+)$", output, re.MULTILINE)
    }


def declared_tests() -> int:
    """The tests the file declares: one per `test(` call, two for the one inside the loop over both orders."""
    source = NODE_TESTS.read_text(encoding="utf-8")
    return len(re.findall(r"^\s*test\(", source, re.MULTILINE)) + 1


def fixture_messages(table) -> list[str]:
    items = table.query(
        TableName=MESSAGES_TABLE_NAME,
        KeyConditionExpression="thread_id = :t",
        ExpressionAttributeValues={":t": {"S": BASIC.id}},
        ConsistentRead=True,
    )["Items"]
    return sorted(item["message_id"]["S"] for item in items if "position" in item)


def test_the_node_client_on_messages(moto_http_server, moto_http_table):
    result = run_node(moto_http_server.base_url)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    counts = tap_counts(result.stdout)
    assert counts == {"tests": declared_tests(), "pass": declared_tests(), "fail": 0, "skipped": 0}, result.stdout[
        -3000:
    ]
    # What it added to the fixture thread it deleted again.
    assert fixture_messages(moto_http_table) == sorted(message.id for message in FIXTURE_MESSAGES)


def test_a_failing_node_test_fails_the_run(moto_http_server, moto_http_table):
    """The run above is a check: against a thread that does not exist, the same test fails, and so does node."""
    result = run_node(
        moto_http_server.base_url, "--test-name-pattern=retrieve and list the fixture messages", THREAD_ID=UNKNOWN_ID
    )
    assert result.returncode != 0, result.stdout[-3000:]
    counts = tap_counts(result.stdout)
    assert (counts["pass"], counts["fail"], counts["skipped"]) == (0, 1, declared_tests() - 1), result.stdout[-3000:]
    assert "NotFoundError" in result.stdout
