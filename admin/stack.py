"""The deployed stack, for the Makefile's operator targets: checks before SAM runs, its state, a failed first deploy.

    python -m admin.stack --stack threads-api [--region R] credentials    # credentials are found (make deploy-guided)
    python -m admin.stack --stack threads-api [--region R] exists         # prints the Region (make outputs, logs)
    python -m admin.stack --stack threads-api [--region R] deployable     # prints the Region (make deploy)
    python -m admin.stack --stack threads-api [--region R] status         # state, and why a deploy failed
    python -m admin.stack --stack threads-api [--region R] delete-failed  # after a failed first deploy only

The checks print the Region on standard output for SAM's `--region`, or one line on standard error and exit 1:
no Region, no credentials, credentials AWS refuses, no such stack, a stack a failed first deploy left behind.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from admin.aws import OperatorError, command, describe_stack, no_stack, region_of, require_credentials, session

# A stack whose creation failed and was rolled back: it cannot be updated, only deleted, and its retained
# resources (the tables) stay behind.
FAILED_FIRST_DEPLOY = "ROLLBACK_COMPLETE"
RECOVERY = "`make status` shows why; `make delete-failed` removes it (README: If the first deploy fails)"


def checked_session(stack: str, region: str | None) -> tuple[Any, str]:
    aws = session(region)
    found = region_of(aws)
    require_credentials(aws)
    return aws, found


def exists(aws: Any, stack: str) -> dict:
    described = describe_stack(aws, stack)
    if described is None:
        raise no_stack(stack, aws.region_name)
    if described["StackStatus"] == FAILED_FIRST_DEPLOY:
        raise OperatorError(
            f"stack {stack} in {aws.region_name} is {FAILED_FIRST_DEPLOY}: its first deploy failed; {RECOVERY}"
        )
    return described


def deployable(aws: Any, stack: str) -> None:
    aws.client("sts").get_caller_identity()  # the credentials work: a refusal here is one line, not SAM's
    described = describe_stack(aws, stack)
    if described is None:
        return  # a first deploy creates it
    status = described["StackStatus"]
    if status == FAILED_FIRST_DEPLOY:
        raise OperatorError(
            f"stack {stack} in {aws.region_name} is {FAILED_FIRST_DEPLOY}: its first deploy failed and it cannot be "
            f"updated, only deleted; {RECOVERY}"
        )
    if status.endswith("_IN_PROGRESS"):
        raise OperatorError(f"stack {stack} in {aws.region_name} is {status}: wait for it to finish (make status)")


def failures(aws: Any, stack: str) -> list[str]:
    """The reasons CloudFormation gave for the failures of the stack's latest operation, oldest first."""
    found: list[str] = []
    pages = aws.client("cloudformation").get_paginator("describe_stack_events").paginate(StackName=stack)
    for page in pages:
        for event in page["StackEvents"]:  # newest first
            status, reason = event.get("ResourceStatus", ""), event.get("ResourceStatusReason", "")
            is_stack = (
                event.get("LogicalResourceId") == stack and event.get("ResourceType") == "AWS::CloudFormation::Stack"
            )
            if is_stack and status in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"):
                return list(reversed(found))  # where the latest operation began
            if status.endswith("_FAILED") and reason and "cancelled" not in reason.lower() and not is_stack:
                found.append(f"{event['LogicalResourceId']} {status}: {' '.join(reason.split())}")
    return list(reversed(found))


def kept_tables(aws: Any, stack: str) -> list[str]:
    """The tables of a stack (their physical names): a rollback or a deletion keeps them (DeletionPolicy Retain)."""
    resources = aws.client("cloudformation").describe_stack_resources(StackName=stack)["StackResources"]
    return [
        resource["PhysicalResourceId"]
        for resource in resources
        if resource["ResourceType"] == "AWS::DynamoDB::Table" and resource.get("PhysicalResourceId")
    ]


def status(aws: Any, stack: str) -> None:
    described = describe_stack(aws, stack)
    if described is None:
        raise no_stack(stack, aws.region_name)
    state = described["StackStatus"]
    print(
        f"stack {stack} in {aws.region_name}: {state}"
        + (f" ({described['StackStatusReason']})" if described.get("StackStatusReason") else "")
    )
    if "FAILED" in state or "ROLLBACK" in state:
        for line in failures(aws, stack):
            print(f"  {line}")
    if state == FAILED_FIRST_DEPLOY:
        kept = ", ".join(kept_tables(aws, stack)) or "(none)"
        print(f"  left behind: the tables {kept}; make delete-failed removes them and the stack")


def table_is_empty(dynamodb: Any, table: str) -> bool:
    return not dynamodb.scan(TableName=table, Limit=1, Select="COUNT").get("Count", 0)


def delete_failed(aws: Any, stack: str) -> None:
    """Delete a stack a failed first deploy left in ROLLBACK_COMPLETE, then the tables it kept if they are empty
    (a stack that never finished being created served no one). Anything else is left alone."""
    described = describe_stack(aws, stack)
    if described is None:
        raise no_stack(stack, aws.region_name)
    if described["StackStatus"] != FAILED_FIRST_DEPLOY:
        raise OperatorError(
            f"stack {stack} in {aws.region_name} is {described['StackStatus']}, not {FAILED_FIRST_DEPLOY}: "
            "delete-failed only removes a stack whose first deploy failed; nothing was changed"
        )
    tables = kept_tables(aws, stack)
    cloudformation = aws.client("cloudformation")
    cloudformation.delete_stack(StackName=stack)
    cloudformation.get_waiter("stack_delete_complete").wait(
        StackName=stack, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
    )
    print(f"deleted stack {stack} in {aws.region_name}")
    dynamodb = aws.client("dynamodb")
    for table in tables:
        try:
            empty = table_is_empty(dynamodb, table)
        except dynamodb.exceptions.ResourceNotFoundException:
            continue  # the rollback did delete it
        if not empty:
            print(f"kept table {table}: it holds items (delete it yourself if it should go)")
            continue
        dynamodb.update_table(TableName=table, DeletionProtectionEnabled=False)
        dynamodb.delete_table(TableName=table)
        print(f"deleted the empty table {table} it had left behind")
    print("make deploy (or make deploy-guided) creates the stack again")


@command("admin.stack")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="admin.stack", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--region")
    parser.add_argument("action", choices=["credentials", "exists", "deployable", "status", "delete-failed"])
    args = parser.parse_args(argv)
    if args.action == "credentials":
        require_credentials(session(args.region))
        return 0
    aws, region = checked_session(args.stack, args.region)
    if args.action == "exists":
        exists(aws, args.stack)
        print(region)
    elif args.action == "deployable":
        deployable(aws, args.stack)
        print(region)
    elif args.action == "status":
        status(aws, args.stack)
    else:
        delete_failed(aws, args.stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
