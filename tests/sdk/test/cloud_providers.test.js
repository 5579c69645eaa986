// The official SDKs through tandem to cloud providers: tandem-fake-upstream (tests/fakes) plays
// both the OpenAI and the Anthropic API, and tandem is started with the SDKs' own environment
// variables pointing at it (OPENAI_BASE_URL / ANTHROPIC_BASE_URL + keys). Covered: an OpenAI
// client answered by an Anthropic upstream and the reverse (translation), each protocol passed
// through to its own kind of upstream, streamed and not, tool calls, and upstream errors arriving
// as each SDK's typed error. Needs TANDEM_BIN and TANDEM_FAKE_UPSTREAM_BIN (ctest sets both).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import { startFakeUpstream, startTandem } from '../lib/tandem.js';

const fakeBin = process.env.TANDEM_FAKE_UPSTREAM_BIN;
const skip = !process.env.TANDEM_BIN
  ? 'TANDEM_BIN not set (this file starts its own server)'
  : !fakeBin
    ? 'TANDEM_FAKE_UPSTREAM_BIN not set (the fake upstream binary, built as tandem-fake-upstream)'
    : false;

// What the fake answers (tests/fakes/fake_answers.cpp): this text in 3 pieces, 12 input and 7
// output tokens; a model named "...tools..." calls get_weather({"city":"Paris"}) and
// get_time({"tz":"CET"}) after "Checking the weather."; "error-NNN" answers status NNN.
const TEXT = 'Hello from the fake upstream.';

let fake;
let server;
let openai;
let anthropic;
let dir;

before(async () => {
  if (skip) return;
  fake = await startFakeUpstream(fakeBin);
  // The built-in providers come from the SDKs' environment variables. The error test uses two
  // more from a config file, without retries and with a breaker that does not trip, so each
  // upstream error reaches the client as itself, never as "breaker open" after earlier errors.
  dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-sdk-cloud-'));
  const config = path.join(dir, 'providers.json');
  const calm = { breaker: { consecutive_failures: 1000000, minimum_requests: 1000000 }, retry: { max_attempts: 1 } };
  writeFileSync(config, JSON.stringify({ providers: [
    { name: 'oai-errors', protocol: 'openai', base_url: `${fake.url}/v1`, api_key_env: 'OPENAI_API_KEY', ...calm },
    { name: 'anth-errors', protocol: 'anthropic', base_url: fake.url, api_key_env: 'ANTHROPIC_API_KEY', ...calm },
  ] }));
  const env = {
    OPENAI_API_KEY: 'sk-upstream-openai', OPENAI_BASE_URL: `${fake.url}/v1`,
    ANTHROPIC_API_KEY: 'sk-upstream-anthropic', ANTHROPIC_BASE_URL: fake.url,
  };
  const saved = {};
  for (const [k, v] of Object.entries(env)) { saved[k] = process.env[k]; process.env[k] = v; }
  try {
    server = await startTandem({ extraArgs: ['--config', config] });
  } finally {
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
  }
  openai = new OpenAI({ baseURL: `${server.baseURL}/v1`, apiKey: 'sk-client', maxRetries: 0, timeout: 30_000 });
  anthropic = new Anthropic({ baseURL: server.baseURL, apiKey: 'sk-client', maxRetries: 0, timeout: 30_000 });
});
after(async () => {
  if (server) await server.stop();
  if (fake) fake.child.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const hello = [{ role: 'user', content: 'Say hello.' }];
const weatherTool = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
const openaiTools = [
  { type: 'function', function: { name: 'get_weather', parameters: weatherTool } },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
];
const anthropicTools = [
  { name: 'get_weather', input_schema: weatherTool },
  { name: 'get_time', input_schema: { type: 'object', properties: { tz: { type: 'string' } } } },
];

for (const [label, model] of [['translated from an Anthropic upstream', 'anthropic/fake-model'],
  ['passed through from an OpenAI upstream', 'openai/fake-model']]) {
  test(`OpenAI client, ${label}: complete`, { skip }, async () => {
    const completion = await openai.chat.completions.create({ model, max_tokens: 50, messages: hello });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.choices[0].message.content, TEXT);
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.equal(completion.usage.prompt_tokens, 12);
    assert.equal(completion.usage.completion_tokens, 7);
  });

  test(`OpenAI client, ${label}: streamed with usage`, { skip }, async () => {
    const stream = await openai.chat.completions.create({
      model, max_tokens: 50, messages: hello, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let finish = null;
    let usage = null;
    let deltas = 0;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.delta?.content) { text += choice.delta.content; deltas += 1; }
      finish = choice.finish_reason ?? finish;
    }
    assert.equal(text, TEXT);
    assert.equal(deltas, 3);
    assert.equal(finish, 'stop');
    assert.equal(usage?.completion_tokens, 7);
  });

  test(`OpenAI client, ${label}: tool calls, complete and streamed`, { skip }, async () => {
    const toolModel = model.replace('fake-model', 'tools-model');
    const completion = await openai.chat.completions.create({ model: toolModel, max_tokens: 50, messages: hello, tools: openaiTools });
    const choice = completion.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.deepEqual(choice.message.tool_calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]),
      [['get_weather', { city: 'Paris' }], ['get_time', { tz: 'CET' }]]);

    const stream = await openai.chat.completions.create({ model: toolModel, max_tokens: 50, messages: hello, tools: openaiTools, stream: true });
    const calls = [];
    let finish = null;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (!c) continue;
      for (const d of c.delta?.tool_calls ?? []) {
        calls[d.index] ??= { name: '', args: '' };
        calls[d.index].name += d.function?.name ?? '';
        calls[d.index].args += d.function?.arguments ?? '';
      }
      finish = c.finish_reason ?? finish;
    }
    assert.equal(finish, 'tool_calls');
    assert.deepEqual(calls.map((c) => [c.name, JSON.parse(c.args)]), [['get_weather', { city: 'Paris' }], ['get_time', { tz: 'CET' }]]);
  });
}

for (const [label, model] of [['translated from an OpenAI upstream', 'openai/fake-model'],
  ['passed through from an Anthropic upstream', 'anthropic/fake-model']]) {
  test(`Anthropic client, ${label}: complete`, { skip }, async () => {
    const message = await anthropic.messages.create({ model, max_tokens: 50, messages: hello });
    assert.equal(message.type, 'message');
    assert.deepEqual(message.content.map((b) => [b.type, b.text]), [['text', TEXT]]);
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.usage.output_tokens, 7);
  });

  test(`Anthropic client, ${label}: streamed`, { skip }, async () => {
    const stream = anthropic.messages.stream({ model, max_tokens: 50, messages: hello });
    let text = '';
    stream.on('text', (delta) => { text += delta; });
    const message = await stream.finalMessage();
    assert.equal(text, TEXT);
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.usage.output_tokens, 7);
  });

  test(`Anthropic client, ${label}: tool use, complete and streamed`, { skip }, async () => {
    const toolModel = model.replace('fake-model', 'tools-model');
    const expected = [['get_weather', { city: 'Paris' }], ['get_time', { tz: 'CET' }]];
    const message = await anthropic.messages.create({ model: toolModel, max_tokens: 50, messages: hello, tools: anthropicTools });
    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(message.content.filter((b) => b.type === 'tool_use').map((b) => [b.name, b.input]), expected);
    const streamed = await anthropic.messages.stream({ model: toolModel, max_tokens: 50, messages: hello, tools: anthropicTools }).finalMessage();
    assert.equal(streamed.stop_reason, 'tool_use');
    assert.deepEqual(streamed.content.filter((b) => b.type === 'tool_use').map((b) => [b.name, b.input]), expected);
  });
}

test('Upstream errors arrive as each SDK\'s typed error, in both directions, streamed or not', { skip }, async () => {
  const cases = [
    [openai, 'anth-errors/error-429', OpenAI.RateLimitError, 429],
    [openai, 'oai-errors/error-429', OpenAI.RateLimitError, 429],
    [openai, 'anth-errors/error-401', OpenAI.AuthenticationError, 401],
    [openai, 'anth-errors/error-400', OpenAI.BadRequestError, 400],
    [anthropic, 'oai-errors/error-429', Anthropic.RateLimitError, 429],
    [anthropic, 'oai-errors/error-404', Anthropic.NotFoundError, 404],
    [anthropic, 'anth-errors/error-400', Anthropic.BadRequestError, 400],
  ];
  for (const stream of [false, true]) {
    for (const [client, model, type, status] of cases) {
      let error;
      try {
        // A streamed request that fails before its first event gets the error status too (never a
        // 200 with an error inside): the SDK raises at create().
        if (client === openai) await openai.chat.completions.create({ model, max_tokens: 5, messages: hello, stream });
        else await anthropic.messages.create({ model, max_tokens: 5, messages: hello, stream });
      } catch (err) {
        error = err;
      }
      const what = `${model}${stream ? ' (streamed)' : ''}`;
      assert.ok(error instanceof type, `${what}: expected ${type.name}, got ${error}`);
      assert.equal(error.status, status, what);
      assert.match(error.message, /fake upstream error/, what);
    }
  }
});
