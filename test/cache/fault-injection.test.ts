import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CACHE_FORMAT_VERSION, memoizedCacheKey } from '../../src/cache/key.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import type { CompileResult } from '../../src/compiler/types.js';
import { kernelSource, nvccCubin, recordingLogger, resultFor, specFor, tempDir } from './fixtures.js';

/** Deterministic PRNG (mulberry32) so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAULTS = [
  'flip-kernel',
  'flip-meta',
  'truncate-kernel',
  'truncate-meta',
  'empty-kernel',
  'empty-meta',
  'missing-kernel',
  'missing-meta',
  'garbage-json',
  'future-format',
  'foreign-meta',
  'swapped-kernel',
  'other-target',
  'huge-rawbytes',
] as const;
type Fault = (typeof FAULTS)[number];
/** Faults after which the stored image can still be sound (a flipped metadata byte may hit e.g. the host name). */
const MAY_SURVIVE: ReadonlySet<Fault> = new Set(['flip-meta']);

test('fault injection: 280 random corruptions never yield a bad image and always recompile', async () => {
  const dir = tempDir('faults');
  const images = [0, 1, 2, 3].map((i) => nvccCubin(kernelSource(i)));
  const quiet = recordingLogger();
  const seed = Number(process.env.FAULT_SEED ?? 20240601);
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  let corruptFound = 0;
  let recompiles = 0;
  const N = 280;
  let prevKey: string | undefined;
  for (let c = 0; c < N; c++) {
    const fault = FAULTS[c % FAULTS.length]!;
    const codec = rand() < 0.5 ? 'none' : 'gzip';
    const k = c % 4;
    const image = images[k]!;
    const spec = specFor(k, { options: ['-O3', `-DCASE=${c}`] });
    const key = memoizedCacheKey(spec);
    let calls = 0;
    const compile = async (): Promise<CompileResult> => {
      calls++;
      return resultFor(image, `k${k}`);
    };
    const writer = new KernelCache({ dir, logger: quiet.logger, env: {}, policy: { compression: codec } });
    await writer.getOrCompile(spec, compile);
    await writer.close();
    const metaPath = join(dir, 'metadata', key.slice(0, 2), `${key}.json`);
    const kernelPath = join(dir, 'kernels', key.slice(0, 2), `${key}.cubin${codec === 'gzip' ? '.gz' : ''}`);
    assert.ok(existsSync(metaPath) && existsSync(kernelPath));
    const kernel = readFileSync(kernelPath);
    const metaText = readFileSync(metaPath, 'utf8');
    const meta = JSON.parse(metaText) as Record<string, unknown>;
    switch (fault) {
      case 'flip-kernel': {
        const b = Buffer.from(kernel);
        const at = Math.floor(rand() * b.length);
        b[at] = b[at]! ^ (1 + Math.floor(rand() * 255));
        writeFileSync(kernelPath, b);
        break;
      }
      case 'flip-meta': {
        const b = Buffer.from(metaText);
        const at = Math.floor(rand() * b.length);
        b[at] = b[at]! ^ (1 + Math.floor(rand() * 127));
        writeFileSync(metaPath, b);
        break;
      }
      case 'truncate-kernel':
        truncateSync(kernelPath, Math.floor(rand() * kernel.length));
        break;
      case 'truncate-meta':
        truncateSync(metaPath, Math.floor(rand() * metaText.length));
        break;
      case 'empty-kernel':
        writeFileSync(kernelPath, '');
        break;
      case 'empty-meta':
        writeFileSync(metaPath, '');
        break;
      case 'missing-kernel':
        rmSync(kernelPath);
        break;
      case 'missing-meta':
        rmSync(metaPath);
        break;
      case 'garbage-json':
        writeFileSync(
          metaPath,
          pick(['{', 'null', '[]', '{"key":1}', 'not json at all', '\u0000\u0001', '42']),
        );
        break;
      case 'future-format':
        writeFileSync(metaPath, JSON.stringify({ ...meta, formatVersion: CACHE_FORMAT_VERSION + 1 }));
        break;
      case 'foreign-meta': {
        if (!prevKey) {
          writeFileSync(metaPath, JSON.stringify({ ...meta, key: 'f'.repeat(64) }));
        } else {
          const other = readFileSync(join(dir, 'metadata', prevKey.slice(0, 2), `${prevKey}.json`), 'utf8');
          writeFileSync(metaPath, other);
        }
        break;
      }
      case 'swapped-kernel': {
        const other = images[(k + 1) % 4]!;
        writeFileSync(kernelPath, codec === 'gzip' ? (await import('node:zlib')).gzipSync(other) : other);
        break;
      }
      case 'other-target':
        writeFileSync(metaPath, JSON.stringify({ ...meta, target: 'sm_80' }));
        break;
      case 'huge-rawbytes':
        writeFileSync(metaPath, JSON.stringify({ ...meta, rawBytes: (meta.rawBytes as number) * 1000 }));
        break;
    }
    const reader = new KernelCache({ dir, logger: quiet.logger, env: {}, policy: { compression: codec } });
    calls = 0;
    const r = await reader.getOrCompile(spec, compile);
    const ctx = `case ${c} (seed ${seed}) fault ${fault} codec ${codec}`;
    assert.ok(r.entry.image.equals(image), `${ctx}: returned a bad image`);
    if (!MAY_SURVIVE.has(fault)) {
      assert.equal(r.tier, 'compiled', `${ctx}: not recompiled`);
      assert.equal(calls, 1, ctx);
    }
    if (r.tier === 'compiled') recompiles++;
    const s = reader.getStats().process;
    corruptFound += s.corruptFound;
    if (fault !== 'missing-meta' && r.tier === 'compiled') {
      assert.equal(s.corruptFound, 1, `${ctx}: corrupt entry counted`);
      assert.equal(s.corruptRepaired, 1, `${ctx}: corrupt entry removed`);
    }
    await reader.close();
    // the entry was republished and is sound again
    const third = new KernelCache({ dir, logger: quiet.logger, env: {} });
    const r3 = await third.getOrCompile(spec, async () => assert.fail(`${ctx}: republished entry not found`));
    assert.equal(r3.tier, 'disk', ctx);
    assert.ok(r3.entry.image.equals(image), ctx);
    await third.close();
    prevKey = key;
  }
  assert.ok(recompiles >= N - N / FAULTS.length, `recompiled ${recompiles}`);
  assert.ok(corruptFound >= recompiles - N / FAULTS.length);
  assert.ok(quiet.warns.filter((w) => /corrupt/.test(w)).length >= 1);
});
