// Structured outputs and the Responses API through the official OpenAI SDK, on the local model:
// `chat.completions.parse` with a JSON schema gets back a parsed object that matches it (the
// model writes random stories; the constraint makes it JSON), and `responses.create` /
// `retrieve` / `delete` work streamed and not.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import OpenAI from 'openai';

import { connect, rejection, stopOwnServer } from '../lib/tandem.js';

let openai;
let model;
before(async () => ({ openai, model } = await connect()));
after(stopOwnServer);

const mood = {
  type: 'object',
  properties: {
    happy: { type: 'boolean' },
    animal: { enum: ['cat', 'dog', 'bird'] },
  },
  required: ['happy', 'animal'],
  additionalProperties: false,
};

test('OpenAI: chat.completions.parse with a strict JSON schema returns the parsed object', async () => {
  const completion = await openai.chat.completions.parse({
    model,
    max_tokens: 200,
    temperature: 0,
    messages: [{ role: 'user', content: 'Once upon a time' }],
    response_format: { type: 'json_schema', json_schema: { name: 'mood', strict: true, schema: mood } },
  });
  const message = completion.choices[0].message;
  assert.equal(completion.choices[0].finish_reason, 'stop');
  assert.deepEqual(Object.keys(message.parsed).sort(), ['animal', 'happy']);
  assert.equal(typeof message.parsed.happy, 'boolean');
  assert.ok(['cat', 'dog', 'bird'].includes(message.parsed.animal), message.content);
});

test('OpenAI: streamed json_object output is one JSON object', async () => {
  const stream = await openai.chat.completions.create({
    model,
    max_tokens: 300,
    temperature: 0,
    stream: true,
    messages: [{ role: 'user', content: 'Once upon a time' }],
    response_format: { type: 'json_object' },
  });
  let text = '';
  let finish;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  if (finish === 'stop') {
    const value = JSON.parse(text);
    assert.equal(typeof value, 'object');
    assert.ok(!Array.isArray(value));
  } else {
    assert.equal(finish, 'length');
    assert.ok(text.trimStart().startsWith('{'), text); // JSON allows whitespace before the value
  }
});

test('OpenAI: a forced tool call on a model whose template has no tool syntax is refused naming tool_choice', async () => {
  const err = await rejection(() =>
    openai.chat.completions.create({
      model,
      max_tokens: 8,
      messages: [{ role: 'user', content: 'Hi' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: 'required',
    }),
  );
  assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
  assert.equal(err.param, 'tool_choice');
});

test('OpenAI: responses.create, retrieve and delete', async () => {
  const response = await openai.responses.create({ model, input: 'Once upon a time', max_output_tokens: 8, temperature: 0 });
  assert.equal(response.object, 'response');
  assert.ok(response.id.startsWith('resp_'));
  assert.ok(response.output_text.length > 0);
  const again = await openai.responses.retrieve(response.id);
  assert.equal(again.output_text, response.output_text);
  await openai.responses.delete(response.id);
  const err = await rejection(() => openai.responses.retrieve(response.id));
  assert.ok(err instanceof OpenAI.NotFoundError, `got ${err}`);
});

test('OpenAI: responses.create streamed ends with the full text; a continuation is answered', async () => {
  const stream = await openai.responses.create({
    model,
    input: 'Once upon a time',
    max_output_tokens: 8,
    temperature: 0,
    stream: true,
  });
  let text = '';
  let last;
  for await (const event of stream) {
    if (event.type === 'response.output_text.delta') text += event.delta;
    last = event;
  }
  assert.ok(['response.completed', 'response.incomplete'].includes(last.type), last.type);
  assert.equal(last.response.output_text ?? text, text);
  const next = await openai.responses.create({
    model,
    input: 'And then?',
    previous_response_id: last.response.id,
    max_output_tokens: 4,
  });
  assert.equal(next.previous_response_id, last.response.id);
});
