"""The function's entry point in a fresh Python, as an execution environment starts it.

`run(script, *args, **variables)` runs `script` (dedented) in a child Python with the function's code (and bench/,
for its canned DynamoDB) on the path, the names of its tables and bucket, a Region and fake credentials, each of
which `variables` may override or add to; the script prints one JSON line last, which is returned. It starts with
`json` and `sys` imported and `Context`, a Lambda context for the entry point.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]

PREAMBLE = textwrap.dedent(
    """
    import json, sys

    class Context:
        function_name = "ThreadsFunction"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ThreadsFunction"
        aws_request_id = "00000000-0000-4000-8000-000000000000"
    """
)


def run(script: str, *args: str, **variables: str) -> Any:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / "threads"), str(ROOT / "bench")]),
        "TABLE_NAME": "threads-bench",
        "KEYS_TABLE_NAME": "threads-bench-keys",
        "MESSAGES_TABLE_NAME": "threads-bench-messages",
        "CONTENT_BUCKET_NAME": "threads-bench-content",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **variables,
    }
    result = subprocess.run(
        [sys.executable, "-c", PREAMBLE + textwrap.dedent(script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
