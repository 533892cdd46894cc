"""The floor: the least a handler can do for the same requests. It is the physical lower bound, not a peer.

It parses the same API Gateway (payload 2.0) event and makes the same DynamoDB calls as the real function with a
plain boto3 client made at import, as a minimal Lambda function would, and answers 200 with what it got:

- threads: one call each, `UpdateItem` for a modify, `PutItem` for a create, `GetItem` for a retrieve;
- messages: `TransactWriteItems` for a create (the thread's last position moved on, the message put, its body
  zlib-compressed JSON); `BatchGetItem` of the thread and the message for a retrieve; `BatchGetItem` of the
  thread, then a `Query` of the position index, for a list page. Bodies are decompressed and answered as JSON.

No key check, no validation, no routing framework, no error mapping. It is deployed nowhere; `bench.run` imports
it as Lambda would import `floor.handler` from /var/task.
"""

import json
import os
import secrets
import time
import zlib

import boto3

TABLE = os.environ["TABLE_NAME"]
MESSAGES = os.environ["MESSAGES_TABLE_NAME"]
client = boto3.client("dynamodb")


def _message(item: dict) -> dict:
    body = json.loads(zlib.decompress(item["body"]["B"]))
    return {
        "id": item["message_id"]["S"],
        "object": "thread.message",
        "created_at": int(item["created_at"]["N"]),
        "thread_id": item["thread_id"]["S"],
        "role": item["role"]["S"],
        "content": body["content"],
        "attachments": body["attachments"],
        "metadata": {key: value["S"] for key, value in item["metadata"]["M"].items()},
    }


def messages(event: dict, method: str, thread_id: str, body: dict) -> dict:
    message_id = (event.get("pathParameters") or {}).get("message_id")
    thread_key = {"thread_id": {"S": thread_id}}
    if method == "POST":  # create
        position = time.time_ns() // 1_000_000 * 1000
        content = [{"type": "text", "text": {"value": body["content"], "annotations": []}}]
        blob = zlib.compress(json.dumps({"content": content, "attachments": []}).encode())
        item = {
            **thread_key,
            "message_id": {"S": "msg_" + secrets.token_hex(12)},
            "position": {"N": str(position)},
            "created_at": {"N": str(int(time.time()))},
            "version": {"N": "1"},
            "role": {"S": body["role"]},
            "metadata": {"M": {}},
            "body": {"B": blob},
        }
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": thread_key,
                        "UpdateExpression": "SET #last = :pos",
                        "ConditionExpression": "attribute_exists(thread_id) AND #last < :pos",
                        "ExpressionAttributeNames": {"#last": "last_position"},
                        "ExpressionAttributeValues": {":pos": {"N": str(position)}},
                    }
                },
                {
                    "Put": {
                        "TableName": MESSAGES,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(message_id)",
                    }
                },
            ]
        )
        return _message(item)
    requested = {TABLE: {"Keys": [thread_key], "ConsistentRead": True}}
    if message_id is not None:  # retrieve
        requested[MESSAGES] = {"Keys": [{**thread_key, "message_id": {"S": message_id}}], "ConsistentRead": True}
        found = client.batch_get_item(RequestItems=requested)["Responses"]
        return _message(found[MESSAGES][0])
    client.batch_get_item(RequestItems=requested)  # list: the thread, then a page of the index
    limit = int((event.get("queryStringParameters") or {}).get("limit", "20"))
    items = client.query(
        TableName=MESSAGES,
        IndexName="by_position",
        KeyConditionExpression="thread_id = :tid",
        ExpressionAttributeValues={":tid": {"S": thread_id}},
        ScanIndexForward=False,
        ConsistentRead=True,
        Limit=limit + 1,
    )["Items"]
    return {"object": "list", "data": [_message(item) for item in items[:limit]], "has_more": len(items) > limit}


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    body = json.loads(event.get("body") or "{}")
    thread_id = (event.get("pathParameters") or {}).get("thread_id")
    if thread_id is None and event["rawPath"].count("/") == 3:
        thread_id = event["rawPath"].rsplit("/", 1)[1]
    metadata = body.get("metadata") or {}
    if "/messages" in event["rawPath"]:
        item = messages(event, method, thread_id, body)
    elif thread_id is None:  # create
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
