// Reasoning split on a reasoning chat template, through the official SDKs. The model is built by
// `tandem synth-model` with DeepSeek-R1's template from ../shared and `--script`: whatever the
// prompt, it writes SCRIPT and ends, so the server's real parsing path sees a reasoning block
// ("<think>\n" is the template's own prefill when thinking is on) followed by the answer.
// Needs TANDEM_BIN (it builds its model and starts its own server).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startScriptedReasoner } from '../lib/tandem.js';

const skip = process.env.TANDEM_BIN ? false : 'TANDEM_BIN not set (this test builds a model and starts its own server)';
const REASONING = 'hmm, so';
const ANSWER = 'hi';
const SCRIPT = `${REASONING}</think>${ANSWER}`;
const SIGNATURE = /^tandem-local:[0-9a-f]{32}$/;

let reasoner;
let anthropic;
let openai;
const model = 'r1-scripted';

before(async () => {
  if (skip) return;
  reasoner = await startScriptedReasoner(model, SCRIPT);
  ({ anthropic, openai } = reasoner);
});

after(async () => {
  if (reasoner) await reasoner.stop();
});

const messages = [{ role: 'user', content: 'Say hi.' }];

test('Anthropic: thinking enabled streams a thinking block (thinking_delta, signature_delta) before the text', { skip }, async () => {
  const stream = anthropic.messages.stream({
    model, max_tokens: 2048, messages, thinking: { type: 'enabled', budget_tokens: 1024 },
  });
  const deltas = [];
  stream.on('streamEvent', (event) => {
    if (event.type === 'content_block_delta') deltas.push(event.delta.type);
  });
  const message = await stream.finalMessage();
  assert.deepEqual(message.content.map((block) => block.type), ['thinking', 'text']);
  assert.equal(message.content[0].thinking, REASONING);
  assert.match(message.content[0].signature, SIGNATURE);
  assert.equal(message.content[1].text, ANSWER);
  assert.ok(deltas.includes('thinking_delta'), deltas.join());
  assert.ok(deltas.indexOf('signature_delta') > deltas.lastIndexOf('thinking_delta'), deltas.join());
  assert.ok(deltas.indexOf('text_delta') > deltas.indexOf('signature_delta'), deltas.join());
});

test('Anthropic: adaptive thinking, complete answer; the same blocks', { skip }, async () => {
  const message = await anthropic.messages.create({ model, max_tokens: 64, messages, thinking: { type: 'adaptive' } });
  assert.deepEqual(message.content.map((block) => block.type), ['thinking', 'text']);
  assert.equal(message.content[0].thinking, REASONING);
  assert.match(message.content[0].signature, SIGNATURE);
  assert.equal(message.content[1].text, ANSWER);
});

// With thinking off the template closes the block in the prompt ("<think>\n</think>"): its last
// token is the script's ">", so the scripted model goes on with the answer alone.
test('Anthropic: thinking disabled (or unset) closes the block in the prompt: plain text', { skip }, async () => {
  for (const thinking of [{ type: 'disabled' }, undefined]) {
    const message = await anthropic.messages.create({ model, max_tokens: 64, messages, ...(thinking ? { thinking } : {}) });
    assert.deepEqual(message.content.map((block) => block.type), ['text'], JSON.stringify(thinking));
    assert.equal(message.content[0].text, ANSWER);
  }
});

test('OpenAI: reasoning_effort gives reasoning_content, never inside content (complete)', { skip }, async () => {
  const completion = await openai.chat.completions.create({ model, messages, reasoning_effort: 'low', max_tokens: 64 });
  const message = completion.choices[0].message;
  assert.equal(message.reasoning_content, REASONING);
  assert.equal(message.content, ANSWER);
  assert.equal(completion.choices[0].finish_reason, 'stop');
});

test('OpenAI: reasoning_content streamed in deltas before the content', { skip }, async () => {
  const stream = await openai.chat.completions.create({ model, messages, reasoning_effort: 'high', stream: true });
  let reasoning = '';
  let content = '';
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta ?? {};
    if (delta.reasoning_content) {
      assert.equal(content, '', 'reasoning after content');
      reasoning += delta.reasoning_content;
    }
    if (delta.content) content += delta.content;
  }
  assert.equal(reasoning, REASONING);
  assert.equal(content, ANSWER);
});

test('OpenAI: reasoning_effort none is plain text', { skip }, async () => {
  const completion = await openai.chat.completions.create({ model, messages, reasoning_effort: 'none', max_tokens: 64 });
  assert.equal(completion.choices[0].message.reasoning_content, undefined);
  assert.equal(completion.choices[0].message.content, ANSWER);
});

test('Responses: reasoning.effort gives a reasoning item before the message, streamed and not', { skip }, async () => {
  const response = await openai.responses.create({ model, input: 'Say hi.', reasoning: { effort: 'medium' }, store: false });
  assert.deepEqual(response.output.map((item) => item.type), ['reasoning', 'message']);
  assert.equal(response.output[0].content[0].text, REASONING);
  assert.equal(response.output_text, ANSWER);

  const stream = await openai.responses.create({ model, input: 'Say hi.', reasoning: { effort: 'medium' }, stream: true, store: false });
  let reasoning = '';
  let text = '';
  for await (const event of stream) {
    if (event.type === 'response.reasoning_text.delta') reasoning += event.delta;
    if (event.type === 'response.output_text.delta') text += event.delta;
  }
  assert.equal(reasoning, REASONING);
  assert.equal(text, ANSWER);
});
