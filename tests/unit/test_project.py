"""The project's own promises: the Python it runs on, the two commands the README opens with, where the deploy guide
is, and no file that refers to a path outside the repository."""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_runs_on_the_lambda_python():
    assert (ROOT / ".python-version").read_text().strip().startswith("3.13")
    assert sys.version_info[:2] == (3, 13)


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    opening = "\n".join((ROOT / "README.md").read_text().splitlines()[:10])
    assert "make serve" in opening
    assert "make test" in opening
    assert "make test" in (ROOT / ".ci" / "run").read_text()


MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


def uv_version() -> str:
    found = re.search(r"^UV_VERSION := (\S+)$", MAKEFILE, re.MULTILINE)
    assert found, "the Makefile pins uv's version"
    return found.group(1)


def test_uv_is_pinned_and_installed_without_touching_the_systems_python():
    """PEP 668: Debian's and Ubuntu's python3 refuses `pip install` into it (externally-managed-environment). The
    Makefile puts uv into a virtual environment of its own, made with that python3, and runs only that uv."""
    assert re.fullmatch(r"\d+\.\d+\.\d+", uv_version())
    rule = re.search(r"^\$\(UV\):\n((?:\t.*\n)+)", MAKEFILE, re.MULTILINE).group(1)
    assert 'python3 -m venv "$(UV_HOME)"' in rule
    assert '"$(UV_HOME)/bin/python" -m pip install' in rule and '"uv==$(UV_VERSION)"' in rule
    assert re.search(r"^UV_HOME := \$\(CURDIR\)/\.tools/", MAKEFILE, re.MULTILINE)
    assert re.search(r"^UV := \$\(UV_HOME\)/bin/uv$", MAKEFILE, re.MULTILINE)
    assert ".tools/" in (ROOT / ".gitignore").read_text().splitlines()
    scripts = [MAKEFILE, *((ROOT / ".ci" / name).read_text() for name in ("lint", "build-check", "run"))]
    for text in scripts:
        # Only the private environment's pip, and only the pinned uv: no pip or uv of the system's python3.
        text = text.replace('"$(UV_HOME)/bin/python" -m pip install', "")
        assert not re.search(r"python3? -m (pip|uv)\b", text)
        assert not re.search(r"(^|\s)pip3? install", text)


def test_the_installed_uv_is_the_pinned_one():
    uv = ROOT / ".tools" / f"uv-{uv_version()}" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("uv is installed by make (make setup); this run did not go through it")
    assert subprocess.run([uv, "--version"], capture_output=True, text=True).stdout.split()[1] == uv_version()


def test_readme_says_what_the_first_run_downloads():
    opening = (ROOT / "README.md").read_text(encoding="utf-8").split("## Why")[0]
    for words in (
        f"uv {uv_version()}",
        "PEP 668",
        "CPython 3.13",
        "only if none is installed",
        "uv.lock",
        "dynalite",
        "package-lock.json",
        "python3-venv",
        "make help",
    ):
        assert words in opening, words


# What a tracked file may not refer to: a place on one machine (an absolute path under a home or scratch
# directory) or a relative path that climbs out of the repository. Spelt apart, so that this file passes too.
ABSOLUTE = re.compile(r"(?<![\w.])/(" + "wo" + "rk|ro" + "ot|ho" + "me|tm" + "p|Us" + "ers)/")
CLIMBING = re.compile(r"(?<![\w./-])((?:\.\./)+[\w.@+-][\w./@+-]*)")
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# Text that is documentation or configuration: every relative path in it is a path.
CONFIGURATION = (".md", ".txt", ".toml", ".yaml", ".yml", ".json", ".cfg", ".ini", ".gitignore", ".python-version")
RUN_FROM_THE_ROOT = ("Makefile", ".ci/")  # scripts read their relative paths from the repository's root


def outside(base: pathlib.Path, relative: str) -> bool:
    return not (base / relative).resolve().is_relative_to(ROOT)


def python_paths(text: str) -> list[str]:
    """The string constants of a Python file that are wholly a relative path to a file (a last part with an
    extension), not parts of an f-string: `"../outside/notes.md"` is one, the URL test data
    `f"../threads/{thread_id}"` and `"/v1/threads/x?y=../../z"` are not."""
    tree = ast.parse(text)
    in_f_strings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in in_f_strings
        and re.fullmatch(r"(\.\./)+([\w.@+-]+/)*[\w@+-]+\.\w+", node.value)
    ]


def references_out_of_the_repository(name: str, text: str) -> list[str]:
    """Why a tracked file refers to a path outside the repository (empty: it does not). The rules:

    - in any file, an absolute path under /work, /root, /home, /tmp or /Users, or the folder beside the
      repository that is named `shared`;
    - in Markdown, any link `[text](target)` and any `../` path in the text (code included) that, read from the
      file's directory, lands outside the repository; a root-relative link (`/docs/x.md`) is read from the root;
    - in documentation and configuration (CONFIGURATION), any `../` path that, read from the file's directory
      (from the root for the Makefile and the .ci scripts, which run there), lands outside the repository;
    - in Python, a string that is wholly a relative path to a file (see python_paths) and, read from the module's
      directory, lands outside. Other strings are not paths: URL paths with `..` in them are test data.
    """
    found = []
    if "../" + "shared" in text:
        found.append("../" + "shared")
    found += [match.group(0) for match in ABSOLUTE.finditer(text)]
    path = ROOT / name
    base = ROOT if name.startswith(RUN_FROM_THE_ROOT) else path.parent
    if name.endswith(".md"):
        for target in MARKDOWN_LINK.findall(text):
            target = target.partition("#")[0]
            if target and not re.match(r"^[a-z]+:", target):
                relative_to = ROOT if target.startswith("/") else base
                if outside(relative_to, target.lstrip("/")):
                    found.append(target)
    if name.endswith(".py"):
        found += [relative for relative in python_paths(text) if outside(base, relative)]
    elif name.endswith(CONFIGURATION) or name.startswith(RUN_FROM_THE_ROOT):
        found += [relative for relative in CLIMBING.findall(text) if outside(base, relative)]
    return list(dict.fromkeys(found))


def test_nothing_refers_to_a_path_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    checked = 0
    for name in tracked.splitlines():
        path = ROOT / name
        if path.suffix in (".lock", ".png") or name.startswith("tests/reference/") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not references_out_of_the_repository(name, text), (name, references_out_of_the_repository(name, text))
        checked += 1
    assert checked > 50


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("docs/x.md", "see [the notes](../../notes.md)"),
        ("docs/x.md", "see [the notes](/../notes.md)"),
        ("docs/x.md", "the spec is in `../../spec/threads.md`"),
        ("README.md", "the spec: " + "/wo" + "rk/spec/threads.md"),
        ("README.md", "run " + "/tm" + "p/x/serve"),
        ("pyproject.toml", 'readme = "../README.md"'),
        ("Makefile", "include ../common.mk"),
        ("tests/test_x.py", 'SPEC = ROOT / "../../spec/threads.md"'),
        ("tests/test_x.py", 'SPEC = "../../spec/threads.md"'),
    ],
)
def test_a_reference_out_of_the_repository_is_seen(name, text):
    assert references_out_of_the_repository(name, text)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("docs/x.md", "see [the README](../README.md#why) and [a heading](#why), [a site](https://example.com/a/../b)"),
        ("README.md", "see [the reference](docs/api.md), `/var/task`, ~/.local/share/uv/python"),
        ("tests/test_x.py", 'PATHS = [f"../threads/{thread_id}", "/v1/threads/x?y=../../z", "../../etc/passwd"]'),
        (".ci/run", 'cd "$(dirname "$0")/.."'),
    ],
)
def test_what_stays_in_the_repository_is_not_flagged(name, text):
    assert not references_out_of_the_repository(name, text)


def recipe(target: str) -> str:
    return re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", MAKEFILE, re.MULTILINE).group(1)


def test_deploying_is_found_early_and_make_deploy_asks_nothing():
    """The README points to the deploy guide near its top, before it points to running it locally; the guide opens
    with deploying, and its first commands are the deploys."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pointer = readme.index("](docs/operating.md#deploying)")
    assert readme[:pointer].count("\n") < 40
    assert pointer < readme.index("](docs/local.md")
    guide = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    assert re.findall(r"^## .*$", guide, re.MULTILINE)[0] == "## Deploying"
    deploying = guide[guide.index("\n## Deploying\n") :]
    first_block = re.search(r"```sh[^\n]*\n(.*?)```", deploying, re.DOTALL).group(1)
    first_commands = [line.split("#")[0].strip() for line in first_block.splitlines()][:2]
    assert first_commands == ["make deploy-guided", "make deploy"]
    deploy = recipe("deploy")
    assert "sam deploy" not in deploy and "$(SAM) deploy" in deploy and "--guided" not in deploy
    assert "--no-confirm-changeset" in deploy  # whatever deploy-guided saved in samconfig.toml
    guided = recipe("deploy-guided")
    assert guided.splitlines()[0].strip().startswith("@[ -t 0 ] ||")  # no terminal: one line, before any build
    assert "$(SAM) deploy --guided" in guided
