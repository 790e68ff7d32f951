import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { memoizedCacheKey } from '../../src/cache/key.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { countingCompile, recordingLogger, specFor, tempDir, worker } from './fixtures.js';

const DAY = 86_400_000;
const quiet = recordingLogger().logger;
const settle = () => new Promise((r) => setTimeout(r, 60)); // LRU touches are fire-and-forget

async function diskKeys(dir: string): Promise<Set<string>> {
  const c = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  const out = new Set<string>();
  for (const shard of readdirSync(join(dir, 'metadata'))) {
    for (const n of readdirSync(join(dir, 'metadata', shard))) out.add(n.slice(0, 64));
  }
  await c.close();
  return out;
}

test('expiry through an injectable clock: entries unused for maxAgeMs go, recently hit ones stay', async () => {
  const dir = tempDir('expiry');
  let now = Date.UTC(2025, 0, 1);
  const clock = () => now;
  const open = () =>
    new KernelCache({ dir, env: {}, logger: quiet, clock, policy: { maintenanceIntervalMs: 0 } });
  const [A, B, C] = [specFor(0), specFor(1), specFor(2)];
  let c = open();
  await c.getOrCompile(A, countingCompile(0).compile);
  await c.getOrCompile(C, countingCompile(2).compile);
  now += 10 * DAY;
  await c.getOrCompile(B, countingCompile(1).compile);
  await c.close();
  now += 10 * DAY; // day 20: A is hit from disk in a new process → its kernel mtime is touched
  c = open();
  assert.equal((await c.getOrCompile(specFor(0), countingCompile(0).compile)).tier, 'disk');
  await settle();
  await c.close();
  now += 25 * DAY; // day 45: A last used day 20 (25 d), B day 10 (35 d), C day 0 (45 d)
  c = open();
  const rep = await c.cleanupExpiredCache();
  assert.equal(rep.removed, 2);
  assert.deepEqual(rep.byReason, { expired: 2 });
  assert.equal(rep.entries, 1);
  assert.deepEqual(await diskKeys(dir), new Set([memoizedCacheKey(A)]));
  assert.equal(c.getStats().process.evictions.expired, 2);
  const f = countingCompile(1);
  assert.equal((await c.getOrCompile(specFor(1), f.compile)).tier, 'compiled');
  await c.close();
});

async function fiveEntries(
  dir: string,
  weightMs: number,
): Promise<{ keys: string[]; clock: () => number; bytes: number }> {
  let now = Date.UTC(2025, 0, 1);
  const clock = () => now;
  const policy = { maintenanceIntervalMs: 0, frequencyWeightMs: weightMs };
  const c = new KernelCache({ dir, env: {}, logger: quiet, clock, policy });
  const keys: string[] = [];
  for (let i = 0; i < 5; i++) {
    const spec = specFor(0, { options: [`-DE=${i}`] });
    keys.push((await c.getOrCompile(spec, countingCompile(0).compile)).key);
    if (i === 0) for (let h = 0; h < 7; h++) await c.getOrCompile(spec, countingCompile(0).compile);
    now += 3_600_000;
  }
  await c.close();
  const d = new KernelCache({ dir, env: {}, logger: quiet, clock, policy });
  const { bytes } = await d.cleanupBySize(Number.MAX_SAFE_INTEGER);
  await d.close();
  return { keys, clock, bytes };
}

test('eviction order: least valuable first, LRU weighted by use count (score = lastUse + w·log2(1+uses))', async () => {
  const dir = tempDir('evict');
  const { keys, clock, bytes } = await fiveEntries(dir, DAY);
  const c = new KernelCache({ dir, env: {}, logger: quiet, clock, policy: { maintenanceIntervalMs: 0 } });
  const rep = await c.cleanupBySize(Math.floor((bytes * 3) / 5) + 10);
  assert.deepEqual(rep.byReason, { size: 2 });
  // entry 0 is the oldest but was used 8 times: it outlives entries 1 and 2
  assert.deepEqual(await diskKeys(dir), new Set([keys[0], keys[3], keys[4]]));
  await c.close();
});

test('eviction order with frequencyWeightMs = 0 is plain LRU; maxEntries evicts by count', async () => {
  const dir = tempDir('lru');
  const { keys, clock, bytes } = await fiveEntries(dir, 0);
  const policy = { maintenanceIntervalMs: 0, frequencyWeightMs: 0, maxEntries: 2 };
  const c = new KernelCache({ dir, env: {}, logger: quiet, clock, policy });
  const rep = await c.cleanupBySize(Math.floor((bytes * 4) / 5) + 10);
  assert.deepEqual(rep.byReason, { size: 1, count: 2 });
  assert.deepEqual(await diskKeys(dir), new Set([keys[3], keys[4]]));
  await c.close();
});

test('pruneStale and maintenance reclaim orphans, old temps, stale locks, other formats, other compiler versions', async () => {
  const dir = tempDir('orphans');
  let now = Date.now();
  const clock = () => now;
  const c = new KernelCache({ dir, env: {}, logger: quiet, clock, policy: { maintenanceIntervalMs: 0 } });
  const keep = await c.getOrCompile(specFor(0), countingCompile(0).compile);
  const old = await c.getOrCompile(
    specFor(1, { compiler: { id: 'nvcc', version: '12.4.131' } }),
    countingCompile(1).compile,
  );
  const otherId = await c.getOrCompile(
    specFor(2, { compiler: { id: 'nvrtc', version: '12.4' } }),
    countingCompile(2).compile,
  );
  const oldFmt = await c.getOrCompile(specFor(3), countingCompile(3).compile);
  const oldFmtMeta = join(dir, 'metadata', oldFmt.key.slice(0, 2), `${oldFmt.key}.json`);
  writeFileSync(
    oldFmtMeta,
    JSON.stringify({ ...JSON.parse(readFileSync(oldFmtMeta, 'utf8')), formatVersion: 0 }),
  );
  const noKernel = await c.getOrCompile(specFor(0, { options: ['-DX'] }), countingCompile(0).compile);
  const nk = join(dir, 'kernels', noKernel.key.slice(0, 2), `${noKernel.key}.cubin`);
  writeFileSync(nk, ''); // replaced below by removal
  (await import('node:fs')).rmSync(nk);
  const orphanOld = join(dir, 'kernels', 'ab', `${'ab'.padEnd(64, '1')}.cubin`);
  const orphanYoung = join(dir, 'kernels', 'ab', `${'ab'.padEnd(64, '2')}.cubin`);
  mkdirSync(join(dir, 'kernels', 'ab'), { recursive: true });
  writeFileSync(orphanOld, 'x');
  writeFileSync(orphanYoung, 'x');
  const tempOld = join(dir, 'temp', `${'d'.repeat(64)}.123.0.deadbeef.kernel`);
  const tempYoung = join(dir, 'temp', `${'e'.repeat(64)}.456.0.feedbeef.kernel`);
  writeFileSync(tempOld, 'x');
  writeFileSync(tempYoung, 'x');
  const lockDead = join(dir, 'locks', `${'cd'.padEnd(64, '3')}.lock`);
  writeFileSync(
    lockDead,
    JSON.stringify({ pid: 2 ** 30, host: hostname(), threadId: 0, startedAt: Date.now() }),
  );
  const past = (now - 3_600_000) / 1000;
  utimesSync(orphanOld, past, past);
  utimesSync(tempOld, past, past);

  const rep = await c.pruneStale({ compiler: { id: 'nvcc', version: '13.0.88' } });
  assert.ok(rep.ran);
  assert.equal(rep.byReason.stale, 2, JSON.stringify(rep.byReason)); // old nvcc version + old format
  assert.equal(rep.byReason.orphan, 3, JSON.stringify(rep.byReason)); // old temp, old orphan kernel, meta w/o kernel
  assert.deepEqual(await diskKeys(dir), new Set([keep.key, otherId.key]));
  assert.ok(
    !existsSync(orphanOld) && existsSync(orphanYoung),
    'young orphan (publish may be under way) kept',
  );
  assert.ok(!existsSync(tempOld) && existsSync(tempYoung));
  assert.ok(!existsSync(lockDead));
  assert.ok(!existsSync(join(dir, 'kernels', old.key.slice(0, 2), `${old.key}.cubin`)));
  now += 11 * 60_000; // past the grace period
  const rep2 = await c.runMaintenance();
  assert.equal(rep2.byReason.orphan, 2);
  assert.ok(!existsSync(orphanYoung) && !existsSync(tempYoung));
  await c.close();
});

test('validateCacheIntegrity reports, and with repair removes, broken entries', async () => {
  const dir = tempDir('integrity');
  const c = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  const good = await c.getOrCompile(specFor(0), countingCompile(0).compile);
  const bad = await c.getOrCompile(specFor(1), countingCompile(1).compile);
  const kp = join(dir, 'kernels', bad.key.slice(0, 2), `${bad.key}.cubin`);
  const b = readFileSync(kp);
  b[100] = b[100]! ^ 0xff;
  writeFileSync(kp, b);
  const r1 = await c.validateCacheIntegrity();
  assert.equal(r1.checked, 2);
  assert.equal(r1.ok, 1);
  assert.deepEqual(
    r1.problems.map((p) => [p.key, p.problem]),
    [[bad.key, 'checksum mismatch']],
  );
  assert.ok(existsSync(kp), 'no repair without repair: true');
  const r2 = await c.validateCacheIntegrity({ repair: true });
  assert.equal(r2.repaired, 1);
  assert.ok(!existsSync(kp));
  const r3 = await c.validateCacheIntegrity();
  assert.deepEqual([r3.checked, r3.ok, r3.problems.length], [1, 1, 0]);
  assert.deepEqual(await diskKeys(dir), new Set([good.key]));
  await c.close();
});

test('writers killed with SIGKILL at random points leave no visible torn entry; maintenance sweeps the leftovers', async () => {
  const dir = tempDir('sigkill');
  const c0 = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  await c0.close();
  const ROUNDS = 10;
  for (let r = 0; r < ROUNDS; r++) {
    const child = fork(worker('writer-worker'), [dir, String(r)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((res) => child.once('message', () => res()));
    await new Promise((res) => setTimeout(res, 40 + Math.random() * 200));
    const exited = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await exited;
  }
  const keys = await diskKeys(dir);
  assert.ok(keys.size > ROUNDS, `published ${keys.size}`);
  // Every committed entry is complete and verifies (no torn entry is visible).
  const reader = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  const integrity = await reader.validateCacheIntegrity();
  assert.deepEqual(
    integrity.problems.filter((p) => p.key),
    [],
  );
  assert.equal(integrity.ok, keys.size);
  await reader.close();
  // the kills did leave leftovers (locks of in-flight compiles, usually temp files and kernels without metadata)
  assert.ok(readdirSync(join(dir, 'locks')).length > 0);
  // After the grace period, maintenance leaves no temp file, orphan kernel or dead lock behind.
  const later = new KernelCache({
    dir,
    env: {},
    logger: quiet,
    clock: () => Date.now() + 11 * 60_000,
    policy: { maintenanceIntervalMs: 0 },
  });
  await later.runMaintenance();
  assert.deepEqual(readdirSync(join(dir, 'temp')), []);
  assert.deepEqual(readdirSync(join(dir, 'locks')), []);
  const scanAfter = await later.validateCacheIntegrity();
  assert.deepEqual(scanAfter.problems, []);
  let kernels = 0;
  for (const s of readdirSync(join(dir, 'kernels'))) kernels += readdirSync(join(dir, 'kernels', s)).length;
  assert.equal(kernels, scanAfter.checked, 'every kernel file has its metadata');
  await later.close();
});
