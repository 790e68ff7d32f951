// The maintenance index never changes an answer, only its cost: counts and passes over an indexed directory equal
// those over the files, after entries come and go, with coarse or fresh mtimes, and with a torn index.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { KernelCache } from '../../src/cache/kernel-cache.js';
import { countingCompile, specFor, tempDir } from './fixtures.js';

const quiet = { debug: () => {}, warn: () => {} };
const open = (dir: string): KernelCache =>
  new KernelCache({ dir, logger: quiet, env: {}, policy: { maintenanceIntervalMs: 0 } });

/** Every shard directory's mtime set 10 s back: what a cache at rest looks like to the index's settle rule. */
function settle(dir: string): void {
  const past = (Date.now() - 10_000) / 1000;
  for (const top of ['metadata', 'kernels']) {
    for (const s of readdirSync(join(dir, top))) utimesSync(join(dir, top, s), past, past);
  }
}

test('the entry count from the index summary stays exact as entries are added and removed', async () => {
  const dir = tempDir('index-count');
  const c = open(dir);
  for (let i = 0; i < 12; i++) await c.getOrCompile(specFor(i), countingCompile(i).compile);
  assert.equal(c.getStats().cachedKernels.disk, 12, 'listed: nothing settled yet');
  settle(dir);
  assert.equal(c.getStats().cachedKernels.disk, 12, 'listed, and learned');
  const summary = JSON.parse(readFileSync(join(dir, 'index-summary.json'), 'utf8')) as {
    shards: Record<string, { entries: number }>;
  };
  assert.equal(
    Object.values(summary.shards).reduce((n, s) => n + s.entries, 0),
    12,
    'the summary records every settled shard',
  );
  assert.equal(c.getStats().cachedKernels.disk, 12, 'from the summary');
  await c.getOrCompile(specFor(20), countingCompile(20).compile);
  assert.equal(c.getStats().cachedKernels.disk, 13, 'a new entry changes its shard: recounted');
  const victim = (await c.getOrCompile(specFor(3), countingCompile(3).compile)).key;
  rmSync(join(dir, 'metadata', victim.slice(0, 2), `${victim}.json`));
  assert.equal(c.getStats().cachedKernels.disk, 12, 'a removed entry too');
  writeFileSync(
    join(dir, 'index-summary.json'),
    '{"v":1,"format":2,"shards":{"00":{"meta":"x","entries":99}',
  );
  assert.equal(c.getStats().cachedKernels.disk, 12, 'a torn summary is ignored');
  await c.close();
});

test('maintenance passes over an indexed directory see what the files hold, whatever the index says', async () => {
  const dir = tempDir('index-pass');
  const c = open(dir);
  for (let i = 0; i < 10; i++) await c.getOrCompile(specFor(i), countingCompile(i).compile);
  settle(dir);
  const first = await c.pruneStale();
  assert.equal(first.entries, 10);
  assert.ok(readFileSync(join(dir, 'index.json'), 'utf8').length > 0, 'the pass wrote the index');
  // Added after the index was written: its shard's stamp moved, so it is read again.
  await c.getOrCompile(specFor(30), countingCompile(30).compile);
  assert.equal((await c.pruneStale()).entries, 11);
  const v = await c.validateCacheIntegrity();
  assert.equal(v.checked, 11);
  assert.equal(v.problems.length, 0);
  // A torn or foreign index is rebuilt from the files.
  writeFileSync(
    join(dir, 'index.json'),
    '{"v":1,"format":2,"shards":{"ab":{"stamp":"1:1","settled":true,"entri',
  );
  assert.equal((await c.cleanupBySize(2 ** 40)).entries, 11);
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ v: 1, format: 2, shards: { zz: 'nonsense' } }));
  const shrunk = await c.cleanupBySize(0);
  assert.equal(shrunk.entries, 0);
  assert.equal(shrunk.removed, 11);
  assert.equal(c.getStats().cachedKernels.disk, 0);
  await c.close();
});
