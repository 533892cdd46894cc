"""The floor: the least a handler can do for the same requests. It is the physical lower bound, not a peer.

It parses the same API Gateway (payload 2.0) event and makes the same single DynamoDB call as the real function
(`UpdateItem` for a modify, `PutItem` for a create, `GetItem` for a retrieve) with a plain boto3 client made at
import, as a minimal Lambda function would, and answers 200 with the item it got. No key check, no validation, no
routing framework, no error mapping. It is deployed nowhere; `bench.run` imports it as Lambda would import
`floor.handler` from /var/task.
"""

import json
import os
import secrets
import time

import boto3

TABLE = os.environ["TABLE_NAME"]
client = boto3.client("dynamodb")


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    body = json.loads(event.get("body") or "{}")
    thread_id = (event.get("pathParameters") or {}).get("thread_id")
    if thread_id is None and event["rawPath"].count("/") == 3:
        thread_id = event["rawPath"].rsplit("/", 1)[1]
    metadata = body.get("metadata") or {}
    if thread_id is None:  # create
        item = {
            "thread_id": {"S": "thread_" + secrets.token_hex(12)},
            "created_at": {"N": str(int(time.time()))},
            "version": {"N": "1"},
            "metadata": {"M": {key: {"S": value} for key, value in metadata.items()}},
            "tool_resources": {"M": {}},
        }
        client.put_item(TableName=TABLE, Item=item)
    elif method == "GET":  # retrieve
        item = client.get_item(TableName=TABLE, Key={"thread_id": {"S": thread_id}}, ConsistentRead=True)["Item"]
    else:  # modify: the same UpdateItem shape as the function's common case
        names = {"#md": "metadata", "#version": "version"}
        values = {":one": {"N": "1"}}
        sets = ["#version = #version + :one"]
        for i, (key, value) in enumerate(metadata.items()):
            names[f"#m{i}"] = key
            values[f":m{i}"] = {"S": value}
            sets.append(f"#md.#m{i} = :m{i}")
        item = client.update_item(
            TableName=TABLE,
            Key={"thread_id": {"S": thread_id}},
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="attribute_exists(thread_id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(item)}
