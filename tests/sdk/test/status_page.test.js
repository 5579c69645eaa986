// The status page and playground (GET /) in a real headless Chromium driven by puppeteer-core:
// it asks for the API key, shows the served models as backend cards, streams a chat in both
// protocols into the page with no console errors, keeps the key in the tab only, and turns a
// backend's card red when /v1/backends says its breaker is open. A screenshot is saved under the
// build directory (test-artifacts/status_page.png, beside TANDEM_BIN).
//
// Needs TANDEM_BIN and the `chromium` Debian package (CHROMIUM_BIN overrides it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import puppeteer from 'puppeteer-core';

import { startTandem } from '../lib/tandem.js';

const chromium =
  process.env.CHROMIUM_BIN ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const skip = !process.env.TANDEM_BIN
  ? 'TANDEM_BIN not set (this test starts its own servers)'
  : !chromium
    ? 'chromium not installed (scripts/install-deps installs it)'
    : false;
const artifacts = process.env.TANDEM_BIN ? path.join(path.dirname(process.env.TANDEM_BIN), 'test-artifacts') : null;

async function withBrowser(fn) {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'tandem-status-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    userDataDir: profile,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  try {
    return await fn(browser);
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

// Console errors and uncaught exceptions of the page. A failed fetch is logged by Chromium as
// "Failed to load resource"; `expected(url, text)` says which of those the test provokes.
function watchConsole(page, expected) {
  const errors = [];
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const url = message.location()?.url ?? '';
    if (!expected(url, message.text())) errors.push(`${message.text()} (${url})`);
  });
  return errors;
}

async function cardsByName(page) {
  return page.$$eval('#cards .card', (cards) =>
    Object.fromEntries(cards.map((c) => [c.dataset.name, { className: c.className, text: c.textContent,
      background: getComputedStyle(c).backgroundColor }])));
}

async function chat(page, protocol, prompt) {
  await page.select('#protocol', protocol);
  await page.$eval('#prompt', (el, value) => { el.value = value; }, prompt);
  await page.$eval('#max-tokens', (el) => { el.value = '24'; });
  await page.click('#send');
  await page.waitForFunction(() => document.getElementById('chat-status').textContent === 'done', { timeout: 60_000 });
  return page.evaluate(() => ({
    output: document.getElementById('output').textContent,
    events: document.getElementById('events').textContent,
    request: document.getElementById('request').textContent,
  }));
}

test('the status page asks for the key, shows the models and streams a chat in both protocols', { skip, timeout: 180_000 }, async () => {
  const key = 'sk-status-page-key-5b2c';
  const tandem = await startTandem({ extraArgs: ['--api-keys', key] });
  try {
    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      await page.setViewport({ width: 1200, height: 800 });
      // A 401 is how the page learns it needs a key: allowed in the console as long as every 401
      // answered a request sent without one (checked below). Until the router serves
      // /v1/backends, its 404 is how the page learns to build the cards from /v1/models.
      const errors = watchConsole(page, (url, text) =>
        /status of 401/.test(text) || (url.endsWith('/v1/backends') && /status of 404/.test(text)));
      const unauthorized = [];
      page.on('response', (res) => {
        if (res.status() === 401) unauthorized.push(res.request().headers().authorization ?? null);
      });
      const response = await page.goto(`${tandem.baseURL}/`, { waitUntil: 'domcontentloaded' });
      assert.equal(response.status(), 200);
      assert.match(response.headers()['content-type'], /text\/html/);
      assert.match(response.headers()['content-security-policy'], /connect-src 'self'/);

      await page.waitForSelector('#key-panel.shown', { timeout: 10_000 });
      await page.type('#key-input', key);
      await page.click('#key-save');
      await page.waitForFunction(() => document.querySelectorAll('#cards .card').length > 0 &&
        [...document.getElementById('model').options].some((o) => o.value === 'stories260K'), { timeout: 15_000 });
      const cards = await cardsByName(page);
      assert.ok(cards.local, `a card for the local backend: ${JSON.stringify(cards)}`);
      assert.match(cards.local.text, /stories260K/);
      assert.doesNotMatch(cards.local.className, /state-open/);

      const openai = await chat(page, 'openai', 'Once upon a time');
      assert.ok(openai.output.length > 0, 'tokens reached the page');
      const openaiFrames = openai.events.split('\n\n').filter((f) => f.includes('"delta"'));
      assert.ok(openaiFrames.length >= 2, `the answer streamed in several events:\n${openai.events}`);
      assert.match(openai.request, /POST \/v1\/chat\/completions/);
      assert.doesNotMatch(openai.request, new RegExp(key), 'the request shown never contains the key');

      const anthropic = await chat(page, 'anthropic', 'The little dog');
      assert.ok(anthropic.output.length > 0);
      assert.match(anthropic.events, /event: content_block_delta/);
      assert.match(anthropic.request, /POST \/v1\/messages[\s\S]*anthropic-version/);

      // The key lives in this tab's sessionStorage only: no cookie, no localStorage.
      const stored = await page.evaluate(() => ({ cookie: document.cookie, local: localStorage.length,
        session: sessionStorage.getItem('tandem.key') }));
      assert.deepEqual(stored, { cookie: '', local: 0, session: key });
      const fresh = await browser.createBrowserContext();
      const other = await fresh.newPage();
      await other.goto(`${tandem.baseURL}/`, { waitUntil: 'domcontentloaded' });
      assert.equal(await other.evaluate(() => sessionStorage.getItem('tandem.key')), null);
      await fresh.close();

      // Let the throughput chart take a few samples, then keep a picture of the page.
      await new Promise((resolve) => setTimeout(resolve, 4_500));
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: path.join(artifacts, 'status_page.png'), fullPage: true });
      assert.deepEqual(errors, [], 'no console errors');
      assert.ok(unauthorized.length > 0, 'the page found out it needs a key');
      assert.deepEqual(unauthorized.filter((h) => h !== null), [], 'every 401 was a request sent before the key');
    });
  } finally {
    await tandem.stop();
  }
});

test('a backend card turns red when /v1/backends reports its breaker open', { skip, timeout: 120_000 }, async () => {
  const tandem = await startTandem();
  try {
    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      const errors = watchConsole(page, () => false);
      // The listing as the router serves it (wire11's shape), with one provider whose breaker
      // the test opens: the page must follow within its 2 s refresh.
      let flakyState = 'closed';
      const listing = () => ({
        object: 'list',
        data: [
          { name: 'local', kind: 'local', models: ['stories260K'], state: 'ready', error_rate: 0, latency_p50_ms: null,
            in_flight: 0, queue: 0, running: 0, kv_used: 0, kv_capacity: 512, tokens_per_second: null },
          { name: 'flaky', kind: 'cloud', models: ['flaky-model'], state: flakyState, error_rate: flakyState === 'open' ? 1 : 0,
            latency_p50_ms: 120, in_flight: 0, queue: null, running: null, kv_used: null, kv_capacity: null,
            tokens_per_second: null },
        ],
      });
      await page.setRequestInterception(true);
      page.on('request', (request) => {
        if (new URL(request.url()).pathname === '/v1/backends') {
          request.respond({ status: 200, contentType: 'application/json', body: JSON.stringify(listing()) });
        } else {
          request.continue();
        }
      });
      await page.goto(`${tandem.baseURL}/`, { waitUntil: 'domcontentloaded' });
      await page.waitForFunction(() => document.querySelector('#cards .card[data-name="flaky"]'), { timeout: 10_000 });
      let cards = await cardsByName(page);
      assert.match(cards.flaky.className, /state-closed/);
      assert.equal(cards.flaky.background, 'rgb(255, 255, 255)');
      assert.match(await page.$eval('#source-note', (el) => el.textContent), /\/v1\/backends/);

      flakyState = 'open';
      await page.waitForFunction(() =>
        document.querySelector('#cards .card[data-name="flaky"]')?.classList.contains('state-open'), { timeout: 5_000 });
      cards = await cardsByName(page);
      assert.equal(cards.flaky.background, 'rgb(253, 232, 231)', 'the open card is red');
      assert.match(cards.flaky.text, /100\.0%/);
      assert.doesNotMatch(cards.local.className, /state-open/);
      assert.deepEqual(errors, [], 'no console errors');
    });
  } finally {
    await tandem.stop();
  }
});

function closedPort() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// With the router's real /v1/backends (the resilience work): a provider that cannot be reached
// trips its breaker, and the page shows it. Skipped, saying why, while tandem has no
// /v1/backends.
test('a provider whose breaker opens turns its card red (real breaker)', { skip, timeout: 120_000 }, async (t) => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'tandem-status-'));
  const config = path.join(work, 'config.json');
  writeFileSync(config, JSON.stringify({ providers: [{ name: 'deadend', protocol: 'openai',
    base_url: `http://127.0.0.1:${await closedPort()}/v1`, models: ['gone-model'] }] }));
  const tandem = await startTandem({ extraArgs: ['--config', config] });
  try {
    const probe = await fetch(`${tandem.baseURL}/v1/backends`);
    if (probe.status === 404) {
      t.skip('tandem has no /v1/backends yet (the resilience branch adds it)');
      return;
    }
    const stateOf = async () => (await (await fetch(`${tandem.baseURL}/v1/backends`)).json()).data
      .find((b) => b.name === 'deadend')?.state;
    for (let i = 0; i < 40 && (await stateOf()) !== 'open'; ++i) {
      await fetch(`${tandem.baseURL}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'deadend/gone-model', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] }) });
    }
    assert.equal(await stateOf(), 'open', 'the breaker of an unreachable provider opens');
    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      await page.goto(`${tandem.baseURL}/`, { waitUntil: 'domcontentloaded' });
      await page.waitForFunction(() =>
        document.querySelector('#cards .card[data-name="deadend"]')?.classList.contains('state-open'), { timeout: 5_000 });
      const cards = await cardsByName(page);
      assert.equal(cards.deadend.background, 'rgb(253, 232, 231)');
    });
  } finally {
    await tandem.stop();
    rmSync(work, { recursive: true, force: true });
  }
});
