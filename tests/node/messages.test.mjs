// Messages through the official `openai` client for Node.js (package.json pins it), over HTTP against a local
// endpoint. Run by tests/e2e/test_node_client.py, which starts the endpoint and sets:
//   OPENAI_BASE_URL  the endpoint's base URL (…/v1); the client reads it
//   OPENAI_API_KEY   a key of the fixture project; the client reads it
//   THREAD_ID        a fixture thread of that project, with its fixture messages (local/fixtures.py)
//   FIXTURE_MESSAGE_IDS  the ids of those messages, oldest first, comma-separated
//   UNKNOWN_MESSAGE_ID   a well-formed message id that no thread holds
import assert from 'node:assert/strict';
import { test } from 'node:test';

import OpenAI, { BadRequestError, NotFoundError } from 'openai';

const client = new OpenAI({ maxRetries: 0 });
const messages = client.beta.threads.messages;
const threadId = process.env.THREAD_ID;
const fixtureIds = (process.env.FIXTURE_MESSAGE_IDS ?? '').split(',');
const unknownMessageId = process.env.UNKNOWN_MESSAGE_ID;

async function newThreadWith(count) {
  const thread = await client.beta.threads.create();
  const created = [];
  for (let i = 0; i < count; i++) {
    created.push(await messages.create(thread.id, { role: 'user', content: `message ${i}` }));
  }
  return { threadId: thread.id, created };
}

async function collect(page) {
  const items = [];
  for await (const item of page) items.push(item);
  return items;
}

async function rejectsWith(call, errorClass, { status, message, param, code }) {
  await assert.rejects(call, (error) => {
    assert.equal(error.constructor, errorClass, `${error.constructor.name}: ${error.message}`);
    assert.equal(error.status, status);
    assert.deepEqual(error.error, { message, type: 'invalid_request_error', param, code });
    assert.equal(error.param, param);
    assert.equal(error.code, code);
    assert.equal(error.type, 'invalid_request_error');
    assert.ok(error.requestID, 'x-request-id is exposed as requestID');
    return true;
  });
}

test('create with a string: one text part, every key of the message', async () => {
  const message = await messages.create(threadId, { role: 'user', content: 'Hello from Node' });
  assert.match(message.id, /^msg_[A-Za-z0-9]{24}$/);
  assert.deepEqual(
    { ...message, id: null, created_at: null },
    {
      id: null,
      object: 'thread.message',
      created_at: null,
      thread_id: threadId,
      status: 'completed',
      incomplete_details: null,
      completed_at: null,
      incomplete_at: null,
      role: 'user',
      content: [{ type: 'text', text: { value: 'Hello from Node', annotations: [] } }],
      assistant_id: null,
      run_id: null,
      attachments: [],
      metadata: {},
    },
  );
  assert.ok(Number.isInteger(message.created_at));
  assert.deepEqual(await messages.retrieve(message.id, { thread_id: threadId }), message);
  await messages.delete(message.id, { thread_id: threadId }); // the fixture thread as it was
});

test('create with parts: the detail filled in, attachments and metadata as given', async () => {
  const message = await messages.create(threadId, {
    role: 'assistant',
    content: [
      { type: 'text', text: 'See the chart' },
      { type: 'image_url', image_url: { url: 'https://example.com/chart.png' } },
      { type: 'image_file', image_file: { file_id: 'file-abc123', detail: 'low' } },
    ],
    attachments: [{ file_id: 'file-abc123', tools: [{ type: 'code_interpreter' }] }],
    metadata: { source: 'node' },
  });
  assert.deepEqual(message.content, [
    { type: 'text', text: { value: 'See the chart', annotations: [] } },
    { type: 'image_url', image_url: { url: 'https://example.com/chart.png', detail: 'auto' } },
    { type: 'image_file', image_file: { file_id: 'file-abc123', detail: 'low' } },
  ]);
  assert.deepEqual(message.attachments, [{ file_id: 'file-abc123', tools: [{ type: 'code_interpreter' }] }]);
  assert.deepEqual(message.metadata, { source: 'node' });
  await messages.delete(message.id, { thread_id: threadId });
});

test('retrieve and list the fixture messages', async () => {
  const first = await messages.retrieve(fixtureIds[0], { thread_id: threadId });
  assert.equal(first.thread_id, threadId);
  const listed = await collect(messages.list(threadId, { order: 'asc', limit: 1 }));
  assert.deepEqual(
    listed.map((message) => message.id),
    fixtureIds,
  );
  assert.deepEqual(listed[0], first);
});

for (const order of ['asc', 'desc']) {
  test(`for await pages through every message once, ${order}`, async () => {
    const { threadId: id, created } = await newThreadWith(7);
    const expected = (order === 'asc' ? created : [...created].reverse()).map((message) => message.id);
    const listed = await collect(messages.list(id, { limit: 2, order }));
    assert.deepEqual(
      listed.map((message) => message.id),
      expected,
    );

    const first = await messages.list(id, { limit: 2, order });
    assert.equal(first.has_more, true);
    assert.deepEqual(
      first.data.map((message) => message.id),
      expected.slice(0, 2),
    );
    const pages = [];
    for await (const page of first.iterPages()) pages.push(page.data.map((message) => message.id));
    assert.deepEqual(pages, [expected.slice(0, 2), expected.slice(2, 4), expected.slice(4, 6), expected.slice(6)]);
  });
}

test('before and after together: the window between them, paged', async () => {
  const { threadId: id, created } = await newThreadWith(8);
  const ids = created.map((message) => message.id);
  const window = await collect(messages.list(id, { limit: 2, order: 'asc', after: ids[1], before: ids[7] }));
  assert.deepEqual(
    window.map((message) => message.id),
    ids.slice(2, 7),
  );
  const closest = await messages.list(id, { limit: 2, order: 'desc', before: ids[2] });
  assert.deepEqual(
    closest.data.map((message) => message.id),
    [ids[4], ids[3]],
  );
  assert.equal(closest.has_more, true);
});

test('update merges metadata; null removes a key', async () => {
  const { threadId: id, created } = await newThreadWith(1);
  const [message] = created;
  const once = await messages.update(message.id, { thread_id: id, metadata: { a: '1', b: '2' } });
  assert.deepEqual(once.metadata, { a: '1', b: '2' });
  const twice = await messages.update(message.id, { thread_id: id, metadata: { a: null, c: '3' } });
  assert.deepEqual(twice.metadata, { b: '2', c: '3' });
  assert.deepEqual({ ...twice, metadata: {} }, { ...message, metadata: {} });
  assert.deepEqual(await messages.retrieve(message.id, { thread_id: id }), twice);
});

test('delete: the deleted object, then 404 and gone from the list', async () => {
  const { threadId: id, created } = await newThreadWith(2);
  const deleted = await messages.delete(created[1].id, { thread_id: id });
  assert.deepEqual(deleted, { id: created[1].id, object: 'thread.message.deleted', deleted: true });
  const gone = { status: 404, message: `No message found with id '${created[1].id}'.`, param: null, code: null };
  await rejectsWith(() => messages.retrieve(created[1].id, { thread_id: id }), NotFoundError, gone);
  await rejectsWith(() => messages.delete(created[1].id, { thread_id: id }), NotFoundError, gone);
  const listed = await collect(messages.list(id));
  assert.deepEqual(
    listed.map((message) => message.id),
    [created[0].id],
  );
});

test('NotFoundError: an unknown message, an unknown thread', async () => {
  await rejectsWith(() => messages.retrieve(unknownMessageId, { thread_id: threadId }), NotFoundError, {
    status: 404,
    message: `No message found with id '${unknownMessageId}'.`,
    param: null,
    code: null,
  });
  const unknownThread = 'thread_NodeNeverCreated00000000';
  const noThread = { status: 404, message: `No thread found with id '${unknownThread}'.`, param: null, code: null };
  await rejectsWith(() => messages.list(unknownThread), NotFoundError, noThread);
  await rejectsWith(() => messages.create(unknownThread, { role: 'user', content: 'x' }), NotFoundError, noThread);
  await rejectsWith(
    () => messages.update(fixtureIds[0], { thread_id: unknownThread, metadata: { a: 'b' } }),
    NotFoundError,
    noThread,
  );
});

test('BadRequestError with param and code: role, metadata, content, message id, limit', async () => {
  await rejectsWith(() => messages.create(threadId, { role: 'system', content: 'x' }), BadRequestError, {
    status: 400,
    message: "Invalid value: 'system'. Supported values are: 'user' and 'assistant'.",
    param: 'role',
    code: 'invalid_value',
  });
  const metadata = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`key${i}`, 'v']));
  await rejectsWith(() => messages.create(threadId, { role: 'user', content: 'x', metadata }), BadRequestError, {
    status: 400,
    message:
      "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, " +
      'but got an object with 17 properties instead.',
    param: 'metadata',
    code: 'object_above_max_properties',
  });
  await rejectsWith(
    () => messages.create(threadId, { role: 'user', content: [{ type: 'text', text: 'x'.repeat(256_001) }] }),
    BadRequestError,
    {
      status: 400,
      message:
        "Invalid 'content[0].text': string too long. Expected a string with maximum length 256000, " +
        'but got a string with length 256001 instead.',
      param: 'content[0].text',
      code: 'string_above_max_length',
    },
  );
  await rejectsWith(() => messages.retrieve('message_1', { thread_id: threadId }), BadRequestError, {
    status: 400,
    message: "Invalid 'message_id': 'message_1'. Expected an ID that begins with 'msg'.",
    param: 'message_id',
    code: 'invalid_value',
  });
  await rejectsWith(() => messages.list(threadId, { limit: 0 }), BadRequestError, {
    status: 400,
    message: "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got 0 instead.",
    param: 'limit',
    code: 'integer_below_min_value',
  });
});

test('a thread created with messages lists them in array order', async () => {
  const thread = await client.beta.threads.create({
    messages: [
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'two' },
      { role: 'user', content: [{ type: 'text', text: 'three' }] },
    ],
  });
  const listed = await collect(messages.list(thread.id, { order: 'asc', limit: 2 }));
  assert.deepEqual(
    listed.map((message) => message.content[0].text.value),
    ['one', 'two', 'three'],
  );
  assert.ok(listed.every((message) => message.created_at === thread.created_at));
});
