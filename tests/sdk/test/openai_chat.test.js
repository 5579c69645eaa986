// The official OpenAI SDK against /v1/chat/completions: plain, streamed (raw chunks and the
// SDK's stream helper), usage, logprobs, request ids.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect, stopOwnServer } from '../lib/tandem.js';

let openai;
let model;
before(async () => ({ openai, model } = await connect()));
after(stopOwnServer);

const request = () => ({
  model,
  messages: [{ role: 'user', content: 'Tell me a story about a cat.' }],
  max_tokens: 24,
  temperature: 0,
});

function assertUsage(usage, maxTokens) {
  assert.ok(usage, 'usage missing');
  assert.ok(Number.isInteger(usage.prompt_tokens) && usage.prompt_tokens > 0, `prompt_tokens ${usage.prompt_tokens}`);
  assert.ok(
    Number.isInteger(usage.completion_tokens) && usage.completion_tokens > 0 && usage.completion_tokens <= maxTokens,
    `completion_tokens ${usage.completion_tokens}`,
  );
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
}

// Streams a request and checks the chunk sequence is what the SDK (and OpenAI) promise.
async function streamChat(params) {
  const stream = await openai.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.length >= 2, `only ${chunks.length} chunks`);

  const usageChunk = chunks.at(-1);
  assert.deepEqual(usageChunk.choices, [], 'with include_usage the last chunk has no choices');
  const contentChunks = chunks.slice(0, -1);
  let text = '';
  let finishReason = null;
  for (const [i, chunk] of contentChunks.entries()) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.id, chunks[0].id, 'every chunk carries the same id');
    assert.equal(typeof chunk.created, 'number');
    assert.equal(chunk.usage ?? null, null, `chunk ${i} carries usage before the end`);
    assert.equal(chunk.choices.length, 1);
    const [choice] = chunk.choices;
    assert.equal(choice.index, 0);
    assert.equal(finishReason, null, `chunk ${i} arrived after the finish_reason chunk`);
    finishReason = choice.finish_reason ?? null;
    if (typeof choice.delta.content === 'string') text += choice.delta.content;
  }
  assert.equal(contentChunks[0].choices[0].delta.role, 'assistant', 'first delta names the role');
  assert.ok(['stop', 'length'].includes(finishReason), `finish_reason ${finishReason}`);
  assert.equal(usageChunk.id, chunks[0].id);
  assertUsage(usageChunk.usage, params.max_tokens);
  return { text, finishReason, usage: usageChunk.usage, chunks };
}

test('non-streaming chat completion has the OpenAI shape', async () => {
  const completion = await openai.chat.completions.create(request());
  assert.equal(completion.object, 'chat.completion');
  assert.equal(typeof completion.id, 'string');
  assert.ok(completion.id.length > 0);
  assert.equal(typeof completion.created, 'number');
  assert.equal(completion.model, model);
  assert.equal(completion.choices.length, 1);
  const [choice] = completion.choices;
  assert.equal(choice.index, 0);
  assert.equal(choice.message.role, 'assistant');
  assert.equal(typeof choice.message.content, 'string');
  assert.ok(choice.message.content.length > 0, 'empty content');
  assert.ok(['stop', 'length'].includes(choice.finish_reason), `finish_reason ${choice.finish_reason}`);
  assertUsage(completion.usage, 24);
  // length if and only if the reply used every allowed token.
  assert.equal(
    choice.finish_reason === 'length',
    completion.usage.completion_tokens === 24,
    `finish_reason ${choice.finish_reason} with ${completion.usage.completion_tokens} of 24 tokens`,
  );
});

test('streaming chat yields well-formed chunks, text and usage', async () => {
  const { text, chunks } = await streamChat(request());
  assert.ok(text.length > 0, 'no streamed text');
  assert.ok(chunks.length >= 3, 'a 24-token reply should arrive in several chunks');
});

test('at temperature 0 the streamed text equals the non-streamed text', async () => {
  const plain = await openai.chat.completions.create(request());
  const streamed = await streamChat(request());
  assert.equal(streamed.text, plain.choices[0].message.content);
  assert.equal(streamed.finishReason, plain.choices[0].finish_reason);
  assert.equal(streamed.usage.completion_tokens, plain.usage.completion_tokens);
  assert.equal(streamed.usage.prompt_tokens, plain.usage.prompt_tokens);
});

test("the SDK's stream helper assembles the final completion", async () => {
  const deltas = [];
  const runner = openai.chat.completions
    .stream({ ...request(), stream_options: { include_usage: true } })
    .on('content', (delta) => deltas.push(delta));
  const final = await runner.finalChatCompletion();
  const content = final.choices[0].message.content;
  assert.ok(content.length > 0);
  assert.equal(deltas.join(''), content);
  assert.equal(final.choices[0].message.role, 'assistant');
  assertUsage(final.usage, 24);
  const plain = await openai.chat.completions.create(request());
  assert.equal(content, plain.choices[0].message.content);
});

test('max_tokens bounds the reply and reports finish_reason length', async () => {
  const completion = await openai.chat.completions.create({ ...request(), max_tokens: 3 });
  // Three tokens cannot finish a story: the limit is what ends it.
  assert.equal(completion.usage.completion_tokens, 3);
  assert.equal(completion.choices[0].finish_reason, 'length');
});

test('logprobs come back per generated token', async () => {
  const completion = await openai.chat.completions.create({ ...request(), max_tokens: 6, logprobs: true, top_logprobs: 3 });
  const entries = completion.choices[0].logprobs?.content;
  assert.ok(Array.isArray(entries), 'choices[0].logprobs.content missing');
  assert.equal(entries.length, completion.usage.completion_tokens);
  assert.equal(entries.map((e) => e.token).join(''), completion.choices[0].message.content);
  for (const entry of entries) {
    assert.equal(typeof entry.token, 'string');
    assert.ok(entry.logprob <= 0, `logprob ${entry.logprob}`);
    assert.equal(entry.top_logprobs.length, 3);
    // Greedy decoding picks the most likely token, so it heads its own top list.
    assert.ok(Math.abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-4, JSON.stringify(entry));
    for (let i = 1; i < 3; ++i) assert.ok(entry.top_logprobs[i].logprob <= entry.top_logprobs[i - 1].logprob);
  }
});

test('responses carry a request id the SDK exposes', async () => {
  const completion = await openai.chat.completions.create(request());
  assert.equal(typeof completion._request_id, 'string', 'x-request-id header missing');
  assert.ok(completion._request_id.length > 0);
  const { request_id: second } = await openai.chat.completions.create(request()).withResponse();
  assert.notEqual(second, completion._request_id, 'request ids must differ between requests');
});
