"""Create the threads table locally (moto, DynamoDB Local) exactly as template.yaml declares it."""

import copy
import json
import pathlib

from cfnlint.decode.cfn_yaml import loads

TEMPLATE_PATH = pathlib.Path(__file__).resolve().parent.parent / "template.yaml"

# Only what create_table takes and matters locally; PITR, SSE and deletion protection are deploy-time concerns.
_CREATE_TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "BillingMode")


def load_template() -> dict:
    """template.yaml as plain dicts/lists/strings, with !Ref, !Sub, !GetAtt... as their long forms."""
    parsed = loads(TEMPLATE_PATH.read_text(encoding="utf-8"), str(TEMPLATE_PATH))
    # cfn-lint's node types carry line marks; round-trip to plain Python types.
    return json.loads(json.dumps(parsed))


def table_definition() -> dict:
    """Keyword arguments for boto3 create_table, without TableName."""
    props = load_template()["Resources"]["ThreadsTable"]["Properties"]
    return {key: copy.deepcopy(props[key]) for key in _CREATE_TABLE_KEYS}


def create_threads_table(client, table_name: str) -> None:
    """Create the table if it is missing (reuse it otherwise) and wait until it is active."""
    try:
        client.describe_table(TableName=table_name)
    except client.exceptions.ResourceNotFoundException:
        try:
            client.create_table(TableName=table_name, **table_definition())
        except client.exceptions.ResourceInUseException:
            pass  # created concurrently by someone else: reuse it
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
