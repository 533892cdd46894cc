"""Every operator command, run as the docs show it, fails with one clear line and a non-zero status, never a
traceback: no Region, no credentials, no such stack, an endpoint that is not DynamoDB, a typo in a path, a busy
port, a deploy that needs a terminal. AWS is played by moto in server mode (`AWS_ENDPOINT_URL`); nothing here
reaches the network.

Through make, standard error holds that one line and then make's own `make: *** [...] Error 1`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest

from local.launch import ROOT, local_endpoint

# Keep the caller's AWS configuration (and the instance metadata service) out of it.
NO_AWS = {
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
MAKE_FAILED = re.compile(r"^make(\[\d+\])?: \*\*\* ")


def environment(**extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "MAKE", "PORT", "STACK", "REGION")) and name not in ("MFLAGS", "ARGS")
    }
    env.update(NO_AWS, SAM_CLI_TELEMETRY="0")
    env.update(extra)
    return env


def run(command: list[str], timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=ROOT,
        env=environment(**extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def make(*args: str, **extra: str) -> subprocess.CompletedProcess:
    return run(["make", "--no-print-directory", *args], **extra)


def one_line(done: subprocess.CompletedProcess) -> str:
    """The failure's only line of its own on standard error (make's closing line aside)."""
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip() and not MAKE_FAILED.match(line)]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def aws():
    """moto in server mode, as AWS: the environment a command needs to reach it, with credentials and Region."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_DEFAULT_REGION": "eu-west-1", **CREDENTIALS}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api():
    with local_endpoint() as server:
        yield server


# admin.keys, as `make keys` runs it.


def test_keys_without_a_region_say_how_to_give_one():
    line = one_line(run([sys.executable, "-m", "admin.keys", "--stack", "threads-api", "list"], **CREDENTIALS))
    assert line.startswith("admin.keys: no AWS Region") and "REGION=" in line and "AWS_DEFAULT_REGION" in line


def test_keys_without_credentials_say_how_to_give_them():
    done = run([sys.executable, "-m", "admin.keys", "--stack", "threads-api", "--region", "eu-west-1", "list"])
    line = one_line(done)
    assert line.startswith("admin.keys: no AWS credentials") and "AWS_PROFILE" in line


def test_keys_with_an_unknown_profile_say_so():
    done = run(
        [sys.executable, "-m", "admin.keys", "--stack", "s", "list"], AWS_PROFILE="nope", AWS_DEFAULT_REGION="eu-west-1"
    )
    assert "profile (nope) could not be found" in one_line(done)


def test_keys_of_a_stack_that_does_not_exist(aws):
    line = one_line(make("keys", "ARGS=list", "STACK=no-such-stack", **aws))
    assert line == (
        "admin.keys: no stack no-such-stack in eu-west-1: deploy it first (make deploy-guided), "
        "or name yours with STACK= and REGION="
    )


def test_keys_pointed_at_the_api_instead_of_its_dynamodb(api):
    """`--endpoint` given the API's URL (a 401 from Scan), not the DynamoDB make serve prints."""
    wrong = api.base_url.removesuffix("/v1")
    line = one_line(make("keys", f"ARGS=--endpoint {wrong} list"))
    assert line.startswith(f"admin.keys: the keys table at {wrong}: Scan was refused (HTTP 401)"), line
    assert f"is {wrong} a DynamoDB endpoint?" in line


def test_keys_pointed_at_nothing():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nothing = f"http://127.0.0.1:{probe.getsockname()[1]}"
    line = one_line(run([sys.executable, "-m", "admin.keys", "--endpoint", nothing, "create", "--project", "p"]))
    assert line.startswith(f"admin.keys: the keys table at {nothing}: cannot reach {nothing}"), line


def test_revoking_an_unknown_key_is_one_line(api):
    endpoint = re.search(r"--endpoint (http://127\.0\.0\.1:\d+)", api.banner).group(1)
    line = one_line(make("keys", f"ARGS=--endpoint {endpoint} revoke key_doesnotexist"))
    assert line == "admin.keys: no key key_doesnotexist (make keys ARGS=list shows the key ids)"


# make outputs, logs, status, deploy, deploy-guided, delete-failed.


@pytest.mark.parametrize("target", ["outputs", "logs", "deploy"])
def test_stack_targets_without_a_region(target):
    assert one_line(make(target, **CREDENTIALS)).startswith("admin.stack: no AWS Region")


@pytest.mark.parametrize("target", ["outputs", "logs", "deploy", "deploy-guided"])
def test_stack_targets_without_credentials(target):
    done = make(target, "REGION=eu-west-1")
    if target == "deploy-guided":  # no terminal here: that comes first
        assert one_line(done) == "make deploy-guided asks questions: run it in a terminal (make deploy asks none)"
    else:
        assert one_line(done).startswith("admin.stack: no AWS credentials")


@pytest.mark.parametrize("target", ["outputs", "logs", "status"])
def test_stack_targets_on_a_stack_that_does_not_exist(aws, target):
    line = one_line(make(target, "STACK=no-such-stack", **aws))
    assert line.startswith("admin.stack: no stack no-such-stack in eu-west-1: deploy it first"), line


def moto_client(aws: dict[str, str], service: str):
    import boto3

    return boto3.client(
        service,
        region_name=aws["AWS_DEFAULT_REGION"],
        endpoint_url=aws["AWS_ENDPOINT_URL"],
        aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
    )


def test_delete_failed_leaves_a_working_stack_alone(aws):
    cloudformation = moto_client(aws, "cloudformation")
    cloudformation.create_stack(StackName="working", TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}')
    line = one_line(make("delete-failed", "STACK=working", **aws))
    assert line.startswith("admin.stack: stack working in eu-west-1 is CREATE_COMPLETE, not ROLLBACK_COMPLETE")
    assert cloudformation.describe_stacks(StackName="working")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    status = make("status", "STACK=working", **aws)
    assert status.returncode == 0 and "stack working in eu-west-1: CREATE_COMPLETE" in status.stdout, status.stderr


def test_the_checks_print_the_region_sam_is_given(aws):
    moto_client(aws, "cloudformation").create_stack(
        StackName="checked", TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}'
    )
    for action, stack in (("exists", "checked"), ("deployable", "checked"), ("deployable", "not-yet-made")):
        done = run([sys.executable, "-m", "admin.stack", "--stack", stack, action], **aws)
        assert (done.returncode, done.stdout, done.stderr) == (0, "eu-west-1\n", ""), (action, stack)
    elsewhere = {name: value for name, value in aws.items() if name != "AWS_DEFAULT_REGION"}
    done = run(
        [sys.executable, "-m", "admin.stack", "--stack", "checked", "exists"], **elsewhere, AWS_REGION="us-west-2"
    )
    assert "no stack checked in us-west-2" in one_line(done)  # AWS_REGION, which botocore alone ignores


# The local tools.


def test_invoke_with_a_typo_in_the_event_path_suggests_the_file():
    assert (
        one_line(make("invoke", "EVENT=create.json"))
        == "make invoke: no file create.json (did you mean events/create.json?)"
    )
    assert (
        one_line(make("invoke", "EVENT=nope.json"))
        == "make invoke: no file nope.json (the sample events are in events/)"
    )
    assert one_line(make("invoke", "EVENT=README.md")).startswith("make invoke: README.md is not JSON")
    assert one_line(make("sam-invoke", "EVENT=nope.json")).startswith("make sam-invoke: no file nope.json")


def test_serve_on_a_busy_port_says_which_and_how_to_pick_another(api):
    line = one_line(make("serve", PORT=str(api.port)))
    assert line == (
        f"make serve: port {api.port} on 127.0.0.1 is in use (another make serve?): "
        f"PORT={api.port + 1} make serve uses another, PORT=0 any free one"
    )
    assert one_line(make("serve", PORT="http")).startswith("make serve: PORT='http' is not a port number")


# A failed first deploy: ROLLBACK_COMPLETE, with the three retained tables (CloudFormation played by a fake, as
# moto cannot fail a stack's creation on purpose; DynamoDB by moto).


class FailedStack:
    """describe_stacks, describe_stack_events, describe_stack_resources, delete_stack of a stack in
    ROLLBACK_COMPLETE after ReservedConcurrentExecutions was refused."""

    def __init__(self, tables: list[str]):
        self.tables, self.deleted = tables, False
        self.events = [  # newest first, as CloudFormation lists them
            {
                "LogicalResourceId": "threads-api",
                "ResourceType": "AWS::CloudFormation::Stack",
                "ResourceStatus": "ROLLBACK_COMPLETE",
            },
            {
                "LogicalResourceId": "ThreadsTable",
                "ResourceType": "AWS::DynamoDB::Table",
                "ResourceStatus": "DELETE_SKIPPED",
            },
            {
                "LogicalResourceId": "ThreadsApi",
                "ResourceType": "AWS::ApiGatewayV2::Api",
                "ResourceStatus": "CREATE_FAILED",
                "ResourceStatusReason": "Resource creation cancelled",
            },
            {
                "LogicalResourceId": "ThreadsFunction",
                "ResourceType": "AWS::Lambda::Function",
                "ResourceStatus": "CREATE_FAILED",
                "ResourceStatusReason": "Resource handler returned message: "
                "\"Specified ReservedConcurrentExecutions for function decreases account's "
                'UnreservedConcurrentExecution below its minimum value of [100]."',
            },
            {
                "LogicalResourceId": "threads-api",
                "ResourceType": "AWS::CloudFormation::Stack",
                "ResourceStatus": "CREATE_IN_PROGRESS",
                "ResourceStatusReason": "User Initiated",
            },
        ]

    def describe_stacks(self, StackName):
        if self.deleted:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": f"Stack with id {StackName} does not exist"}},
                "DescribeStacks",
            )
        return {"Stacks": [{"StackName": StackName, "StackStatus": "ROLLBACK_COMPLETE"}]}

    def get_paginator(self, name):
        assert name == "describe_stack_events"
        events = self.events

        class Pages:
            def paginate(self, StackName):
                return [{"StackEvents": events}]

        return Pages()

    def describe_stack_resources(self, StackName):
        return {
            "StackResources": [
                {
                    "ResourceType": "AWS::DynamoDB::Table",
                    "PhysicalResourceId": table,
                    "ResourceStatus": "DELETE_SKIPPED",
                }
                for table in self.tables
            ]
            + [{"ResourceType": "AWS::IAM::Role", "PhysicalResourceId": "role", "ResourceStatus": "DELETE_COMPLETE"}]
        }

    def delete_stack(self, StackName):
        self.deleted = True

    def get_waiter(self, name):
        assert name == "stack_delete_complete"

        class Waiter:
            def wait(self, **kwargs):
                pass

        return Waiter()


class FakeAws:
    region_name = "eu-west-1"

    def __init__(self, cloudformation, dynamodb):
        self.clients = {"cloudformation": cloudformation, "dynamodb": dynamodb, "sts": self}

    def client(self, name):
        return self.clients[name]

    def get_caller_identity(self):
        return {"Account": "123456789012"}


@pytest.fixture
def failed_first_deploy(monkeypatch):
    import boto3
    from moto import mock_aws

    from local.table import create_table

    for name, value in {**CREDENTIALS, "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        tables = ["threads-api-ThreadsTable-A", "threads-api-KeysTable-B", "threads-api-IdempotencyTable-C"]
        for table, logical_id in zip(tables, ("ThreadsTable", "KeysTable", "IdempotencyTable"), strict=True):
            create_table(dynamodb, table, logical_id)
            dynamodb.update_table(TableName=table, DeletionProtectionEnabled=True)
        yield FakeAws(FailedStack(tables), dynamodb), dynamodb, tables


def test_a_failed_first_deploy_is_explained_and_not_retried_blindly(failed_first_deploy, capsys):
    from admin import stack
    from admin.aws import OperatorError

    aws, _, tables = failed_first_deploy
    with pytest.raises(OperatorError, match="is ROLLBACK_COMPLETE: its first deploy failed and it cannot be updated"):
        stack.deployable(aws, "threads-api")
    with pytest.raises(OperatorError, match="make delete-failed"):
        stack.exists(aws, "threads-api")
    stack.status(aws, "threads-api")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "stack threads-api in eu-west-1: ROLLBACK_COMPLETE"
    assert printed[1].startswith(
        '  ThreadsFunction CREATE_FAILED: Resource handler returned message: "Specified Reserved'
    )
    assert "cancelled" not in "\n".join(printed)  # the consequences, not the cause, are left out
    assert printed[2] == f"  left behind: the tables {', '.join(tables)}; make delete-failed removes them and the stack"


def test_delete_failed_removes_the_stack_and_the_empty_tables_it_kept(failed_first_deploy, capsys):
    from admin import stack

    aws, dynamodb, tables = failed_first_deploy
    dynamodb.put_item(TableName=tables[1], Item={"key_hash": {"S": "someone-wrote-here"}})
    stack.delete_failed(aws, "threads-api")
    assert aws.client("cloudformation").deleted
    assert dynamodb.list_tables()["TableNames"] == [tables[1]]  # a table with items is kept
    printed = capsys.readouterr().out
    assert f"kept table {tables[1]}: it holds items" in printed
    assert f"deleted the empty table {tables[0]}" in printed and f"deleted the empty table {tables[2]}" in printed
