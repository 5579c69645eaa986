// Forced tool calls through both official SDKs, streamed and not, on a local model whose chat
// template has a tool-call syntax (Qwen2.5's Hermes `<tool_call>`). The model has random weights
// and would write gibberish: whatever comes back as a well-formed call with arguments that match
// the tool's schema is the constrained decoder's doing. Needs TANDEM_BIN: this file writes the
// model with `tandem synth-model` and starts its own server on it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import { sharedDir, startTandem } from '../lib/tandem.js';

const skip = process.env.TANDEM_BIN ? false : 'TANDEM_BIN not set (this file builds a model and starts its own server)';

const weather = {
  type: 'object',
  properties: { city: { enum: ['Paris', 'Oslo'] }, days: { type: 'integer' } },
  required: ['city', 'days'],
  additionalProperties: false,
};
const clock = { type: 'object', properties: { zone: { enum: ['CET', 'UTC'] } }, required: ['zone'], additionalProperties: false };

// Checks arguments against `weather` / `clock` by hand (independent of the constraint code).
function assertArguments(name, args) {
  if (name === 'get_weather') {
    assert.deepEqual(Object.keys(args).sort(), ['city', 'days']);
    assert.ok(['Paris', 'Oslo'].includes(args.city), JSON.stringify(args));
    assert.ok(Number.isInteger(args.days), JSON.stringify(args));
  } else {
    assert.equal(name, 'get_time');
    assert.deepEqual(Object.keys(args), ['zone']);
    assert.ok(['CET', 'UTC'].includes(args.zone), JSON.stringify(args));
  }
}

let server;
let dir;
let openai;
let anthropic;
const model = 'tools-qwen';

before(async () => {
  if (skip) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-sdk-tools-'));
  const file = path.join(dir, 'tools-qwen.gguf');
  const vocab = path.join(sharedDir, 'models/synth-qwen2-F16.gguf');
  const template = path.join(sharedDir, 'templates/Qwen-Qwen2.5-7B-Instruct.jinja');
  for (const needed of [vocab, template]) assert.ok(existsSync(needed), `missing reference file ${needed}`);
  execFileSync(process.env.TANDEM_BIN, ['synth-model', '--out', file, '--vocab-from', vocab, '--chat-template', template,
    '--dim', '64', '--layers', '1', '--heads', '2', '--kv-heads', '1', '--ff', '128', '--ctx', '1024']);
  server = await startTandem({ modelPath: file, extraArgs: ['--alias', model, '--parallel', '2'] });
  openai = new OpenAI({ baseURL: `${server.baseURL}/v1`, apiKey: 'sk-unused', maxRetries: 0, timeout: 120_000 });
  anthropic = new Anthropic({ baseURL: server.baseURL, apiKey: 'sk-unused', maxRetries: 0, timeout: 120_000 });
});
after(async () => {
  if (server) await server.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const openaiTools = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather forecast', parameters: weather } },
  { type: 'function', function: { name: 'get_time', description: 'Current time', parameters: clock } },
];
const anthropicTools = [
  { name: 'get_weather', description: 'Weather forecast', input_schema: weather },
  { name: 'get_time', description: 'Current time', input_schema: clock },
];
const question = [{ role: 'user', content: 'What is the weather in Paris for the next two days?' }];

test('OpenAI: tool_choice "required" returns one call whose arguments match the schema', { skip }, async () => {
  const completion = await openai.chat.completions.create({
    model, max_tokens: 300, temperature: 1, seed: 11, messages: question, tools: openaiTools, tool_choice: 'required',
  });
  const choice = completion.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.content, null);
  assert.equal(choice.message.tool_calls.length, 1);
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.match(call.id, /\S/);
  assertArguments(call.function.name, JSON.parse(call.function.arguments));
});

test('OpenAI: a named tool_choice streamed arrives as tool_calls deltas that assemble into that call', { skip }, async () => {
  const stream = await openai.chat.completions.create({
    model, max_tokens: 300, temperature: 1, seed: 5, messages: question, tools: openaiTools, stream: true,
    tool_choice: { type: 'function', function: { name: 'get_time' } },
  });
  let name = '';
  let args = '';
  let finish = null;
  let text = '';
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    text += choice.delta?.content ?? '';
    for (const delta of choice.delta?.tool_calls ?? []) {
      assert.equal(delta.index, 0);
      name += delta.function?.name ?? '';
      args += delta.function?.arguments ?? '';
    }
    finish = choice.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(text, '');
  assert.equal(name, 'get_time');
  assertArguments(name, JSON.parse(args));
});

test('Anthropic: tool_choice {type: "tool"} returns a tool_use block with a matching input', { skip }, async () => {
  const message = await anthropic.messages.create({
    model, max_tokens: 300, temperature: 1, messages: question, tools: anthropicTools,
    tool_choice: { type: 'tool', name: 'get_weather' },
  });
  assert.equal(message.stop_reason, 'tool_use');
  const uses = message.content.filter((block) => block.type === 'tool_use');
  assert.equal(uses.length, 1);
  assert.equal(uses[0].name, 'get_weather');
  assert.match(uses[0].id, /\S/);
  assertArguments(uses[0].name, uses[0].input);
});

test('Anthropic: tool_choice {type: "any"} streamed gives a tool_use block via input_json_delta', { skip }, async () => {
  const stream = anthropic.messages.stream({
    model, max_tokens: 300, temperature: 1, messages: question, tools: anthropicTools, tool_choice: { type: 'any' },
  });
  let partialJson = '';
  stream.on('inputJson', (delta) => { partialJson += delta; });
  const message = await stream.finalMessage();
  assert.equal(message.stop_reason, 'tool_use');
  const uses = message.content.filter((block) => block.type === 'tool_use');
  assert.equal(uses.length, 1);
  assertArguments(uses[0].name, uses[0].input);
  assert.deepEqual(JSON.parse(partialJson), uses[0].input);
});
