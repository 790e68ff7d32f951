// The seed's API shapes, without a GPU: managers, policy mapping and presets, and where JitWrapper caches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  CachePolicy,
  GlobalJitManager,
  GlobalPersistentCacheManager,
  JitWrapper,
} from '../../src/api/index.js';
import { CachePolicyError } from '../../src/cache/index.js';
import { defaultKernelProvider, type JitCompiler } from '../../src/jit/index.js';
import { Gemm } from '../../src/ops/index.js';

const DAY = 86_400_000;

test('CachePolicy maps the seed fields onto the cache policy; presets match the three deployments', () => {
  const p = new CachePolicy({
    maxDiskCacheSize: '5GB',
    maxCachedKernels: 5000,
    cacheExpirationTime: 7 * DAY,
    enableCompression: true,
    enableChecksum: true,
  });
  assert.deepEqual(p.toCachePolicyInput(), {
    maxDiskBytes: '5GB',
    maxEntries: 5000,
    maxAgeMs: 7 * DAY,
    compression: 'gzip',
    checksum: true,
  });
  assert.deepEqual(CachePolicy.development().toCachePolicyInput(), { maxAgeMs: DAY, debug: true });
  const prod = CachePolicy.production().toCachePolicyInput();
  assert.equal(prod.maxAgeMs, 30 * DAY);
  assert.equal(prod.compression, 'gzip');
  assert.equal(prod.checksum, true);
  assert.equal(CachePolicy.highPerformance().toCachePolicyInput().compression, 'none');
});

test('GlobalPersistentCacheManager.initialize applies a policy; a bad one names the field', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-seed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const m = GlobalPersistentCacheManager.instance();
  assert.equal(GlobalPersistentCacheManager.instance(), m, 'a singleton');
  m.initialize(dir, CachePolicy.production());
  assert.equal(m.cache.dir, dir);
  assert.equal(m.cache.policy.compression, 'gzip');
  assert.equal(m.cache.policy.maxAgeMs, 30 * DAY);
  assert.throws(
    () => m.initialize(dir, new CachePolicy({ maxCachedKernels: -1 })),
    (e: unknown) => e instanceof CachePolicyError && e.field === 'maxEntries',
  );
  assert.throws(
    () => m.initialize(dir, { maxDiskCacheSize: 'lots' }),
    (e: unknown) => e instanceof CachePolicyError && /maxDiskBytes/.test(e.message),
  );
  const stats = m.getStats();
  assert.equal(typeof stats.all.hitRate, 'number');
  assert.equal((await m.cleanupExpiredCache()).ran, true);
  assert.equal((await m.cleanupBySize(2 ** 30)).ran, true);
  assert.equal((await m.validateCacheIntegrity()).ran, true);
  await GlobalJitManager.reset();
});

test('GlobalJitManager: config round trip; the JIT follows enableJit and enableCaching', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-seed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const g = GlobalJitManager.instance().initialize();
  assert.equal(g.isInitialized, true);
  assert.deepEqual(g.getGlobalConfig(), {
    enableJit: true,
    enableCaching: true,
    cacheDir: undefined,
    compiler: 'auto',
    debug: false,
  });
  g.setGlobalConfig({ cacheDir: dir, compiler: 'nvcc' });
  assert.equal(g.getGlobalConfig().cacheDir, dir);
  assert.equal(g.jit().cache.dir, dir);
  assert.equal(g.jit().allowCompile, true);
  g.setGlobalConfig({ enableJit: false });
  assert.equal(g.jit().allowCompile, false);
  g.setGlobalConfig({ enableCaching: false });
  assert.equal(g.jit().cache.dir, null, 'caching off: memory only');
  await GlobalJitManager.reset();
});

test('JitWrapper: persistent cache on/off and its own directory; wrappers of one dir share a JIT', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-seed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const w = new JitWrapper(new Gemm({ dtype: 'float32' }));
  assert.equal(w.persistentCacheEnabled, true);
  assert.equal(w.setPersistentCacheDirectory(dir), w, 'chainable');
  assert.equal(w.jit.cache.dir, dir);
  assert.equal(new JitWrapper(new Gemm()).setPersistentCacheDirectory(dir).jit, w.jit);
  w.enablePersistentCache(false);
  assert.equal(w.jit.cache.dir, null, 'off: the JIT still compiles, in memory only');
  const plain = new JitWrapper(new Gemm());
  assert.equal(
    plain.jit,
    GlobalJitManager.instance().jit(),
    'no dir: the global JIT, as the bare operator uses',
  );
  await GlobalJitManager.reset();
});

test('wrappers follow later global changes; the managers keep serving one cache with one policy', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-seed-'));
  const own = mkdtempSync(join(tmpdir(), 'cuop-seed-own-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(own, { recursive: true, force: true });
  });
  const g = GlobalJitManager.instance();
  const cm = GlobalPersistentCacheManager.instance();
  const w = new JitWrapper(new Gemm()).setPersistentCacheDirectory(own);
  assert.equal(w.jit.allowCompile, true);
  g.setGlobalConfig({ enableJit: false });
  assert.equal(w.jit.allowCompile, false, 'a wrapper with its own dir follows enableJit');
  assert.equal(w.jit.cache.dir, own);
  g.setGlobalConfig({ enableJit: true });

  const before = g.jit();
  cm.initialize(dir, CachePolicy.production());
  assert.notEqual(g.jit(), before, 'initialize() after first use reaches the JIT');
  assert.equal(g.jit().cache, cm.cache, 'getStats() and the JIT see the same cache');
  g.setGlobalConfig({ debug: true });
  assert.equal(cm.cache.dir, dir, 'a debug switch keeps the directory');
  assert.equal(cm.cache.policy.compression, 'gzip', 'and the production policy');
  assert.equal(cm.cache.policy.debug, true);
  assert.equal(g.jit().cache, cm.cache);
  await GlobalJitManager.reset();
});

test("the seed's order: initialize(dir, policy), then a wrapper on that dir or its own dir, under that policy", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-seed-'));
  const own = mkdtempSync(join(tmpdir(), 'cuop-seed-own-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(own, { recursive: true, force: true });
  });
  const cm = GlobalPersistentCacheManager.instance();
  cm.initialize(dir, new CachePolicy({ maxCachedKernels: 5000, enableCompression: true }));
  const same = new JitWrapper(new Gemm()).setPersistentCacheDirectory(dir);
  assert.equal(
    same.jit,
    GlobalJitManager.instance().jit(),
    'the managed directory: the managed cache itself',
  );
  assert.equal(same.jit.cache, cm.cache, 'so getStats() and maintenance see its kernels');
  const other = new JitWrapper(new Gemm()).setPersistentCacheDirectory(own);
  assert.equal(other.jit.cache.dir, own);
  assert.equal(other.jit.cache.policy.maxEntries, 5000, "another directory gets the manager's policy");
  assert.equal(other.jit.cache.policy.compression, 'gzip');
  const memoryOnly = new JitWrapper(new Gemm()).enablePersistentCache(false);
  assert.equal(memoryOnly.jit.cache.dir, null);
  await GlobalJitManager.reset();
});

test('the manager cleans up by a size written as text and prunes a given compiler', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-seed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cm = GlobalPersistentCacheManager.instance().initialize(dir);
  assert.equal((await cm.cleanupBySize('2GB')).ran, true);
  assert.throws(() => cm.cleanupBySize('lots'), /not a byte size/);
  const r = await cm.pruneStale({ compiler: { id: 'nvrtc', version: '0.0.0' } });
  assert.equal(r.ran, true);
  await GlobalJitManager.reset();
});

test('a wrapper with its own directory follows a later initialize() with another policy', async (t) => {
  const own = mkdtempSync(join(tmpdir(), 'cuop-seed-own-'));
  t.after(() => rmSync(own, { recursive: true, force: true }));
  const cm = GlobalPersistentCacheManager.instance();
  cm.initialize(null, CachePolicy.highPerformance());
  const w = new JitWrapper(new Gemm()).setPersistentCacheDirectory(own);
  const before = w.jit;
  assert.equal(before.cache.policy.compression, 'none');
  assert.equal(w.jit, before, 'stable while the policy stays');
  cm.initialize(null, CachePolicy.production());
  assert.notEqual(w.jit, before);
  assert.equal(w.jit.cache.policy.compression, 'gzip');
  assert.equal(w.jit.cache.dir, own);
  await GlobalJitManager.reset();
});

test("a bare operator's default JIT is the manager's, and follows its configuration", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-seed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const g = GlobalJitManager.instance();
  g.setGlobalConfig({ cacheDir: dir });
  assert.equal(defaultKernelProvider(), g.jit());
  g.setGlobalConfig({ enableJit: false });
  assert.equal(defaultKernelProvider(), g.jit());
  assert.equal((defaultKernelProvider() as JitCompiler).allowCompile, false);
  await GlobalJitManager.reset();
});

test('operators loaded without src/api get a default JIT of their own, until the api loads and takes over', () => {
  // A fresh process: here the api is already loaded. The jit layer cannot import the api (it sits above the
  // operators), so the api hands its JIT down as it loads.
  const provider = new URL('../../src/jit/default-provider.js', import.meta.url).href;
  const api = new URL('../../src/api/index.js', import.meta.url).href;
  const script = `
    const { defaultKernelProvider } = await import(${JSON.stringify(provider)});
    const before = defaultKernelProvider();
    const stable = before === defaultKernelProvider();
    const { GlobalJitManager } = await import(${JSON.stringify(api)});
    const after = defaultKernelProvider();
    console.log(JSON.stringify({
      own: before.constructor.name, stable, managers: after === GlobalJitManager.instance().jit(),
      replaced: after !== before,
    }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, CUOP_CACHE_DISABLE: '1' },
  });
  assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1)!), {
    own: 'JitCompiler',
    stable: true,
    managers: true,
    replaced: true,
  });
});
