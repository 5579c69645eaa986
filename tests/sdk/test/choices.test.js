// OpenAI chat and legacy completions `n` > 1 on the local model, through the official SDK:
// complete and streamed (each chunk names its choice `index`), usage counts the prompt once, and
// choice i samples with seed + i (so it equals an n = 1 request with that seed, and choices
// differ at T > 0).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import OpenAI from 'openai';

import { connect, rejection, stopOwnServer } from '../lib/tandem.js';

let openai;
let model;
before(async () => ({ openai, model } = await connect()));
after(stopOwnServer);

// A prompt no other file sends: its KV blocks stay out of their prefix-cache expectations.
const messages = [{ role: 'user', content: 'Tom had a red ball and a small boat' }];
const base = { messages, temperature: 1, max_tokens: 24 };

test('n: 2 complete: two choices with their index, seed + i each, the prompt counted once', async () => {
  const two = await openai.chat.completions.create({ model, ...base, n: 2, seed: 7 });
  assert.deepEqual(two.choices.map((choice) => choice.index), [0, 1]);
  const [first, second] = two.choices.map((choice) => choice.message.content);
  assert.notEqual(first, second, 'choices with seeds 7 and 8 should differ at temperature 1');

  const seven = await openai.chat.completions.create({ model, ...base, seed: 7 });
  const eight = await openai.chat.completions.create({ model, ...base, seed: 8 });
  assert.equal(first, seven.choices[0].message.content);
  assert.equal(second, eight.choices[0].message.content);
  assert.equal(two.usage.prompt_tokens, seven.usage.prompt_tokens);
  assert.equal(two.usage.completion_tokens, seven.usage.completion_tokens + eight.usage.completion_tokens);
});

// Folds a streamed n-choice answer: each choice's text (textOf reads a chunk's piece), its finish
// reason, and the one usage chunk; asserts indexes stay in range and nothing follows a finish.
async function collectChoices(stream, n, textOf) {
  const text = Array(n).fill('');
  const finished = Array(n).fill(null);
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) {
      assert.equal(usage, null, 'one usage chunk');
      usage = chunk.usage;
    }
    for (const choice of chunk.choices) {
      assert.ok(choice.index >= 0 && choice.index < n, `index ${choice.index}`);
      assert.equal(finished[choice.index], null, `choice ${choice.index} goes on after its finish`);
      text[choice.index] += textOf(choice);
      if (choice.finish_reason) finished[choice.index] = choice.finish_reason;
    }
  }
  return { text, finished, usage };
}

test('n: 3 streamed: chunks carry their choice index, each choice finishes, one usage chunk', async () => {
  const stream = await openai.chat.completions.create({
    model, ...base, n: 3, seed: 11, stream: true, stream_options: { include_usage: true },
  });
  const { text, finished, usage } = await collectChoices(stream, 3, (choice) => choice.delta?.content ?? '');
  assert.ok(finished.every((reason) => reason === 'stop' || reason === 'length'), JSON.stringify(finished));
  assert.ok(usage && usage.prompt_tokens > 0);
  const complete = await openai.chat.completions.create({ model, ...base, n: 3, seed: 11 });
  assert.deepEqual(text, complete.choices.map((choice) => choice.message.content), 'streamed == complete');
  assert.equal(usage.prompt_tokens, complete.usage.prompt_tokens);
  assert.equal(usage.completion_tokens, complete.usage.completion_tokens);
});

// Legacy completions: the same sharing of the prompt, the same seed + i per choice.
const legacy = { prompt: 'Tom had a red ball and a small boat', temperature: 1, max_tokens: 16 };

test('legacy completions n: 2 complete: two choices with their index, seed + i, the prompt counted once', async () => {
  const two = await openai.completions.create({ model, ...legacy, n: 2, seed: 5 });
  assert.equal(two.object, 'text_completion');
  assert.deepEqual(two.choices.map((choice) => choice.index), [0, 1]);
  const [first, second] = two.choices.map((choice) => choice.text);
  assert.notEqual(first, second, 'choices with seeds 5 and 6 should differ at temperature 1');
  const five = await openai.completions.create({ model, ...legacy, seed: 5 });
  const six = await openai.completions.create({ model, ...legacy, seed: 6 });
  assert.equal(first, five.choices[0].text);
  assert.equal(second, six.choices[0].text);
  assert.equal(two.usage.prompt_tokens, five.usage.prompt_tokens);
  assert.equal(two.usage.completion_tokens, five.usage.completion_tokens + six.usage.completion_tokens);
});

test('legacy completions n: 3 streamed: chunks carry their index, one usage chunk, equal to complete', async () => {
  const stream = await openai.completions.create({
    model, ...legacy, n: 3, seed: 13, stream: true, stream_options: { include_usage: true },
  });
  const { text, finished, usage } = await collectChoices(stream, 3, (choice) => choice.text);
  assert.ok(finished.every((reason) => reason === 'stop' || reason === 'length'), JSON.stringify(finished));
  const complete = await openai.completions.create({ model, ...legacy, n: 3, seed: 13 });
  assert.deepEqual(text, complete.choices.map((choice) => choice.text), 'streamed == complete');
  assert.equal(usage.prompt_tokens, complete.usage.prompt_tokens);
  assert.equal(usage.completion_tokens, complete.usage.completion_tokens);
});

test('legacy completions best_of other than n is refused naming best_of', async () => {
  const err = await rejection(() => openai.completions.create({ model, prompt: 'Once', max_tokens: 4, n: 2, best_of: 3 }));
  assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
  assert.equal(err.param, 'best_of');
  const same = await openai.completions.create({ model, prompt: 'Once', max_tokens: 4, n: 2, best_of: 2, seed: 1 });
  assert.equal(same.choices.length, 2);
});
