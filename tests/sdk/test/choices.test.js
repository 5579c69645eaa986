// OpenAI chat `n` > 1 on the local model, through the official SDK: complete and streamed (each
// chunk names its choice `index`), usage counts the prompt once, and choice i samples with
// seed + i (so it equals an n = 1 request with that seed, and choices differ at T > 0).
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

test('n: 3 streamed: chunks carry their choice index, each choice finishes, one usage chunk', async () => {
  const stream = await openai.chat.completions.create({
    model, ...base, n: 3, seed: 11, stream: true, stream_options: { include_usage: true },
  });
  const text = ['', '', ''];
  const finished = [null, null, null];
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) {
      assert.equal(usage, null, 'one usage chunk');
      usage = chunk.usage;
    }
    for (const choice of chunk.choices) {
      assert.ok(choice.index >= 0 && choice.index < 3, `index ${choice.index}`);
      assert.equal(finished[choice.index], null, `choice ${choice.index} goes on after its finish`);
      text[choice.index] += choice.delta?.content ?? '';
      if (choice.finish_reason) finished[choice.index] = choice.finish_reason;
    }
  }
  assert.ok(finished.every((reason) => reason === 'stop' || reason === 'length'), JSON.stringify(finished));
  assert.ok(usage && usage.prompt_tokens > 0);
  const complete = await openai.chat.completions.create({ model, ...base, n: 3, seed: 11 });
  assert.deepEqual(text, complete.choices.map((choice) => choice.message.content), 'streamed == complete');
  assert.equal(usage.prompt_tokens, complete.usage.prompt_tokens);
  assert.equal(usage.completion_tokens, complete.usage.completion_tokens);
});

test('n: 2 on legacy completions is refused naming n', async () => {
  const err = await rejection(() => openai.completions.create({ model, prompt: 'Once', max_tokens: 4, n: 2 }));
  assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
  assert.equal(err.param, 'n');
});
