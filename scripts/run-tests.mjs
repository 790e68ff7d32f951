#!/usr/bin/env node
// Runs node's built-in test runner over the compiled tests of one folder (test or test-gpu).
// Node 20 takes no globs on the command line, so the file list is built here.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

const suite = process.argv[2] ?? 'test';
const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'build', suite);
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
};
walk(root);
if (files.length === 0) {
  console.error(`no compiled tests under ${root}: run "npm run build" first`);
  process.exit(1);
}
const extra = process.argv.slice(3);
// Tests never leave V8 code caches in the user's real cache dir (the test of that feature turns it on for itself).
const env = { CUOP_CODE_CACHE: '0', ...process.env };
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...extra, ...files], {
  stdio: 'inherit',
  env,
});
process.exit(r.status ?? 1);
