"""Messages whose ids were not minted here (as an import of saved OpenAI threads writes them): their own `msg_`
ids, which carry no order, and their own `created_at`, `assistant_id` and `run_id`. Stored as the MessageStore
stores them, at `created_at * 1,000,000 + <order in the import>`, they list by `created_at`, then import order;
cursors on them page correctly; `run_id` filters them; a message created afterwards lists after them."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from local.embedded import MESSAGES_TABLE_NAME, TABLE_NAME
from local.fixtures import DEFAULT_PROJECT
from threads_api.message import BODY, LAST_POSITION, POSITIONS_PER_SECOND, Message
from threads_api.messages import encode_body, message_to_item

# (id, created_at, role, run_id) in import order: not in id order, and two share a second.
IMPORTED = [
    ("msg_zQ8wBv1uTxRc6oNpLk3JmHa2", 1_717_087_602, "user", None),
    ("msg_A3bCdEfGhIjKlMnOpQrStUvW", 1_717_087_610, "assistant", "run_abc"),
    ("msg_mWMdmAjzT8EuWJ0r39hP5iu3", 1_717_087_610, "user", None),
    ("msg_0000aaaaBBBBccccDDDDeeee", 1_717_087_655, "assistant", "run_abc"),
]


@pytest.fixture
def imported(invoke, dynamodb):
    thread = invoke("POST", "/v1/threads", {}).json["id"]
    last = 0
    for order, (message_id, created_at, role, run_id) in enumerate(IMPORTED):
        content = [{"type": "text", "text": {"value": message_id, "annotations": []}}]
        position = created_at * POSITIONS_PER_SECOND + order
        message = Message(message_id, thread, created_at, role, content, position, run_id=run_id)
        if run_id:
            message.assistant_id = "asst_abc"
        item = message_to_item(message, DEFAULT_PROJECT, {BODY: {"B": encode_body(content, [])}})
        dynamodb.put_item(TableName=MESSAGES_TABLE_NAME, Item=item)
        last = max(last, position)
    dynamodb.update_item(
        TableName=TABLE_NAME,
        Key={"thread_id": {"S": thread}},
        UpdateExpression="SET #last = :last",
        ExpressionAttributeNames={"#last": LAST_POSITION},
        ExpressionAttributeValues={":last": {"N": str(last)}},
    )
    return thread


def ids(invoke, thread, **query) -> list[str]:
    page = invoke("GET", f"/v1/threads/{thread}/messages", query=urlencode(query))
    assert page.status == 200, page
    return [message["id"] for message in page.json["data"]]


def test_imported_messages_list_by_created_at_then_import_order(invoke, imported):
    in_order = [message_id for message_id, *_ in IMPORTED]
    assert ids(invoke, imported, order="asc") == in_order
    assert ids(invoke, imported) == in_order[::-1]
    got = invoke("GET", f"/v1/threads/{imported}/messages/{in_order[1]}").json
    assert (got["created_at"], got["assistant_id"], got["run_id"]) == (1_717_087_610, "asst_abc", "run_abc")


def test_cursors_on_imported_ids_page_correctly(invoke, imported):
    in_order = [message_id for message_id, *_ in IMPORTED]
    assert ids(invoke, imported, order="asc", after=in_order[1]) == in_order[2:]
    assert ids(invoke, imported, order="desc", after=in_order[2]) == in_order[1::-1]
    assert ids(invoke, imported, order="asc", before=in_order[3], limit=2) == in_order[1:3]
    assert ids(invoke, imported, order="asc", after=in_order[0], before=in_order[3]) == in_order[1:3]


def test_run_id_filters_imported_messages(invoke, imported):
    assert ids(invoke, imported, order="asc", run_id="run_abc") == [IMPORTED[1][0], IMPORTED[3][0]]
    assert ids(invoke, imported, order="asc", run_id="run_abc", limit=1) == [IMPORTED[1][0]]


def test_a_message_created_after_an_import_lists_after_it(invoke, imported):
    created = invoke("POST", f"/v1/threads/{imported}/messages", {"role": "user", "content": "new"}).json
    assert ids(invoke, imported, order="asc")[-1] == created["id"]
    assert ids(invoke, imported, limit=1) == [created["id"]]
