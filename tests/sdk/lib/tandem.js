// Where the SDK tests find a tandem server, and how they start one themselves.
//
//   TANDEM_BASE_URL  use this running server ("http://127.0.0.1:8080"; a trailing /v1 is fine)
//   TANDEM_BIN       otherwise start this binary (once per test file) and stop it afterwards
//   TANDEM_MODEL_PATH  GGUF for the started server (default ../shared/models/stories260K.gguf)
//   TANDEM_MODEL     model name to request (default: first id of GET /v1/models)
//   TANDEM_API_KEY   API key to send (default "sk-tandem-test"; tandem ignores it unless configured)
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const sharedDir = path.resolve(repoRoot, '../shared');
const LISTENING = /listening on (http:\/\/[^\s"',]+)/;

/**
 * Starts a tandem binary on an ephemeral port and resolves once it logs
 * "listening on http://127.0.0.1:PORT" (on stdout or stderr).
 */
export function startTandem({
  bin = process.env.TANDEM_BIN,
  modelPath = process.env.TANDEM_MODEL_PATH ?? path.join(sharedDir, 'models/stories260K.gguf'),
  extraArgs = [],
  startupTimeoutMs = 30_000,
} = {}) {
  if (!bin) throw new Error('startTandem: no binary (set TANDEM_BIN)');
  const child = spawn(bin, ['--host', '127.0.0.1', '--port', '0', '--model', modelPath, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  // Never leave a server behind if the test process ends without calling stop().
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.once('exit', () => {
        clearTimeout(killer);
        resolve();
      });
      child.kill('SIGTERM');
    });

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${bin} did not log "listening on http://..." within ${startupTimeoutMs} ms. Output:\n${log}`));
    }, startupTimeoutMs);
    const onData = (chunk) => {
      log += chunk.toString();
      const match = LISTENING.exec(log);
      if (match) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        // Keep draining so a chatty server never blocks on a full pipe.
        child.stdout.resume();
        child.stderr.resume();
        resolve({ baseURL: match[1].replace(/\/+$/, ''), child, stop, log: () => log });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${bin}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${bin} exited (code ${code}, signal ${signal}) before listening. Output:\n${log}`));
    });
  });
}

/**
 * Starts tandem-fake-upstream (TANDEM_FAKE_UPSTREAM_BIN; tests/fakes) on an ephemeral port: it plays
 * both the OpenAI and the Anthropic API. Resolves with its base URL and the child process.
 */
export function startFakeUpstream(bin = process.env.TANDEM_FAKE_UPSTREAM_BIN) {
  if (!bin) throw new Error('startFakeUpstream: no binary (set TANDEM_FAKE_UPSTREAM_BIN)');
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    process.once('exit', () => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve({ url: match[1], child });
    });
    child.once('exit', (code) => reject(new Error(`fake upstream exited (${code}) before listening: ${out}`)));
  });
}

let ownServer = null;

/** The server's base URL without /v1, from TANDEM_BASE_URL or a server started from TANDEM_BIN. */
export async function serverBaseURL() {
  const fromEnv = process.env.TANDEM_BASE_URL;
  if (fromEnv) return fromEnv.replace(/\/+$/, '').replace(/\/v1$/, '');
  if (process.env.TANDEM_BIN) {
    ownServer ??= startTandem();
    return (await ownServer).baseURL;
  }
  throw new Error(
    'No tandem server: set TANDEM_BASE_URL (e.g. http://127.0.0.1:8080) or TANDEM_BIN (path to the tandem ' +
      'binary, started on an ephemeral port). See tests/sdk/README.md.',
  );
}

/** Stops the server serverBaseURL() started, if any. */
export async function stopOwnServer() {
  if (!ownServer) return;
  const server = await ownServer.catch(() => null);
  ownServer = null;
  if (server) await server.stop();
}

/**
 * Both SDK clients pointed at the server, and the model name to use. Retries are off so an
 * error status reaches the test as the SDK's typed error at once.
 */
export async function connect() {
  const base = await serverBaseURL();
  const apiKey = process.env.TANDEM_API_KEY ?? 'sk-tandem-test';
  const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });
  const anthropic = new Anthropic({ baseURL: base, apiKey, maxRetries: 0, timeout: 60_000 });
  let model = process.env.TANDEM_MODEL;
  if (!model) {
    const page = await openai.models.list();
    if (!page.data.length) throw new Error(`GET ${base}/v1/models listed no model`);
    model = page.data[0].id;
  }
  return { base, openai, anthropic, model };
}

/** Runs fn and returns the error it throws; fails when it does not throw. */
export async function rejection(fn) {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/**
 * Serves a tiny random-weight model with DeepSeek-R1's real chat template (../shared) whose greedy
 * output is `script` (`tandem synth-model --script`), so answers go through the real reasoning
 * parser. Resolves { server, anthropic, openai, stop }; stop() also removes the model file.
 */
export async function startScriptedReasoner(model, script) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-reasoner-'));
  const file = path.join(dir, `${model}.gguf`);
  execFileSync(process.env.TANDEM_BIN, ['synth-model', '--out', file, '--dim', '64', '--layers', '1', '--heads', '2',
    '--kv-heads', '2', '--ff', '64', '--ctx', '4096', '--chat-template',
    path.join(sharedDir, 'templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja'), '--script', script]);
  let server;
  try {
    server = await startTandem({ modelPath: file });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    server,
    anthropic: new Anthropic({ baseURL: server.baseURL, apiKey: 'k', maxRetries: 0, timeout: 60_000 }),
    openai: new OpenAI({ baseURL: `${server.baseURL}/v1`, apiKey: 'k', maxRetries: 0, timeout: 60_000 }),
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
