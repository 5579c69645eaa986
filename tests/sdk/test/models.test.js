// GET /v1/models through both SDKs: OpenAI's list shape, and Anthropic's when the SDK sends
// the anthropic-version header.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect, stopOwnServer } from '../lib/tandem.js';

let openai;
let anthropic;
let model;
before(async () => ({ openai, anthropic, model } = await connect()));
after(stopOwnServer);

test('OpenAI SDK lists the served model', async () => {
  const ids = [];
  for await (const entry of openai.models.list()) {
    assert.equal(entry.object, 'model');
    assert.equal(typeof entry.id, 'string');
    assert.equal(typeof entry.created, 'number');
    assert.equal(typeof entry.owned_by, 'string');
    ids.push(entry.id);
  }
  assert.ok(ids.includes(model), `${model} not in ${ids}`);
  assert.equal(new Set(ids).size, ids.length, 'duplicate ids');
});

test('Anthropic SDK lists the served model in the Anthropic shape', async () => {
  const page = await anthropic.models.list();
  assert.equal(typeof page.has_more, 'boolean');
  const ids = [];
  for (const entry of page.data) {
    assert.equal(entry.type, 'model');
    assert.equal(typeof entry.id, 'string');
    assert.equal(typeof entry.display_name, 'string');
    assert.ok(!Number.isNaN(Date.parse(entry.created_at)), `created_at ${entry.created_at} is not RFC 3339`);
    ids.push(entry.id);
  }
  assert.ok(ids.includes(model), `${model} not in ${ids}`);
  assert.equal(page.first_id, ids[0]);
  assert.equal(page.last_id, ids.at(-1));
});
