"""template.yaml holds the promises the deployment makes: check them without an AWS account.

Every hardening point is asserted for each function, table and API the template declares, so a resource added
later is held to the same promises, and one that lacks them fails here rather than in production.
"""

import json
import pathlib
import re
import tomllib

import pytest

from local.table import load_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
FUNCTION, TABLE, HTTP_API = "AWS::Serverless::Function", "AWS::DynamoDB::Table", "AWS::Serverless::HttpApi"
LOG_GROUP, ROLE, ALARM = "AWS::Logs::LogGroup", "AWS::IAM::Role", "AWS::CloudWatch::Alarm"
BUCKET, QUEUE = "AWS::S3::Bucket", "AWS::SQS::Queue"

# What each function calls, on what: a table, its index or stream, a bucket or its objects, a queue. A new
# function or a new call is added here on purpose.
MESSAGE_CALLS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
}
STREAM_READS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}
CALLS = {
    "ThreadsFunction": {
        "ThreadsTable": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:BatchGetItem",
            "dynamodb:ConditionCheckItem",
        },
        "MessagesTable": MESSAGE_CALLS,
        "MessagesTable/index/by_position": MESSAGE_CALLS,
        "KeysTable": {"dynamodb:GetItem"},
        "IdempotencyTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        "ContentBucket/*": {"s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObjectTagging"},
    },
    "CleanupFunction": {
        "ThreadsTable/stream": STREAM_READS,
        "ThreadsTable/stream/*": {"dynamodb:ListStreams"},
        "MessagesTable/stream": STREAM_READS,
        "MessagesTable/stream/*": {"dynamodb:ListStreams"},
        "MessagesTable": {"dynamodb:Query", "dynamodb:BatchWriteItem"},
        "ContentBucket": {"s3:ListBucket"},
        "ContentBucket/*": {"s3:DeleteObject", "s3:DeleteObjectTagging"},
        "CleanupFailuresQueue": {"sqs:SendMessage"},
    },
}
# The kind of resource each service's actions may name.
GRANTED_ON = {"dynamodb": TABLE, "s3": BUCKET, "sqs": QUEUE}
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
THREAD_ROUTES = {
    ("POST", "/v1/threads"),
    ("GET", "/v1/threads/{thread_id}"),
    ("POST", "/v1/threads/{thread_id}"),
    ("DELETE", "/v1/threads/{thread_id}"),
}
MESSAGE_ROUTES = {
    ("POST", "/v1/threads/{thread_id}/messages"),
    ("GET", "/v1/threads/{thread_id}/messages"),
    ("GET", "/v1/threads/{thread_id}/messages/{message_id}"),
    ("POST", "/v1/threads/{thread_id}/messages/{message_id}"),
    ("DELETE", "/v1/threads/{thread_id}/messages/{message_id}"),
}
STAGE_TAG = {"Key": "stage", "Value": {"Ref": "Stage"}}
NOTIFY = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
NO_VALUE = {"Ref": "AWS::NoValue"}
# A customer-managed key for the tables, when the operator gives one: what DynamoDB needs of its caller.
KMS_ACTIONS = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}


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


def granted_on(value) -> tuple[str, str]:
    """(logical id, what of it) a policy's resource names: `X` for X's ARN, `X/stream` for a table's stream ARN,
    `X/<path>` for "${X.Arn}/<path>" (an index, the streams, a bucket's objects)."""
    if get_att(value):
        return get_att(value), get_att(value)
    if get_att(value, "StreamArn"):
        return get_att(value, "StreamArn"), get_att(value, "StreamArn") + "/stream"
    found = re.fullmatch(r"\$\{(\w+)\.Arn\}(/.+)", value.get("Fn::Sub", "") if isinstance(value, dict) else "")
    assert found, f"a resource of a policy is a resource's ARN, or a path under it: {value}"
    return found.group(1), found.group(1) + found.group(2)


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
    assert set(functions) == set(CALLS), "declare each function's calls in CALLS"
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
        grants: dict[str, set[str]] = {}
        by_service: dict[str, set[str]] = {}
        for policy in props["Policies"]:
            condition = None
            if list(policy) == ["Fn::If"]:  # a policy only some deployments have: the KMS key's, when given
                condition, policy, otherwise = policy["Fn::If"]
                assert otherwise == NO_VALUE, name
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                assert statement["Effect"] == "Allow" and set(statement) == {"Effect", "Action", "Resource"}
                actions = set(as_list(statement["Action"]))
                assert not any("*" in action for action in actions), name
                services = {action.split(":")[0] for action in actions}
                assert len(services) == 1, f"{name}: one service per statement"
                service = services.pop()
                by_service.setdefault(service, set()).update(actions)
                resource_list = as_list(statement["Resource"])
                if service in GRANTED_ON:
                    for resource in resource_list:
                        logical_id, target = granted_on(resource)
                        assert resources[logical_id]["Type"] == GRANTED_ON[service], f"{name}: {service} on {target}"
                        grants.setdefault(target, set()).update(actions)
                elif service == "logs":
                    own_group = ref(function["LoggingConfig"]["LogGroup"])
                    assert resource_list == [{"Fn::GetAtt": [own_group, "Arn"]}], f"{name}: its own log group only"
                elif service == "xray":
                    assert resource_list == ["*"]  # X-Ray has no resource-level permissions
                elif service == "kms":
                    assert condition == "HasTableKmsKey", f"{name}: KMS only when the tables have a key of ours"
                    assert resource_list == [{"Ref": "TableKmsKeyArn"}], f"{name}: that key only"
                else:
                    pytest.fail(f"{name} is granted {service} actions it does not call")
        assert grants == CALLS[name], name
        assert by_service["logs"] == LOG_ACTIONS
        assert by_service["xray"] == XRAY_ACTIONS
        assert by_service["kms"] == KMS_ACTIONS


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


def test_concurrency_is_reserved_only_when_asked_so_a_first_deploy_fits_any_account(template, functions):
    """Lambda refuses a reservation that leaves the account fewer than 100 unreserved executions, and new accounts
    have low quotas: a default reservation would make the first deploy fail and roll back there."""
    parameter = template["Parameters"]["ReservedConcurrency"]
    assert parameter["Type"] == "Number" and parameter["MinValue"] == 0 and parameter["Default"] == 0
    unreserved_when_zero = {"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]}
    assert template["Conditions"]["ReservesConcurrency"] == unreserved_when_zero
    for name, function in functions.items():
        assert function["ReservedConcurrentExecutions"] == {
            "Fn::If": ["ReservesConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
        }, name


# AWS's documentation (Lambda SnapStart, "Supported Regions", 2026): every commercial Region but these two.
SNAPSTART_NOT_OFFERED = {"ap-east-2", "ap-southeast-6"}  # Asia Pacific (Taipei), Asia Pacific (New Zealand)


def serves_the_api(function) -> bool:
    return any(event["Type"] == "HttpApi" for event in function.get("Events", {}).values())


def test_each_function_behind_the_api_resumes_from_a_snapshot_of_its_published_version(template, functions):
    """Cold starts keep a caller waiting only behind the API. A background function (the cleanup, fed by streams)
    keeps no snapshot, which would be billed for as long as it is kept."""
    background = {name for name, function in functions.items() if not serves_the_api(function)}
    assert background == {"CleanupFunction"}
    for name in background:
        assert not {"SnapStart", "AutoPublishAlias", "ProvisionedConcurrencyConfig"} & set(functions[name]), name
    functions = {name: function for name, function in functions.items() if name not in background}
    parameter = template["Parameters"]["EnableSnapStart"]
    assert parameter["Default"] == "true" and set(parameter["AllowedValues"]) == {"true", "false"}
    assert template["Conditions"]["SnapStartEnabled"] == {
        "Fn::And": [{"Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]}, {"Condition": "SnapStartOffered"}]
    }
    # The commercial Regions AWS lists without SnapStart: there it stays off, so the default deploys everywhere.
    offered = template["Conditions"]["SnapStartOffered"]["Fn::Not"][0]["Fn::Or"]
    without = {equals["Fn::Equals"][1] for equals in offered if equals["Fn::Equals"][0] == {"Ref": "AWS::Region"}}
    assert without == SNAPSTART_NOT_OFFERED
    for region in SNAPSTART_NOT_OFFERED:
        assert region in parameter["Description"]
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
    threads = tables["ThreadsTable"]["Properties"]
    assert threads["KeySchema"] == [{"AttributeName": "thread_id", "KeyType": "HASH"}]
    assert threads["AttributeDefinitions"] == [
        {"AttributeName": "thread_id", "AttributeType": "S"},
        {"AttributeName": "project", "AttributeType": "S"},
    ]


def test_the_project_index_holds_keys_only_so_that_a_modify_writes_no_index_entry(tables):
    """The export's index by project: on the attribute every thread item has, keys only (a modify changes
    neither key, so it writes nothing to the index), and its throttled writes alarm like the table's."""
    [index] = tables["ThreadsTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert index == {
        "IndexName": "by_project",
        "KeySchema": [
            {"AttributeName": "project", "KeyType": "HASH"},
            {"AttributeName": "thread_id", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }


def test_tables_use_the_free_aws_owned_key_unless_the_operator_gives_a_key_of_their_own(template, tables):
    """`SSEEnabled: true` alone would pick the AWS-managed KMS key, billed per request; false (or none) is the
    AWS-owned key, at no charge. A customer-managed key is a parameter: with it, KMS and that key."""
    parameter = template["Parameters"]["TableKmsKeyArn"]
    assert parameter["Default"] == "" and re.fullmatch(parameter["AllowedPattern"], "")
    assert re.fullmatch(parameter["AllowedPattern"], "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef")
    assert not re.fullmatch(parameter["AllowedPattern"], "alias/aws/dynamodb")  # the AWS-managed key: billed
    assert template["Conditions"]["HasTableKmsKey"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "TableKmsKeyArn"}, ""]}]}
    for name, table in tables.items():
        assert table["Properties"]["SSESpecification"] == {
            "SSEEnabled": {"Fn::If": ["HasTableKmsKey", True, False]},
            "SSEType": {"Fn::If": ["HasTableKmsKey", "KMS", NO_VALUE]},
            "KMSMasterKeyId": {"Fn::If": ["HasTableKmsKey", {"Ref": "TableKmsKeyArn"}, NO_VALUE]},
        }, name


def test_without_a_key_the_deployed_tables_are_not_on_a_billed_key(template, tables):
    """Resolved as CloudFormation does with the default parameters: no SSEEnabled true, no KMS policy."""
    for name, table in tables.items():
        sse = resolve(table["Properties"]["SSESpecification"], template, {})
        assert sse == {"SSEEnabled": False}, name
    for role in of_type(template["Resources"], ROLE).values():
        policies = resolve(role["Properties"]["Policies"], template, {})
        assert not [policy for policy in policies if "kms" in json.dumps(policy)]
    with_key = {"TableKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/k"}
    for name, table in tables.items():
        sse = resolve(table["Properties"]["SSESpecification"], template, with_key)
        assert sse == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": with_key["TableKmsKeyArn"]}, name


def condition_holds(name: str, template: dict, parameters: dict, region: str = "us-east-1") -> bool:
    """A template condition, evaluated with the parameters given (defaults for the rest)."""

    def value(node):
        if isinstance(node, dict) and list(node) == ["Ref"]:
            if node["Ref"] == "AWS::Region":
                return region
            return parameters.get(node["Ref"], template["Parameters"][node["Ref"]].get("Default"))
        return node

    def holds(node) -> bool:
        ((function, arguments),) = node.items()
        if function == "Condition":
            return holds(template["Conditions"][arguments])
        if function == "Fn::Equals":
            return str(value(arguments[0])) == str(value(arguments[1]))
        if function == "Fn::Not":
            return not holds(arguments[0])
        if function == "Fn::And":
            return all(holds(argument) for argument in arguments)
        if function == "Fn::Or":
            return any(holds(argument) for argument in arguments)
        raise AssertionError(f"condition function {function}")

    return holds(template["Conditions"][name])


def resolve(node, template: dict, parameters: dict, region: str = "us-east-1"):
    """`node` with its Fn::If taken as CloudFormation would, AWS::NoValue dropped and parameter Refs given."""
    if isinstance(node, dict):
        if list(node) == ["Fn::If"]:
            name, then, otherwise = node["Fn::If"]
            return resolve(
                then if condition_holds(name, template, parameters, region) else otherwise, template, parameters, region
            )
        if node == NO_VALUE:
            return NO_VALUE
        if list(node) == ["Ref"] and node["Ref"] in template["Parameters"]:
            return parameters.get(node["Ref"], template["Parameters"][node["Ref"]].get("Default"))
        resolved = {key: resolve(value, template, parameters, region) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value != NO_VALUE}
    if isinstance(node, list):
        return [item for item in (resolve(value, template, parameters, region) for value in node) if item != NO_VALUE]
    return node


def test_snapstart_stays_off_where_lambda_does_not_offer_it(template):
    assert condition_holds("SnapStartEnabled", template, {}, "us-east-1")
    assert condition_holds("SnapStartEnabled", template, {}, "eu-central-2")
    for region in SNAPSTART_NOT_OFFERED:
        assert not condition_holds("SnapStartEnabled", template, {}, region)
    assert not condition_holds("SnapStartEnabled", template, {"EnableSnapStart": "false"}, "us-east-1")


def test_api_routes_and_catch_all(resources, functions):
    apis = of_type(resources, HTTP_API)
    assert list(apis) == ["ThreadsApi"]
    events = functions["ThreadsFunction"]["Events"].values()
    assert {e["Type"] for e in events} == {"HttpApi"}
    props = [e["Properties"] for e in events]
    assert all(p["ApiId"] == {"Ref": "ThreadsApi"} for p in props)
    assert {p.get("PayloadFormatVersion", "2.0") for p in props} == {"2.0"}
    routes = [(p.get("Method"), p.get("Path")) for p in props]
    assert set(routes) - {(None, None)} == THREAD_ROUTES | MESSAGE_ROUTES | {("GET", "/v1/openapi.json")}
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
        record = render_access_log(logs["Format"], HOSTILE)
        assert {"requestId", "status", "routeKey", "integrationLatency", "responseLatency"} <= set(record), name
        assert "authorization" not in logs["Format"].lower() and "header" not in logs["Format"].lower()
        assert props["DefaultRouteSettings"] == {
            "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        }
    for parameter in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        assert template["Parameters"][parameter]["Type"] == "Number"
        assert template["Parameters"][parameter]["Default"] >= template["Parameters"][parameter]["MinValue"] >= 1


# The $context variables whose text API Gateway makes itself (ids, times, numbers, its route keys and messages),
# with values of the kind it writes. Any other variable may carry what a client sent (a user agent, a path), and
# API Gateway puts it in as it is: AWS documents no escaping for access-log variables.
GATEWAY_MADE = {
    "$context.requestId": "JtCDGiz5IAMEbVQ=",
    "$context.requestTime": "02/Dec/2026:05:46:01 +0000",
    "$context.identity.sourceIp": "203.0.113.7",
    "$context.httpMethod": "POST",
    "$context.routeKey": "POST /v1/threads/{thread_id}",
    "$context.protocol": "HTTP/1.1",
    "$context.status": "200",
    "$context.responseLength": "-",
    "$context.responseLatency": "21",
    "$context.integration.status": "404",
    "$context.integration.latency": "19",
    "$context.integrationErrorMessage": "-",
    "$context.error.message": "Not Found",
}
# What a client can put in a header or a path: quotes, a backslash, a control character, a line break.
HOSTILE = 'curl/8 "x" \\ \\" \u0007 }{\n"injected":"yes'


def render_access_log(format_text: str, client_text: str) -> dict:
    """One access-log line as API Gateway writes it: each variable's text put in verbatim (no escaping), the
    client-supplied ones given `client_text`; parsed as the JSON it must be."""
    rendered = re.sub(
        r"\$context\.[A-Za-z.]+", lambda found: GATEWAY_MADE.get(found.group(0), client_text), format_text
    )
    return json.loads(rendered)


def test_access_log_stays_json_whatever_a_client_sends_and_logs_the_functions_status(resources):
    for name, api in of_type(resources, HTTP_API).items():
        format_text = api["Properties"]["AccessLogSettings"]["Format"]
        variables = set(re.findall(r"\$context\.[A-Za-z.]+", format_text))
        assert variables <= set(GATEWAY_MADE), f"{name} logs client-supplied text: {variables - set(GATEWAY_MADE)}"
        record = render_access_log(format_text, HOSTILE)
        assert set(record.values()) <= set(GATEWAY_MADE.values()), record
        # The function's answer (a 404 here), not the Lambda service's 200 for having run it.
        assert "$context.integrationStatus" not in format_text
        assert record["integrationStatus"] == GATEWAY_MADE["$context.integration.status"]
        # The check itself: a user agent in quotes, as the format had it, breaks the line.
        with pytest.raises(json.JSONDecodeError):
            render_access_log(format_text[:-1] + ',"userAgent":"$context.identity.userAgent"}', HOSTILE)


def test_throttling_is_described_as_what_api_gateway_documents(template):
    """DefaultRouteSettings is each route's default throttling (AWS's docs do not say the routes share it)."""
    for parameter in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        description = template["Parameters"][parameter]["Description"]
        assert "each route" in description and "summed" not in description and "all routes" not in description


def metrics_read(alarm_props) -> list[tuple[str, str]]:
    """(namespace, metric name) of every metric an alarm reads, each once (CloudWatch bills alarms per metric)."""
    stats = [m["MetricStat"]["Metric"] for m in alarm_props.get("Metrics", []) if "MetricStat" in m]
    if "MetricName" in alarm_props:
        stats.append(alarm_props)
    return [(json.dumps(stat["Namespace"]), stat["MetricName"]) for stat in stats]


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
    tagged_as_list = {TABLE, LOG_GROUP, ROLE, BUCKET, QUEUE}
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
    for resource in [*tables, *of_type(template["Resources"], BUCKET), *of_type(template["Resources"], QUEUE)]:
        assert resource in output_refs, f"no output names {resource}"


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
    assert deploy["confirm_changeset"] is False  # make deploy runs unattended; make deploy-guided asks
    assert config["build"]["parameters"].get("use_container", False) is False


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


# The docs' lists, checked against the template, so that an alarm, a metric or an output added there must be
# written down in the operating guide too.

NUMBERS = {
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
    12: "twelve",
    13: "thirteen",
    14: "fourteen",
    15: "fifteen",
    16: "sixteen",
    17: "seventeen",
    18: "eighteen",
    19: "nineteen",
    20: "twenty",
}


def readme_section(title: str) -> str:
    """A section of the operating guide, docs/operating.md (these lists were the README's before it moved them)."""
    readme = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    start = readme.index(f"\n{title}\n")
    level = title.split(" ")[0]
    following = re.search(rf"\n#{{1,{len(level)}}} ", readme[start + len(title) + 2 :])
    return readme[start : start + len(title) + 2 + following.start()] if following else readme[start:]


def test_the_operating_guide_lists_every_alarm_and_counts_their_metrics(resources):
    alarms = {name: alarm["Properties"] for name, alarm in of_type(resources, ALARM).items()}
    metrics = sum(len(metrics_read(alarm)) for alarm in alarms.values())
    guide = readme_section("## Operating it")
    assert set(re.findall(r"`(\w+Alarm)`", guide)) == set(alarms)
    sentence = f"{NUMBERS[len(alarms)].capitalize()} alarms read {NUMBERS[metrics]} metrics"
    assert sentence in guide, f"the guide should say: {sentence}"
    for name, alarm in alarms.items():
        entry = re.search(rf"`{name}`[^(\n]*\(([^)]*)\)", guide)
        named = set(re.findall(r"`(\w+)`", entry.group(1))) if entry else set()
        # Each alarm's metrics named beside it (a shared entry names the metrics of each of its alarms).
        assert {metric for _, metric in metrics_read(alarm)} <= named, name
    costs = readme_section("### Cost per million modify requests")
    assert f"$0.10 per metric they read: {NUMBERS[metrics]}, ${metrics * 0.10:.2f}" in costs


def test_the_docs_list_every_output(template):
    deploying = readme_section("## Deploying")
    listed = re.search(r"The stack's outputs \(`make outputs`[^:]*:([^.]*)\.", deploying)
    assert listed and set(re.findall(r"`(\w+)`", listed.group(1))) == set(template["Outputs"])


def test_the_docs_count_the_routes_sam_deploy_guided_asks_about(functions):
    """`sam deploy --guided` asks "has no authentication. Is this okay?" once per HttpApi event."""
    events = [event for function in functions.values() for event in function["Events"].values()]
    asked = sum(event["Type"] == "HttpApi" for event in events)
    assert f"once for each of the API's {NUMBERS[asked]} routes" in readme_section("## Deploying")


def test_the_cost_page_says_what_encryption_costs():
    costs = readme_section("### Cost per million modify requests")
    assert "KMS" in costs and "AWS-owned key" in costs and "TableKmsKeyArn" in costs


# Messages: their table, the content bucket, and the cleanup fed by the tables' streams.


def test_messages_are_one_item_collection_per_thread_sorted_by_position_in_a_local_index(tables):
    from threads_api.message import MESSAGE_KEY, POSITION, POSITION_INDEX, THREAD_KEY

    props = tables["MessagesTable"]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": THREAD_KEY, "KeyType": "HASH"},
        {"AttributeName": MESSAGE_KEY, "KeyType": "RANGE"},
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]} == {
        (THREAD_KEY, "S"),
        (MESSAGE_KEY, "S"),
        (POSITION, "N"),
    }
    # Local, so that a list page is a strongly consistent Query; every attribute, so that it needs no second read.
    assert props["LocalSecondaryIndexes"] == [
        {
            "IndexName": POSITION_INDEX,
            "KeySchema": [
                {"AttributeName": THREAD_KEY, "KeyType": "HASH"},
                {"AttributeName": POSITION, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    assert "GlobalSecondaryIndexes" not in props


def test_the_tables_the_cleanup_follows_stream_their_new_images(tables, functions):
    followed = {
        get_att(event["Properties"]["Stream"], "StreamArn") for event in functions["CleanupFunction"]["Events"].values()
    }
    assert followed == {"ThreadsTable", "MessagesTable"}
    for name, table in tables.items():
        stream = table["Properties"].get("StreamSpecification")
        assert stream == ({"StreamViewType": "NEW_IMAGE"} if name in followed else None), name


def test_the_content_bucket_is_private_encrypted_over_tls_unversioned_and_sheds_pending_objects(template, resources):
    (name,) = of_type(resources, BUCKET)
    bucket = resources[name]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    # A delete must remove the content, not hide it behind a delete marker.
    assert "VersioningConfiguration" not in props
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert resolve(encryption, template, {}) == {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BucketKeyEnabled": False,
    }
    key = {"TableKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/k"}
    assert resolve(encryption, template, key) == {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["TableKmsKeyArn"]},
        "BucketKeyEnabled": True,
    }
    rules = props["LifecycleConfiguration"]["Rules"]
    assert {"Id", "Status", "TagFilters", "ExpirationInDays"} == set(rules[0])
    assert rules[0]["Status"] == "Enabled" and rules[0]["ExpirationInDays"] == 1
    assert rules[0]["TagFilters"] == [{"Key": "state", "Value": "pending"}]
    assert rules[1] == {
        "Id": "abort-incomplete-uploads",
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }
    (policy,) = [p["Properties"] for p in of_type(resources, "AWS::S3::BucketPolicy").values()]
    assert policy["Bucket"] == {"Ref": name}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Resource"] == [{"Fn::GetAtt": [name, "Arn"]}, {"Fn::Sub": f"${{{name}.Arn}}/*"}]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_functions_name_the_messages_table_and_the_bucket(functions):
    for name in ("ThreadsFunction", "CleanupFunction"):
        variables = functions[name]["Environment"]["Variables"]
        assert variables["MESSAGES_TABLE_NAME"] == {"Ref": "MessagesTable"}, name
        assert variables["CONTENT_BUCKET_NAME"] == {"Ref": "ContentBucket"}, name


def test_the_cleanup_resumes_failed_records_and_reports_batches_it_gives_up_on(resources, functions):
    cleanup = functions["CleanupFunction"]
    assert cleanup["Handler"] == "cleanup.lambda_handler"
    assert cleanup["CodeUri"] == functions["ThreadsFunction"]["CodeUri"]
    assert cleanup["Timeout"] == 300
    for name, event in cleanup["Events"].items():
        props = event["Properties"]
        assert event["Type"] == "DynamoDB", name
        assert props["StartingPosition"] == "TRIM_HORIZON", name  # a deploy skips no delete already written
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
        assert props["BisectBatchOnFunctionError"] is True, name
        assert 1 <= props["BatchSize"] <= 10, name
        # Each retry of a thread's purge goes on from where the last stopped; the retries' time (their number
        # times the function's timeout) must cover the largest thread and stay inside the stream's 24 hours.
        assert 3 * 3600 <= props["MaximumRetryAttempts"] * cleanup["Timeout"] <= 24 * 3600, name
        assert props["DestinationConfig"] == {
            "OnFailure": {"Destination": {"Fn::GetAtt": ["CleanupFailuresQueue", "Arn"]}}
        }
    queue = resources["CleanupFailuresQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 60 * 60
    alarm = resources["CleanupFailuresAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["CleanupFailuresQueue", "QueueName"]}}
    ]
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
    watched = set().union(*(metrics_watched(a["Properties"]) for a in of_type(resources, ALARM).values()))
    assert ("AWS/Lambda", "IteratorAge", "CleanupFunction") in watched


def stream_record(event_name: str, keys: dict, image: dict) -> dict:
    return {"eventName": event_name, "dynamodb": {"Keys": keys, "NewImage": image, "StreamViewType": "NEW_IMAGE"}}


THREAD = {"thread_id": {"S": "thread_x"}}
MESSAGE = {**THREAD, "message_id": {"S": "msg_x"}}
S3_KEY = {"s3_key": {"S": "thread_x/msg_x"}}


@pytest.mark.parametrize(
    ("table", "record", "delivered"),
    [
        ("ThreadsTable", stream_record("MODIFY", THREAD, {**THREAD, "deleted_at": {"N": "1"}}), True),
        ("ThreadsTable", stream_record("MODIFY", THREAD, {**THREAD, "last_position": {"N": "5"}}), False),
        ("ThreadsTable", stream_record("INSERT", THREAD, THREAD), False),
        ("ThreadsTable", stream_record("REMOVE", THREAD, {}), False),
        ("MessagesTable", stream_record("INSERT", MESSAGE, {**MESSAGE, **S3_KEY, "position": {"N": "1"}}), True),
        ("MessagesTable", stream_record("INSERT", MESSAGE, {**MESSAGE, "body": {"B": "eJw="}}), False),
        (
            "MessagesTable",
            stream_record("MODIFY", MESSAGE, {**MESSAGE, **S3_KEY, "deleted_position": {"N": "1"}}),
            True,
        ),
        ("MessagesTable", stream_record("MODIFY", MESSAGE, {**MESSAGE, **S3_KEY, "position": {"N": "1"}}), False),
        ("MessagesTable", stream_record("MODIFY", MESSAGE, {**MESSAGE, "deleted_position": {"N": "1"}}), False),
        ("MessagesTable", stream_record("REMOVE", MESSAGE, {}), False),
    ],
)
def test_the_stream_filters_let_through_only_the_records_the_cleanup_acts_on(table, record, delivered):
    """The template's own patterns, evaluated as Lambda evaluates event patterns (by make serve's stand-in)."""
    from local import stack, streams

    (source,) = [source for source in stack.stream_sources() if source.table == table]
    for pattern in source.filters:
        streams.check_pattern(pattern)
    assert streams.delivered(source, record) is delivered


def test_the_local_stand_in_refuses_a_filter_operator_it_does_not_evaluate():
    from local import streams

    streams.check_pattern({"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"a": {"N": [{"exists": False}]}}}})
    for unsupported in (
        {"eventName": [{"prefix": "MOD"}]},
        {"dynamodb": {"Keys": {"a": {"N": [{"numeric": [">", 1]}]}}}},
    ):
        with pytest.raises(streams.UnsupportedPattern):
            streams.check_pattern(unsupported)


def test_the_bench_measures_the_function_with_the_templates_own_settings(functions):
    # The cold start `make bench` measures is the deployed function's: each variable the template sets to a
    # fixed value (pydantic's plugin scan turned off, the log level...) is set alike in the bench's environment.
    from bench.run import LAMBDA_ENVIRONMENT

    variables = functions["ThreadsFunction"]["Environment"]["Variables"]
    fixed = {name: value for name, value in variables.items() if isinstance(value, str)}
    assert fixed["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    assert {name: LAMBDA_ENVIRONMENT.get(name) for name in fixed} == fixed
