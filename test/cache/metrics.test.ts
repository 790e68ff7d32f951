// The cache's Prometheus families (src/cache/metrics.ts) as text exposition 0.0.4, from a real cache: nvcc-built
// images compiled on misses, memory hits, disk hits of a second cache object on the same directory, a corrupt entry.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { memoizedCacheKey } from '../../src/cache/key.js';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { CacheLayout } from '../../src/cache/layout.js';
import {
  CACHE_METRICS,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  MetricLabelError,
  toPrometheusText,
} from '../../src/cache/metrics.js';
import { countingCompile, recordingLogger, specFor, tempDir } from './fixtures.js';
import { parsePrometheusText, sampleValue } from './prometheus-text.js';

const quiet = recordingLogger().logger;
const noMaintenance = { maintenanceIntervalMs: 0 };

/** A directory used by two cache objects (two "processes"): 3 compiles, 2 memory hits, 3 disk hits, 1 corrupt. */
async function usedCache(tag: string): Promise<{ dir: string; a: KernelCache; b: KernelCache }> {
  const dir = tempDir(tag);
  const a = new KernelCache({ dir, env: {}, logger: quiet, policy: noMaintenance });
  for (const i of [0, 1, 2]) await a.getOrCompile(specFor(300 + i), countingCompile(300 + i).compile);
  for (const i of [0, 1]) await a.getOrCompile(specFor(300 + i), countingCompile(300 + i).compile);
  await a.close(); // its stats file is written: `all` of the next cache object includes it
  const layout = new CacheLayout(dir);
  const bad = layout.kernelPath(memoizedCacheKey(specFor(302)), 'cubin', '');
  const bytes = readFileSync(bad);
  bytes[100] = bytes[100]! ^ 0xff;
  writeFileSync(bad, bytes);
  const b = new KernelCache({ dir, env: {}, logger: quiet, policy: noMaintenance });
  for (const i of [0, 1, 2]) await b.getOrCompile(specFor(300 + i), countingCompile(300 + i).compile);
  return { dir, a, b };
}

test('the text parses strictly; every family has HELP and TYPE; counters end in _total; values are the stats', async () => {
  const { b } = await usedCache('metrics-text');
  try {
    const stats = b.getStats();
    const text = toPrometheusText(stats);
    const families = parsePrometheusText(text);
    assert.deepEqual(
      [...families.keys()],
      CACHE_METRICS.map((f) => f.name),
      'every family, in order',
    );
    for (const f of families.values()) {
      assert.ok(f.help && f.help.length > 10, `${f.name} has a HELP text`);
      assert.ok(f.type === 'counter' || f.type === 'gauge', `${f.name}: ${f.type}`);
      assert.ok(f.name.startsWith('cuop_cache_'), f.name);
      assert.equal(f.type === 'counter', f.name.endsWith('_total'), `${f.name}: _total exactly on counters`);
      for (const s of f.samples) assert.ok(Number.isFinite(s.value), `${f.name} ${s.value}`);
    }
    assert.doesNotMatch(text, /^[^#].* \S+ \d+$/m, 'no timestamps (the textfile collector refuses them)');

    // The default scope is `all`: both cache objects. a: 3 compiles + 2 memory hits; b: 2 disk hits, 1 corrupt → compile.
    const all = stats.all;
    assert.equal(sampleValue(families, 'cuop_cache_hits_total', { tier: 'memory' }), 2);
    assert.equal(sampleValue(families, 'cuop_cache_hits_total', { tier: 'disk' }), 2);
    assert.equal(sampleValue(families, 'cuop_cache_misses_total'), 4);
    assert.equal(sampleValue(families, 'cuop_cache_compiles_total'), 4);
    assert.equal(sampleValue(families, 'cuop_cache_corrupt_found_total'), 1);
    assert.equal(sampleValue(families, 'cuop_cache_corrupt_repaired_total'), 1);
    assert.equal(sampleValue(families, 'cuop_cache_compile_seconds_total'), all.compileMs / 1000);
    assert.equal(sampleValue(families, 'cuop_cache_compile_seconds_total'), 1.6, '4 compiles of 400 ms');
    assert.equal(sampleValue(families, 'cuop_cache_saved_compile_seconds_total'), all.savedCompileMs / 1000);
    assert.equal(sampleValue(families, 'cuop_cache_read_bytes_total'), all.bytesRead);
    assert.ok(all.bytesRead > 0 && all.bytesWritten > 0);
    assert.equal(sampleValue(families, 'cuop_cache_written_bytes_total'), all.bytesWritten);
    assert.equal(sampleValue(families, 'cuop_cache_kernels', { tier: 'disk' }), 3);
    assert.equal(sampleValue(families, 'cuop_cache_kernels', { tier: 'memory' }), 3);
    assert.equal(sampleValue(families, 'cuop_cache_hit_ratio'), all.hitRate);
    assert.equal(sampleValue(families, 'cuop_cache_persistent_hit_ratio'), all.diskHitRate);
    assert.equal(sampleValue(families, 'cuop_cache_stats_files'), 2);
    for (const reason of Object.keys(all.evictions)) {
      assert.equal(sampleValue(families, 'cuop_cache_evictions_total', { reason }), 0);
    }
    assert.equal(families.get('cuop_cache_remote_events_total')!.samples.length, 0, 'no remote tier');

    // scope process: this cache object alone.
    const own = parsePrometheusText(toPrometheusText(stats, { scope: 'process' }));
    assert.equal(sampleValue(own, 'cuop_cache_hits_total', { tier: 'memory' }), 0);
    assert.equal(sampleValue(own, 'cuop_cache_hits_total', { tier: 'disk' }), 2);
    assert.equal(sampleValue(own, 'cuop_cache_misses_total'), 1);
  } finally {
    await b.close();
  }
});

test('label values and help text are escaped as the format requires; a bad extra label is a typed error', () => {
  assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  assert.equal(escapeHelp('a"b\\c\nd'), 'a"b\\\\c\\nd', 'HELP escapes backslash and line feed only');
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(Number.NaN), 'NaN');
  assert.equal(formatValue(0.25), '0.25');
  const cache = new KernelCache({ dir: null, env: {}, logger: quiet });
  try {
    const dir = 'C:\\cache "main"\nsecond line';
    const text = toPrometheusText(cache.getStats(), { labels: { dir } });
    const families = parsePrometheusText(text);
    for (const f of families.values()) for (const s of f.samples) assert.equal(s.labels['dir'], dir, f.name);
    assert.equal(sampleValue(families, 'cuop_cache_hits_total', { dir, tier: 'memory' }), 0);
    for (const bad of ['tier', '2x', 'a-b', '__reserved']) {
      assert.throws(
        () => toPrometheusText(cache.getStats(), { labels: { [bad]: 'x' } }),
        (e: unknown) => e instanceof MetricLabelError && e.message.includes(JSON.stringify(bad)),
      );
    }
  } finally {
    void cache.close();
  }
});

test("the tests' reader of the format refuses what the format forbids (so that its passing means something)", () => {
  const ok = '# HELP x_total h\n# TYPE x_total counter\nx_total{a="1"} 2\n';
  assert.equal(sampleValue(parsePrometheusText(ok), 'x_total', { a: '1' }), 2);
  for (const bad of [
    ok.slice(0, -1), // no final line feed
    '# TYPE x counter\nx 1\n# TYPE y gauge\ny 1\nx 2\n', // family split
    'x 1\n# TYPE x counter\n', // TYPE after samples
    '# TYPE x counters\nx 1\n', // unknown type
    'x{a="1\\t"} 1\n', // unknown escape
    'x{a="1"} one\n', // not a float
    'x{a="1"} 1\nx{a="1"} 2\n', // series repeated
    'x{a="1} 1\n', // unterminated value
    '1x 1\n', // bad name
  ]) {
    assert.throws(() => parsePrometheusText(bad), Error, JSON.stringify(bad));
  }
});
