import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { initializedCacheDir, tempDir, worker } from './fixtures.js';
import { race, type Report } from './race-fixture.js';

test('16 processes racing cold on the same 4 keys compile each key exactly once (real nvcc)', async () => {
  const dir = tempDir('race');
  const reports = await race(dir, 16, 4);
  const compiled = reports.flatMap((r) => r.compiled).sort();
  assert.deepEqual(compiled, [0, 1, 2, 3], `compiles: ${JSON.stringify(reports.map((r) => r.compiled))}`);
  const tiers = reports.flatMap((r) => r.tiers);
  assert.equal(tiers.length, 64);
  assert.equal(tiers.filter((t) => t === 'compiled').length, 4);
  assert.ok(
    tiers.every((t) => ['compiled', 'shared', 'disk'].includes(t)),
    tiers.join(','),
  );
  // persisted stats agree
  const c = new KernelCache({ dir, env: {} });
  const s = c.getStats().all;
  assert.equal(s.compiles, 4);
  assert.equal(s.misses, 4);
  assert.equal(s.hits.shared + s.hits.disk, 60);
  await c.close();
});

import { writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { memoizedCacheKey } from '../../src/cache/key.js';
import { CompileError } from '../../src/compiler/errors.js';
import { countingCompile, recordingLogger, specFor } from './fixtures.js';

test('a lock left by a dead process (same host, pid gone) is taken over at once', async () => {
  const dir = await initializedCacheDir('stale');
  const spec = specFor(0);
  const key = memoizedCacheKey(spec);
  // a pid that cannot exist (above pid_max)
  writeFileSync(
    join(dir, 'locks', `${key}.lock`),
    JSON.stringify({ pid: 2 ** 30, host: hostname(), threadId: 0, startedAt: Date.now() }),
  );
  const c = new KernelCache({
    dir,
    env: {},
    logger: recordingLogger().logger,
    policy: { lockWaitMs: 30_000 },
  });
  const t0 = Date.now();
  const f = countingCompile(0);
  assert.equal((await c.getOrCompile(spec, f.compile)).tier, 'compiled');
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(c.getStats().process.lockTakeovers, 1);
  assert.deepEqual(readdirSync(join(dir, 'locks')), []);
  await c.close();
});

test('a live lock held past lockWaitMs: the waiter stops waiting and compiles itself', async () => {
  const dir = await initializedCacheDir('bounded');
  const spec = specFor(1);
  const key = memoizedCacheKey(spec);
  // owned by this (live) process, on this host: not stale until older than lockWaitMs
  writeFileSync(
    join(dir, 'locks', `${key}.lock`),
    JSON.stringify({ pid: process.pid, host: hostname(), threadId: 99, startedAt: Date.now() }),
  );
  const rec = recordingLogger();
  const c = new KernelCache({ dir, env: {}, logger: rec.logger, policy: { lockWaitMs: 300 } });
  const t0 = Date.now();
  const f = countingCompile(1);
  const r = await c.getOrCompile(spec, f.compile);
  const waited = Date.now() - t0;
  assert.equal(r.tier, 'compiled');
  assert.ok(waited >= 250 && waited < 3000, `waited ${waited} ms`);
  assert.equal(c.getStats().process.lockWaits, 1);
  await c.close();
});

test("the lock holder's compile fails: the waiter compiles itself and gets the same error", async () => {
  const dir = tempDir('failwait');
  const quiet = recordingLogger().logger;
  const a = new KernelCache({ dir, env: {}, logger: quiet });
  const b = new KernelCache({ dir, env: {}, logger: quiet });
  let calls = 0;
  const bad = async (): Promise<never> => {
    calls++;
    await new Promise((r) => setTimeout(r, 150));
    throw new CompileError('nvcc', 'k.cu', 'error: nope', []);
  };
  const pa = a.getOrCompile(specFor(2), bad);
  await new Promise((r) => setTimeout(r, 30));
  const pb = b.getOrCompile(specFor(2), bad);
  const [ra, rb] = await Promise.allSettled([pa, pb]);
  assert.ok(ra.status === 'rejected' && ra.reason instanceof CompileError);
  assert.ok(rb.status === 'rejected' && rb.reason instanceof CompileError);
  assert.equal(calls, 2);
  assert.equal(b.getStats().process.lockWaits, 1);
  await a.close();
  await b.close();
});

test('8 worker threads racing cold on the same 3 keys compile each key once (lock files carry the thread id)', async () => {
  const { Worker } = await import('node:worker_threads');
  const dir = tempDir('threads');
  const workers = Array.from(
    { length: 8 },
    () => new Worker(worker('thread-worker'), { workerData: { dir, n: 3 } }),
  );
  const ready = workers.map((w) => new Promise<void>((res) => w.once('message', () => res())));
  await Promise.all(ready);
  const done = workers.map(
    (w) =>
      new Promise<Report>((res, rej) => {
        w.once('message', (m) => res(m as Report));
        w.once('error', rej);
      }),
  );
  for (const w of workers) w.postMessage('go');
  const reports = await Promise.all(done);
  await Promise.all(workers.map((w) => w.terminate()));
  assert.deepEqual(reports.flatMap((r) => r.compiled).sort(), [0, 1, 2], JSON.stringify(reports));
  const tiers = reports.flatMap((r) => r.tiers);
  assert.equal(tiers.filter((t) => t === 'compiled').length, 3);
  assert.ok(
    tiers.every((t) => ['compiled', 'shared', 'disk'].includes(t)),
    tiers.join(','),
  );
});
