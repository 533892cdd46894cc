"""The README and the pages of docs/ say what the project does, and a test notices when they stop saying it.

Code blocks (every page: README.md and docs/*.md):

- Python blocks are pasted into `make python` (the project's Python, with the `openai` client), against a local
  endpoint this test starts with `make serve` (PORT=0, so on a free port). The placeholders a reader fills in
  are filled with that endpoint's values (PLACEHOLDERS); a `print(...)  # value` line must print that value.
- Shell blocks run line by line with bash in the repository, as in a terminal where OPENAI_API_KEY holds the
  key `make serve` printed, against that same endpoint (its port in place of 3000).
- JSON blocks (examples of the API's objects) must parse.
- A block that cannot run here says why with one word after its language, from MARKS; the test checks that
  each such block holds only what its mark allows, and that every other block ran.
- A block without a language (the layout, in docs/design.md) is not code: every path it names must exist, and
  every Python module of the code, the local tools, the admin commands, the benchmark and the tests is named.

Links: every relative link of every page points to a file of the repository, and an anchor (`#x`) to a heading
of that page, slugged as GitHub does (lower case; punctuation but `-` and `_` dropped; spaces to `-`).

Errors: every error the code can answer (each public function of threads_api.errors that returns an ApiError,
and validation's fallbacks) is in docs/api.md with its status, type, `param` and `code` (see
`test_every_error_the_code_answers_is_in_the_api_reference`).
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import shlex
import signal
import subprocess
import types
import typing
from dataclasses import dataclass

import pytest

from local.launch import ROOT, server_environment, start_server

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
API_REFERENCE = DOCS / "api.md"
README_MOST_LINES = 150
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>.*)$")
# Why a block is not run here, and what such a block may hold (each of its lines must match).
MARKS = {
    # Needs an AWS account and credentials: the deploy, the deployed stack's targets, the AWS CLI.
    "aws": re.compile(
        r"(make (deploy|deploy-guided|outputs|logs|status|delete-failed)( |$)"
        r"|make (keys|threads) ARGS=\"(?!--endpoint)|aws )"
    ),
    # Needs Docker: SAM's emulator.
    "docker": re.compile(r"make sam-invoke "),
    # make serve and make test themselves: test_server.py starts `make serve` exactly as written, and `make test`
    # is the suite this test is part of.
    "suite": re.compile(r"make (serve|test) +#"),
}
SHELL, PYTHON, JSON = {"sh", "bash", "shell"}, {"python"}, {"json"}


def page_name(page) -> str:
    return page.relative_to(ROOT).as_posix()


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    language: str
    mark: str | None
    text: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line} ({self.language}{' ' + self.mark if self.mark else ''})"


def page_blocks(page) -> list[Block]:
    blocks, lines, number = [], page.read_text(encoding="utf-8").splitlines(), 0
    while number < len(lines):
        opening = FENCE.match(lines[number])
        number += 1
        if not opening:
            continue
        indent, words = len(opening.group("indent")), opening.group("info").split()
        assert len(words) <= 2, f"{page_name(page)}:{number}: a fence is ```<language> [<mark>]"
        body = []
        while not FENCE.match(lines[number]) or lines[number].strip() != "```":
            body.append(lines[number][indent:])
            number += 1
        number += 1
        language, mark = words[0] if words else "", words[1] if len(words) > 1 else None
        blocks.append(Block(page_name(page), number - len(body) - 1, language, mark, "\n".join(body)))
    return blocks


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in page_blocks(page)]


def commands(block: Block) -> list[str]:
    return [line for line in block.text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_there_are_pages_beside_the_readme():
    assert {page_name(page) for page in PAGES} >= {"README.md", "docs/api.md", "docs/operating.md"}


def test_blocks_are_marked_only_for_what_cannot_run_here_and_honestly():
    assert page_blocks(README)[0].mark == "suite", "the README opens with make serve and make test"
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    for block in all_blocks():
        assert block.language in SHELL | PYTHON | JSON | {""}, f"{block}: a language this test runs (or none, for text)"
        if block.mark is not None:
            assert block.mark in MARKS and block.language in SHELL, f"{block}: marks are {sorted(MARKS)}, on shell"
            for command in commands(block):
                assert MARKS[block.mark].match(command), f"{block}: {command!r} is not what {block.mark!r} marks"
        for command in commands(block) if block.language in SHELL else []:
            for target in re.findall(r"(?:^|&& |\s)make ([a-z-]+)", command):
                assert target in targets, f"{block}: make {target} is no target of the Makefile"


def test_json_blocks_parse():
    blocks = [block for block in all_blocks() if block.language in JSON]
    assert blocks, "the API reference shows its objects"
    for block in blocks:
        try:
            json.loads(block.text)
        except ValueError as error:
            pytest.fail(f"{block}: {error}")


# The layout.


def layout_paths() -> list[str]:
    (layout,) = [block for block in all_blocks() if block.language == ""]
    paths, directory = [], ""
    for line in layout.text.splitlines():
        names = [name.strip() for name in line.strip().split("  ")[0].split(",")]
        if line.startswith(" "):
            base = directory  # an entry under the directory above
        else:
            base, directory = "", names[0] if names[0].endswith("/") else ""
        first = os.path.join(base, names[0])
        paths += [first, *(os.path.join(os.path.dirname(first), name) for name in names[1:])]
    return paths


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return listed.splitlines()


def test_the_layout_names_files_that_exist():
    for path in layout_paths():
        made_by_make = path.rstrip("/") == ".tools"
        assert made_by_make or (ROOT / path).exists(), f"layout: {path} does not exist"


def test_the_layout_names_every_module():
    named = {path.rstrip("/") for path in layout_paths()}
    modules = [
        name
        for name in tracked_files()
        if name.endswith(".py") and name.startswith(("functions/", "local/", "admin/", "bench/", "tests/"))
    ]
    assert modules
    missing = [name for name in modules if name not in named]
    assert not missing, f"docs/design.md's layout should name {missing}"


def test_the_testing_page_describes_every_test_module():
    page = (DOCS / "testing.md").read_text(encoding="utf-8")
    described = set(re.findall(r"^\| `(tests/\w+/test_\w+\.py)` \|", page, re.MULTILINE))
    modules = {name for name in tracked_files() if re.fullmatch(r"tests/\w+/test_\w+\.py", name)}
    assert described == modules, f"docs/testing.md: missing {modules - described}, gone {described - modules}"


# Links and anchors.

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(page) -> str:
    """A page without its code blocks and code spans, where a link is a link."""
    text = re.sub(r"^ *```.*?^ *```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(page) -> set[str]:
    """The anchors of a page's headings, as GitHub makes them (a repeated one gets -1, -2...)."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", prose_keeping_spans(page), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        candidate, number = slug, 0
        while candidate in found:
            number += 1
            candidate = f"{slug}-{number}"
        found.add(candidate)
    return found


def prose_keeping_spans(page) -> str:
    return re.sub(r"^ *```.*?^ *```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)


def links(page) -> list[str]:
    return LINK.findall(prose(page))


def test_every_relative_link_points_to_a_file_and_a_heading_that_exist():
    checked = 0
    for page in PAGES:
        for target in links(page):
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:: not a file of the repository
            path, _, anchor = target.partition("#")
            if not path:
                linked = page
            elif path.startswith("/"):
                linked = ROOT / path.lstrip("/")  # GitHub reads these from the repository's root
            else:
                linked = (page.parent / path).resolve()
            where = f"{page_name(page)}: ({target})"
            assert linked.is_relative_to(ROOT), f"{where} leads out of the repository"
            assert linked.exists(), f"{where}: no such file"
            if anchor:
                assert linked.suffix == ".md" and anchor in anchors(linked), f"{where}: no such heading"
            checked += 1
    assert checked >= 20


def test_the_readme_is_a_newcomers_page_that_leads_to_every_other():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= README_MOST_LINES
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(README) if not target.startswith("#")}
    for page in PAGES[1:]:
        assert page.resolve() in linked, f"the README should link to {page_name(page)}"


# The deploy guide's parameters (the alarms, outputs and costs are test_template.py's).


def test_the_deploy_guide_lists_every_parameter():
    from local.table import load_template

    guide = (DOCS / "operating.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (`\w+`(?:, `\w+`)*) \|", guide, re.MULTILINE)
    listed = {name for row in rows for name in re.findall(r"`(\w+)`", row)}
    assert set(load_template()["Parameters"]) <= listed, "docs/operating.md: a parameter without its row"


# Every error the code answers, in the API reference.
#
# Each public function of threads_api.errors that returns an ApiError is called with a sentinel for each argument
# without a default (an argument with one keeps it: it is what the code sends). The page writes the value of an
# argument as `<its name>`, and the length of a string argument as `<length>`; an argument that takes any JSON
# value (annotated `object`) is written `<its name>` too, and the names of the JSON types it becomes must be on the
# page. The message, with each sentinel put back as its placeholder, must be a message cell of a table of the
# page, whose row has the error's status, `param` and `code`, and whose heading names its type. A header the error
# carries must be in its row as `Name: value`.

JSON_VALUES = (None, True, 7, 7.5, "text", [], {})


def sentinel_string(number: int, name: str) -> str:
    """A string no message holds by chance, of a length (7001, 7002...) no message holds either."""
    return f"SENTINEL{name}".ljust(7000 + number, "x")


class Sentinels:
    """The arguments for one call, and how to write the call's texts as the page does."""

    def __init__(self, function):
        self.function = function
        self.hints = typing.get_type_hints(function)
        self.arguments: dict[str, object] = {}
        self.placeholders: list[tuple[re.Pattern, str]] = []
        self.any_json: list[str] = []
        for number, (name, parameter) in enumerate(inspect.signature(function).parameters.items(), start=1):
            if parameter.default is not inspect.Parameter.empty:
                continue
            hint = self.hints.get(name, object)
            options = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
            if str in options:
                value = sentinel_string(number, name)
                self.placeholders.append((re.compile(re.escape(value)), f"<{name}>"))
                self.placeholders.append((re.compile(rf"(?<!\d){len(value)}(?!\d)"), "<length>"))
            elif int in options:
                value = 900000 + number
                self.placeholders.insert(0, (re.compile(rf"(?<!\d){value}(?!\d)"), f"<{name}>"))
            elif hint == tuple[str, ...]:
                from threads_api.errors import _listed

                value = (sentinel_string(number, "first"), sentinel_string(number, "second"))
                self.placeholders.insert(0, (re.compile(re.escape(_listed(value))), f"<{name}>"))
            elif hint is object or hint is typing.Any:
                value = None
                self.any_json.append(name)
            else:
                raise TypeError(f"errors.{function.__name__}({name}: {hint}): teach test_docs.py a sentinel for it")
            self.arguments[name] = value

    def written(self, text: str | None) -> str | None:
        if text is None:
            return None
        for pattern, placeholder in self.placeholders:
            text = pattern.sub(placeholder, text)
        return text

    def calls(self):
        """(documented message, the error, the JSON type names) for this function."""
        first = self.function(**self.arguments)
        message, kinds = first.message, set()
        for name in self.any_json:
            made = [self.function(**{**self.arguments, name: value}) for value in JSON_VALUES]
            assert len({(e.status, e.param, e.code, e.type) for e in made}) == 1, self.function.__name__
            texts = [error.message for error in made]
            if len(set(texts)) == 1:
                continue  # this argument is not in the message
            prefix, suffix = common_prefix(texts), common_prefix([text[::-1] for text in texts])[::-1]
            prefix = re.sub(r"\w+$", "", prefix)  # only whole words are shared
            suffix = re.sub(r"^\w+", "", suffix)
            kinds |= {text[len(prefix) : len(text) - len(suffix)] for text in texts}
            message = prefix + f"<{name}>" + suffix
        return self.written(message), first, kinds


def common_prefix(texts: list[str]) -> str:
    return os.path.commonprefix(texts)


def error_functions() -> list:
    from threads_api import errors

    found = []
    for name, value in sorted(vars(errors).items()):
        if name.startswith("_") or not inspect.isfunction(value) or value.__module__ != errors.__name__:
            continue
        if typing.get_type_hints(value).get("return") is errors.ApiError:
            found.append(value)
        else:
            try:
                made = value(**Sentinels(value).arguments)
            except Exception:  # not an error function: json_kind and the like
                continue
            if isinstance(made, errors.ApiError):
                found.append(value)
    return found


@dataclass
class Row:
    heading: str
    line: int
    cells: dict[str, str]

    def value(self, column: str) -> str | None:
        cell = self.cells[column].strip()
        if cell == "null":
            return None
        assert re.fullmatch(r"`[^`]+`", cell), f"docs/api.md:{self.line}: {column} is `text` or null, not {cell!r}"
        return cell[1:-1]


def error_rows() -> list[Row]:
    """Every row of the API reference's tables that have a message column."""
    rows, heading, header = [], "", None
    lines = API_REFERENCE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if line.startswith("#"):
            heading, header = line, None
        elif not line.startswith("|"):
            header = None
        else:
            cells = [cell.replace("\\|", "|").strip() for cell in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
            if header is None:
                header = cells
            elif not set("".join(cells)) <= set("-: "):
                if "message" in header:
                    rows.append(Row(heading, number, dict(zip(header, cells, strict=True))))
    return rows


def unmatched(message: str, error, param: str | None, rows: list[Row]) -> str | None:
    """Why no row documents this error (None: one does, and no row with the same message says otherwise)."""
    same = [row for row in rows if row.cells["message"] == f"`{message}`"]
    if not same:
        return f"no row has the message `{message}`"
    for row in same:
        status, kind = row.cells["status"], re.search(r"type `(\w+)`", row.heading)
        got = (int(status) if status.isdigit() else status, row.value("param"), row.value("code"))
        if got != (error.status, param, error.code):
            answered = (error.status, param, error.code)
            return f"docs/api.md:{row.line}: status, param, code {got}; the code answers {answered}"
        if not kind or kind.group(1) != error.type:
            return f"docs/api.md:{row.line}: under {row.heading!r}; the error's type is {error.type}"
        for name, value in (error.headers or {}).items():
            if f"`{name}: {value}`" not in " ".join(row.cells.values()):
                return f"docs/api.md:{row.line}: the row should say `{name}: {value}`"
    return None


def test_every_error_the_code_answers_is_in_the_api_reference():
    rows, page = error_rows(), API_REFERENCE.read_text(encoding="utf-8")
    functions = error_functions()
    assert len(functions) >= 20, [function.__name__ for function in functions]
    problems = []
    for function in functions:
        sentinels = Sentinels(function)
        message, error, kinds = sentinels.calls()
        problem = unmatched(message, error, sentinels.written(error.param), rows)
        if problem:
            problems.append(f"errors.{function.__name__}: {problem}")
        unnamed = sorted(kind for kind in kinds if f"`{kind}`" not in page)
        problems += [f"errors.{function.__name__}: the page should name `{kind}`" for kind in unnamed]
        if error.code == "request_too_large":
            # The limit is in the message, and the page's limits say it in words too.
            for limit in re.findall(r"\d{4,}", message):
                if f"{int(limit):,} bytes" not in page:
                    problems.append(f"errors.{function.__name__}: the page should give the limit, {int(limit):,} bytes")
    assert not problems, "\n".join(problems)


def test_validations_own_errors_are_in_the_api_reference():
    """validation.first_error words a few errors itself: the reason of each unsupported field, the reason of any
    other, and the fallback for a problem no other error describes."""
    from threads_api import validation

    rows, page = error_rows(), API_REFERENCE.read_text(encoding="utf-8")
    field = sentinel_string(1, "path")

    def first(kind: str, *loc: str):
        error = validation.first_error([{"type": kind, "loc": ("body", *loc), "input": [1]}], {})
        return error.message.replace(field, "<path>"), error, (error.param or "").replace(field, "<path>") or None

    cases = [first("unsupported_parameter", *path.split(".")) for path in validation._UNSUPPORTED]
    cases += [first("unsupported_parameter", field), first("no_such_validation_error", field)]
    cases += [first("no_such_validation_error")]
    assert len(cases) >= 4
    problems = [problem for case in cases if (problem := unmatched(case[0], case[1], case[2], rows))]
    problems += [f"the reason {reason!r}" for reason in validation._UNSUPPORTED.values() if reason not in page]
    assert not problems, "\n".join(problems)


def test_errors_are_made_only_where_this_test_reads_them():
    """An ApiError made outside errors.py is an error text this page cannot be checked against: only validation's
    fallback is (test_validations_own_errors_are_in_the_api_reference)."""
    made = {}
    for path in sorted((ROOT / "functions").rglob("*.py")):
        if path.name != "errors.py":
            calls = [
                node
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "ApiError"
            ]
            if calls:
                made[path.relative_to(ROOT).as_posix()] = len(calls)
    validation = "functions/threads/threads_api/validation.py"
    assert set(made) <= {validation} and made.get(validation, 0) <= 1, made


# The code blocks, run against a local endpoint.


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
        "<the DynamoDB URL make serve printed>": re.search(
            r"--endpoint (http://127\.0\.0\.1:\d+) ", server.banner
        ).group(1),
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
    for block in all_blocks():
        if block.mark is not None or block.language in {""} | JSON:
            continue
        if block.language in PYTHON:
            run_python(block, server, key)
        else:
            run_shell(block, server, key)
        ran.append(block)
    unmarked = [block for block in all_blocks() if block.mark is None and block.language in SHELL | PYTHON]
    assert [str(block) for block in ran] == [str(block) for block in unmarked] and len(ran) >= 4
    assert any(block.page == "README.md" and block.language in PYTHON for block in ran), "the README's snippet ran"


def test_the_local_snippet_is_the_one_make_serve_prints(endpoint):
    """The local page shows the banner's four lines, with the key as a placeholder: the same lines, once filled in
    (and a blank one after the import, as ruff formats the pages' Python)."""
    server, key = endpoint
    snippet = re.search(r"^from openai import OpenAI\n(?:.*?\n){3}", server.banner, re.MULTILINE).group(0).rstrip("\n")
    local = [block for block in all_blocks() if block.language in PYTHON and "127.0.0.1:3000" in block.text]
    assert len(local) == 1
    assert [line for line in filled(local[0].text, server, key).splitlines() if line] == snippet.splitlines()
    # ... and the banner says where to paste it: the project's Python, from this directory.
    assert f"cd {shlex.quote(str(ROOT))} && make python" in server.banner
