// The cache's diagnostics_channel events (src/cache/trace.ts), from real operations: nvcc compiles on a miss, memory
// and disk hits, a second cache object on the same directory, corrupted files found and removed, shrink evictions.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { memoizedCacheKey, type KeySpec } from '../../src/cache/key.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { CacheLayout } from '../../src/cache/layout.js';
import {
  CACHE_CHANNELS,
  type CacheCompileMessage,
  type CacheEvictMessage,
  type CacheLookupMessage,
  type CachePublishMessage,
  type CacheRepairMessage,
} from '../../src/cache/trace.js';
import { NvccCompiler } from '../../src/compiler/nvcc-compiler.js';
import type { CompileResult } from '../../src/compiler/types.js';
import { countingCompile, recordingLogger, specFor, tempDir } from './fixtures.js';

const quiet = recordingLogger().logger;
const nvcc = new NvccCompiler();

interface Seen {
  channel: string;
  message: Record<string, unknown>;
}

/** Subscribes to every cache channel; `stop` unsubscribes. Messages arrive in publish order across channels. */
function recordAll(): { seen: Seen[]; on<T>(name: keyof typeof CACHE_CHANNELS): T[]; stop(): void } {
  const seen: Seen[] = [];
  const handlers = Object.entries(CACHE_CHANNELS).map(([, name]) => {
    const h = (message: unknown) => seen.push({ channel: name, message: message as Record<string, unknown> });
    subscribe(name, h);
    return [name, h] as const;
  });
  return {
    seen,
    on: <T>(n: keyof typeof CACHE_CHANNELS) =>
      seen.filter((s) => s.channel === CACHE_CHANNELS[n]).map((s) => s.message as T),
    stop: () => {
      for (const [name, h] of handlers) unsubscribe(name, h);
      seen.length = 0;
    },
  };
}

function nvccSpec(source: string, name: string): KeySpec {
  return {
    source,
    nameExpressions: [name],
    options: ['-O3'],
    compiler: { id: 'nvcc', version: '13.0' },
    target: 'sm_90',
    imageKind: 'cubin',
  };
}

/** The compile a miss runs: real nvcc, no fixture. */
const nvccCompile = (source: string, name: string) => (): Promise<CompileResult> =>
  nvcc.compile({ source, arch: 'sm_90', nameExpressions: [name], options: ['-O3'] });

const neverCompile = async (): Promise<CompileResult> => {
  throw new Error('unexpected compile: this lookup should hit');
};

function assertMs(m: { ms: unknown }): void {
  assert.equal(typeof m.ms, 'number');
  assert.ok(Number.isFinite(m.ms as number) && (m.ms as number) >= 0, `ms ${String(m.ms)}`);
}

test('miss → nvcc compile → publish, then memory hits, lookupSync and noteMemoryHit, then disk hits in a second cache', async () => {
  const dir = tempDir('trace-hits');
  const src = 'extern "C" __global__ void tr0(float* a) { a[threadIdx.x] += 1.0f; }\n';
  const spec = nvccSpec(src, 'tr0');
  const key = memoizedCacheKey(spec);
  const rec = recordAll();
  const a = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  try {
    const first = await a.getOrCompile(spec, nvccCompile(src, 'tr0'));
    assert.equal(first.tier, 'compiled');
    // One lookup (a miss), then the compile, then its publish to the disk: in that order.
    assert.deepEqual(
      rec.seen.map((s) => s.channel),
      [CACHE_CHANNELS.lookup, CACHE_CHANNELS.compile, CACHE_CHANNELS.publish],
    );
    const [miss] = rec.on<CacheLookupMessage>('lookup');
    assert.deepEqual({ ...miss!, ms: 0 }, { key, tier: 'none', outcome: 'miss', ms: 0, sync: false });
    assertMs(miss!);
    const [compiled] = rec.on<CacheCompileMessage>('compile');
    assert.equal(compiled!.key, key);
    assert.equal(compiled!.tier, 'compiled');
    assert.equal(compiled!.outcome, 'stored');
    assert.equal(compiled!.entryKey, undefined, 'kept under its own key');
    assert.equal(compiled!.bytes, first.entry.image.length);
    assert.equal(compiled!.compileMs, first.entry.meta.compileMs);
    assert.ok(compiled!.ms > 0, 'nvcc took some time');
    const [published] = rec.on<CachePublishMessage>('publish');
    assert.deepEqual(
      { ...published!, ms: 0 },
      { key, tier: 'disk', outcome: 'stored', ms: 0, bytes: first.entry.image.length, cause: 'compile' },
    );
    assertMs(published!);

    rec.seen.length = 0;
    const again = await a.getOrCompile(spec, neverCompile);
    assert.equal(again.tier, 'memory');
    assert.ok(a.lookupSync(spec));
    a.noteMemoryHit(first.entry);
    const hits = rec.on<CacheLookupMessage>('lookup');
    assert.deepEqual(
      hits.map((h) => [h.key, h.tier, h.outcome, h.sync]),
      [
        [key, 'memory', 'hit', false],
        [key, 'memory', 'hit', true],
        [key, 'memory', 'hit', true],
      ],
    );
    hits.forEach(assertMs);
    assert.equal(hits[2]!.ms, 0, 'a hit the caller answered from its own copy: the cache measured nothing');
    assert.equal(rec.seen.length, 3, 'hits compile and publish nothing');
  } finally {
    await a.close();
  }

  // A second cache object on the same directory (a restarted process): disk hits, async and lean.
  rec.seen.length = 0;
  const b = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  const c = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  try {
    assert.equal((await b.getOrCompile(spec, neverCompile)).tier, 'disk');
    assert.equal(c.lookupSync(spec)?.tier, 'disk');
    const hits = rec.on<CacheLookupMessage>('lookup');
    assert.deepEqual(
      hits.map((h) => [h.key, h.tier, h.outcome, h.sync]),
      [
        [key, 'disk', 'hit', false],
        [key, 'disk', 'hit', true],
      ],
    );
    hits.forEach(assertMs);
    assert.equal(rec.on('publish').length, 0, 'a disk hit has no tier above the disk to copy up to');
  } finally {
    await b.close();
    await c.close();
    rec.stop();
  }
});

test('a compile joined by a second caller is coalesced; a failing nvcc compile is published as failed', async () => {
  const dir = tempDir('trace-coalesce');
  const rec = recordAll();
  const cache = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  try {
    const src = 'extern "C" __global__ void tr1(float* a) { a[threadIdx.x] *= 3.0f; }\n';
    const spec = nvccSpec(src, 'tr1');
    const [x, y] = await Promise.all([
      cache.getOrCompile(spec, nvccCompile(src, 'tr1')),
      cache.getOrCompile(spec, neverCompile),
    ]);
    assert.equal(x.entry, y.entry);
    const lookups = rec.on<CacheLookupMessage>('lookup');
    assert.deepEqual(lookups.map((l) => [l.tier, l.outcome]).sort(), [
      ['none', 'coalesced'],
      ['none', 'miss'],
    ]);
    assert.equal(rec.on('compile').length, 1, 'one compile for both callers');

    rec.seen.length = 0;
    const bad = 'extern "C" __global__ void tr2(float* a) { a[threadIdx.x] = }\n';
    await assert.rejects(cache.getOrCompile(nvccSpec(bad, 'tr2'), nvccCompile(bad, 'tr2')), {
      name: 'CompileError',
    });
    const [failed] = rec.on<CacheCompileMessage>('compile');
    assert.equal(failed!.outcome, 'failed');
    assert.equal(failed!.error, 'CompileError');
    assert.equal(failed!.bytes, undefined);
    assertMs(failed!);
    assert.equal(rec.on('publish').length, 0, 'a failed compile is not published');
  } finally {
    await cache.close();
    rec.stop();
  }
});

test('corrupted files are repaired on read, by verify and by invalidate; each says where and why', async () => {
  const dir = tempDir('trace-repair');
  const layout = new CacheLayout(dir);
  const writer = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  const specs = [0, 1, 2, 3].map((i) => specFor(100 + i));
  for (const [i, s] of specs.entries()) await writer.getOrCompile(s, countingCompile(100 + i).compile);
  await writer.close();
  const keys = specs.map((s) => memoizedCacheKey(s));
  const kernelFile = (k: string) => layout.kernelPath(k, 'cubin', '');
  // 0: a flipped byte (same size: found by the SHA-256); 1: truncated (found by the disk tier's size check);
  // 2: a flipped byte found by verify; 3: invalidated by the layer above.
  for (const i of [0, 2]) {
    const bytes = readFileSync(kernelFile(keys[i]!));
    const mid = bytes.length >> 1;
    bytes[mid] = bytes[mid]! ^ 0xff;
    writeFileSync(kernelFile(keys[i]!), bytes);
  }
  truncateSync(kernelFile(keys[1]!), 16);

  const rec = recordAll();
  const cache = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
  try {
    assert.equal((await cache.getOrCompile(specs[0]!, countingCompile(100).compile)).tier, 'compiled');
    assert.equal(cache.lookupSync(specs[1]!), undefined, 'the truncated entry is a miss of the lean path');
    const verify = await cache.validateCacheIntegrity({ repair: true });
    assert.equal(verify.repaired, 1);
    await cache.invalidate(keys[3]!, 'the driver refused the image');
    const repairs = rec.on<CacheRepairMessage>('repair');
    assert.deepEqual(
      repairs.map((r) => [r.key, r.tier, r.outcome, r.during]),
      [
        [keys[0], 'disk', 'removed', 'read'],
        [keys[1], 'disk', 'removed', 'read'],
        [keys[2], 'disk', 'removed', 'verify'],
        [keys[3], 'all', 'removed', 'invalidate'],
      ],
    );
    repairs.forEach(assertMs);
    assert.match(repairs[0]!.reason, /sha-?256|checksum/i);
    assert.match(repairs[1]!.reason, /size|bytes|short|truncat/i);
    assert.match(repairs[2]!.reason, /sha-?256|checksum/i);
    assert.equal(repairs[3]!.reason, 'the driver refused the image');
    // The stats count what the channel reported.
    assert.equal(cache.getStats().process.corruptRepaired, 4);
  } finally {
    await cache.close();
    rec.stop();
  }
});

test('shrink evicts from the disk and the memory LRU evicts, each eviction with its reason and size', async () => {
  const dir = tempDir('trace-evict');
  const rec = recordAll();
  const cache = new KernelCache({
    dir,
    env: {},
    logger: quiet,
    policy: { maintenanceIntervalMs: 0, memoryMaxEntries: 2 },
  });
  try {
    const specs = [0, 1, 2].map((i) => specFor(200 + i));
    for (const [i, s] of specs.entries()) await cache.getOrCompile(s, countingCompile(200 + i).compile);
    const memory = rec.on<CacheEvictMessage>('evict');
    assert.deepEqual(
      memory.map((e) => [e.key, e.tier, e.outcome, e.reason]),
      [[memoizedCacheKey(specs[0]!), 'memory', 'removed', 'memory']],
    );
    assert.ok(memory[0]!.bytes > 1000, 'a cubin');
    assertMs(memory[0]!);

    rec.seen.length = 0;
    const report = await cache.cleanupBySize(1);
    assert.equal(report.removed, 3);
    const disk = rec.on<CacheEvictMessage>('evict');
    assert.equal(disk.length, 3);
    assert.deepEqual(disk.map((e) => e.key).sort(), specs.map((s) => memoizedCacheKey(s)).sort());
    for (const e of disk) {
      assert.equal(e.tier, 'disk');
      assert.equal(e.outcome, 'removed');
      assert.equal(e.reason, 'size');
      assert.ok(e.bytes > 1000);
      assertMs(e);
    }
    assert.equal(
      report.freedBytes,
      disk.reduce((n, e) => n + e.bytes, 0),
      'the sizes add up to what was freed',
    );
  } finally {
    await cache.close();
    rec.stop();
  }
});
