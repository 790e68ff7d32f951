import assert from 'node:assert/strict';
import { chmodSync, chownSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { zstdAvailable } from '../../src/cache/codec.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import {
  CachePolicyError,
  DEFAULT_POLICY,
  parseByteSize,
  resolveCacheDir,
  resolvePolicy,
  type EnvProblem,
} from '../../src/cache/policy.js';
import { countingCompile, recordingLogger, specFor, tempDir } from './fixtures.js';

test('parseByteSize', () => {
  assert.equal(parseByteSize('5GB'), 5e9);
  assert.equal(parseByteSize('512MiB'), 512 * 2 ** 20);
  assert.equal(parseByteSize('1.5 g'), 1.5e9);
  assert.equal(parseByteSize('4096'), 4096);
  assert.equal(parseByteSize(10), 10);
  assert.throws(() => parseByteSize('5 parsecs'), /not a byte size/);
  assert.throws(() => parseByteSize('-1'), /not a byte size/);
});

test('policy defaults', () => {
  const p = resolvePolicy({}, {});
  assert.equal(p.maxDiskBytes, 2 ** 30);
  assert.equal(p.maxAgeMs, 30 * 86_400_000);
  assert.equal(p.checksum, true);
  assert.equal(p.compression, 'none');
  assert.equal(p.debug, false);
});

test('bad policy values throw an error naming the field', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ maxDiskBytes: -1 }, /'maxDiskBytes'/],
    [{ maxDiskBytes: 'lots' }, /'maxDiskBytes'.*not a byte size/],
    [{ compression: 'lz4' }, /'compression'/],
    [{ checksum: 'yes' }, /'checksum'/],
    [{ memoryMaxEntries: 0 }, /'memoryMaxEntries'/],
    [{ maxAgeMs: Number.NaN }, /'maxAgeMs'/],
    [{ nonsense: 1 }, /nonsense/],
  ];
  for (const [input, re] of bad) {
    assert.throws(
      () => resolvePolicy(input as never, {}),
      (e: unknown) => e instanceof CachePolicyError && re.test(e.message),
    );
  }
  // A bad variable never throws (the cache must not fail a call): it is reported and the default stands.
  const problems: EnvProblem[] = [];
  const p = resolvePolicy({}, { CUOP_CACHE_MAX_SIZE: 'huge' }, (x) => problems.push(x));
  assert.equal(p.maxDiskBytes, DEFAULT_POLICY.maxDiskBytes);
  assert.deepEqual(
    problems.map((x) => [x.variable, x.value]),
    [['CUOP_CACHE_MAX_SIZE', 'huge']],
  );
  assert.match(problems[0]?.message ?? '', /not a byte size/);
});

test('zstd: accepted where node:zlib has it, refused with a clear error on Node 20', () => {
  if (zstdAvailable()) {
    assert.equal(resolvePolicy({ compression: 'zstd' }, {}).compression, 'zstd');
  } else {
    assert.throws(() => resolvePolicy({ compression: 'zstd' }, {}), /'compression'.*Node >= 22\.15/);
  }
});

test('env overrides: CUOP_CACHE_MAX_SIZE, CUOP_DEBUG; explicit options win', () => {
  assert.equal(resolvePolicy({}, { CUOP_CACHE_MAX_SIZE: '5GB' }).maxDiskBytes, 5e9);
  assert.equal(resolvePolicy({ maxDiskBytes: 1000 }, { CUOP_CACHE_MAX_SIZE: '5GB' }).maxDiskBytes, 1000);
  assert.equal(resolvePolicy({}, { CUOP_DEBUG: '1' }).debug, true);
});

test('resolveCacheDir: CUOP_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache; CUOP_CACHE_DISABLE', () => {
  assert.equal(resolveCacheDir({ CUOP_CACHE_DIR: '/x/y', XDG_CACHE_HOME: '/xdg' }), '/x/y');
  assert.equal(resolveCacheDir({ XDG_CACHE_HOME: '/xdg', HOME: '/h' }), '/xdg/cuop');
  assert.equal(resolveCacheDir({ HOME: '/h' }), '/h/.cache/cuop');
  assert.equal(resolveCacheDir({ CUOP_CACHE_DISABLE: '1', CUOP_CACHE_DIR: '/x' }), null);
});

test('CUOP_CACHE_DISABLE=1 gives a memory-only cache', async () => {
  const c = new KernelCache({ env: { CUOP_CACHE_DISABLE: '1', CUOP_CACHE_DIR: tempDir('dis') } });
  assert.equal(c.dir, null);
  await c.close();
});

test('the cache dir is created with mode 0700', async () => {
  const dir = join(tempDir('mode'), 'a', 'b');
  const c = new KernelCache({ dir, env: {} });
  assert.equal(c.dir, dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'kernels')).mode & 0o777, 0o700);
  await c.close();
});

async function expectRefused(dir: string, reason: RegExp): Promise<void> {
  const rec = recordingLogger();
  const c = new KernelCache({ dir, logger: rec.logger, env: {} });
  assert.equal(c.dir, null, 'memory only');
  assert.equal(rec.warns.length, 1);
  assert.match(rec.warns[0]!, new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.match(rec.warns[0]!, reason);
  // still works, from memory
  const f = countingCompile(0);
  const spec = specFor(0);
  assert.equal((await c.getOrCompile(spec, f.compile)).tier, 'compiled');
  assert.equal((await c.getOrCompile(spec, f.compile)).tier, 'memory');
  assert.equal(f.calls(), 1);
  await c.close();
}

test('a world-writable cache dir is refused: memory-only, one warning naming path, reason and fix', async () => {
  const dir = tempDir('ww');
  chmodSync(dir, 0o777);
  await expectRefused(dir, /world-writable.*chmod 700/s);
});

test(
  'a cache dir owned by another uid is refused (chown, as root)',
  { skip: process.getuid?.() !== 0 },
  async () => {
    const dir = tempDir('own');
    chownSync(dir, 4242, 4242);
    await expectRefused(dir, /owned by uid 4242/);
  },
);

test('an uncreatable cache dir (its parent is a regular file) degrades to memory-only with one warning', async () => {
  const parent = join(tempDir('file'), 'not-a-dir');
  writeFileSync(parent, 'x');
  const rec = recordingLogger();
  const c = new KernelCache({ dir: join(parent, 'cache'), logger: rec.logger, env: {} });
  assert.equal(c.dir, null);
  assert.equal(rec.warns.length, 1);
  assert.match(rec.warns[0]!, /cannot create the cache directory/);
  await c.close();
});

test('a dir written by a future cache format is left alone (memory-only, one warning)', async () => {
  const dir = tempDir('future');
  writeFileSync(join(dir, 'format-version'), '99\n');
  const rec = recordingLogger();
  const c = new KernelCache({ dir, logger: rec.logger, env: {} });
  assert.equal(c.dir, null);
  assert.match(rec.warns.join('\n'), /cache format 99/);
  await c.close();
});
