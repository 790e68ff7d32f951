// CPU tests of the tuner (src/ops/tune.ts) over a real KernelCache (memory + disk tier in a temp dir, no mocks of the
// cache), with an injected time function: record keys (every field changes the key), reuse in a "fresh process" (a
// second KernelCache on the same directory), reuse of stayed candidates' timings when the set grows, rejection of
// stale/foreign/garbage records (counted, replaced), the round trip through a bundle, and GEMM's candidate lists.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { cacheKey, CODEGEN_EPOCH } from '../../src/cache/key.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { recordKeySpec } from '../../src/cache/records.js';
import {
  GEMM_CONFIGS,
  defaultGemmConfig,
  validateGemmConfig,
  type GemmConfig,
} from '../../src/ops/gemm-source.js';
import { gemmCandidates, gemmTuningProblem, pow2Bucket } from '../../src/ops/gemm-tune.js';
import {
  candidateSetDigest,
  configDigest,
  emptyTuningStats,
  MemoryRecordStore,
  OPS_CODEGEN_EPOCH,
  tune,
  tuningRecordSpec,
  tuningStats,
  TUNING_SCHEMA,
  type TuningIdentity,
  type TuningProblem,
  type TuningRecordStore,
} from '../../src/ops/tune.js';

const quiet = { warn: () => {}, debug: () => {} };
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cuop-tune-'));
  dirs.push(d);
  return d;
}
function cacheAt(dir: string | null): KernelCache {
  return new KernelCache({
    dir,
    env: {},
    logger: quiet,
    remote: false,
    policy: { maintenanceIntervalMs: 0 },
  });
}

const ID: TuningIdentity = { device: 'NVIDIA H200', arch: 'sm_90', driver: '13000' };
const PROBLEM: TuningProblem = gemmTuningProblem({
  dtype: 'float16',
  outDtype: 'float16',
  transA: false,
  transB: true,
  aligned: true,
  epilogue: 'none',
  M: 3000,
  N: 4096,
  K: 1000,
});
interface Cfg {
  readonly tile: number;
}
const cfgs = (...tiles: number[]): Cfg[] => tiles.map((tile) => ({ tile }));

/** A time function that records what it timed: ms = the tile's distance from 64. */
function timer(): { time: (c: Cfg) => Promise<number>; timed: number[] } {
  const timed: number[] = [];
  return {
    timed,
    time: async (c) => {
      timed.push(c.tile);
      return 1 + Math.abs(c.tile - 64) / 10;
    },
  };
}

describe('tuning record keys', () => {
  test('every field of the identity, the problem, the epochs, the kind and the subject changes the key', () => {
    const base = cacheKey(tuningRecordSpec('tuning-winner', ID, PROBLEM, 'abc'));
    const keys = new Set<string>([base]);
    const variants = [
      tuningRecordSpec('tuning-timing', ID, PROBLEM, 'abc'),
      tuningRecordSpec('tuning-winner', ID, PROBLEM, 'abd'),
      tuningRecordSpec('tuning-winner', { ...ID, device: 'NVIDIA H100 80GB HBM3' }, PROBLEM, 'abc'),
      tuningRecordSpec('tuning-winner', { ...ID, arch: 'sm_90a' }, PROBLEM, 'abc'),
      tuningRecordSpec('tuning-winner', { ...ID, driver: '13010' }, PROBLEM, 'abc'),
      tuningRecordSpec('tuning-winner', ID, { ...PROBLEM, op: 'gemm-wgmma' }, 'abc'),
    ];
    for (const field of Object.keys(PROBLEM.fields)) {
      const v = PROBLEM.fields[field];
      const other = typeof v === 'boolean' ? !v : typeof v === 'number' ? v * 2 : `${String(v)}x`;
      variants.push(
        tuningRecordSpec(
          'tuning-winner',
          ID,
          { ...PROBLEM, fields: { ...PROBLEM.fields, [field]: other } },
          'abc',
        ),
      );
    }
    for (const v of variants) keys.add(cacheKey(v));
    assert.equal(keys.size, variants.length + 1, 'every variant has its own key');
    // The epochs and the schema are in the key's text (bumping them gives new keys).
    const text = tuningRecordSpec('tuning-winner', ID, PROBLEM, 'abc').source;
    assert.match(text, new RegExp(`schema=${TUNING_SCHEMA}\\n`));
    assert.match(text, new RegExp(`cacheEpoch=${CODEGEN_EPOCH}\\n`));
    assert.match(text, new RegExp(`opsEpoch=${OPS_CODEGEN_EPOCH}\\n`));
    const schema2 = recordKeySpec({
      kind: 'tuning-winner',
      schema: TUNING_SCHEMA + 1,
      target: 'sm_90',
      fields: {},
    });
    const schema1 = recordKeySpec({
      kind: 'tuning-winner',
      schema: TUNING_SCHEMA,
      target: 'sm_90',
      fields: {},
    });
    assert.notEqual(cacheKey(schema1), cacheKey(schema2));
    // A record's key is never a kernel's: the record compiler is in it.
    assert.equal(tuningRecordSpec('tuning-winner', ID, PROBLEM, 'abc').compiler.id, 'cuop-record');
  });

  test('shape buckets are powers of two; the bucket, not the shape, is in the problem', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 1000, 1024, 1025].map(pow2Bucket), [1, 2, 4, 4, 8, 1024, 1024, 2048]);
    const a = gemmTuningProblem({ ...PROBLEM.fields, epilogue: 'none', M: 3000, N: 4096, K: 1000 } as never);
    const b = gemmTuningProblem({ ...PROBLEM.fields, epilogue: 'none', M: 2049, N: 4000, K: 513 } as never);
    assert.deepEqual(a, b);
    assert.deepEqual([a.fields['M'], a.fields['N'], a.fields['K']], [4096, 4096, 1024]);
  });

  test('digests: configs by canonical JSON (key order does not matter), sets by members', () => {
    assert.equal(configDigest({ a: 1, b: 2 }), configDigest({ b: 2, a: 1 }));
    assert.notEqual(configDigest({ a: 1 }), configDigest({ a: 2 }));
    assert.equal(candidateSetDigest(['x', 'y']), candidateSetDigest(['y', 'x', 'x']));
    assert.notEqual(candidateSetDigest(['x', 'y']), candidateSetDigest(['x']));
  });
});

describe('tune over a real cache', () => {
  test('tunes once; a fresh process (a new cache on the same directory) reuses the winner without timing', async () => {
    const dir = tempDir();
    const first = cacheAt(dir);
    const t1 = timer();
    const stats = emptyTuningStats();
    const before = tuningStats();
    const r1 = await tune({
      identity: ID,
      problem: PROBLEM,
      candidates: cfgs(32, 64, 128),
      time: t1.time,
      store: first,
      stats,
    });
    assert.deepEqual(r1.winner, { tile: 64 });
    assert.equal(r1.reused, false);
    assert.equal(r1.timed, 3);
    assert.deepEqual(t1.timed, [32, 64, 128]);
    assert.equal(stats.tuningRuns, 1);
    assert.equal(stats.candidatesTimed, 3);
    assert.equal(tuningStats().tuningRuns, before.tuningRuns + 1, 'the process counters move too');
    await first.close();

    const second = cacheAt(dir);
    const t2 = timer();
    const prepared: Cfg[][] = [];
    const r2 = await tune({
      identity: ID,
      problem: PROBLEM,
      candidates: cfgs(128, 64, 32), // another order: the same set
      time: t2.time,
      prepare: async (cs) => void prepared.push([...cs]),
      store: second,
      stats,
    });
    assert.deepEqual(r2.winner, { tile: 64 });
    assert.equal(r2.reused, true);
    assert.deepEqual(t2.timed, []);
    assert.deepEqual(prepared, [], 'nothing compiled for timing');
    assert.equal(stats.tuningReused, 1);
    assert.equal(second.getStats().process.hits.disk, 1, 'the winner record came from the disk tier');
    await second.close();
  });

  test('when the candidate set grows, only the new candidates are timed', async () => {
    const dir = tempDir();
    const cache = cacheAt(dir);
    const t1 = timer();
    await tune({ identity: ID, problem: PROBLEM, candidates: cfgs(16, 32), time: t1.time, store: cache });
    await cache.close();
    const fresh = cacheAt(dir);
    const t2 = timer();
    const stats = emptyTuningStats();
    const prepared: Cfg[][] = [];
    const r = await tune({
      identity: ID,
      problem: PROBLEM,
      candidates: cfgs(16, 32, 64, 256),
      time: t2.time,
      prepare: async (cs) => void prepared.push([...cs]),
      store: fresh,
      stats,
    });
    assert.deepEqual(t2.timed, [64, 256]);
    assert.deepEqual(prepared, [cfgs(64, 256)]);
    assert.equal(r.timingsReused, 2);
    assert.equal(stats.timingsReused, 2);
    assert.equal(stats.candidatesTimed, 2);
    assert.deepEqual(r.winner, { tile: 64 });
    assert.equal(Object.keys(r.timings).length, 4);
    // And the grown set's winner record is there for the next process.
    const t3 = timer();
    const again = await tune({
      identity: ID,
      problem: PROBLEM,
      candidates: cfgs(256, 64, 32, 16),
      time: t3.time,
      store: fresh,
    });
    assert.equal(again.reused, true);
    assert.deepEqual(t3.timed, []);
    await fresh.close();
  });

  test('stale, foreign and garbage records are ignored, counted and replaced', async () => {
    const candidates = cfgs(32, 64);
    const digests = candidates.map((c) => configDigest(c));
    const setDigest = candidateSetDigest(digests);
    const winnerSpec = tuningRecordSpec('tuning-winner', ID, PROBLEM, setDigest);
    const good = {
      schema: TUNING_SCHEMA,
      kind: 'tuning-winner',
      identity: ID,
      epochs: { cache: CODEGEN_EPOCH, ops: OPS_CODEGEN_EPOCH },
      problem: PROBLEM,
      candidates: setDigest,
      winner: digests[0],
      config: candidates[0],
      ms: 1,
      timings: { [digests[0]!]: 1 },
    };
    const bad: [string, string][] = [
      ['bad JSON', '{"schema": 1, '],
      ['not an object', '[1, 2]'],
      ['schema', JSON.stringify({ ...good, schema: TUNING_SCHEMA + 1 })],
      ['another device', JSON.stringify({ ...good, identity: { ...ID, device: 'NVIDIA A100' } })],
      ['another arch', JSON.stringify({ ...good, identity: { ...ID, arch: 'sm_80' } })],
      ['another driver', JSON.stringify({ ...good, identity: { ...ID, driver: '12080' } })],
      [
        'another epoch',
        JSON.stringify({ ...good, epochs: { cache: CODEGEN_EPOCH, ops: OPS_CODEGEN_EPOCH + 1 } }),
      ],
      ['another problem', JSON.stringify({ ...good, problem: { ...PROBLEM, op: 'softmax' } })],
      [
        'winner not a candidate',
        JSON.stringify({ ...good, winner: configDigest({ tile: 999 }), config: { tile: 999 } }),
      ],
      ['config not the winner', JSON.stringify({ ...good, config: { tile: 999 } })],
      ['another candidate set', JSON.stringify({ ...good, candidates: 'feed' })],
      ['bad time', JSON.stringify({ ...good, ms: -1 })],
      ['bad timings', JSON.stringify({ ...good, timings: { x: 'fast' } })],
    ];
    for (const [label, payload] of bad) {
      const dir = tempDir();
      const cache = cacheAt(dir);
      await cache.putRecord(winnerSpec, Buffer.from(payload));
      const stats = emptyTuningStats();
      const t = timer();
      const r = await tune({ identity: ID, problem: PROBLEM, candidates, time: t.time, store: cache, stats });
      assert.equal(stats.tuningRejected, 1, `${label}: counted`);
      assert.equal(r.reused, false, `${label}: never trusted`);
      assert.deepEqual(t.timed, [32, 64], `${label}: tuned again`);
      assert.deepEqual(r.winner, { tile: 64 }, label);
      await cache.close();
      // Replaced on disk: the next process reuses the new record.
      const next = cacheAt(dir);
      const t2 = timer();
      const s2 = emptyTuningStats();
      const r2 = await tune({
        identity: ID,
        problem: PROBLEM,
        candidates,
        time: t2.time,
        store: next,
        stats: s2,
      });
      assert.equal(r2.reused, true, `${label}: replaced`);
      assert.equal(s2.tuningRejected, 0, label);
      assert.deepEqual(t2.timed, []);
      await next.close();
    }
  });

  test('a foreign timing record is rejected; the candidate is timed again', async () => {
    const cache = cacheAt(tempDir());
    const c = { tile: 32 };
    const spec = tuningRecordSpec('tuning-timing', ID, PROBLEM, configDigest(c));
    const foreign = {
      schema: TUNING_SCHEMA,
      kind: 'tuning-timing',
      identity: { ...ID, device: 'other' },
      epochs: { cache: CODEGEN_EPOCH, ops: OPS_CODEGEN_EPOCH },
      problem: PROBLEM,
      digest: configDigest(c),
      config: c,
      ms: 0.001,
    };
    await cache.putRecord(spec, Buffer.from(JSON.stringify(foreign)));
    const stats = emptyTuningStats();
    const t = timer();
    const r = await tune({
      identity: ID,
      problem: PROBLEM,
      candidates: cfgs(32, 64),
      time: t.time,
      store: cache,
      stats,
    });
    assert.equal(stats.tuningRejected, 1);
    assert.deepEqual(t.timed, [32, 64]);
    assert.deepEqual(r.winner, { tile: 64 }, 'the foreign 0.001 ms did not win');
    await cache.close();
  });

  test('a candidate whose timing fails is excluded; all failing is an error', async () => {
    const store = new MemoryRecordStore();
    const stats = emptyTuningStats();
    const r = await tune({
      identity: ID,
      problem: PROBLEM,
      candidates: cfgs(64, 32),
      time: async (c) => {
        if (c.tile === 64) throw new Error('too much shared memory');
        return 5;
      },
      store,
      stats,
    });
    assert.deepEqual(r.winner, { tile: 32 });
    assert.equal(stats.candidatesFailed, 1);
    await assert.rejects(
      tune({
        identity: ID,
        problem: { ...PROBLEM, op: 'x' },
        candidates: cfgs(1),
        time: () => Promise.reject(new Error('no')),
        store,
      }),
      /every candidate failed/,
    );
  });

  test('records travel in bundles: a cache that imported one reuses the winner', async () => {
    const from = cacheAt(tempDir());
    const t1 = timer();
    await tune({ identity: ID, problem: PROBLEM, candidates: cfgs(32, 64, 128), time: t1.time, store: from });
    const bundle = join(tempDir(), 'tuning.cuopbundle');
    const exported = await from.exportBundle(bundle, { cuopVersion: 'test' });
    assert.equal(exported.entries, 4, 'three timing records and the winner');
    await from.close();
    const to = cacheAt(tempDir());
    const imported = await to.importBundle(bundle, {
      secrets: [],
      requireSignature: false,
      archs: ['sm_90'],
    });
    assert.equal(imported.imported.length, 4);
    const t2 = timer();
    const r = await tune({
      identity: ID,
      problem: PROBLEM,
      candidates: cfgs(32, 64, 128),
      time: t2.time,
      store: to,
    });
    assert.equal(r.reused, true);
    assert.deepEqual(t2.timed, []);
    await to.close();
    // An sm_80 host's import skips the sm_90 records, as it would skip sm_90 kernels.
    const other = cacheAt(tempDir());
    const skipped = await other.importBundle(bundle, {
      secrets: [],
      requireSignature: false,
      archs: ['sm_80'],
    });
    assert.equal(skipped.imported.length, 0);
    await other.close();
  });

  test('a memory-only cache and the process store work the same way within the process', async () => {
    for (const store of [cacheAt(null), new MemoryRecordStore()] as TuningRecordStore[]) {
      const t = timer();
      await tune({ identity: ID, problem: PROBLEM, candidates: cfgs(32, 64), time: t.time, store });
      const r = await tune({ identity: ID, problem: PROBLEM, candidates: cfgs(32, 64), time: t.time, store });
      assert.equal(r.reused, true);
      assert.deepEqual(t.timed, [32, 64]);
      if (store instanceof KernelCache) await store.close();
    }
  });
});

describe('KernelCache records', () => {
  test('getRecord/putRecord round trip through the disk tier; entries are immutable unless replaced', async () => {
    const dir = tempDir();
    const spec = recordKeySpec({ kind: 'test-record', schema: 1, target: 'sm_90', fields: { a: 1, b: 'x' } });
    const c1 = cacheAt(dir);
    assert.equal(await c1.getRecord(spec), undefined);
    await c1.putRecord(spec, Buffer.from('one'), { costMs: 1234 });
    await c1.putRecord(spec, Buffer.from('two')); // kept: one key, one payload
    assert.equal((await c1.getRecord(spec))?.toString(), 'one');
    await c1.close();
    const c2 = cacheAt(dir);
    assert.equal((await c2.getRecord(spec))?.toString(), 'one');
    assert.equal(c2.getStats().process.savedCompileMs, 1234, 'a hit saves the recorded cost');
    await c2.putRecord(spec, Buffer.from('three'), { replace: true });
    await c2.close();
    const c3 = cacheAt(dir);
    assert.equal((await c3.getRecord(spec))?.toString(), 'three');
    const report = await c3.validateCacheIntegrity();
    assert.equal(report.problems.length, 0, 'records pass the integrity check like kernels');
    await c3.close();
    await assert.rejects(
      c3.getRecord({ ...spec, compiler: { id: 'nvrtc', version: '13.0' } }),
      /key spec of a record/,
    );
  });
});

describe('GEMM candidates', () => {
  const maxShared = 232448; // H100/H200 opt-in limit
  test("'auto' is the default and the short list; 'exhaustive' adds every valid grid config", () => {
    for (const dtype of ['float32', 'float16'] as const) {
      const def = defaultGemmConfig(dtype, 4096, 4096);
      const o = {
        dtype,
        aligned: true,
        transA: false,
        transB: false,
        defaultConfig: def,
        maxSharedBytes: maxShared,
      };
      const auto = gemmCandidates({ ...o, mode: 'auto' });
      const all = gemmCandidates({ ...o, mode: 'exhaustive' });
      assert.deepEqual(auto[0], def, 'the default comes first');
      assert.ok(auto.length >= 4 && auto.length <= 6, `auto: ${auto.length}`);
      assert.ok(all.length > 3 * auto.length, `exhaustive: ${all.length}`);
      assert.deepEqual(
        all.slice(0, auto.length),
        auto,
        'the short list stays in the exhaustive set (its timings are reused)',
      );
      for (const c of all) validateGemmConfig(dtype, c);
      assert.equal(new Set(all.map((c) => JSON.stringify(c))).size, all.length, 'no duplicates');
    }
  });

  test('the shared-memory bound and the overrides apply', () => {
    const o = {
      dtype: 'float16' as const,
      aligned: true,
      transA: false,
      transB: false,
      defaultConfig: GEMM_CONFIGS.mmaLarge as GemmConfig,
      mode: 'exhaustive' as const,
    };
    const small = gemmCandidates({ ...o, maxSharedBytes: 48 * 1024 });
    assert.ok(small.every((c) => c.stages * (c.bm * (c.bk + 8) + c.bk * (c.bn + 8)) * 2 <= 48 * 1024));
    const staged = gemmCandidates({ ...o, maxSharedBytes: maxShared, override: { stages: 2 } });
    assert.ok(staged.every((c) => c.stages === 2));
  });
});
