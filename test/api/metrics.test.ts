// registerCacheMetrics (src/api/metrics.ts): the cache's families in a real prom-client registry, read at scrape time,
// after real nvcc compiles and hits through JitCompiler; prom-client is loaded only by that call, never by
// importing cuop (sources or the bundle), and its absence is a typed error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { PromClientMissingError, registerCacheMetrics } from '../../src/api/metrics.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { toPrometheusText } from '../../src/cache/metrics.js';
import { JitCompiler } from '../../src/jit/jit-compiler.js';
import { recordingLogger, tempDir } from '../cache/fixtures.js';
import { parsePrometheusText, sampleValue, type ParsedFamily } from '../cache/prometheus-text.js';

const quiet = recordingLogger().logger;
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BUILD_SRC = join(ROOT, 'build', 'src');

/** Every sample as "name{sorted labels} value", for comparing two expositions. */
function seriesOf(families: Map<string, ParsedFamily>): string[] {
  return [...families.values()]
    .flatMap((f) =>
      f.samples.map((s) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())} ${s.value}`),
    )
    .sort();
}

const source = (i: number) =>
  `extern "C" __global__ void pm${i}(float* a, int n) { int t = threadIdx.x; if (t < n) a[t] += ${i}.0f; }\n`;

test('after nvcc compiles and hits through JitCompiler, the registry shows the same numbers as getStats, read at each scrape', async () => {
  const dir = tempDir('api-metrics');
  const policy = { maintenanceIntervalMs: 0 };
  const first = new JitCompiler({
    cache: new KernelCache({ dir, env: {}, logger: quiet, policy }),
    compiler: 'nvcc',
  });
  const specs = [0, 1].map((i) => ({ source: source(i), name: `pm${i}` }));
  for (const s of specs) assert.equal((await first.compile(s, 'sm_90')).tier, 'compiled');
  assert.equal((await first.compile(specs[0]!, 'sm_90')).tier, 'memory');
  await first.cache.close();

  // A restarted process: disk hits, then a memory hit.
  const cache = new KernelCache({ dir, env: {}, logger: quiet, policy });
  const jit = new JitCompiler({ cache, compiler: 'nvcc' });
  try {
    for (const s of specs) assert.equal((await jit.compile(s, 'sm_90')).tier, 'disk');
    assert.equal((await jit.compile(specs[1]!, 'sm_90')).tier, 'memory');

    const registry = new Registry();
    const reg = registerCacheMetrics(cache, registry);
    const scraped = parsePrometheusText(await registry.metrics());
    // Same families, same samples as the text output of the same stats (this process's scope).
    const text = parsePrometheusText(toPrometheusText(cache.getStats(), { scope: 'process' }));
    assert.deepEqual(seriesOf(scraped), seriesOf(text));
    for (const [name, f] of text) {
      assert.equal(scraped.get(name)?.type, f.type, name);
      assert.equal(scraped.get(name)?.help, f.help, name);
    }
    assert.deepEqual(reg.names, [...text.keys()]);
    assert.equal(sampleValue(scraped, 'cuop_cache_hits_total', { tier: 'disk' }), 2);
    assert.equal(sampleValue(scraped, 'cuop_cache_hits_total', { tier: 'memory' }), 1);
    assert.equal(sampleValue(scraped, 'cuop_cache_misses_total'), 0);
    assert.equal(sampleValue(scraped, 'cuop_cache_kernels', { tier: 'disk' }), 2);
    const saved = cache.getStats().process.savedCompileMs;
    assert.ok(saved > 0, 'the hits saved the stored nvcc times');
    assert.equal(sampleValue(scraped, 'cuop_cache_saved_compile_seconds_total'), saved / 1000);

    // Read at scrape time: another hit shows in the next scrape, without registering again.
    await jit.compile(specs[0]!, 'sm_90');
    const later = parsePrometheusText(await registry.metrics());
    assert.equal(sampleValue(later, 'cuop_cache_hits_total', { tier: 'memory' }), 2);

    // Scope all: both "processes" (the first compiled twice and hit once).
    reg.unregister();
    assert.equal(await registry.metrics(), '\n', 'unregister removed every family');
    registerCacheMetrics(cache, registry, { scope: 'all', labels: { service: 'render' } });
    const all = parsePrometheusText(await registry.metrics());
    assert.equal(sampleValue(all, 'cuop_cache_misses_total', { service: 'render' }), 2);
    assert.equal(sampleValue(all, 'cuop_cache_compiles_total', { service: 'render' }), 2);
    assert.equal(sampleValue(all, 'cuop_cache_hits_total', { service: 'render', tier: 'memory' }), 3);
    assert.ok(
      sampleValue(all, 'cuop_cache_compile_seconds_total', { service: 'render' }) > 0,
      'nvcc took time',
    );
    // A second registration of the same names is prom-client's error, and leaves the first in place.
    assert.throws(() => registerCacheMetrics(cache, registry), /already been registered/);
    assert.equal(
      sampleValue(parsePrometheusText(await registry.metrics()), 'cuop_cache_misses_total', {
        service: 'render',
      }),
      2,
    );
  } finally {
    await cache.close();
  }
});

/** Runs an ES module script in a fresh node with the repository as its working directory; returns its JSON line. */
function probe(script: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CUOP_CODE_CACHE: '0' },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

test('importing cuop (the sources, the bundle) and using its cache loads no prom-client; registerCacheMetrics does', () => {
  for (const entry of [pathToFileURL(join(BUILD_SRC, 'index.js')).href, 'cuop']) {
    const out = probe(`
      import { createRequire } from 'node:module';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((p) => /[\\\\/]prom-client[\\\\/]/.test(p));
      const cuop = await import(${JSON.stringify(entry)});
      const cache = new cuop.KernelCache({ dir: null, env: {} });
      const spec = { source: 'x', nameExpressions: ['k'], options: [], compiler: { id: 'nvcc', version: '13.0' }, target: 'sm_90', imageKind: 'cubin' };
      const image = Buffer.alloc(64, 1);
      await cache.getOrCompile(spec, async () => ({ image, imageKind: 'cubin', target: 'sm_90', log: '', loweredNames: { k: 'k' }, compileMs: 5, compiler: spec.compiler }));
      cuop.toPrometheusText(cache.getStats());
      const before = loaded();
      const reg = cuop.registerCacheMetrics(cache);
      const after = loaded();
      const { register } = createRequire(import.meta.url)('prom-client');
      const text = await register.metrics();
      reg.unregister();
      await cache.close();
      console.log(JSON.stringify({ before, after, misses: /^cuop_cache_misses_total 1$/m.test(text) }));
    `);
    assert.deepEqual(out, { before: false, after: true, misses: true }, entry);
  }
});

test('without prom-client where cuop is installed, registerCacheMetrics says how to get it (PromClientMissingError)', () => {
  // The three files the function needs, copied where no node_modules can be found.
  const alone = tempDir('no-prom-client');
  for (const f of ['api/metrics.js', 'cache/metrics.js', 'cuda/errors.js']) {
    mkdirSync(dirname(join(alone, f)), { recursive: true });
    copyFileSync(join(BUILD_SRC, f), join(alone, f));
  }
  writeFileSync(join(alone, 'package.json'), '{"type":"module"}\n');
  const url = pathToFileURL(join(alone, 'api/metrics.js')).href;
  const out = probe(`
    const m = await import(${JSON.stringify(url)});
    try {
      m.registerCacheMetrics({ getStats() { throw new Error('not reached'); } });
      console.log(JSON.stringify({ threw: false }));
    } catch (e) {
      console.log(JSON.stringify({ name: e.name, typed: e instanceof m.PromClientMissingError, message: e.message }));
    }
  `);
  assert.equal(out['name'], 'PromClientMissingError');
  assert.equal(out['typed'], true);
  assert.match(String(out['message']), /npm install prom-client/);
  assert.match(String(out['message']), /Cannot find module 'prom-client'/);
  assert.ok(new PromClientMissingError('x') instanceof Error);
});
