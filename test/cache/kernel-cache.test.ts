import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { zstdAvailable, type Codec } from '../../src/cache/codec.js';
import { CACHE_FORMAT_VERSION, memoizedCacheKey } from '../../src/cache/key.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { parseEntryMetadata } from '../../src/cache/metadata.js';
import { CompileError } from '../../src/compiler/errors.js';
import {
  countingCompile,
  kernelSource,
  nvccCubin,
  recordingLogger,
  specFor,
  tempDir,
  worker,
} from './fixtures.js';

const quiet = recordingLogger().logger;

test('compile → memory hit → fresh process (new instance) disk hit, same bytes', async () => {
  const dir = tempDir('basic');
  const f = countingCompile(0);
  const spec = specFor(0);
  const a = new KernelCache({ dir, logger: quiet, env: {} });
  const r1 = await a.getOrCompile(spec, f.compile, { kernelNames: ['k0'] });
  assert.equal(r1.tier, 'compiled');
  assert.equal(r1.key, memoizedCacheKey(spec));
  const r2 = await a.getOrCompile(spec, f.compile);
  assert.equal(r2.tier, 'memory');
  assert.equal(r2.entry, r1.entry, 'the same resident entry (and its attached modules)');
  assert.equal(a.peek(r1.key), r1.entry);
  await a.close();

  const b = new KernelCache({ dir, logger: quiet, env: {} });
  assert.equal(b.peek(r1.key), undefined);
  const r3 = await b.getOrCompile(specFor(0), f.compile);
  assert.equal(r3.tier, 'disk');
  assert.ok(r3.entry.image.equals(nvccCubin(kernelSource(0))));
  assert.equal(f.calls(), 1);
  const s = b.getStats();
  assert.equal(s.process.hits.disk, 1);
  assert.equal(s.all.compiles, 1);
  assert.equal(s.all.hits.memory, 1);
  assert.equal(s.all.hits.disk, 1);
  assert.equal(s.all.savedCompileMs, 800);
  assert.ok(Math.abs(s.all.hitRate - 2 / 3) < 1e-9);
  await b.close();
});

test('disk layout: kernels/<aa>/<key>.cubin, metadata/<aa>/<key>.json (schema-valid), temp/, CACHEDIR.TAG, format file', async () => {
  const dir = tempDir('layout');
  const c = new KernelCache({ dir, logger: quiet, env: {}, policy: { saveSource: true } });
  const spec = specFor(1, { headers: { 'x.h': '#define X 1' } });
  const { key } = await c.getOrCompile(spec, countingCompile(1).compile, { driverVersion: '13000' });
  await c.close();
  const parsed = parseEntryMetadata(
    JSON.parse(readFileSync(join(dir, 'metadata', key.slice(0, 2), `${key}.json`), 'utf8')),
  );
  assert.ok(parsed.success, parsed.success ? '' : `metadata field ${parsed.field} is invalid`);
  const meta = parsed.data;
  assert.ok(existsSync(join(dir, 'kernels', key.slice(0, 2), `${key}.cubin`)));
  assert.deepEqual(readdirSync(join(dir, 'temp')), []);
  assert.match(
    readFileSync(join(dir, 'CACHEDIR.TAG'), 'utf8'),
    /^Signature: 8a477f597d28d172789f06886806bc55/,
  );
  assert.equal(readFileSync(join(dir, 'format-version'), 'utf8').trim(), String(CACHE_FORMAT_VERSION));
  assert.equal(meta.key, key);
  assert.deepEqual(meta.kernelNames, ['k1']);
  assert.deepEqual(meta.loweredNames, { k1: 'k1' });
  assert.equal(meta.source, spec.source);
  assert.match(meta.headers['x.h'] ?? '', /^[0-9a-f]{64}$/);
  assert.equal(meta.rawBytes, nvccCubin(kernelSource(1)).length);
  assert.equal(meta.compiler.version, '13.0.88');
  assert.equal(meta.target, 'sm_90');
  assert.equal(meta.driverVersion, '13000');
  assert.equal(meta.compileMs, 400);
});

test('a disk hit touches the kernel mtime at once and never rewrites metadata; memory hits at the flush, throttled', async () => {
  const dir = tempDir('touch');
  let now = 1_000_000_000_000;
  const clock = () => now;
  const spec = specFor(2);
  const a = new KernelCache({ dir, logger: quiet, env: {}, clock });
  const { key } = await a.getOrCompile(spec, countingCompile(2).compile);
  await a.close();
  const metaPath = join(dir, 'metadata', key.slice(0, 2), `${key}.json`);
  const kernelPath = join(dir, 'kernels', key.slice(0, 2), `${key}.cubin`);
  const metaBefore = statSync(metaPath).mtimeMs;
  assert.equal(Math.round(statSync(kernelPath).mtimeMs), now);
  now += 3_600_000;
  const hitAt = now;
  const b = new KernelCache({ dir, logger: quiet, env: {}, clock });
  assert.equal((await b.getOrCompile(specFor(2), countingCompile(2).compile)).tier, 'disk');
  assert.equal(Math.round(statSync(kernelPath).mtimeMs), hitAt, 'touched by the hit itself');
  now += 1000; // within touchIntervalMs of the last touch: the flush at close skips it
  assert.equal((await b.getOrCompile(specFor(2), countingCompile(2).compile)).tier, 'memory');
  await b.close();
  assert.equal(Math.round(statSync(kernelPath).mtimeMs), hitAt);
  assert.equal(statSync(metaPath).mtimeMs, metaBefore);
  now += 120_000; // past touchIntervalMs: a memory hit's use reaches the disk at close
  const c = new KernelCache({ dir, logger: quiet, env: {}, clock });
  await c.getOrCompile(specFor(2), countingCompile(2).compile); // disk, touched
  now += 120_000;
  assert.equal((await c.getOrCompile(specFor(2), countingCompile(2).compile)).tier, 'memory');
  await c.close();
  assert.equal(Math.round(statSync(kernelPath).mtimeMs), now);
});

test("a disk hit within the touch interval of the kernel file's mtime (another process's touch) touches nothing", async () => {
  const dir = tempDir('touch-recent');
  let now = 1_000_000_000_000;
  const clock = () => now;
  const a = new KernelCache({ dir, logger: quiet, env: {}, clock });
  const { key } = await a.getOrCompile(specFor(3), countingCompile(3).compile);
  await a.close();
  const kernelPath = join(dir, 'kernels', key.slice(0, 2), `${key}.cubin`);
  now += 30_000; // within touchIntervalMs (60 s) of the publish
  const b = new KernelCache({ dir, logger: quiet, env: {}, clock });
  assert.equal((await b.getOrCompile(specFor(3), countingCompile(3).compile)).tier, 'disk');
  await b.close();
  assert.equal(Math.round(statSync(kernelPath).mtimeMs), now - 30_000, 'the recent use stands');
  now += 40_000; // 70 s after it: this hit is the entry's last use
  const c = new KernelCache({ dir, logger: quiet, env: {}, clock });
  assert.equal((await c.getOrCompile(specFor(3), countingCompile(3).compile)).tier, 'disk');
  assert.equal(Math.round(statSync(kernelPath).mtimeMs), now, 'touched');
  await c.close();
});

test("a memory hit's use reaches the disk when the entry leaves memory before the flush (gzip entries too)", async () => {
  const dir = tempDir('touch-evict');
  let now = 1_000_000_000_000;
  const clock = () => now;
  const policy = { compression: 'gzip' as const, memoryMaxEntries: 1, maintenanceIntervalMs: 0 };
  const a = new KernelCache({ dir, logger: quiet, env: {}, clock, policy });
  const { key } = await a.getOrCompile(specFor(5), countingCompile(5).compile);
  await a.getOrCompile(specFor(6), countingCompile(6).compile);
  await a.close();
  const kernelPath = join(dir, 'kernels', key.slice(0, 2), `${key}.cubin.gz`);
  const b = new KernelCache({ dir, logger: quiet, env: {}, clock, policy });
  now += 3_600_000;
  assert.equal((await b.getOrCompile(specFor(5), countingCompile(5).compile)).tier, 'disk');
  now += 120_000;
  const usedAt = now;
  assert.equal((await b.getOrCompile(specFor(5), countingCompile(5).compile)).tier, 'memory');
  now += 1000;
  assert.equal((await b.getOrCompile(specFor(6), countingCompile(6).compile)).tier, 'disk'); // evicts 5
  await new Promise((r) => setTimeout(r, 50)); // the eviction's touch is asynchronous
  assert.equal(Math.round(statSync(kernelPath).mtimeMs), usedAt);
  await b.close();
});

test("a process that exits without close() still records its memory hits' LRU touches", async () => {
  const dir = tempDir('touch-exit');
  const spec = specFor(4);
  const t0 = 1_000_000_000_000;
  const a = new KernelCache({ dir, logger: quiet, env: {}, clock: () => t0 });
  const { key } = await a.getOrCompile(spec, countingCompile(4).compile);
  await a.close();
  const kernelPath = join(dir, 'kernels', key.slice(0, 2), `${key}.cubin`);
  const [t1, t2] = [t0 + 86_400_000, t0 + 86_400_000 + 600_000];
  const r = spawnSync(process.execPath, [worker('touch-worker'), dir, String(t1), String(t2), '4'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'disk,memory');
  assert.equal(Math.round(statSync(kernelPath).mtimeMs), t2);
});

test('concurrent misses of one key in one process share one compile', async () => {
  const c = new KernelCache({ dir: tempDir('sf'), logger: quiet, env: {} });
  const f = countingCompile(3);
  const slow = async () => {
    await new Promise((r) => setTimeout(r, 30));
    return f.compile();
  };
  const rs = await Promise.all(Array.from({ length: 20 }, () => c.getOrCompile(specFor(3), slow)));
  assert.equal(f.calls(), 1);
  assert.ok(rs.every((r) => r.entry === rs[0]!.entry));
  assert.equal(c.getStats().process.coalesced, 19);
  await c.close();
});

test('a CompileError is rethrown to every waiter and never cached', async () => {
  const dir = tempDir('err');
  const c = new KernelCache({ dir, logger: quiet, env: {} });
  let calls = 0;
  const bad = async (): Promise<never> => {
    calls++;
    await new Promise((r) => setTimeout(r, 10));
    throw new CompileError('nvcc', 'k.cu', 'k.cu(1): error: expected a ";"', ['-O3']);
  };
  const spec = specFor(4);
  const rs = await Promise.allSettled([c.getOrCompile(spec, bad), c.getOrCompile(spec, bad)]);
  assert.ok(rs.every((r) => r.status === 'rejected' && r.reason instanceof CompileError));
  assert.equal(calls, 1);
  await assert.rejects(c.getOrCompile(spec, bad), CompileError);
  assert.equal(calls, 2, 'not cached: compiled again');
  assert.equal(c.peek(memoizedCacheKey(spec)), undefined);
  assert.deepEqual(readdirSync(join(dir, 'metadata')), []);
  assert.deepEqual(readdirSync(join(dir, 'locks')), [], 'lock released after the failure');
  assert.equal(c.getStats().process.compileErrors, 2);
  await c.close();
});

test('memory tier: bounded by entries and bytes; eviction clears attached values and calls their dispose', async () => {
  const c = new KernelCache({ dir: null, logger: quiet, env: {}, policy: { memoryMaxEntries: 2 } });
  const disposed: string[] = [];
  const r0 = await c.getOrCompile(specFor(0), countingCompile(0).compile);
  r0.entry.attached.set('ctx0', { dispose: () => disposed.push('k0') });
  await c.getOrCompile(specFor(1), countingCompile(1).compile);
  await c.getOrCompile(specFor(2), countingCompile(2).compile);
  assert.equal(c.peek(r0.key), undefined);
  assert.deepEqual(disposed, ['k0']);
  assert.equal(r0.entry.attached.size, 0);
  assert.equal(c.getStats().process.evictions.memory, 1);
  const small = new KernelCache({ dir: null, logger: quiet, env: {}, policy: { memoryMaxBytes: 1 } });
  const big = await small.getOrCompile(specFor(0), countingCompile(0).compile);
  assert.equal(small.peek(big.key), undefined, 'an image larger than the memory bound is not kept');
  await c.close();
  await small.close();
});

test('write failure (temp/ replaced by a regular file): counted, warned once, served from memory', async () => {
  const dir = tempDir('wfail');
  const rec = recordingLogger();
  const c = new KernelCache({ dir, logger: rec.logger, env: {} });
  rmSync(join(dir, 'temp'), { recursive: true });
  writeFileSync(join(dir, 'temp'), 'not a dir');
  for (let i = 0; i < 3; i++) {
    const r = await c.getOrCompile(specFor(i), countingCompile(i).compile);
    assert.equal(r.tier, 'compiled');
    assert.equal((await c.getOrCompile(specFor(i), countingCompile(i).compile)).tier, 'memory');
  }
  assert.equal(c.getStats().process.writeFailures, 3);
  assert.equal(rec.warns.length, 1);
  assert.match(rec.warns[0]!, /cannot write to the disk cache/);
  await c.close();
});

for (const codec of ['gzip', 'brotli', 'zstd'] as Codec[]) {
  test(
    `codec ${codec}: stored compressed, read back verified`,
    { skip: codec === 'zstd' && !zstdAvailable() },
    async () => {
      const dir = tempDir(`codec-${codec}`);
      const a = new KernelCache({ dir, logger: quiet, env: {}, policy: { compression: codec } });
      const { key } = await a.getOrCompile(specFor(5), countingCompile(5).compile);
      await a.close();
      const suffix = { gzip: '.gz', brotli: '.br', zstd: '.zst', none: '' }[codec];
      const stored = statSync(join(dir, 'kernels', key.slice(0, 2), `${key}.cubin${suffix}`)).size;
      assert.ok(stored < nvccCubin(kernelSource(5)).length);
      // a reader with another default codec still reads it (the metadata names the codec)
      const b = new KernelCache({ dir, logger: quiet, env: {} });
      const r = await b.getOrCompile(specFor(5), countingCompile(5).compile);
      assert.equal(r.tier, 'disk');
      assert.ok(r.entry.image.equals(nvccCubin(kernelSource(5))));
      await b.close();
    },
  );
}

test('debug logging: one line per decision, routed to the logger', async () => {
  const rec = recordingLogger();
  const c = new KernelCache({ dir: tempDir('dbg'), logger: rec.logger, env: { CUOP_DEBUG: '1' } });
  const spec = specFor(0);
  await c.getOrCompile(spec, countingCompile(0).compile);
  await c.getOrCompile(spec, countingCompile(0).compile);
  const key = memoizedCacheKey(spec);
  const lines = rec.debugs.join('\n');
  assert.match(lines, new RegExp(`miss ${key}`));
  assert.match(lines, new RegExp(`compile ${key}`));
  assert.match(lines, new RegExp(`publish ${key} to disk`));
  assert.match(lines, new RegExp(`hit memory ${key}`));
  await c.close();
  const silent = recordingLogger();
  const d = new KernelCache({ dir: tempDir('dbg2'), logger: silent.logger, env: {} });
  await d.getOrCompile(spec, countingCompile(0).compile);
  assert.deepEqual(silent.debugs, []);
  await d.close();
});

// The cost of a memory hit is a benchmark figure (npm run bench:cache), not a test: here, what it must not do.
test('a memory hit returns the resident entry without reading the disk or compiling, and is counted', async () => {
  const dir = tempDir('memhit');
  const c = new KernelCache({ dir, logger: quiet, env: {} });
  const spec = specFor(0);
  const f = countingCompile(0);
  const first = await c.getOrCompile(spec, f.compile);
  const before = c.getStats().process;
  rmSync(join(dir, 'kernels'), { recursive: true, force: true }); // a disk read would now miss
  for (let i = 0; i < 100; i++) {
    const r = await c.getOrCompile(spec, f.compile);
    assert.equal(r.tier, 'memory');
    assert.equal(r.entry, first.entry);
  }
  const after = c.getStats().process;
  assert.equal(f.calls(), 1);
  assert.equal(after.hits.memory - before.hits.memory, 100);
  assert.equal(after.bytesRead, before.bytesRead);
  await c.close();
});

test('lookupSync: memory, then a verified disk read; a miss is undefined and neither compiles nor counts', async () => {
  const dir = tempDir('sync');
  const a = new KernelCache({ dir, logger: quiet, env: {} });
  const published = await a.getOrCompile(specFor(1), countingCompile(1).compile);
  await a.close();
  const b = new KernelCache({ dir, logger: quiet, env: {} });
  const fromDisk = b.lookupSync(specFor(1));
  assert.equal(fromDisk?.tier, 'disk');
  assert.deepEqual(fromDisk?.entry.image, published.entry.image);
  assert.equal(b.lookupSync(specFor(1))?.tier, 'memory');
  assert.equal(b.lookupSync(specFor(2)), undefined);
  const s = b.getStats().process;
  assert.deepEqual([s.hits.disk, s.hits.memory, s.misses, s.compiles], [1, 1, 0, 0]);
  // A damaged entry is not returned by the sync path either: it is removed and counted.
  const kp = join(dir, 'kernels', published.key.slice(0, 2), `${published.key}.cubin`);
  const c = new KernelCache({ dir, logger: quiet, env: {} });
  const bytes = readFileSync(kp);
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x40;
  writeFileSync(kp, bytes);
  assert.equal(c.lookupSync(specFor(1)), undefined);
  assert.equal(c.getStats().process.corruptFound, 1);
  await b.close();
  await c.close();
});

test('the stats flush (here run by maintenance) does not reorder the memory LRU', async () => {
  const dir = tempDir('flush-order');
  const c = new KernelCache({
    dir,
    logger: quiet,
    env: {},
    policy: { memoryMaxEntries: 2, maintenanceIntervalMs: 0 },
  });
  const a = await c.getOrCompile(specFor(0), countingCompile(0).compile);
  const b = await c.getOrCompile(specFor(1), countingCompile(1).compile);
  assert.equal((await c.getOrCompile(specFor(0), countingCompile(0).compile)).tier, 'memory'); // order: B, A
  await c.runMaintenance(); // flushes the stats and the touches of A and B
  await c.getOrCompile(specFor(2), countingCompile(2).compile); // evicts the least recently used: B
  assert.ok(c.peek(a.key), 'A was used last and stays');
  assert.equal(c.peek(b.key), undefined);
  await c.close();
});
