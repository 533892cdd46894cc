"""Create, list and revoke API keys.

    make keys ARGS="create --project proj_acme"      # the deployed stack's (STACK=threads-api); prints the key, once
    make keys ARGS="list [--project proj_acme]"      # key ids, projects, times; never secrets
    make keys ARGS="revoke key_XXXXXXXXXXXX"
    make keys ARGS="--endpoint URL list"             # make serve's DynamoDB (it prints the URL)

which run `python -m admin.keys --stack threads-api ...` in the project's environment. `--stack NAME` finds the
keys table from a deployed stack's outputs, with your AWS credentials (and `--region`, or your configured
Region). `--endpoint URL` talks to a local DynamoDB instead, with `--table` naming the table (default
`keys-local`). Every failure is one line on standard error and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from botocore.exceptions import BotoCoreError, ClientError

from admin.aws import (
    CLIENT_CONFIG,
    OperatorError,
    command,
    one_line,
    region_of,
    require_credentials,
    session,
    stack_output,
)
from local.stack import local_table_name
from local.storage import EMBEDDED_AWS, dynamodb_client
from threads_api.exceptions import StorageUnavailable
from threads_api.keys import KeyTable

KEYS_TABLE_OUTPUT = "KeysTableName"


def keys_table(args: argparse.Namespace) -> KeyTable:
    if args.endpoint:
        # A local server takes any credentials: the caller's if set, else the embedded server's.
        environment = {**EMBEDDED_AWS, **os.environ, **({"AWS_REGION": args.region} if args.region else {})}
        client = dynamodb_client(args.endpoint, environment, CLIENT_CONFIG)
        return KeyTable(client, args.table or local_table_name("KeysTable"))
    aws = session(args.region)
    region_of(aws)
    require_credentials(aws)
    return KeyTable(aws.client("dynamodb"), args.table or stack_output(aws, args.stack, KEYS_TABLE_OUTPUT))


def run(args: argparse.Namespace, table: KeyTable) -> int:
    if args.command == "create":
        secret, key = table.create(args.project)
        print(f"{key.key_id} for project {key.project}. The key, shown only now:\n{secret}")
    elif args.command == "list":
        for key in table.list(args.project):
            print(json.dumps({**key.__dict__, "revoked": key.revoked}))
    else:
        key = table.revoke(args.key_id)
        if key is None:
            raise OperatorError(f"no key {args.key_id} (make keys ARGS=list shows the key ids)")
        print(f"{key.key_id} of project {key.project} revoked")
    return 0


@command("admin.keys")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="admin.keys", description=__doc__.splitlines()[0])
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
    try:
        return run(args, table)
    except (ClientError, BotoCoreError, StorageUnavailable) as error:
        where = f"the keys table at {args.endpoint}" if args.endpoint else f"stack {args.stack}'s keys table"
        raise OperatorError(f"{where}: {one_line(error, args.endpoint)}") from None


if __name__ == "__main__":
    sys.exit(main())
