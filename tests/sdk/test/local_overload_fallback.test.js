// Local overload -> cloud fallback through both official SDKs, streaming. tandem serves the local
// stories260K with one sequence slot and one queue place (--parallel 1 --max-queue 1, every step
// paced by the hidden --debug-step-delay so the slot stays busy), both taken by long local streams, and a routing rule "story" whose chain is
// that local model, then a provider played by tandem-fake-upstream, falling back on queue_full.
// While a long local stream holds the slot, each SDK's streamed request to "story" is answered by
// the provider: the text is the fake's, x-tandem-backend names it and x-tandem-fallbacks the local
// model. Needs TANDEM_BIN and TANDEM_FAKE_UPSTREAM_BIN (ctest sets both).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import { sharedDir, startFakeUpstream, startTandem } from '../lib/tandem.js';

const fakeBin = process.env.TANDEM_FAKE_UPSTREAM_BIN;
const skip = !process.env.TANDEM_BIN
  ? 'TANDEM_BIN not set (this file starts its own server)'
  : !fakeBin
    ? 'TANDEM_FAKE_UPSTREAM_BIN not set (the fake upstream binary, built as tandem-fake-upstream)'
    : false;
const TEXT = 'Hello from the fake upstream.';  // tests/fakes/fake_answers.cpp

let fake;
let server;
let dir;
let openai;
let anthropic;
let busy;     // the long local stream holding the only slot
let waiting;  // the one queued behind it

async function metric(baseURL, name) {
  const text = await (await fetch(`${baseURL}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{model="stories260K"}`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

// Starts a long local generation and resolves once its first event arrived (it holds the slot).
async function holdTheSlot(baseURL) {
  const controller = new AbortController();
  const response = await fetch(`${baseURL}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 400, stream: true }),
    signal: controller.signal,
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-tandem-backend'), 'local');
  const reader = response.body.getReader();
  const first = await reader.read();
  assert.ok(!first.done, 'the local stream started');
  return { stop: () => controller.abort(), reader };
}

// A second long local request, queued behind the first; resolves once the queue shows it.
async function takeTheQueuePlace(baseURL) {
  const controller = new AbortController();
  const pending = fetch(`${baseURL}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'stories260K', prompt: 'The cat', max_tokens: 400, stream: true }),
    signal: controller.signal,
  }).catch(() => null);
  for (let i = 0; i < 500 && (await metric(baseURL, 'tandem_scheduler_waiting_requests')) !== 1; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(await metric(baseURL, 'tandem_scheduler_waiting_requests'), 1, 'the second request is queued');
  return { stop: () => controller.abort(), pending };
}

before(async () => {
  if (skip) return;
  fake = await startFakeUpstream(fakeBin);
  dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-sdk-fallback-'));
  const config = path.join(dir, 'tandem.json');
  writeFileSync(config, JSON.stringify({
    providers: [{ name: 'cloud', protocol: 'openai', base_url: `${fake.url}/v1`, models: ['fake-model'] }],
    routing: { rules: [{ name: 'story', match: { exact: 'story' },
      targets: [{ backend: 'local', model: 'stories260K' }, { backend: 'cloud', model: 'fake-model' }],
      fallback_on: ['queue_full'] }] },
  }));
  server = await startTandem({
    modelPath: path.join(sharedDir, 'models/stories260K.gguf'),
    extraArgs: ['--parallel', '1', '--max-queue', '1', '--debug-step-delay', '100', '--config', config],
  });
  openai = new OpenAI({ baseURL: `${server.baseURL}/v1`, apiKey: 'sk-client', maxRetries: 0, timeout: 30_000 });
  anthropic = new Anthropic({ baseURL: server.baseURL, apiKey: 'sk-client', maxRetries: 0, timeout: 30_000 });
  busy = await holdTheSlot(server.baseURL);
  waiting = await takeTheQueuePlace(server.baseURL);
});
after(async () => {
  busy?.stop();
  waiting?.stop();
  if (server) await server.stop();
  if (fake) fake.child.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('OpenAI SDK, streamed: a full local queue falls back to the cloud provider', { skip }, async () => {
  const { data: stream, response } = await openai.chat.completions
    .create({ model: 'story', max_tokens: 20, messages: [{ role: 'user', content: 'Tell me a story' }], stream: true })
    .withResponse();
  assert.equal(response.headers.get('x-tandem-backend'), 'cloud');
  assert.equal(response.headers.get('x-tandem-fallbacks'), 'local/stories260K');
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, TEXT);
  assert.equal(finish, 'stop');
});

test('Anthropic SDK, streamed: a full local queue falls back to the cloud provider (translated)', { skip }, async () => {
  const { data: stream, response } = await anthropic.messages
    .create({ model: 'story', max_tokens: 20, messages: [{ role: 'user', content: 'Tell me a story' }], stream: true })
    .withResponse();
  assert.equal(response.headers.get('x-tandem-backend'), 'cloud');
  assert.equal(response.headers.get('x-tandem-fallbacks'), 'local/stories260K');
  let text = '';
  let stop = null;
  for await (const event of stream) {
    if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    if (event.type === 'message_delta') stop = event.delta.stop_reason;
  }
  assert.equal(text, TEXT);
  assert.equal(stop, 'end_turn');
});

test('the local stream that held the slot was never cut', { skip }, async () => {
  // It is still running (100 ms a token, 400 tokens): read a few more events from it.
  const next = await busy.reader.read();
  assert.ok(!next.done, 'the local stream is still streaming');
});
