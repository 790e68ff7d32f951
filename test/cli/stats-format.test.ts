// `cuop cache stats --format prometheus|json`, run for real (build/src/cli/main.js in a child process) on a cache
// directory that two cache objects filled with nvcc-built kernels.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KernelCache } from '../../src/cache/kernel-cache.js';
import { CACHE_METRICS } from '../../src/cache/metrics.js';
import type { CacheStats } from '../../src/cache/stats.js';
import { countingCompile, recordingLogger, specFor, tempDir } from '../cache/fixtures.js';
import { parsePrometheusText, sampleValue } from '../cache/prometheus-text.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const quiet = recordingLogger().logger;
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function cuop(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CUOP_')) env[k] = v;
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  if (r.error) throw r.error;
  return r;
}

async function filledDir(): Promise<string> {
  const dir = tempDir('cli-stats-format');
  dirs.push(dir);
  for (const round of [0, 1]) {
    const c = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
    for (const i of [0, 1, 2]) await c.getOrCompile(specFor(400 + i), countingCompile(400 + i).compile);
    if (round === 0) await c.getOrCompile(specFor(400), countingCompile(400).compile);
    await c.close();
  }
  return dir;
}

test('--format prometheus prints every family of all processes, parseable, with the numbers of --format json', async () => {
  const dir = await filledDir();
  const prom = cuop(['cache', '--cache-dir', dir, 'stats', '--format', 'prometheus']);
  assert.equal(prom.status, 0, prom.stderr);
  assert.equal(prom.stderr, '');
  const families = parsePrometheusText(prom.stdout);
  assert.deepEqual(
    [...families.keys()],
    CACHE_METRICS.map((f) => f.name),
  );
  const json = cuop(['cache', '--cache-dir', dir, 'stats', '--format', 'json']);
  assert.equal(json.status, 0, json.stderr);
  const stats = JSON.parse(json.stdout) as CacheStats & { dir: string };
  assert.equal(stats.dir, dir);
  // The first object compiled 3 and hit memory once; the second hit the disk 3 times.
  assert.equal(sampleValue(families, 'cuop_cache_compiles_total'), 3);
  assert.equal(sampleValue(families, 'cuop_cache_hits_total', { tier: 'memory' }), 1);
  assert.equal(sampleValue(families, 'cuop_cache_hits_total', { tier: 'disk' }), 3);
  assert.equal(sampleValue(families, 'cuop_cache_kernels', { tier: 'disk' }), 3);
  assert.equal(sampleValue(families, 'cuop_cache_hits_total', { tier: 'disk' }), stats.all.hits.disk);
  assert.equal(sampleValue(families, 'cuop_cache_compile_seconds_total'), stats.all.compileMs / 1000);
  assert.equal(
    sampleValue(families, 'cuop_cache_saved_compile_seconds_total'),
    stats.all.savedCompileMs / 1000,
  );
  assert.equal(sampleValue(families, 'cuop_cache_read_bytes_total'), stats.all.bytesRead);
  assert.equal(sampleValue(families, 'cuop_cache_hit_ratio'), stats.all.hitRate);
  assert.equal(sampleValue(families, 'cuop_cache_stats_files'), stats.processFiles);
  // --json is --format json; without either, the human form (--format text), which is not JSON.
  const flag = cuop(['cache', '--cache-dir', dir, 'stats', '--json']);
  assert.deepEqual((JSON.parse(flag.stdout) as CacheStats).all, stats.all);
  const plain = cuop(['cache', '--cache-dir', dir, 'stats']);
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(plain.stdout, cuop(['cache', '--cache-dir', dir, 'stats', '--format', 'text']).stdout);
  const first = plain.stdout.split('\n')[0] ?? '';
  assert.ok(first.startsWith('cache dir') && first.endsWith(dir), plain.stdout);
  assert.throws(() => JSON.parse(plain.stdout) as unknown, SyntaxError);
});

test('an unknown --format is refused with the choices, and prints no metrics', () => {
  const dir = tempDir('cli-stats-bad-format');
  dirs.push(dir);
  const r = cuop(['cache', '--cache-dir', dir, 'stats', '--format', 'xml']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /argument 'xml' is invalid\. Allowed choices are text, json, prometheus/);
  assert.equal(r.stdout, '');
});
