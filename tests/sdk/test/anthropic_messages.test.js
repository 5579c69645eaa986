// The official Anthropic SDK against /v1/messages and /v1/messages/count_tokens.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect, stopOwnServer } from '../lib/tandem.js';

let anthropic;
let model;
before(async () => ({ anthropic, model } = await connect()));
after(stopOwnServer);

const messages = [{ role: 'user', content: 'Tell me a story about a dog.' }];
const request = () => ({ model, max_tokens: 24, temperature: 0, messages });

// No stop_sequences are sent by these requests: a reply ends at max_tokens or at the model's end
// of turn, and says which consistently (exactly maxTokens tokens if and only if max_tokens).
function assertStopReason(message, maxTokens) {
  assert.ok(['end_turn', 'max_tokens'].includes(message.stop_reason), `stop_reason ${message.stop_reason}`);
  assert.equal(
    message.stop_reason === 'max_tokens',
    message.usage.output_tokens === maxTokens,
    `stop_reason ${message.stop_reason} with ${message.usage.output_tokens} of ${maxTokens} tokens`,
  );
  assert.equal(message.stop_sequence ?? null, null);
}

const textOf = (message) =>
  message.content
    .filter((block) => block.type === 'text')
    .map((block) => block.text)
    .join('');

test('non-streaming message has the Anthropic shape', async () => {
  const message = await anthropic.messages.create(request());
  assert.equal(message.type, 'message');
  assert.equal(message.role, 'assistant');
  assert.equal(typeof message.id, 'string');
  assert.ok(message.id.length > 0);
  assert.equal(message.model, model);
  assert.ok(message.content.length >= 1);
  assert.equal(message.content[0].type, 'text');
  assert.ok(textOf(message).length > 0, 'empty text');
  assert.ok(message.usage.input_tokens > 0, `input_tokens ${message.usage.input_tokens}`);
  assert.ok(message.usage.output_tokens > 0 && message.usage.output_tokens <= 24);
  assertStopReason(message, 24);
});

test('streamed events are well-formed and the final message matches the deltas', async () => {
  const stream = anthropic.messages.stream(request());
  const types = [];
  let deltaText = '';
  let helperText = '';
  stream.on('text', (delta) => {
    helperText += delta;
  });
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'message_start') {
      assert.equal(event.message.role, 'assistant');
      assert.deepEqual(event.message.content, []);
      assert.ok(event.message.usage.input_tokens > 0);
    }
    if (event.type === 'content_block_start') assert.equal(event.content_block.type, 'text');
    if (event.type === 'content_block_delta') {
      assert.equal(event.delta.type, 'text_delta');
      deltaText += event.delta.text;
    }
    if (event.type === 'message_delta') {
      assert.ok(event.delta.stop_reason, 'message_delta without stop_reason');
      assert.ok(event.usage.output_tokens > 0);
    }
  }
  // message_start, then per block start/delta*/stop, then message_delta and message_stop.
  assert.equal(types[0], 'message_start');
  assert.deepEqual(types.slice(-2), ['message_delta', 'message_stop']);
  const middle = types.slice(1, -2);
  assert.equal(middle[0], 'content_block_start');
  assert.equal(middle.at(-1), 'content_block_stop');
  assert.ok(
    middle.slice(1, -1).every((t) => t === 'content_block_delta'),
    `unexpected event order: ${types.join(',')}`,
  );

  const final = await stream.finalMessage();
  assert.ok(deltaText.length > 0, 'no streamed text');
  assert.equal(textOf(final), deltaText);
  assert.equal(helperText, deltaText);
  assert.ok(final.usage.input_tokens > 0);
  assertStopReason(final, 24);
});

// The whole prompt, as Anthropic splits it: uncached input, cache reads and cache writes.
function promptTokens(usage) {
  return usage.input_tokens + (usage.cache_read_input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0);
}

test('at temperature 0 the streamed message equals the non-streamed one', async () => {
  const plain = await anthropic.messages.create(request());
  const streamed = await anthropic.messages.stream(request()).finalMessage();
  assert.equal(textOf(streamed), textOf(plain));
  assert.equal(streamed.stop_reason, plain.stop_reason);
  assert.equal(streamed.usage.output_tokens, plain.usage.output_tokens);
  // The second request may read its prompt from the prefix cache: Anthropic's input_tokens then
  // excludes what was read, and the prompt's size is the sum of the three fields.
  assert.equal(promptTokens(streamed.usage), promptTokens(plain.usage));
});

test('raw streaming with create({stream: true}) yields the same text', async () => {
  const plain = await anthropic.messages.create(request());
  const stream = await anthropic.messages.create({ ...request(), stream: true });
  let text = '';
  for await (const event of stream) {
    if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
  }
  assert.equal(text, textOf(plain));
});

test('count_tokens agrees with the usage of a real request', async () => {
  const counted = await anthropic.messages.countTokens({ model, messages });
  assert.ok(Number.isInteger(counted.input_tokens) && counted.input_tokens > 0, JSON.stringify(counted));
  const message = await anthropic.messages.create(request());
  assert.equal(counted.input_tokens, promptTokens(message.usage));

  const longer = await anthropic.messages.countTokens({
    model,
    messages: [{ role: 'user', content: 'Tell me a story about a dog. Then tell me another one about a cat.' }],
  });
  assert.ok(longer.input_tokens > counted.input_tokens);
});

test('max_tokens bounds the reply', async () => {
  const message = await anthropic.messages.create({ ...request(), max_tokens: 2 });
  // Two tokens cannot finish a story: the limit is what ends it.
  assert.equal(message.usage.output_tokens, 2);
  assert.equal(message.stop_reason, 'max_tokens');
  assertStopReason(message, 2);
});

test('responses carry a request id the SDK exposes', async () => {
  const { data, response, request_id } = await anthropic.messages.create(request()).withResponse();
  // The Anthropic SDK reads the "request-id" header (OpenAI's is "x-request-id").
  assert.ok(request_id, `no request-id header; x-request-id was ${response.headers.get('x-request-id')}`);
  assert.equal(data._request_id, request_id);
});
