// Starts one tandem server (TANDEM_BIN) for the whole suite, runs `node --test` against it with
// TANDEM_BASE_URL set, then stops the server. Extra arguments go to `node --test`.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

import { startTandem } from './lib/tandem.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const server = await startTandem();
console.log(`tandem listening on ${server.baseURL}`);
const args = ['--test', '--test-concurrency=1', ...process.argv.slice(2)];
if (!process.argv.slice(2).some((a) => !a.startsWith('-'))) args.push('test/');
const child = spawn(process.execPath, args, {
  cwd: here,
  stdio: 'inherit',
  env: { ...process.env, TANDEM_BASE_URL: server.baseURL },
});
const code = await new Promise((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await server.stop();
process.exit(code);
