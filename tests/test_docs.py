"""Every code block of README.md runs, so that none can drift from what the project does.

- Python blocks are pasted into `make python` (the project's Python, with the `openai` client), against a local
  endpoint this test starts with `make serve` (PORT=0, so on a free port). The placeholders a reader fills in
  are filled with that endpoint's values (PLACEHOLDERS); a `print(...)  # value` line must print that value.
- Shell blocks run line by line with bash in the repository, as in a terminal where OPENAI_API_KEY holds the
  key `make serve` printed, against that same endpoint (its port in place of 3000).
- A block that cannot run here says why with one word after its language, from MARKS; the test checks that
  each such block holds only what its mark allows, and that every other block ran.
- A block without a language (the layout) is not code: every path it names must exist.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import signal
import subprocess
from dataclasses import dataclass

import pytest

from local.launch import ROOT, server_environment, start_server

README = ROOT / "README.md"
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>.*)$")
# Why a block is not run here, and what such a block may hold (each of its lines must match).
MARKS = {
    # Needs an AWS account and credentials: the deploy, the deployed stack's targets, the AWS CLI.
    "aws": re.compile(
        r"(make (deploy|deploy-guided|outputs|logs|status|delete-failed)( |$)|make keys ARGS=\"(?!--endpoint)|aws )"
    ),
    # Needs Docker: SAM's emulator.
    "docker": re.compile(r"make sam-invoke "),
    # make serve and make test themselves: test_server.py starts `make serve` exactly as written, and `make test`
    # is the suite this test is part of.
    "suite": re.compile(r"make (serve|test) +#"),
}
SHELL, PYTHON = {"sh", "bash", "shell"}, {"python"}


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    language: str
    mark: str | None
    text: str

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.language}{' ' + self.mark if self.mark else ''})"


def readme_blocks() -> list[Block]:
    blocks, lines, number = [], README.read_text(encoding="utf-8").splitlines(), 0
    while number < len(lines):
        opening = FENCE.match(lines[number])
        number += 1
        if not opening:
            continue
        indent, words = len(opening.group("indent")), opening.group("info").split()
        assert len(words) <= 2, f"README.md:{number}: a fence is ```<language> [<mark>]"
        body = []
        while not FENCE.match(lines[number]) or lines[number].strip() != "```":
            body.append(lines[number][indent:])
            number += 1
        number += 1
        language = words[0] if words else ""
        blocks.append(Block(number - len(body) - 1, language, words[1] if len(words) > 1 else None, "\n".join(body)))
    return blocks


def commands(block: Block) -> list[str]:
    return [line for line in block.text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_blocks_are_marked_only_for_what_cannot_run_here_and_honestly():
    blocks = readme_blocks()
    assert blocks and blocks[0].mark == "suite", "the README opens with make serve and make test"
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    for block in blocks:
        assert block.language in SHELL | PYTHON | {""}, f"{block}: a language this test runs (or none, for text)"
        if block.mark is not None:
            assert block.mark in MARKS and block.language in SHELL, f"{block}: marks are {sorted(MARKS)}, on shell"
            for command in commands(block):
                assert MARKS[block.mark].match(command), f"{block}: {command!r} is not what {block.mark!r} marks"
        for command in commands(block) if block.language in SHELL else []:
            for target in re.findall(r"(?:^|&& |\s)make ([a-z-]+)", command):
                assert target in targets, f"{block}: make {target} is no target of the Makefile"


def test_the_layout_names_files_that_exist():
    (layout,) = [block for block in readme_blocks() if block.language == ""]
    directory = ""
    for line in layout.text.splitlines():
        names = [name.strip() for name in line.strip().split("  ")[0].split(",")]
        if line.startswith(" "):
            base = directory  # an entry under the directory above
        else:
            base, directory = "", names[0] if names[0].endswith("/") else ""
        first = os.path.join(base, names[0])
        for path in [first, *(os.path.join(os.path.dirname(first), name) for name in names[1:])]:
            made_by_make = path.rstrip("/") == ".tools"
            assert made_by_make or (ROOT / path).exists(), f"README layout: {path} does not exist"


@pytest.fixture(scope="module")
def endpoint():
    """`make serve` as the README says, on a free port; what a reader pastes: its base URL and its key."""
    server = start_server(["make", "--no-print-directory", "serve"], server_environment(), new_session=True)
    try:
        key = re.search(r'api_key="(sk-[A-Za-z0-9]{48})"', server.banner).group(1)
        yield server, key
    finally:
        os.killpg(server.process.pid, signal.SIGINT)
        server.process.wait(timeout=15)


def placeholders(server, key: str) -> dict[str, str]:
    origin = server.base_url.removesuffix("/v1")
    return {
        "https://<api-id>.execute-api.<region>.amazonaws.com/v1": server.base_url,  # the deployed API: the local one
        "http://127.0.0.1:3000": origin,
        "<your key>": key,
        "<the key make serve printed>": key,
    }


def filled(text: str, server, key: str) -> str:
    for placeholder, value in placeholders(server, key).items():
        text = text.replace(placeholder, value)
    return text


def reader_environment(key: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "MAKE", "PORT", "THREADS_API_KEYS")) and name != "MFLAGS"
    }
    env["OPENAI_API_KEY"] = key
    return env


def run_python(block: Block, server, key: str) -> None:
    code = filled(block.text, server, key)
    assert not re.search(r"<[a-z][a-z -]*>", code), f"{block}: a placeholder this test does not fill"
    done = subprocess.run(
        ["make", "--no-print-directory", "python"],
        input=code,
        cwd=ROOT,
        env=reader_environment(key),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{block}:\n{done.stderr}"
    printed = done.stdout.splitlines()
    for line in block.text.splitlines():
        expected = re.match(r"^print\(.*\)\s+#\s*(.+)$", line)
        if expected:
            try:
                value = ast.literal_eval(expected.group(1))
            except (ValueError, SyntaxError):
                continue  # a comment in words, not a value
            assert str(value) in printed, f"{block}: {line!r} printed {printed}"


def run_shell(block: Block, server, key: str) -> None:
    for command in commands(block):
        line = filled(command, server, key)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", line],
            cwd=ROOT,
            env=reader_environment(key),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"{block}: {command!r}\n{done.stderr}"
        assert done.stdout.strip() and "Traceback" not in done.stdout + done.stderr, f"{block}: {command!r}"
        if shlex.split(line)[0] == "curl":
            answer = json.loads(done.stdout)  # the API answers JSON, errors included
            if "sk-not-a-key" in line:
                assert answer["error"]["code"] == "invalid_api_key", answer
            else:
                assert answer["object"] == "thread", answer


def test_every_unmarked_block_runs_against_the_local_endpoint(endpoint):
    server, key = endpoint
    ran = []
    for block in readme_blocks():
        if block.mark is not None or block.language == "":
            continue
        if block.language in PYTHON:
            run_python(block, server, key)
        else:
            run_shell(block, server, key)
        ran.append(block)
    unmarked = [block for block in readme_blocks() if block.mark is None and block.language]
    assert [str(block) for block in ran] == [str(block) for block in unmarked] and len(ran) >= 4


def test_the_local_snippet_is_the_one_make_serve_prints(endpoint):
    """The README shows the banner's three lines, with the key as a placeholder: the same lines, once filled in
    (and a blank one after the import, as ruff formats the README's Python)."""
    server, key = endpoint
    snippet = re.search(r"^from openai import OpenAI\n.*?\n.*?\n", server.banner, re.MULTILINE).group(0).rstrip("\n")
    local = [block for block in readme_blocks() if block.language in PYTHON and "127.0.0.1:3000" in block.text]
    assert len(local) == 1
    assert [line for line in filled(local[0].text, server, key).splitlines() if line] == snippet.splitlines()
    # ... and the banner says where to paste it: the project's Python, from this directory.
    assert f"cd {shlex.quote(str(ROOT))} && make python" in server.banner
