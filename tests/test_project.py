"""The project's own promises: the Python it runs on and the two commands the README opens with."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


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


def test_nothing_refers_to_a_path_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in tracked.splitlines():
        path = ROOT / name
        if path.suffix in (".lock", ".png") or name.startswith("tests/reference/") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        assert "../" + "shared" not in text, name  # (spelt apart, so that this file passes too)
        assert not re.search(r"(?<![\w.])/(wo" + r"rk|ro" + r"ot|ho" + r"me)/", text), name


def recipe(target: str) -> str:
    return re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", MAKEFILE, re.MULTILINE).group(1)


def test_deploying_is_found_early_and_make_deploy_asks_nothing():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.index("\n## Deploying\n") < readme.index("\n## Running it locally\n")
    assert readme[: readme.index("\n## Deploying\n")].count("\n") < 80
    deploy = recipe("deploy")
    assert "sam deploy" not in deploy and "$(SAM) deploy" in deploy and "--guided" not in deploy
    assert "--no-confirm-changeset" in deploy  # whatever deploy-guided saved in samconfig.toml
    guided = recipe("deploy-guided")
    assert guided.splitlines()[0].strip().startswith("@[ -t 0 ] ||")  # no terminal: one line, before any build
    assert "$(SAM) deploy --guided" in guided
