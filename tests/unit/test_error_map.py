"""The one map from what the service raises to the contract's error: every domain exception has its answer."""

from __future__ import annotations

import inspect

import pytest

import app
from threads_api import errors
from threads_api.body import BodyTooLarge, InvalidJson, NotAnObject, read_json_body
from threads_api.exceptions import DomainError
from threads_api.limits import MAX_BODY_BYTES


def domain_errors() -> list[type[DomainError]]:
    found, waiting = [], [DomainError]
    while waiting:
        for subclass in waiting.pop().__subclasses__():
            found.append(subclass)
            waiting.append(subclass)
    return found


def made(kind: type[DomainError]) -> DomainError:
    """An instance, each argument a value of its annotated type."""
    samples = {"str": "thread_abc", "int": 17}
    if kind.__init__ is Exception.__init__:
        return kind()
    parameters = inspect.signature(kind).parameters.values()
    return kind(
        *(
            samples[parameter.annotation]
            for parameter in parameters
            if parameter.kind is parameter.POSITIONAL_OR_KEYWORD
        )
    )


@pytest.mark.parametrize("kind", domain_errors(), ids=lambda kind: kind.__name__)
def test_every_domain_error_is_answered_with_an_error_of_the_contract(kind):
    answer = app.answer(made(kind))
    assert isinstance(answer, errors.ApiError)
    assert 400 <= answer.status < 600
    assert answer.envelope()["error"]["message"]


def test_the_map_covers_the_domain_errors_and_nothing_else():
    assert set(app._ANSWERS) == set(domain_errors())


@pytest.mark.parametrize(
    ("body", "failure"),
    [
        ("x" * (MAX_BODY_BYTES + 1), BodyTooLarge(MAX_BODY_BYTES + 1)),
        ("{", InvalidJson()),
        ('{"a": "\\ud800"}', InvalidJson()),
        ("\udcff", InvalidJson()),
        ("null", NotAnObject(None)),
        ("[1, 2]", NotAnObject([1, 2])),
    ],
    ids=["too large", "not JSON", "lone surrogate", "not UTF-8", "null", "array"],
)
def test_a_body_that_cannot_be_read_is_a_typed_value(body, failure):
    assert read_json_body(body) == failure
