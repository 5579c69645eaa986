// Thinking budgets on the local path, through the official SDKs. The model (`tandem synth-model
// --script`, DeepSeek-R1's template, which prefills "<think>\n") thinks 16 one-token words and
// then answers "hi" — longer than the budgets below, so the server must end the block itself (it
// forces "</think>") and let the answer follow. Each word is one token, so a thinking text of k
// words took k tokens. Needs TANDEM_BIN (it builds its model and starts its own server).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';

import { startScriptedReasoner } from '../lib/tandem.js';

const skip = process.env.TANDEM_BIN ? false : 'TANDEM_BIN not set (this test builds a model and starts its own server)';
const REASONING = 'a b c d e f g h i j k l m n o p';
const ANSWER = 'hi';

let reasoner;
let anthropic;
let openai;
const model = 'r1-long-thinker';

before(async () => {
  if (skip) return;
  reasoner = await startScriptedReasoner(model, `${REASONING}</think>${ANSWER}`);
  ({ anthropic, openai } = reasoner);
});

after(async () => {
  if (reasoner) await reasoner.stop();
});

const messages = [{ role: 'user', content: 'Say hi.' }];
const words = (text) => text.split(' ').filter(Boolean).length;

// A cut-short thinking text: the start of the script's reasoning, at most `budget` tokens.
function assertCut(thinking, budget) {
  assert.ok(thinking.length > 0, 'some thinking');
  assert.ok(REASONING.startsWith(thinking), `"${thinking}" is not the start of the reasoning`);
  assert.ok(words(thinking) <= budget, `${words(thinking)} tokens of thinking > budget ${budget}`);
  assert.ok(words(thinking) < words(REASONING), 'the budget did not cut the thinking');
}

test('OpenAI: reasoning_effort low (a quarter of max_tokens) ends the reasoning, the answer follows, usage counts it', { skip }, async () => {
  const completion = await openai.chat.completions.create({ model, messages, reasoning_effort: 'low', max_tokens: 40 });
  const message = completion.choices[0].message;
  assertCut(message.reasoning_content, 10);
  assert.equal(message.content, ANSWER);
  assert.equal(completion.choices[0].finish_reason, 'stop');
  assert.equal(completion.usage.completion_tokens_details.reasoning_tokens, 10);

  const stream = await openai.chat.completions.create({
    model, messages, reasoning_effort: 'low', max_tokens: 40, stream: true, stream_options: { include_usage: true },
  });
  let reasoning = '';
  let content = '';
  let usage = null;
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta ?? {};
    reasoning += delta.reasoning_content ?? '';
    content += delta.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(reasoning, message.reasoning_content, 'streamed == complete');
  assert.equal(content, ANSWER);
  assert.equal(usage.completion_tokens_details.reasoning_tokens, 10);
});

test('OpenAI: a budget above the reasoning changes nothing; reasoning_tokens counts the whole block', { skip }, async () => {
  const completion = await openai.chat.completions.create({ model, messages, reasoning_effort: 'high', max_tokens: 40 });
  assert.equal(completion.choices[0].message.reasoning_content, REASONING);
  assert.equal(completion.choices[0].message.content, ANSWER);
  const reasoningTokens = completion.usage.completion_tokens_details.reasoning_tokens;
  assert.ok(reasoningTokens > words(REASONING), `${reasoningTokens}: the words and the end tag`);
  // The rest of the output is the answer and the end of text.
  assert.equal(completion.usage.completion_tokens, reasoningTokens + 2);
});

test('OpenAI: a model that does not reason reports 0 reasoning tokens', { skip }, async () => {
  const completion = await openai.chat.completions.create({ model, messages, reasoning_effort: 'none', max_tokens: 40 });
  assert.equal(completion.choices[0].message.reasoning_content, undefined);
  assert.equal(completion.usage.completion_tokens_details.reasoning_tokens, 0);
});

test('Responses: reasoning.effort low bounds the reasoning item; output_tokens_details counts it', { skip }, async () => {
  const response = await openai.responses.create({
    model, input: 'Say hi.', reasoning: { effort: 'low' }, max_output_tokens: 40, store: false,
  });
  assert.deepEqual(response.output.map((item) => item.type), ['reasoning', 'message']);
  assertCut(response.output[0].content[0].text, 10);
  assert.equal(response.output_text, ANSWER);
  assert.equal(response.usage.output_tokens_details.reasoning_tokens, 10);

  const stream = await openai.responses.create({
    model, input: 'Say hi.', reasoning: { effort: 'low' }, max_output_tokens: 40, store: false, stream: true,
  });
  let reasoning = '';
  let completed = null;
  for await (const event of stream) {
    if (event.type === 'response.reasoning_text.delta') reasoning += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  assert.equal(reasoning, response.output[0].content[0].text, 'streamed == complete');
  assert.equal(completed.usage.output_tokens_details.reasoning_tokens, 10);
});

test('Anthropic: adaptive thinking with output_config.effort low is bounded, streamed and complete alike', { skip }, async () => {
  const params = { model, max_tokens: 40, messages, thinking: { type: 'adaptive' }, output_config: { effort: 'low' } };
  const message = await anthropic.messages.create(params);
  assert.deepEqual(message.content.map((block) => block.type), ['thinking', 'text']);
  assertCut(message.content[0].thinking, 10);
  assert.equal(message.content[1].text, ANSWER);
  assert.equal(message.stop_reason, 'end_turn');

  const streamed = await anthropic.messages.stream(params).finalMessage();
  assert.equal(streamed.content[0].thinking, message.content[0].thinking);
  assert.equal(streamed.content[1].text, ANSWER);
});

test('Anthropic: enabled budget_tokens is validated as the API does, naming thinking.budget_tokens', { skip }, async () => {
  for (const [thinking, max_tokens] of [[{ type: 'enabled', budget_tokens: 1000 }, 4096],
    [{ type: 'enabled', budget_tokens: 2048 }, 2048]]) {
    const err = await anthropic.messages.create({ model, max_tokens, messages, thinking }).then(
      () => assert.fail('accepted'), (e) => e);
    assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
    assert.match(err.message, /thinking\.budget_tokens/);
  }
  // A valid budget above what the script thinks leaves it whole.
  const message = await anthropic.messages.create({
    model, max_tokens: 2048, messages, thinking: { type: 'enabled', budget_tokens: 1024 },
  });
  assert.equal(message.content[0].thinking, REASONING);
  assert.equal(message.content[1].text, ANSWER);
});
