"""template.yaml holds the promises the deployment makes: check them without an AWS account."""

import boto3
import pytest
from moto import mock_aws

from local.table import create_threads_table, load_template, table_definition

DYNAMODB_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
TABLE_ARN = {"Fn::GetAtt": ["ThreadsTable", "Arn"]}
THREAD_ROUTES = {
    ("POST", "/v1/threads"),
    ("GET", "/v1/threads/{thread_id}"),
    ("POST", "/v1/threads/{thread_id}"),
    ("DELETE", "/v1/threads/{thread_id}"),
}


@pytest.fixture(scope="module")
def resources():
    return load_template()["Resources"]


@pytest.fixture(scope="module")
def function(resources):
    return resources["ThreadsFunction"]["Properties"]


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_function_runtime(resources, function):
    assert resources["ThreadsFunction"]["Type"] == "AWS::Serverless::Function"
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "app.lambda_handler"
    assert function["CodeUri"] == "functions/threads/"
    assert function["Environment"]["Variables"]["TABLE_NAME"] == {"Ref": "ThreadsTable"}


def test_function_may_only_touch_items_of_the_table(function):
    # A role of our own, a managed policy or a SAM policy template would grant more than we can see here.
    assert "Role" not in function
    policies = function["Policies"]
    assert all(isinstance(p, dict) and set(p) <= {"Version", "Statement"} for p in policies)
    statements = [s for p in policies for s in as_list(p["Statement"])]
    assert statements
    actions = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert set(statement) == {"Effect", "Action", "Resource"}
        assert as_list(statement["Resource"]) == [TABLE_ARN]
        actions.update(as_list(statement["Action"]))
    assert actions == DYNAMODB_ACTIONS


def test_table_is_durable(resources):
    table = resources["ThreadsTable"]
    props = table["Properties"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["KeySchema"] == [{"AttributeName": "thread_id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "thread_id", "AttributeType": "S"}]


def test_api_routes_and_catch_all(resources, function):
    api = resources["ThreadsApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    assert api.get("Properties", {}).get("StageName", "$default") == "$default"
    events = function["Events"].values()
    assert {e["Type"] for e in events} == {"HttpApi"}
    props = [e["Properties"] for e in events]
    assert all(p["ApiId"] == {"Ref": "ThreadsApi"} for p in props)
    assert {p.get("PayloadFormatVersion", "2.0") for p in props} == {"2.0"}
    routes = [(p.get("Method"), p.get("Path")) for p in props]
    assert set(routes) - {(None, None)} == THREAD_ROUTES
    # Neither Path nor Method: SAM makes it the API's $default route, so API Gateway's
    # own {"message": "Not Found"} never reaches a client.
    assert routes.count((None, None)) == 1


def test_logs(resources, function):
    template = load_template()
    log_group = resources["ThreadsFunctionLogGroup"]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30
    assert function["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": "ThreadsFunctionLogGroup"}}


def test_outputs():
    outputs = load_template()["Outputs"]
    assert {"ApiUrl", "ApiBaseUrl", "ThreadsTableName", "ThreadsFunctionName"} <= set(outputs)
    assert outputs["ApiBaseUrl"]["Value"]["Fn::Sub"] == outputs["ApiUrl"]["Value"]["Fn::Sub"] + "/v1"


@pytest.fixture
def dynamodb(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def test_create_threads_table_matches_template_and_is_reused(dynamodb):
    create_threads_table(dynamodb, "threads-test")
    table = dynamodb.describe_table(TableName="threads-test")["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == table_definition()["KeySchema"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    dynamodb.put_item(TableName="threads-test", Item={"thread_id": {"S": "thread_kept"}})
    create_threads_table(dynamodb, "threads-test")
    assert dynamodb.list_tables()["TableNames"] == ["threads-test"]
    assert "Item" in dynamodb.get_item(TableName="threads-test", Key={"thread_id": {"S": "thread_kept"}})
