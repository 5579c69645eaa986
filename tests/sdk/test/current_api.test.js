// What current clients send, through the official SDKs: Anthropic's mid-conversation system
// turns, adaptive thinking, output_config, context_management and cache_control are accepted;
// usage carries the cache fields; what a local text model cannot honour is refused naming the
// field (never accepted and ignored).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import { connect, rejection, stopOwnServer } from '../lib/tandem.js';

let anthropic;
let openai;
let model;
before(async () => ({ anthropic, openai, model } = await connect()));
after(stopOwnServer);

test('Anthropic: a coding agent request (system turn mid-conversation, adaptive thinking, cache hints) is answered', async () => {
  const message = await anthropic.messages.create({
    model,
    max_tokens: 8,
    temperature: 0,
    system: [{ type: 'text', text: 'You tell stories.', cache_control: { type: 'ephemeral' } }],
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Once upon a time', cache_control: { type: 'ephemeral', ttl: '1h' } }] },
      { role: 'assistant', content: 'there was a dog.' },
      { role: 'system', content: 'Keep it short.' },
      { role: 'user', content: [
        { type: 'text', text: 'Go on.' },
        { type: 'document', title: 'notes', source: { type: 'text', media_type: 'text/plain', data: 'The dog was happy.' } },
      ] },
    ],
    thinking: { type: 'adaptive' },
    output_config: { effort: 'low' },
    context_management: { edits: [{ type: 'clear_tool_uses_20250919' }] },
    cache_control: { type: 'ephemeral' },
  }, { headers: { 'anthropic-beta': 'context-management-2025-06-27' } });
  assert.equal(message.type, 'message');
  assert.ok(message.content.length >= 1);
  // No reasoning template on this model: the answer is plain text.
  assert.ok(message.content.every((block) => block.type === 'text'));
  assert.equal(message.usage.cache_creation_input_tokens, 0);
  assert.equal(message.usage.cache_read_input_tokens, 0);
  assert.ok(message.usage.input_tokens > 0);
});

test('Anthropic: an image inside a tool_result is refused naming it, not dropped', async () => {
  const err = await rejection(() =>
    anthropic.messages.create({
      model,
      max_tokens: 4,
      messages: [
        { role: 'user', content: 'Take a screenshot.' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'screenshot', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [
          { type: 'text', text: 'here' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
        ] }] },
      ],
      tools: [{ name: 'screenshot', input_schema: { type: 'object' } }],
    }),
  );
  assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
  assert.match(err.message, /messages\[2\]\.content\[0\]\.content\[1\]: images are not supported/);
});

test('Anthropic: a PDF document is refused naming the block', async () => {
  const err = await rejection(() =>
    anthropic.messages.create({
      model,
      max_tokens: 4,
      messages: [{ role: 'user', content: [
        { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQ=' } },
      ] }],
    }),
  );
  assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
  assert.match(err.message, /messages\[0\]\.content\[0\]: documents other than plain text/);
});

test('OpenAI: reasoning_effort is accepted and usage carries cached_tokens', async () => {
  const completion = await openai.chat.completions.create({
    model,
    max_tokens: 4,
    messages: [{ role: 'user', content: 'Once upon a time' }],
    reasoning_effort: 'low',
  });
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.usage.prompt_tokens_details.cached_tokens, 0);
  assert.equal(completion.choices[0].message.reasoning_content, undefined);
});

for (const [field, extra, pattern] of [
  ['logit_bias', { logit_bias: { 99999: 5 } }, /^400 logit_bias: token id 99999 is outside the model's vocabulary/],
  ['logit_bias keys', { logit_bias: { abc: 5 } }, /^400 logit_bias: keys must be token ids/],
  [
    'response_format.json_schema.schema/properties/age',
    { response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'object', properties: { age: { type: 'integer', minimum: 0 } } } } } },
    /^400 response_format\.json_schema\.schema\/properties\/age: unsupported keyword "minimum"/,
  ],
]) {
  test(`OpenAI: ${field} is refused naming the field`, async () => {
    const err = await rejection(() =>
      openai.chat.completions.create({ model, max_tokens: 4, messages: [{ role: 'user', content: 'Hi' }], ...extra }),
    );
    assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
    assert.equal(err.param, field.split(' ')[0]);
    assert.match(err.message, pattern);
  });
}
