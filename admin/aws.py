"""What the operator commands share: the Region, the credentials, the stack, and one line for each way they fail.

An operator command never ends in a traceback: every failure it can foresee (no Region, no credentials, no such
stack, an endpoint that is not DynamoDB, AWS refusing a call, no network) is an `OperatorError`, printed as one
line on standard error with what to do, and the command exits 1.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

NO_REGION = (
    "no AWS Region: give REGION=<region> to make (--region to the command), or set AWS_DEFAULT_REGION, or put a "
    "region in your AWS profile"
)
NO_CREDENTIALS = (
    "no AWS credentials: set AWS_PROFILE to a profile of ~/.aws/config, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


# An operator waits for an answer: a few tries, not DynamoDB's default ten with backoff (half a minute when the
# endpoint is down).
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


class OperatorError(Exception):
    """A failure an operator can act on; its message is one line."""


class Aws:
    """A boto3 session whose clients give up soon (CLIENT_CONFIG)."""

    def __init__(self, session: Any):
        self.session = session
        self.region_name = session.region_name

    def client(self, service: str) -> Any:
        return self.session.client(service, config=CLIENT_CONFIG)

    def get_credentials(self) -> Any:
        return self.session.get_credentials()


def session(region: str | None = None) -> Aws:
    """AWS in the Region given, else the configured one (AWS_DEFAULT_REGION, the profile's, or AWS_REGION, which
    botocore itself does not read)."""
    try:
        found = boto3.session.Session(region_name=region or None)
        if found.region_name is None and os.environ.get("AWS_REGION"):
            found = boto3.session.Session(region_name=os.environ["AWS_REGION"])
    except ProfileNotFound as error:
        raise OperatorError(f"{error} (AWS_PROFILE names a profile that ~/.aws/config does not have)") from None
    return Aws(found)


def region_of(aws: Any) -> str:
    if not aws.region_name:
        raise OperatorError(NO_REGION)
    return aws.region_name


def require_credentials(aws: Any) -> None:
    """Credentials are found (not yet checked with AWS)."""
    try:
        found = aws.get_credentials()
    except (PartialCredentialsError, BotoCoreError) as error:
        raise OperatorError(f"AWS credentials: {error}") from None
    if found is None:
        raise OperatorError(NO_CREDENTIALS)


def describe_stack(aws: Any, stack: str) -> dict | None:
    """The stack as CloudFormation describes it; None when there is none of that name in the session's Region."""
    try:
        return aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationError" and "does not exist" in str(error):
            return None
        raise


def no_stack(stack: str, region: str) -> OperatorError:
    return OperatorError(
        f"no stack {stack} in {region}: deploy it first (make deploy-guided), or name yours with STACK= and REGION="
    )


def stack_output(aws: Any, stack: str, name: str) -> str:
    described = describe_stack(aws, stack)
    if described is None:
        raise no_stack(stack, aws.region_name)
    for output in described.get("Outputs", []):
        if output["OutputKey"] == name:
            return output["OutputValue"]
    raise OperatorError(f"stack {stack} ({described['StackStatus']}) has no output {name}")


def one_line(error: BaseException, endpoint: str | None = None) -> str:
    """What an AWS SDK error means, in one line."""
    while error.__cause__ is not None and not isinstance(error, ClientError | BotoCoreError):
        error = error.__cause__  # e.g. the store's StorageUnavailable, raised from botocore's error
    if isinstance(error, NoRegionError):
        return NO_REGION
    if isinstance(error, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach {error.kwargs.get('endpoint_url', endpoint)}: check the network (or the URL given)"
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code, message = str(details.get("Code") or ""), (details.get("Message") or "").strip()
        line = f"{error.operation_name} was refused (HTTP {status}" + (f", {code}" if code != str(status) else "") + ")"
        line += f": {message}" if message else ""
        if code == "ResourceNotFoundException":
            line += " (--table names another table)"
        elif endpoint:
            line += f"; is {endpoint} a DynamoDB endpoint? (make serve prints its own after 'storage: embedded')"
        elif code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"):
            line += "; renew or fix your AWS credentials"
        return " ".join(line.split())
    return " ".join(f"{type(error).__name__}: {error}".split())


def command(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Run an operator command's main: an OperatorError or an AWS SDK error becomes `prog: <one line>` on
    standard error and SystemExit(1)."""

    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def run(*args: Any, **kwargs: Any) -> int:
            try:
                return main(*args, **kwargs)
            except OperatorError as error:
                line = str(error)
            except KeyboardInterrupt:
                print(f"{prog}: interrupted", file=sys.stderr)
                raise SystemExit(130) from None
            except (ClientError, BotoCoreError) as error:
                line = one_line(error)
            print(f"{prog}: {line}", file=sys.stderr)
            raise SystemExit(1)

        return run

    return wrap
