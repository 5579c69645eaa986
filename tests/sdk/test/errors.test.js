// Error replies must come back in each protocol's format, so the SDKs raise their typed errors
// with the status, type and code a user's error handling looks at.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import { connect, rejection, stopOwnServer } from '../lib/tandem.js';

let openai;
let anthropic;
let model;
before(async () => ({ openai, anthropic, model } = await connect()));
after(stopOwnServer);

const UNKNOWN_MODEL = 'no-such-model-for-tandem-tests';
const chat = (overrides = {}) => ({
  model,
  messages: [{ role: 'user', content: 'Hello' }],
  max_tokens: 4,
  ...overrides,
});
const message = (overrides = {}) => ({
  model,
  messages: [{ role: 'user', content: 'Hello' }],
  max_tokens: 4,
  ...overrides,
});

function assertOpenAIError(err, ErrorClass, status) {
  assert.ok(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${err?.constructor?.name}: ${err?.message}`);
  assert.ok(err instanceof OpenAI.APIError);
  assert.equal(err.status, status);
  // The SDK takes .error from the body's "error" object.
  assert.equal(typeof err.error?.message, 'string', `error body: ${JSON.stringify(err.error)}`);
  assert.ok(err.error.message.length > 0);
  assert.equal(typeof err.type, 'string');
}

function assertAnthropicError(err, ErrorClass, status, type) {
  assert.ok(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${err?.constructor?.name}: ${err?.message}`);
  assert.ok(err instanceof Anthropic.APIError);
  assert.equal(err.status, status);
  // The SDK keeps the whole body: {"type": "error", "error": {"type": ..., "message": ...}}.
  assert.equal(err.error?.type, 'error', `error body: ${JSON.stringify(err.error)}`);
  assert.equal(err.error.error.type, type);
  assert.equal(err.type, type);
  assert.equal(typeof err.error.error.message, 'string');
  assert.ok(err.error.error.message.length > 0);
}

test('OpenAI: unknown model raises NotFoundError with code model_not_found', async () => {
  const err = await rejection(() => openai.chat.completions.create(chat({ model: UNKNOWN_MODEL })));
  assertOpenAIError(err, OpenAI.NotFoundError, 404);
  assert.equal(err.code, 'model_not_found');
  assert.match(err.message, new RegExp(UNKNOWN_MODEL));
  assert.equal(typeof err.requestID, 'string', 'error replies carry x-request-id too');
});

test('OpenAI: unknown model fails before a stream starts', async () => {
  const err = await rejection(() => openai.chat.completions.create(chat({ model: UNKNOWN_MODEL, stream: true })));
  assertOpenAIError(err, OpenAI.NotFoundError, 404);
  assert.equal(err.code, 'model_not_found');
});

test('OpenAI: unknown model on legacy completions raises NotFoundError', async () => {
  const err = await rejection(() => openai.completions.create({ model: UNKNOWN_MODEL, prompt: 'Hi', max_tokens: 2 }));
  assertOpenAIError(err, OpenAI.NotFoundError, 404);
  assert.equal(err.code, 'model_not_found');
});

test('OpenAI: temperature 3 raises BadRequestError naming the field', async () => {
  const err = await rejection(() => openai.chat.completions.create(chat({ temperature: 3 })));
  assertOpenAIError(err, OpenAI.BadRequestError, 400);
  assert.equal(err.type, 'invalid_request_error');
  assert.match(err.message, /temperature/);
});

test('OpenAI: temperature 3 on a streamed legacy completion raises BadRequestError', async () => {
  const err = await rejection(() =>
    openai.completions.create({ model, prompt: 'Hi', max_tokens: 2, temperature: 3, stream: true }),
  );
  assertOpenAIError(err, OpenAI.BadRequestError, 400);
  assert.equal(err.type, 'invalid_request_error');
});

test('OpenAI: a request without messages raises BadRequestError', async () => {
  const err = await rejection(() => openai.chat.completions.create({ model, max_tokens: 2 }));
  assertOpenAIError(err, OpenAI.BadRequestError, 400);
  assert.equal(err.type, 'invalid_request_error');
  assert.match(err.message, /messages/);
});

test('Anthropic: missing max_tokens raises BadRequestError (invalid_request_error)', async () => {
  // The SDK's types require max_tokens; at run time it sends whatever it is given.
  const { max_tokens: _, ...withoutMaxTokens } = message();
  const err = await rejection(() => anthropic.messages.create(withoutMaxTokens));
  assertAnthropicError(err, Anthropic.BadRequestError, 400, 'invalid_request_error');
  assert.match(err.message, /max_tokens/);
});

test('Anthropic: unknown model raises NotFoundError (not_found_error)', async () => {
  const err = await rejection(() => anthropic.messages.create(message({ model: UNKNOWN_MODEL })));
  assertAnthropicError(err, Anthropic.NotFoundError, 404, 'not_found_error');
});

test('Anthropic: unknown model fails a stream with NotFoundError', async () => {
  const err = await rejection(() => anthropic.messages.stream(message({ model: UNKNOWN_MODEL })).finalMessage());
  assertAnthropicError(err, Anthropic.NotFoundError, 404, 'not_found_error');
});

test('Anthropic: temperature 3 raises BadRequestError naming the field', async () => {
  const err = await rejection(() => anthropic.messages.create(message({ temperature: 3 })));
  assertAnthropicError(err, Anthropic.BadRequestError, 400, 'invalid_request_error');
  assert.match(err.message, /temperature/);
});

test('Anthropic: count_tokens for an unknown model raises NotFoundError', async () => {
  const err = await rejection(() =>
    anthropic.messages.countTokens({ model: UNKNOWN_MODEL, messages: [{ role: 'user', content: 'Hello' }] }),
  );
  assertAnthropicError(err, Anthropic.NotFoundError, 404, 'not_found_error');
});
