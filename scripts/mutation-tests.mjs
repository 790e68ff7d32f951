#!/usr/bin/env node
// The test command of the StrykerJS run (stryker.config.json, `npm run mutation`): the CPU tests that guard the
// mutated files, a few seconds in all. Stryker sets the active mutant in the environment; the child processes the
// tests start inherit it.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const FILES = [
  'verify',
  'key',
  'disk-tier-read',
  'disk-tier-publish',
  'tiers',
  'kernel-cache',
  // the gaps the first StrykerJS run found (notes/mutation.md)
  'mutation-gaps-key',
  'mutation-gaps-disk',
  'mutation-gaps-lookup',
].map((n) => resolve(root, 'build/test/cache', `${n}.test.js`));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=dot', ...FILES], {
  stdio: 'inherit',
  env: { CUOP_CODE_CACHE: '0', ...process.env },
});
process.exit(r.status ?? 1);
