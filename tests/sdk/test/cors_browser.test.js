// CORS from a real browser: headless Chromium loads a page from another origin (a small page
// server on its own port) that calls tandem with fetch(), as a web app would — a preflight for the
// Authorization and x-stainless-* headers, then the actual requests — and reports what it could
// read back to the page server. An iframe from a third, unlisted origin must be refused.
//
// Needs the `chromium` Debian package (scripts/install-deps installs it) and TANDEM_BIN: this file
// starts its own tandem with --cors-origins and --api-keys. CHROMIUM_BIN overrides the browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { startTandem } from '../lib/tandem.js';

const chromium =
  process.env.CHROMIUM_BIN ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const skip = !process.env.TANDEM_BIN
  ? 'TANDEM_BIN not set (this test starts its own server with --cors-origins)'
  : !chromium
    ? 'chromium not installed (scripts/install-deps installs it)'
    : false;

// The page's script: every call's status, what it could read, or the browser's refusal.
const pageScript = (api, key) => `
async function attempt(name, url, init) {
  try {
    const response = await fetch(url, init);
    const body = await response.text();
    return { name, status: response.status, requestId: response.headers.get('x-request-id'), body };
  } catch (err) {
    return { name, refused: String(err) };
  }
}
async function run() {
  const api = ${JSON.stringify(api)};
  const results = [];
  results.push(await attempt('models', api + '/v1/models', {
    headers: { authorization: 'Bearer ${key}', 'x-stainless-lang': 'js', 'anthropic-version': '2023-06-01' } }));
  let model = 'unknown';
  try { model = JSON.parse(results[0].body).data[0].id; } catch (err) {}
  results.push(await attempt('no-key', api + '/v1/models', { headers: { 'x-stainless-lang': 'js' } }));
  results.push(await attempt('chat', api + '/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': '${key}' },
    body: JSON.stringify({ model, max_tokens: 3, messages: [{ role: 'user', content: 'Once' }] }) }));
  await fetch('/report', { method: 'POST', body: JSON.stringify(results) });
}
run();
`;

function startPageServer(onReport) {
  const pages = {};
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url.startsWith('/report')) {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        res.end('ok');
        onReport(req.url, JSON.parse(body));
      });
      return;
    }
    const page = pages[req.url];
    res.writeHead(page ? 200 : 404, { 'content-type': 'text/html' });
    res.end(page ?? 'not found');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, pages })));
}

test('a page on another origin calls the API through CORS; an unlisted origin is refused', { skip, timeout: 120_000 }, async () => {
  const reports = {};
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  const { server: pageServer, pages } = await startPageServer((url, results) => {
    reports[url] = results;
    if (reports['/report'] && reports['/report?denied']) finish();
  });
  const port = pageServer.address().port;
  // Same server, two origins: 127.0.0.1 is listed, localhost is not.
  const allowedOrigin = `http://127.0.0.1:${port}`;
  const key = 'browser-key';
  const tandem = await startTandem({ extraArgs: ['--cors-origins', allowedOrigin, '--api-keys', key] });
  const profile = mkdtempSync(path.join(os.tmpdir(), 'tandem-chromium-'));
  let browser;
  try {
    pages['/'] = `<!doctype html><script>${pageScript(tandem.baseURL, key)}</script>
      <iframe src="http://localhost:${port}/denied"></iframe>`;
    pages['/denied'] = `<!doctype html><script>
      fetch(${JSON.stringify(tandem.baseURL)} + '/v1/models', { headers: { authorization: 'Bearer ${key}' } })
        .then((r) => ({ status: r.status }), (err) => ({ refused: String(err) }))
        .then((result) => fetch('/report?denied', { method: 'POST', body: JSON.stringify(result) }));
    </script>`;
    // Its own process group, so the renderer and GPU helpers end with it.
    browser = spawn(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      `--user-data-dir=${profile}`, `${allowedOrigin}/`], { stdio: 'ignore', detached: true });
    const timeout = setTimeout(() => finish(), 90_000);
    await done;
    clearTimeout(timeout);

    const results = Object.fromEntries((reports['/report'] ?? []).map((r) => [r.name, r]));
    assert.ok(results.models, `the page never reported (reports: ${JSON.stringify(reports)})`);
    assert.equal(results.models.status, 200, JSON.stringify(results.models));
    assert.ok(JSON.parse(results.models.body).data.length > 0);
    assert.match(results.models.requestId ?? '', /\S/, 'x-request-id is exposed to the page');
    assert.equal(results['no-key'].status, 401, 'the page can read the 401');
    assert.equal(JSON.parse(results['no-key'].body).error.code, 'invalid_api_key');
    assert.equal(results.chat.status, 200, JSON.stringify(results.chat));
    assert.equal(JSON.parse(results.chat.body).object, 'chat.completion');

    const denied = reports['/report?denied'];
    assert.ok(denied, 'the unlisted origin reported');
    assert.match(denied.refused ?? '', /TypeError/, `an unlisted origin must be refused: ${JSON.stringify(denied)}`);
  } finally {
    if (browser && browser.exitCode === null && browser.signalCode === null) {
      const exited = new Promise((resolve) => browser.once('exit', resolve));
      try {
        process.kill(-browser.pid, 'SIGKILL');
      } catch {
        browser.kill('SIGKILL');
      }
      await exited;
    }
    pageServer.close();
    await tandem.stop();
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});
