// lookup.ts: what the StrykerJS run (notes/mutation.md) found untested. A hit from a lower tier is copied up to the
// tiers above it only; a read-only tier is never deleted from and its bad records are not counted as repaired; a
// tier that fails is warned about; hits are counted and logged; the LRU touch of a disk hit is synchronous and
// rewrites an mtime from the future; repairs on the lean path are traced with their duration.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { DiskTier } from '../../src/cache/disk-tier.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { memoizedCacheKey, type KeySpec } from '../../src/cache/key.js';
import { CacheLog } from '../../src/cache/logger.js';
import { LookupPipeline } from '../../src/cache/lookup.js';
import { MemoryTier } from '../../src/cache/memory-tier.js';
import { sha256Hex } from '../../src/cache/sha256.js';
import { StatsStore } from '../../src/cache/stats.js';
import {
  noHooks,
  ReadOnlyTierError,
  type CacheTier,
  type ExpectedIdentity,
  type TierCapabilities,
  type TierEntryInfo,
  type TierRecord,
} from '../../src/cache/tier.js';
import { CACHE_CHANNELS, type CacheRepairMessage } from '../../src/cache/trace.js';
import { trustRule } from '../../src/cache/trust.js';
import type { CompileResult } from '../../src/compiler/types.js';
import { withPoolBlocked } from './blocked-pool.js';
import { FaultyTier } from './faulty-tier.js';
import { countingCompile, recordingLogger, specFor, tempDir } from './fixtures.js';
import { recordFor } from './tier-conformance.js';

const quiet = { debug: () => {}, warn: () => {} };
const memory = (): MemoryTier => new MemoryTier({ maxBytes: 2 ** 30, maxEntries: 10_000 });

/** A cache that compiled spec `i` into `inner` (a lower tier shared by the caches of a test). */
async function seeded(i: number): Promise<MemoryTier> {
  const inner = memory();
  const a = new KernelCache({ dir: null, logger: quiet, env: {}, tiers: [inner] });
  await a.getOrCompile(specFor(i), countingCompile(i).compile);
  await a.close();
  return inner;
}

/**
 * A tier over `inner` that answers synchronously too, hands back every record with one image byte flipped, and
 * records what the lookup asks of it.
 */
class RecordingTier implements CacheTier {
  readonly calls = { delete: 0, deleteSync: 0, put: 0, rechecks: [] as (boolean | undefined)[] };
  constructor(
    private readonly inner: CacheTier,
    readonly name: string,
    private readonly readOnly: boolean,
    private readonly corrupt: boolean,
  ) {}
  get capabilities(): TierCapabilities {
    return { readOnly: this.readOnly, persistent: true, shared: true };
  }
  private damaged(rec: TierRecord | undefined): TierRecord | undefined {
    if (!rec || !this.corrupt) return rec;
    const image = Buffer.from(rec.image);
    image[image.length >> 1] = image[image.length >> 1]! ^ 0x10;
    return { ...rec, image };
  }
  async get(key: string, _expect?: ExpectedIdentity, recheck?: boolean): Promise<TierRecord | undefined> {
    this.calls.rechecks.push(recheck);
    return this.damaged(await this.inner.get(key));
  }
  getSync(key: string): TierRecord | undefined {
    return this.damaged(this.inner.getSync!(key));
  }
  async put(record: TierRecord): Promise<void> {
    this.calls.put++;
    if (this.readOnly) throw new ReadOnlyTierError(this.name);
    await this.inner.put(record);
  }
  async delete(key: string): Promise<boolean> {
    this.calls.delete++;
    if (this.readOnly) throw new ReadOnlyTierError(this.name);
    return this.inner.delete(key);
  }
  deleteSync(key: string): boolean {
    this.calls.deleteSync++;
    if (this.readOnly) throw new ReadOnlyTierError(this.name);
    return this.inner.deleteSync!(key);
  }
  async *list(): AsyncIterable<string> {
    yield* this.inner.list();
  }
  stat(key: string): Promise<TierEntryInfo | undefined> {
    return this.inner.stat(key);
  }
  async clear(): Promise<void> {
    await this.inner.clear();
  }
}

test('a hit from a lower tier is copied up to the tiers above it, never written back to its own tier', async () => {
  const inner = await seeded(1);
  const remote = new FaultyTier(inner, {}, 'remote');
  const dir = tempDir('copy-up-only');
  const c = new KernelCache({ dir, logger: quiet, env: {}, tiers: [remote] });
  const compile = countingCompile(1);
  assert.equal((await c.getOrCompile(specFor(1), compile.compile)).tier, 'remote');
  await c.close();
  assert.equal(remote.calls.put, 0, 'the record was written back to the tier it came from');
  const d = new KernelCache({ dir, logger: quiet, env: {} });
  assert.equal((await d.getOrCompile(specFor(1), compile.compile)).tier, 'disk', 'copied up to the disk');
  assert.equal(compile.calls(), 0);
  await d.close();
});

test('lookups ask a tier for a first look, not a recheck (a recheck is the look after a lease wait)', async () => {
  const t = new RecordingTier(await seeded(2), 'lower', false, false);
  const c = new KernelCache({ dir: null, logger: quiet, env: {}, tiers: [t] });
  assert.equal((await c.getOrCompile(specFor(3), countingCompile(3).compile)).tier, 'compiled');
  assert.equal((await c.getOrCompile(specFor(2), countingCompile(2).compile)).tier, 'lower');
  assert.ok(t.calls.rechecks.length >= 2);
  assert.ok(
    t.calls.rechecks.every((r) => r !== true),
    JSON.stringify(t.calls.rechecks),
  );
  await c.close();
});

test('a bad record in a read-only tier is not deleted (sync and async paths) and is not counted as repaired', async () => {
  const ro = new RecordingTier(await seeded(4), 'bundle', true, true);
  const c = new KernelCache({ dir: null, logger: quiet, env: {}, tiers: [ro] });
  assert.equal(c.lookupSync(specFor(4)), undefined, 'the sync path refuses the bad record');
  assert.equal(ro.calls.deleteSync, 0, 'the sync path deleted from a read-only tier');
  const compile = countingCompile(4);
  assert.equal((await c.getOrCompile(specFor(4), compile.compile)).tier, 'compiled');
  assert.equal(compile.calls(), 1);
  assert.equal(ro.calls.delete, 0, 'the async path deleted from a read-only tier');
  const s = c.getStats().process;
  assert.ok(s.corruptFound >= 1);
  assert.equal(s.corruptRepaired, 0);
  await c.close();
});

test('a bad record whose removal throws is counted as found, not as repaired', async () => {
  const inner = await seeded(5);
  const faulty = new FaultyTier(inner, { corruptImage: true, throwOn: new Set(['delete'] as const) });
  const c = new KernelCache({ dir: null, logger: quiet, env: {}, tiers: [faulty] });
  assert.equal((await c.getOrCompile(specFor(5), countingCompile(5).compile)).tier, 'compiled');
  assert.equal(faulty.calls.delete, 1);
  const s = c.getStats().process;
  assert.equal(s.corruptFound, 1);
  assert.equal(s.corruptRepaired, 0);
  await c.close();
});

test('a tier whose reads fail is warned about once, by name', async () => {
  const rec = recordingLogger();
  const faulty = new FaultyTier(memory(), { throwOn: new Set(['get'] as const) }, 'flaky');
  const c = new KernelCache({ dir: null, logger: rec.logger, env: {}, tiers: [faulty] });
  await c.getOrCompile(specFor(6), countingCompile(6).compile);
  await c.getOrCompile(specFor(7), countingCompile(7).compile);
  const reads = rec.warns.filter((w) => /reading the flaky cache tier failed/.test(w));
  assert.equal(reads.length, 1, JSON.stringify(rec.warns));
  assert.match(reads[0]!, /injected get failure.*treated as a miss/);
  await c.close();
});

test('hits from a tier are counted one by one, and logged at debug', async () => {
  const dir = tempDir('hit-count');
  const a = new KernelCache({ dir, logger: quiet, env: {} });
  for (const i of [0, 1, 2]) await a.getOrCompile(specFor(i), countingCompile(i).compile);
  await a.close();
  const rec = recordingLogger();
  const b = new KernelCache({ dir, logger: rec.logger, env: { CUOP_DEBUG: '1' } });
  for (const i of [0, 1, 2])
    assert.equal((await b.getOrCompile(specFor(i), countingCompile(i).compile)).tier, 'disk');
  assert.equal(b.lookupSync(specFor(0))?.tier, 'memory');
  assert.equal(b.getStats().process.hits.disk, 3);
  for (const i of [0, 1, 2]) {
    assert.ok(
      rec.debugs.includes(`hit disk ${memoizedCacheKey(specFor(i))}`),
      `no debug line for the disk hit of ${i}`,
    );
  }
  await b.close();
});

test('the LRU touch of a disk hit is done when the lookup returns, and rewrites an mtime from the future', async () => {
  const dir = tempDir('touch-sync');
  let now = 1_000_000_000_000;
  const clock = (): number => now;
  const a = new KernelCache({ dir, logger: quiet, env: {}, clock });
  const { key } = await a.getOrCompile(specFor(8), countingCompile(8).compile);
  await a.close();
  const kernelPath = join(dir, 'kernels', key.slice(0, 2), `${key}.cubin`);
  now += 3_600_000;
  const b = new KernelCache({ dir, logger: quiet, env: {}, clock });
  const [tier, mtime] = await withPoolBlocked(() => [
    b.lookupSync(specFor(8))?.tier,
    Math.round(statSync(kernelPath).mtimeMs),
  ]);
  assert.equal(tier, 'disk');
  assert.equal(mtime, now, 'not touched by the time lookupSync returned');
  await b.close();
  // another host's clock ran ahead: an mtime an hour from now would keep the entry "recently used" for an hour
  utimesSync(kernelPath, (now + 3_600_000) / 1000, (now + 3_600_000) / 1000);
  const c = new KernelCache({ dir, logger: quiet, env: {}, clock });
  assert.equal(c.lookupSync(specFor(8))?.tier, 'disk');
  assert.equal(Math.round(statSync(kernelPath).mtimeMs), now, 'a future mtime stands');
  await c.close();
});

test('repairs on the lean path (lookupSync) are traced, each with the time it took', async () => {
  const dir = tempDir('trace-sync-repair');
  const writer = new KernelCache({ dir, env: {}, logger: quiet });
  const specs = [specFor(9), specFor(10)];
  const keys: string[] = [];
  for (const [i, s] of specs.entries())
    keys.push((await writer.getOrCompile(s, countingCompile(9 + i).compile)).key);
  await writer.close();
  const kernelFile = (k: string): string => join(dir, 'kernels', k.slice(0, 2), `${k}.cubin`);
  // 0: a flipped byte (found by the lookup's SHA-256); 1: truncated (found by the disk tier's size check)
  const bytes = readFileSync(kernelFile(keys[0]!));
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
  writeFileSync(kernelFile(keys[0]!), bytes);
  truncateSync(kernelFile(keys[1]!), 16);
  const repairs: CacheRepairMessage[] = [];
  const onRepair = (m: unknown): void => void repairs.push(m as CacheRepairMessage);
  subscribe(CACHE_CHANNELS.repair, onRepair);
  const cache = new KernelCache({ dir, env: {}, logger: quiet });
  try {
    const t0 = performance.now();
    for (const s of specs) assert.equal(cache.lookupSync(s), undefined);
    const took = performance.now() - t0;
    assert.deepEqual(
      repairs.map((r) => [r.key, r.tier, r.outcome, r.during]),
      [
        [keys[0], 'disk', 'removed', 'read'],
        [keys[1], 'disk', 'removed', 'read'],
      ],
    );
    assert.match(repairs[0]!.reason, /checksum/);
    assert.match(repairs[1]!.reason, /bytes, expected/);
    for (const r of repairs) assert.ok(r.ms >= 0 && r.ms <= took, `ms ${r.ms} of a lookup that took ${took}`);
  } finally {
    unsubscribe(CACHE_CHANNELS.repair, onRepair);
    await cache.close();
  }
});

/**
 * A spec found through its family (its entry was compiled from a header on disk) whose header then changed, while
 * another process compiled the same spec without reading any file (stored under its own key): the family has
 * nothing for it now, its own key has. `path`: which lookup answers.
 */
async function familyFirstThenOwnKey(path: 'async' | 'sync'): Promise<void> {
  const root = tempDir(`family-first-${path}`);
  const dir = join(root, 'cache');
  const header = join(root, 'h.cuh');
  writeFileSync(header, 'A\n');
  const spec: KeySpec = {
    source: '#include "h.cuh"\n',
    nameExpressions: ['k'],
    options: [`-I${root}`],
    compiler: { id: 'nvcc', version: '13.0.88' },
    target: 'sm_90',
    imageKind: 'cubin',
  };
  const compiled = (image: Buffer, deps: boolean) => async (): Promise<CompileResult> => {
    const st = statSync(header);
    return {
      image,
      imageKind: 'cubin',
      target: 'sm_90',
      log: '',
      loweredNames: { k: 'k' },
      compileMs: 5,
      compiler: { id: 'nvcc', version: '13.0.88' },
      ...(deps
        ? {
            dependencies: {
              files: [
                {
                  path: header,
                  sha256: sha256Hex(readFileSync(header)),
                  size: st.size,
                  mtimeMs: st.mtimeMs,
                  ctimeMs: st.ctimeMs,
                  ino: st.ino,
                },
              ],
              absent: [],
              untracked: [],
              stable: true,
            },
          }
        : {}),
    };
  };
  const viaHeader = Buffer.from('compiled against header A '.repeat(8));
  const own = Buffer.from('compiled without reading a file '.repeat(8));
  const a = new KernelCache({ dir, env: {}, logger: quiet });
  const first = await a.getOrCompile(spec, compiled(viaHeader, true));
  assert.notEqual(first.key, memoizedCacheKey(spec), 'stored under its dependent key');
  assert.equal((await a.getOrCompile(spec, compiled(viaHeader, true))).tier, 'memory');
  writeFileSync(header, 'B, longer\n');
  const b = new KernelCache({ dir, env: {}, logger: quiet });
  const other = await b.getOrCompile({ ...spec }, compiled(own, false));
  assert.equal(other.key, memoizedCacheKey(spec), 'stored under its own key');
  await b.close();
  let compiles = 0;
  const r =
    path === 'sync'
      ? a.lookupSync(spec)
      : await a.getOrCompile(spec, async () => (compiles++, compiled(own, false)()));
  assert.equal(r?.tier, 'disk', `${path}: the own key's entry was not looked up`);
  assert.ok(r.entry.image.equals(own));
  assert.equal(compiles, 0);
  await a.close();
}

test('a spec last found through its family still finds its own key when the family has nothing now', async () => {
  await familyFirstThenOwnKey('async');
  await familyFirstThenOwnKey('sync');
});

/** A tier without getSync (a remote-like tier) that records the recheck flag of each get. */
class RecheckTier extends FaultyTier {
  readonly rechecks: (boolean | undefined)[] = [];
  override async get(
    key: string,
    expect?: ExpectedIdentity,
    recheck?: boolean,
  ): Promise<TierRecord | undefined> {
    this.rechecks.push(recheck);
    return super.get(key, expect);
  }
}

test('probeAsyncTiers (after a lease wait): a recheck of the tiers below the disk; a hit is shared, copied up only', async () => {
  const r = recordFor(30);
  const inner = memory();
  await inner.put(r);
  const remote = new RecheckTier(inner, {}, 'remote');
  const disk = DiskTier.open(tempDir('probe-async'), {
    rule: trustRule('private'),
    codec: 'none',
    now: Date.now,
    hooks: noHooks,
    log: new CacheLog(quiet, false),
  })!;
  const stats = new StatsStore(undefined);
  const pipeline = (tiers: CacheTier[]): LookupPipeline =>
    new LookupPipeline({
      memory: memory(),
      tiers,
      stats,
      hooks: noHooks,
      log: new CacheLog(quiet, false),
      clock: Date.now,
      checksum: true,
      touchIntervalMs: 60_000,
    });
  // the identity recordFor's records carry
  const spec: KeySpec = {
    source: '',
    nameExpressions: [],
    options: [],
    compiler: { id: 'nvcc', version: 'conformance' },
    target: 'sm_90',
    imageKind: 'cubin',
  };
  const p = pipeline([disk, remote]);
  assert.equal(await p.probeAsyncTiers(spec, recordFor(31).key), undefined, 'a miss');
  const found = await p.probeAsyncTiers(spec, r.key);
  assert.equal(found?.tier, 'shared');
  assert.ok(found.entry.image.equals(r.image));
  assert.deepEqual(remote.rechecks, [true, true], 'each look was a recheck');
  assert.equal(stats.counters.hits['shared'], 1);
  assert.equal(remote.calls.put, 0, 'written back to the tier it came from');
  assert.ok(disk.getSync(r.key)?.image.equals(r.image), 'copied up to the disk');
  assert.equal(remote.calls.get, 2, 'the disk (a synchronous tier) is not the one probed');
  assert.equal(await pipeline([disk]).probeAsyncTiers(spec, r.key), undefined, 'no tier below the disk');
});
