// The official OpenAI SDK against legacy /v1/completions: text and token-id prompts, streaming,
// stop sequences, and prompt scoring (echo + logprobs + max_tokens 0). With stories260K the
// greedy continuation must match what llama.cpp produced (../shared/golden).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { connect, sharedDir, stopOwnServer } from '../lib/tandem.js';

let openai;
let model;
before(async () => ({ openai, model } = await connect()));
after(stopOwnServer);

const golden = JSON.parse(readFileSync(path.join(sharedDir, 'golden/stories260K.json'), 'utf8')).cases[0];
const servesStories = () => /stories260K/i.test(model);

async function streamText(params) {
  const stream = await openai.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finishReason = null;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      assert.equal(finishReason, null, 'a chunk arrived after finish_reason');
      text += choice.text;
      finishReason = choice.finish_reason ?? null;
    }
  }
  return { text, finishReason, usage };
}

test('non-streaming completion has the OpenAI shape', async () => {
  const completion = await openai.completions.create({ model, prompt: golden.prompt, max_tokens: 16, temperature: 0 });
  assert.equal(completion.object, 'text_completion');
  assert.equal(typeof completion.id, 'string');
  assert.equal(completion.model, model);
  assert.equal(completion.choices.length, 1);
  const [choice] = completion.choices;
  assert.equal(choice.index, 0);
  assert.equal(typeof choice.text, 'string');
  assert.ok(choice.text.length > 0);
  assert.ok(['stop', 'length'].includes(choice.finish_reason), `finish_reason ${choice.finish_reason}`);
  assert.ok(completion.usage.prompt_tokens > 0);
  assert.ok(completion.usage.completion_tokens > 0 && completion.usage.completion_tokens <= 16);
  assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
  assert.equal(typeof completion._request_id, 'string');
});

test('greedy continuation matches llama.cpp on stories260K', async (t) => {
  if (!servesStories()) return t.skip(`model ${model} is not stories260K`);
  const completion = await openai.completions.create({
    model,
    prompt: golden.prompt,
    max_tokens: golden.n_predict ?? golden.completion_tokens.length,
    temperature: 0,
  });
  assert.equal(completion.choices[0].text, golden.completion_text);
  assert.equal(completion.choices[0].finish_reason, 'length');
  assert.equal(completion.usage.prompt_tokens, golden.prompt_tokens.length);
  assert.equal(completion.usage.completion_tokens, golden.completion_tokens.length);
});

test('a token-id prompt continues exactly like the same text prompt', async (t) => {
  if (!servesStories()) return t.skip(`model ${model} is not stories260K`);
  const ids = golden.prompt_tokens;  // llama.cpp's tokenization, BOS included
  const byIds = await openai.completions.create({ model, prompt: ids, max_tokens: 12, temperature: 0 });
  const byText = await openai.completions.create({ model, prompt: golden.prompt, max_tokens: 12, temperature: 0 });
  assert.equal(byIds.choices[0].text, byText.choices[0].text);
  assert.equal(byIds.usage.prompt_tokens, ids.length);
});

test('streamed completion equals the non-streamed one at temperature 0', async () => {
  const params = { model, prompt: golden.prompt, max_tokens: 20, temperature: 0 };
  const plain = await openai.completions.create(params);
  const streamed = await streamText(params);
  assert.ok(streamed.text.length > 0);
  assert.equal(streamed.text, plain.choices[0].text);
  assert.equal(streamed.finishReason, plain.choices[0].finish_reason);
  assert.ok(streamed.usage, 'include_usage sent no usage chunk');
  assert.equal(streamed.usage.completion_tokens, plain.usage.completion_tokens);
});

test('a stop sequence ends the text before it with finish_reason stop', async (t) => {
  if (!servesStories()) return t.skip(`model ${model} is not stories260K`);
  // golden: ", there was a little girl named Lily. She loved ..."
  const completion = await openai.completions.create({
    model,
    prompt: golden.prompt,
    max_tokens: 40,
    temperature: 0,
    stop: [' Lily'],
  });
  assert.equal(completion.choices[0].text, golden.completion_text.slice(0, golden.completion_text.indexOf(' Lily')));
  assert.equal(completion.choices[0].finish_reason, 'stop');
});

test('echo + logprobs + max_tokens 0 scores the prompt', async (t) => {
  if (!servesStories()) return t.skip(`model ${model} is not stories260K`);
  // Prompt ids plus the first generated token: its logprob is the golden top-1 at position 0.
  const prompt = [...golden.prompt_tokens, golden.completion_tokens[0]];
  const completion = await openai.completions.create({ model, prompt, max_tokens: 0, echo: true, logprobs: 1 });
  const [choice] = completion.choices;
  assert.equal(completion.usage.completion_tokens, 0);
  const lp = choice.logprobs;
  assert.ok(lp, 'choices[0].logprobs missing');
  assert.equal(lp.tokens.join(''), choice.text, 'echoed tokens spell the echoed text');
  assert.equal(lp.tokens.length, lp.token_logprobs.length);
  assert.equal(lp.tokens.length, lp.text_offset.length);
  for (let i = 1; i < lp.text_offset.length; ++i) assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1]);
  const last = lp.token_logprobs.at(-1);
  const expected = golden.top_logprobs[0][0].logprob;
  assert.ok(Math.abs(last - expected) < 2e-3, `last token logprob ${last}, llama.cpp says ${expected}`);
  for (const value of lp.token_logprobs.slice(1)) assert.ok(value <= 0, `logprob ${value}`);
});
