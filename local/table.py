"""Create the template's tables locally (moto, dynalite, DynamoDB Local) exactly as template.yaml declares them."""

from __future__ import annotations

import copy
import functools
import pathlib
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TEMPLATE_PATH = pathlib.Path(__file__).resolve().parent.parent / "template.yaml"

# Only what create_table takes and matters locally; PITR, SSE and deletion protection are deploy-time concerns.
_CREATE_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
)


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags: `!Ref X` -> {"Ref": "X"}, `!GetAtt A.B` -> {"Fn::GetAtt": [...]}."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template() -> dict[str, Any]:
    """template.yaml as plain dicts/lists/strings, with !Ref, !Sub, !GetAtt... as their long forms (a copy of
    its own for each caller, which may change it)."""
    return copy.deepcopy(_parsed_template(TEMPLATE_PATH.stat().st_mtime_ns))


@functools.cache
def _parsed_template(modified_ns: int) -> dict[str, Any]:
    # Parsing takes about 25 ms; every embedded DynamoDB of the tests reads the template several times.
    template: dict[str, Any] = yaml.load(TEMPLATE_PATH.read_text(encoding="utf-8"), Loader=_TemplateLoader)
    return template


def table_definition(logical_id: str = "ThreadsTable") -> dict[str, Any]:
    """Keyword arguments for boto3 create_table, without TableName."""
    props = load_template()["Resources"][logical_id]["Properties"]
    definition = {key: copy.deepcopy(props[key]) for key in _CREATE_TABLE_KEYS if key in props}
    if "StreamSpecification" in definition:
        # CloudFormation's form names the view type only; the API's also says the stream is on. A server without
        # streams (dynalite) takes the table and ignores it: it then has no LatestStreamArn.
        definition["StreamSpecification"] = {"StreamEnabled": True, **definition["StreamSpecification"]}
    return definition


def create_threads_table(client: DynamoDBClient, table_name: str) -> None:
    create_table(client, table_name, "ThreadsTable")


def create_table(client: DynamoDBClient, table_name: str, logical_id: str) -> None:
    """Create the table if it is missing (reuse it otherwise) and wait until it is active."""
    try:
        client.describe_table(TableName=table_name)
    except client.exceptions.ResourceNotFoundException:
        try:
            client.create_table(TableName=table_name, **table_definition(logical_id))
        except client.exceptions.ResourceInUseException:
            pass  # created concurrently by someone else: reuse it
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
