"""Create, list and revoke API keys.

    python -m admin.keys --stack threads-api create --project proj_acme    # prints the new key, once
    python -m admin.keys --stack threads-api list
    python -m admin.keys --stack threads-api revoke key_XXXXXXXXXXXX

`--stack NAME` finds the keys table from a deployed stack's outputs, with your AWS credentials (and `--region`
or your default region). `--endpoint URL` talks to a local DynamoDB instead (the local endpoint prints its
own), with `--table` naming the table (default `keys-local`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import boto3
from botocore.exceptions import ClientError

from local.stack import local_table_name
from local.storage import EMBEDDED_AWS, dynamodb_client
from threads_api.keys import KeyTable

KEYS_TABLE_OUTPUT = "KeysTableName"


def keys_table(args: argparse.Namespace) -> KeyTable:
    if args.endpoint:
        # A local server takes any credentials: the caller's if set, else the embedded server's.
        environment = {**EMBEDDED_AWS, **os.environ, **({"AWS_REGION": args.region} if args.region else {})}
        return KeyTable(dynamodb_client(args.endpoint, environment), args.table or local_table_name("KeysTable"))
    session = boto3.session.Session(region_name=args.region)
    return KeyTable(session.client("dynamodb"), args.table or stack_output(session, args.stack, KEYS_TABLE_OUTPUT))


def stack_output(session: Any, stack: str, name: str) -> str:
    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as error:  # no such stack, or no right to see it
        raise SystemExit(f"stack {stack}: {error.response.get('Error', {}).get('Message', error)}") from None
    for output in described.get("Outputs", []):
        if output["OutputKey"] == name:
            return output["OutputValue"]
    raise SystemExit(f"stack {stack} has no output {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed stack's name")
    where.add_argument("--endpoint", help="a local DynamoDB's URL")
    parser.add_argument("--region")
    parser.add_argument("--table", help="the keys table's name (found from the stack by default)")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key for a project and print it (the only time it is shown)")
    create.add_argument("--project", required=True)
    listing = commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--project")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)

    table = keys_table(args)
    if args.command == "create":
        secret, key = table.create(args.project)
        print(f"{key.key_id} for project {key.project}. The key, shown only now:\n{secret}")
    elif args.command == "list":
        for key in table.list(args.project):
            print(json.dumps({**key.__dict__, "revoked": key.revoked}))
    else:
        key = table.revoke(args.key_id)
        if key is None:
            print(f"no key {args.key_id}", file=sys.stderr)
            return 1
        print(f"{key.key_id} of project {key.project} revoked")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
