"""template.yaml holds the promises the deployment makes: check them without an AWS account.

Every hardening point is asserted for each function, table and API the template declares, so a resource added
later is held to the same promises, and one that lacks them fails here rather than in production.
"""

import json
import pathlib
import re
import tomllib

import boto3
import pytest
from moto import mock_aws

from local.table import create_threads_table, load_template, table_definition

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUNCTION, TABLE, HTTP_API = "AWS::Serverless::Function", "AWS::DynamoDB::Table", "AWS::Serverless::HttpApi"
LOG_GROUP, ROLE, ALARM = "AWS::Logs::LogGroup", "AWS::IAM::Role", "AWS::CloudWatch::Alarm"

# What each function calls, on which table. A new function or a new call is added here on purpose.
DYNAMODB_CALLS = {
    "ThreadsFunction": {
        "ThreadsTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        "KeysTable": {"dynamodb:GetItem"},
        "IdempotencyTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
    },
}
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
THREAD_ROUTES = {
    ("POST", "/v1/threads"),
    ("GET", "/v1/threads/{thread_id}"),
    ("POST", "/v1/threads/{thread_id}"),
    ("DELETE", "/v1/threads/{thread_id}"),
}
STAGE_TAG = {"Key": "stage", "Value": {"Ref": "Stage"}}
NOTIFY = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


@pytest.fixture(scope="module")
def template():
    return load_template()


@pytest.fixture(scope="module")
def resources(template):
    return template["Resources"]


def of_type(resources, kind):
    return {name: resource for name, resource in resources.items() if resource["Type"] == kind}


@pytest.fixture(scope="module")
def functions(resources):
    found = {name: resource["Properties"] for name, resource in of_type(resources, FUNCTION).items()}
    assert found
    return found


@pytest.fixture(scope="module")
def tables(resources):
    found = of_type(resources, TABLE)
    assert found
    return found


def as_list(value):
    return value if isinstance(value, list) else [value]


def get_att(value, attribute="Arn"):
    """The logical id in {"Fn::GetAtt": [id, attribute]}, else None."""
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"] and value["Fn::GetAtt"][1] == attribute:
        return value["Fn::GetAtt"][0]
    return None


def ref(value):
    return value.get("Ref") if isinstance(value, dict) and list(value) == ["Ref"] else None


def test_functions_run_python_313_on_arm64_with_explicit_limits(functions):
    for name, function in functions.items():
        assert function["Runtime"] == "python3.13", name
        assert function["Architectures"] == ["arm64"], name
        assert isinstance(function["MemorySize"], int) and isinstance(function["Timeout"], int), name
    threads = functions["ThreadsFunction"]
    assert threads["Handler"] == "app.lambda_handler"
    assert threads["CodeUri"] == "functions/threads/"
    assert threads["Environment"]["Variables"]["TABLE_NAME"] == {"Ref": "ThreadsTable"}


def test_each_function_has_a_role_of_its_own_that_grants_only_what_it_calls(resources, functions):
    assert set(functions) == set(DYNAMODB_CALLS), "declare each function's DynamoDB calls in DYNAMODB_CALLS"
    roles = [get_att(function.get("Role")) for function in functions.values()]
    assert len(set(roles)) == len(roles), "no two functions share a role"
    for name, function in functions.items():
        # SAM's Policies would sit on a role SAM generates, with managed policies nobody reads here.
        assert "Policies" not in function, name
        role = resources[get_att(function["Role"])]
        assert role["Type"] == ROLE, name
        props = role["Properties"]
        assert set(props) <= {"AssumeRolePolicyDocument", "Policies", "Tags"}, f"{name}: no managed policies"
        assert props["AssumeRolePolicyDocument"]["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
        table_grants: dict[str, set[str]] = {}
        by_service: dict[str, set[str]] = {}
        for policy in props["Policies"]:
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                assert statement["Effect"] == "Allow" and set(statement) == {"Effect", "Action", "Resource"}
                actions = set(as_list(statement["Action"]))
                assert not any("*" in action for action in actions), name
                services = {action.split(":")[0] for action in actions}
                assert len(services) == 1, f"{name}: one service per statement"
                service = services.pop()
                by_service.setdefault(service, set()).update(actions)
                resource_list = as_list(statement["Resource"])
                if service == "dynamodb":
                    for resource in resource_list:
                        assert resources[get_att(resource)]["Type"] == TABLE, f"{name}: item actions on tables only"
                        table_grants.setdefault(get_att(resource), set()).update(actions)
                elif service == "logs":
                    own_group = ref(function["LoggingConfig"]["LogGroup"])
                    assert resource_list == [{"Fn::GetAtt": [own_group, "Arn"]}], f"{name}: its own log group only"
                elif service == "xray":
                    assert resource_list == ["*"]  # X-Ray has no resource-level permissions
                else:
                    pytest.fail(f"{name} is granted {service} actions it does not call")
        assert table_grants == DYNAMODB_CALLS[name]
        assert by_service["logs"] == LOG_ACTIONS
        assert by_service["xray"] == XRAY_ACTIONS


def test_each_function_logs_as_json_to_a_group_of_its_own_with_retention(template, resources, functions):
    groups = []
    for name, function in functions.items():
        config = function["LoggingConfig"]
        assert config["LogFormat"] == "JSON", name
        group = resources[ref(config["LogGroup"])]
        assert group["Type"] == LOG_GROUP
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert group["Properties"]["LogGroupName"]["Fn::Sub"].startswith("/aws/lambda/")
        groups.append(ref(config["LogGroup"]))
    assert len(set(groups)) == len(groups)
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_each_function_is_traced(functions):
    for name, function in functions.items():
        assert function["Tracing"] == "Active", name


def test_each_function_has_bounded_concurrency_unless_set_to_zero(template, functions):
    parameter = template["Parameters"]["ReservedConcurrency"]
    assert parameter["Type"] == "Number" and parameter["MinValue"] == 0 and parameter["Default"] > 0
    unreserved_when_zero = {"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]}
    assert template["Conditions"]["ReservesConcurrency"] == unreserved_when_zero
    for name, function in functions.items():
        assert function["ReservedConcurrentExecutions"] == {
            "Fn::If": ["ReservesConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
        }, name


def test_each_function_resumes_from_a_snapshot_of_its_published_version(template, functions):
    parameter = template["Parameters"]["EnableSnapStart"]
    assert parameter["Default"] == "true" and set(parameter["AllowedValues"]) == {"true", "false"}
    assert template["Conditions"]["SnapStartEnabled"] == {"Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]}
    for name, function in functions.items():
        assert function["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartEnabled", "PublishedVersions", "None"]}}
        # SnapStart works on published versions only: each change publishes one, and callers use the alias.
        assert function["AutoPublishAlias"] == "live", name
        assert function["AutoPublishAliasAllProperties"] is True, name
        assert function["VersionDeletionPolicy"] == "Delete", name
        assert "ProvisionedConcurrencyConfig" not in function, f"{name}: SnapStart excludes provisioned concurrency"


def test_every_table_is_durable(tables):
    for name, table in tables.items():
        props = table["Properties"]
        assert table["DeletionPolicy"] == "Retain", name
        assert table["UpdateReplacePolicy"] == "Retain", name
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert props["DeletionProtectionEnabled"] is True, name
        assert props["SSESpecification"]["SSEEnabled"] is True, name
    threads = tables["ThreadsTable"]["Properties"]
    assert threads["KeySchema"] == [{"AttributeName": "thread_id", "KeyType": "HASH"}]
    assert threads["AttributeDefinitions"] == [{"AttributeName": "thread_id", "AttributeType": "S"}]


def test_api_routes_and_catch_all(resources, functions):
    apis = of_type(resources, HTTP_API)
    assert list(apis) == ["ThreadsApi"]
    events = functions["ThreadsFunction"]["Events"].values()
    assert {e["Type"] for e in events} == {"HttpApi"}
    props = [e["Properties"] for e in events]
    assert all(p["ApiId"] == {"Ref": "ThreadsApi"} for p in props)
    assert {p.get("PayloadFormatVersion", "2.0") for p in props} == {"2.0"}
    routes = [(p.get("Method"), p.get("Path")) for p in props]
    assert set(routes) - {(None, None)} == THREAD_ROUTES | {("GET", "/v1/openapi.json")}
    # Neither Path nor Method: SAM makes it the API's $default route, so API Gateway's
    # own {"message": "Not Found"} never reaches a client.
    assert routes.count((None, None)) == 1


def test_api_keeps_the_default_stage_logs_access_and_throttles(template, resources):
    for name, api in of_type(resources, HTTP_API).items():
        props = api["Properties"]
        # $default: the base URL has no stage prefix, and the paths the function sees are the contract's.
        assert props.get("StageName", "$default") == "$default", name
        logs = props["AccessLogSettings"]
        group = resources[get_att(logs["DestinationArn"])]
        assert group["Type"] == LOG_GROUP and group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        # JSON once API Gateway has put its values in: each $context variable is inside a JSON string.
        record = json.loads(re.sub(r"\$context\.[A-Za-z.]+", "x", logs["Format"]))
        assert {"requestId", "status", "routeKey", "integrationLatency", "responseLatency"} <= set(record), name
        assert "authorization" not in logs["Format"].lower() and "header" not in logs["Format"].lower()
        assert props["DefaultRouteSettings"] == {
            "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        }
    for parameter in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        assert template["Parameters"][parameter]["Type"] == "Number"
        assert template["Parameters"][parameter]["Default"] >= template["Parameters"][parameter]["MinValue"] >= 1


def metrics_watched(alarm_props):
    """(namespace, metric name, logical id of the dimension's resource) of every metric an alarm reads."""
    stats = [m["MetricStat"]["Metric"] for m in alarm_props.get("Metrics", []) if "MetricStat" in m]
    if "MetricName" in alarm_props:
        stats.append(alarm_props)
    return {
        (stat["Namespace"], stat["MetricName"], ref(dimension["Value"]))
        for stat in stats
        for dimension in stat.get("Dimensions", [])
        if ref(dimension["Value"])
    }


def test_alarms_watch_every_function_table_and_api(resources, functions, tables):
    alarms = {name: alarm["Properties"] for name, alarm in of_type(resources, ALARM).items()}
    watched = set().union(*(metrics_watched(alarm) for alarm in alarms.values()))
    for function in functions:
        assert ("AWS/Lambda", "Errors", function) in watched
        assert ("AWS/Lambda", "Throttles", function) in watched
    for table in tables:
        assert ("AWS/DynamoDB", "ReadThrottleEvents", table) in watched
        assert ("AWS/DynamoDB", "WriteThrottleEvents", table) in watched
    for api in of_type(resources, HTTP_API):
        # A rate, not a count: 5xx over all requests, in one alarm.
        rate_alarms = [
            alarm
            for alarm in alarms.values()
            if {("AWS/ApiGateway", "5xx", api), ("AWS/ApiGateway", "Count", api)} <= metrics_watched(alarm)
        ]
        assert len(rate_alarms) == 1, api
        expressions = [m["Expression"] for m in rate_alarms[0]["Metrics"] if "Expression" in m]
        assert len(expressions) == 1 and "/" in expressions[0]
        assert 0 < rate_alarms[0]["Threshold"] < 1


def test_alarms_notify_the_topic_only_when_one_is_given(template, resources):
    parameter = template["Parameters"]["AlarmTopicArn"]
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "")
    assert re.fullmatch(parameter["AllowedPattern"], "arn:aws:sns:us-east-1:123456789012:threads-alarms")
    assert template["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    alarms = of_type(resources, ALARM)
    assert alarms
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == NOTIFY, name
        assert alarm["Properties"]["OKActions"] == NOTIFY, name
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching", name


def test_stage_names_the_environment_and_tags_every_resource(template, resources):
    assert re.fullmatch(template["Parameters"]["Stage"]["AllowedPattern"], template["Parameters"]["Stage"]["Default"])
    tagged_as_map = {FUNCTION, HTTP_API}
    tagged_as_list = {TABLE, LOG_GROUP, ROLE}
    for name, resource in resources.items():
        tags = resource["Properties"].get("Tags")
        if resource["Type"] in tagged_as_map:
            assert tags["stage"] == {"Ref": "Stage"}, name
        elif resource["Type"] in tagged_as_list:
            assert STAGE_TAG in tags, name


def test_outputs(template, tables):
    outputs = template["Outputs"]
    assert {"ApiUrl", "ApiBaseUrl", "OpenApiUrl", "ThreadsFunctionName"} <= set(outputs)
    assert outputs["ApiBaseUrl"]["Value"]["Fn::Sub"] == outputs["ApiUrl"]["Value"]["Fn::Sub"] + "/v1"
    assert outputs["OpenApiUrl"]["Value"]["Fn::Sub"] == outputs["ApiBaseUrl"]["Value"]["Fn::Sub"] + "/openapi.json"
    output_refs = {ref(output["Value"]) for output in outputs.values()}
    for table in tables:
        assert table in output_refs, f"no output names {table}"


def test_every_lint_waiver_says_why():
    lines = (ROOT / "template.yaml").read_text(encoding="utf-8").splitlines()
    waivers = []
    for number, line in enumerate(lines):
        if line.strip() == "ignore_checks:":
            indent = len(line) - len(line.lstrip())
            for entry in lines[number + 1 :]:
                if len(entry) - len(entry.lstrip()) <= indent:
                    break
                waivers.append(entry.strip())
    for waiver in waivers:
        assert re.fullmatch(r"- [A-Z]+\d+ # \S.{10,}", waiver), f"a waiver without its reason: {waiver}"


@pytest.fixture(scope="module")
def deployed_shape(template, monkeypatch_module):
    """The template as CloudFormation receives it: SAM's transform, run here as `sam deploy` would."""
    from samtranslator.translator.transform import transform

    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "us-east-1")
    source = json.loads(json.dumps(template))
    for function in of_type(source["Resources"], FUNCTION).values():
        function["Properties"]["CodeUri"] = "s3://artifacts/code.zip"  # what `sam package` puts there

    class NoManagedPolicies:
        def load(self):
            return {}

    return transform(source, {}, NoManagedPolicies())["Resources"]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_api_invokes_the_live_alias_from_its_logged_throttled_default_stage(deployed_shape):
    permissions = of_type(deployed_shape, "AWS::Lambda::Permission")
    assert permissions
    for name, permission in permissions.items():
        target = deployed_shape[ref(permission["Properties"]["FunctionName"])]
        assert target["Type"] == "AWS::Lambda::Alias" and target["Properties"]["Name"] == "live", name
    (stage,) = of_type(deployed_shape, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "$default"
    assert "AccessLogSettings" in stage["Properties"] and "DefaultRouteSettings" in stage["Properties"]
    for version in of_type(deployed_shape, "AWS::Lambda::Version").values():
        assert version["DeletionPolicy"] == "Delete"


def test_samconfig_deploys_with_sensible_defaults():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))["default"]
    assert config["global"]["parameters"]["stack_name"]
    deploy = config["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"  # the template makes roles, none with a fixed name
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
    assert config["build"]["parameters"].get("use_container", False) is False


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


def test_tombstones_expire_through_the_threads_tables_ttl(resources):
    """A delete leaves a tombstone with `expires_at` (threads_api.store); the table's TTL is on that attribute."""
    from threads_api.store import TOMBSTONE_SECONDS

    ttl = resources["ThreadsTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}
    assert 60 <= TOMBSTONE_SECONDS <= 24 * 60 * 60


def test_401s_are_counted_from_the_access_log_and_alarmed(template, resources):
    """API Gateway counts 4xx as a whole: the 401s are counted by a metric filter on the access log's `status`."""
    filters = of_type(resources, "AWS::Logs::MetricFilter")
    (name, metric_filter), *others = filters.items()
    assert not others
    props = metric_filter["Properties"]
    assert props["LogGroupName"] == {"Ref": "ThreadsApiAccessLogGroup"}
    assert props["FilterPattern"] == '{ $.status = "401" }'
    access_format = resources["ThreadsApi"]["Properties"]["AccessLogSettings"]["Format"]
    assert '"status":"$context.status"' in access_format  # the field the pattern reads, as a string
    (transformation,) = props["MetricTransformations"]
    alarm = resources["UnauthorizedRequestsAlarm"]["Properties"]
    (metric,) = alarm["Metrics"]
    watched = metric["MetricStat"]["Metric"]
    assert (watched["Namespace"], watched["MetricName"]) == (
        transformation["MetricNamespace"],
        transformation["MetricName"],
    )
    assert metric["MetricStat"]["Stat"] == "Sum" and metric["MetricStat"]["Period"] == 300
    assert alarm["Threshold"] == {"Ref": "UnauthorizedAlarmThreshold"}
    assert template["Parameters"]["UnauthorizedAlarmThreshold"]["Default"] >= 1
