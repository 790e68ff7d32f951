// One suite every tier passes (memory, disk, the faulty tier with no faults, and each remote tier to come): what
// the lookup relies on, checked against the tier alone.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { CACHE_FORMAT_VERSION, CODEGEN_EPOCH } from '../../src/cache/key.js';
import type { EntryMetadata } from '../../src/cache/metadata.js';
import { ReadOnlyTierError, type CacheTier, type TierRecord } from '../../src/cache/tier.js';
import { recordProblem } from '../../src/cache/verify.js';

const hex = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

/** A well-formed record for key number `i` (images of varying size, one byte pattern per key). */
export function recordFor(i: number, bytes = 1000 + 37 * i): TierRecord {
  const key = hex(`conformance-${i}`);
  const image = Buffer.alloc(bytes, i % 251);
  image.write(`image ${i}`, 0);
  const meta: EntryMetadata = {
    formatVersion: CACHE_FORMAT_VERSION,
    key,
    familyKey: hex(`family-${i}`),
    epoch: CODEGEN_EPOCH,
    saltSha256: '',
    kernelNames: [`k${i}`],
    loweredNames: { [`k${i}`]: `k${i}` },
    sourceSha256: hex(`source ${i}`),
    headers: {},
    options: [],
    compiler: { id: 'nvcc', version: 'conformance' },
    target: 'sm_90',
    requestedImageKind: 'cubin',
    imageKind: 'cubin',
    imageTarget: 'sm_90',
    codec: 'none',
    rawBytes: image.length,
    storedBytes: image.length,
    checksum: { algorithm: 'sha256', value: hex(image) },
    createdAt: 1_700_000_000_000 + i,
    compileMs: 10 + i,
    driverVersion: null,
    host: 'conformance',
    log: '',
  };
  return { key, image, meta };
}

async function keysOf(tier: CacheTier): Promise<string[]> {
  const out: string[] = [];
  for await (const k of tier.list()) out.push(k);
  return out.sort();
}

export interface ConformanceSubject {
  /** A new, empty tier. */
  make(): Promise<CacheTier> | CacheTier;
  /** Releases what make() created (temp dirs). */
  dispose?(tier: CacheTier): Promise<void> | void;
}

/** Registers the suite's tests for one tier kind. */
export function tierConformance(kind: string, subject: ConformanceSubject): void {
  const withTier = (name: string, body: (t: CacheTier) => Promise<void>): void => {
    test(`${kind} tier: ${name}`, async () => {
      const t = await subject.make();
      try {
        await body(t);
      } finally {
        await t.close?.();
        await subject.dispose?.(t);
      }
    });
  };

  withTier('declares its capabilities', async (t) => {
    assert.equal(typeof t.name, 'string');
    assert.ok(t.name.length > 0);
    for (const c of ['readOnly', 'persistent', 'shared'] as const)
      assert.equal(typeof t.capabilities[c], 'boolean');
    assert.equal(t.capabilities.readOnly, false, 'the suite runs on writable tiers');
  });

  withTier('a key never put is a miss everywhere', async (t) => {
    const r = recordFor(0);
    assert.equal(await t.get(r.key), undefined);
    assert.equal(t.getSync?.(r.key), undefined);
    assert.equal(await t.stat(r.key), undefined);
    assert.equal(await t.delete(r.key), false);
    assert.deepEqual(await keysOf(t), []);
  });

  withTier('put then get returns the same image and metadata, and the record verifies', async (t) => {
    const r = recordFor(1);
    await t.put(r);
    await t.flush?.();
    const got = await t.get(r.key);
    assert.ok(got, 'hit after put');
    assert.equal(got.key, r.key);
    assert.ok(got.image.equals(r.image), 'same image bytes');
    assert.equal(got.meta.key, r.key);
    assert.equal(got.meta.checksum.value, r.meta.checksum.value);
    assert.equal(got.meta.rawBytes, r.image.length);
    assert.equal(recordProblem(got, r.key, undefined, true), undefined);
    if (t.getSync) {
      const sync = t.getSync(r.key);
      assert.ok(sync?.image.equals(r.image), 'getSync agrees with get');
    }
  });

  withTier(
    'stat reports the entry and the bytes it occupies (stored: compressed where the tier compresses)',
    async (t) => {
      const r = recordFor(2, 5000);
      await t.put(r);
      await t.flush?.();
      const st = await t.stat(r.key);
      assert.ok(st);
      assert.equal(st.key, r.key);
      assert.ok(Number.isInteger(st.bytes) && st.bytes > 0, `${st.bytes} bytes`);
    },
  );

  withTier('list holds exactly the committed keys; delete removes one; clear removes all', async (t) => {
    const recs = Array.from({ length: 12 }, (_, i) => recordFor(10 + i));
    await Promise.all(recs.map((r) => t.put(r)));
    await t.flush?.();
    assert.deepEqual(await keysOf(t), recs.map((r) => r.key).sort());
    assert.equal(await t.delete(recs[3]!.key), true);
    assert.equal(await t.get(recs[3]!.key), undefined);
    assert.equal(await t.delete(recs[3]!.key), false, 'a second delete finds nothing');
    assert.deepEqual(
      await keysOf(t),
      recs
        .filter((_, i) => i !== 3)
        .map((r) => r.key)
        .sort(),
    );
    await t.clear();
    assert.deepEqual(await keysOf(t), []);
    for (const r of recs) assert.equal(await t.get(r.key), undefined);
  });

  withTier('a second put of a key keeps one sound entry', async (t) => {
    const r = recordFor(3);
    await t.put(r);
    await t.put(r);
    await t.flush?.();
    assert.deepEqual(await keysOf(t), [r.key]);
    const got = await t.get(r.key);
    assert.ok(got && recordProblem(got, r.key, undefined, true) === undefined);
  });

  withTier('concurrent puts of many keys all land, each under its own key', async (t) => {
    const recs = Array.from({ length: 40 }, (_, i) => recordFor(100 + i, 200 + i * 13));
    await Promise.all(recs.map((r) => t.put(r)));
    await t.flush?.();
    for (const r of recs) {
      const got = await t.get(r.key);
      assert.ok(got?.image.equals(r.image), `key ${r.key.slice(0, 8)}`);
    }
  });

  withTier('an LRU touch (where supported) keeps the entry readable', async (t) => {
    const r = recordFor(4);
    await t.put(r);
    await t.flush?.();
    if (t.touch) assert.equal(typeof t.touch(r.key, r.meta, Date.now(), true), 'boolean');
    assert.ok((await t.get(r.key))?.image.equals(r.image));
  });

  withTier('manifests (where kept) round-trip', async (t) => {
    if (!t.writeManifest || !t.readManifestSync) return;
    const r = recordFor(5);
    const m = {
      formatVersion: CACHE_FORMAT_VERSION,
      family: r.meta.familyKey,
      candidates: [{ key: r.key, names: ['k5'], createdAt: 1 }],
    };
    await t.writeManifest(m);
    assert.deepEqual(t.readManifestSync(m.family)?.candidates, m.candidates);
  });
}

/** A read-only tier refuses every write with ReadOnlyTierError and still reads. */
export async function assertReadOnly(t: CacheTier, present: TierRecord): Promise<void> {
  assert.equal(t.capabilities.readOnly, true);
  await assert.rejects(t.put(recordFor(999)), ReadOnlyTierError);
  await assert.rejects(t.delete(present.key), ReadOnlyTierError);
  await assert.rejects(t.clear(), ReadOnlyTierError);
  assert.ok((await t.get(present.key))?.image.equals(present.image));
}
