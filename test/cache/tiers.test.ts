// The conformance suite on every tier, and the lookup over a faulty tier: whatever a lower tier hands back, a
// corrupt record is never used, is counted, and the caller gets a correct kernel (recompiled if need be).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';

import { CacheLog } from '../../src/cache/logger.js';
import { DiskTier } from '../../src/cache/disk-tier.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { MemoryTier } from '../../src/cache/memory-tier.js';
import { noHooks, type CacheTier } from '../../src/cache/tier.js';
import { trustRule } from '../../src/cache/trust.js';
import { FaultyTier } from './faulty-tier.js';
import { countingCompile, specFor, tempDir } from './fixtures.js';
import { assertReadOnly, recordFor, tierConformance } from './tier-conformance.js';

const quiet = { debug: () => {}, warn: () => {} };
const memory = (): MemoryTier => new MemoryTier({ maxBytes: 2 ** 30, maxEntries: 10_000 });
const dirs = new Map<CacheTier, string>();
const disk = (): DiskTier => {
  const dir = tempDir('conformance');
  const t = DiskTier.open(dir, {
    rule: trustRule('private'),
    codec: 'none',
    now: Date.now,
    hooks: noHooks,
    log: new CacheLog(quiet, false),
  });
  assert.ok(t, 'the disk tier opens');
  dirs.set(t, dir);
  return t;
};

tierConformance('memory', { make: memory });
tierConformance('disk', {
  make: disk,
  dispose: (t) => rmSync(dirs.get(t)!, { recursive: true, force: true }),
});
tierConformance('disk (gzip)', {
  make: () => {
    const dir = tempDir('conformance-gz');
    const t = DiskTier.open(dir, {
      rule: trustRule('private'),
      codec: 'gzip',
      now: Date.now,
      hooks: noHooks,
      log: new CacheLog(quiet, false),
    })!;
    dirs.set(t, dir);
    return t;
  },
  dispose: (t) => rmSync(dirs.get(t)!, { recursive: true, force: true }),
});
tierConformance('faulty (no faults)', { make: () => new FaultyTier(memory()) });
tierConformance('faulty (slow)', { make: () => new FaultyTier(memory(), { delayMs: 2 }) });

test('faulty tier in read-only mode refuses every write and still reads', async () => {
  const inner = memory();
  const r = recordFor(7);
  await inner.put(r);
  await assertReadOnly(new FaultyTier(inner, { readOnly: true }), r);
});

/** A cache that compiled spec 1 into `inner` (a lower tier shared by both caches below). */
async function seeded(): Promise<{ inner: MemoryTier; image: Buffer }> {
  const inner = memory();
  const a = new KernelCache({ dir: null, logger: quiet, env: {}, tiers: [inner] });
  const r = await a.getOrCompile(specFor(1), countingCompile(1).compile);
  await a.close();
  assert.ok(await inner.get(r.key), 'published to the lower tier');
  return { inner, image: r.entry.image };
}

for (const [fault, faults] of [
  ['a flipped image byte', { corruptImage: true }],
  ['a truncated image', { truncateImage: true }],
  ['another key’s record', { swapKey: recordFor(0).key }],
] as const) {
  test(`lookup: ${fault} from a lower tier is never handed out, is counted, and is recompiled`, async () => {
    const { inner, image } = await seeded();
    if ('swapKey' in faults) await inner.put(recordFor(0));
    const faulty = new FaultyTier(inner, faults);
    const c = new KernelCache({ dir: null, logger: quiet, env: {}, tiers: [faulty] });
    const compile = countingCompile(1);
    const r = await c.getOrCompile(specFor(1), compile.compile);
    assert.equal(r.tier, 'compiled');
    assert.equal(compile.calls(), 1);
    assert.ok(r.entry.image.equals(image), 'the kernel handed out is the compiled one');
    const s = c.getStats().process;
    assert.equal(s.corruptFound, 1);
    assert.equal(s.hits['faulty'] ?? 0, 0);
    assert.equal(faulty.calls.delete, 1, 'the bad record is removed from the tier');
    await c.close();
  });
}

test('lookup: a verified record from a lower tier is a hit, copied into memory and the disk above it', async () => {
  const { inner, image } = await seeded();
  const dir = tempDir('copy-up');
  const c = new KernelCache({ dir, logger: quiet, env: {}, tiers: [new FaultyTier(inner, {}, 'remote')] });
  const compile = countingCompile(1);
  const r = await c.getOrCompile(specFor(1), compile.compile);
  assert.equal(r.tier, 'remote');
  assert.equal(compile.calls(), 0);
  assert.ok(r.entry.image.equals(image));
  await c.close();
  // A new process with the disk alone finds it there.
  const d = new KernelCache({ dir, logger: quiet, env: {} });
  assert.equal((await d.getOrCompile(specFor(1), compile.compile)).tier, 'disk');
  assert.equal(compile.calls(), 0);
  await d.close();
});

test('lookup: a tier that throws on every call costs a miss and a counted write failure, never the caller', async () => {
  const faulty = new FaultyTier(memory(), {
    throwOn: new Set(['get', 'put', 'delete', 'list', 'stat', 'clear'] as const),
  });
  const c = new KernelCache({ dir: null, logger: quiet, env: {}, tiers: [faulty] });
  const compile = countingCompile(2);
  const r = await c.getOrCompile(specFor(2), compile.compile);
  assert.equal(r.tier, 'compiled');
  assert.equal((await c.getOrCompile(specFor(2), compile.compile)).tier, 'memory');
  assert.equal(compile.calls(), 1);
  assert.equal(c.getStats().process.writeFailures, 1);
  assert.equal(await c.clear(), false, 'clear reports the tier it could not clear');
  await c.close();
});

test('lookup: a tier that drops writes loses nothing but its copy', async () => {
  const inner = memory();
  const faulty = new FaultyTier(inner, { dropWrites: true });
  const a = new KernelCache({ dir: null, logger: quiet, env: {}, tiers: [faulty] });
  const compile = countingCompile(3);
  await a.getOrCompile(specFor(3), compile.compile);
  await a.close();
  const b = new KernelCache({ dir: null, logger: quiet, env: {}, tiers: [faulty] });
  assert.equal((await b.getOrCompile(specFor(3), compile.compile)).tier, 'compiled');
  assert.equal(compile.calls(), 2);
  assert.equal(b.getStats().process.writeFailures, 0);
  await b.close();
});

test('lookup: a read-only tier is read but never written, and its refusals are not failures', async () => {
  const { inner } = await seeded();
  const ro = new FaultyTier(inner, { readOnly: true }, 'bundle');
  const c = new KernelCache({ dir: null, logger: quiet, env: {}, tiers: [ro] });
  assert.equal((await c.getOrCompile(specFor(1), countingCompile(1).compile)).tier, 'bundle');
  const compile = countingCompile(4);
  assert.equal((await c.getOrCompile(specFor(4), compile.compile)).tier, 'compiled');
  assert.equal(ro.calls.put, 0, 'nothing published to a read-only tier');
  assert.equal(c.getStats().process.writeFailures, 0);
  await c.close();
});

test('lookup: a slow tier delays but does not change the answer', async () => {
  const { inner, image } = await seeded();
  const c = new KernelCache({
    dir: null,
    logger: quiet,
    env: {},
    tiers: [new FaultyTier(inner, { delayMs: 30 }, 'slow')],
  });
  const r = await c.getOrCompile(specFor(1), countingCompile(1).compile);
  assert.equal(r.tier, 'slow');
  assert.ok(r.entry.image.equals(image));
  await c.close();
});
