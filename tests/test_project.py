"""The project's own promises: the Python it runs on and the two commands the README opens with."""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_runs_on_the_lambda_python():
    assert (ROOT / ".python-version").read_text().strip().startswith("3.13")
    assert sys.version_info[:2] == (3, 13)


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    opening = "\n".join((ROOT / "README.md").read_text().splitlines()[:10])
    assert "make serve" in opening
    assert "make test" in opening
    assert "make test" in (ROOT / ".ci" / "run").read_text()
