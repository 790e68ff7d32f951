// npm run bench:maintenance — the maintenance commands on a big cache: `cuop cache stats`, `cuop cache ls`,
// `cuop cache verify` and `cuop cache shrink 100KB` at N entries (default 10 000), each as a fresh CLI process, wall time (what a user waits).
// Entries are put through the public KernelCache API with synthetic 8 KiB images (maintenance never looks inside an
// image but for its checksum), so this runs on any box. Shrink removes nearly everything, so each of its samples
// starts from a copy of the populated directory (cp -a keeps the mtimes the eviction order reads).
// Usage: node build/bench/maintenance.js [entries=10000] [samples=3]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../src/cache/index.js';
import type { CompileResult } from '../src/compiler/types.js';

const entries = Number(process.argv[2] ?? 10_000);
const samples = Number(process.argv[3] ?? 3);
// The package's bin (the bundled CLI), what `npx cuop` runs.
const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const quiet = { debug: () => {}, warn: () => {} };
const compiler = { id: 'nvcc', version: 'bench' } as const;

async function populate(dir: string): Promise<void> {
  // No background maintenance, and a size limit far above the population.
  const cache = new KernelCache({
    dir,
    logger: quiet,
    policy: { maintenanceIntervalMs: 0, maxDiskBytes: 2 ** 40, maxEntries: 10 * entries },
  });
  const batch = 64;
  for (let i = 0; i < entries; i += batch) {
    const work: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(entries, i + batch); j++) {
      const spec = {
        source: `extern "C" __global__ void k${j}(float* x) { x[0] = ${j}; }`,
        nameExpressions: [`k${j}`],
        options: [],
        target: 'sm_90',
        imageKind: 'cubin' as const,
        compiler,
      };
      const result: CompileResult = {
        image: randomBytes(8192),
        imageKind: 'cubin',
        target: 'sm_90',
        log: '',
        loweredNames: { [`k${j}`]: `k${j}` },
        compileMs: 100,
        compiler,
      };
      work.push(cache.getOrCompile(spec, () => Promise.resolve(result)));
    }
    await Promise.all(work);
  }
  await cache.close();
}

function timeCli(args: string[]): number {
  const t0 = performance.now();
  execFileSync(process.execPath, [cli, 'cache', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  return performance.now() - t0;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]): string =>
  `median ${median(xs).toFixed(0)} ms  (${xs.map((x) => x.toFixed(0)).join(', ')})`;

const root = mkdtempSync(join(tmpdir(), 'cuop-bench-maint-'));
try {
  const base = join(root, 'base');
  const t0 = performance.now();
  await populate(base);
  console.log(`populated ${entries} entries in ${((performance.now() - t0) / 1000).toFixed(1)} s (${base})`);
  // A cache at rest: the index trusts a shard only 2 s after its last change (see maintenance-index.ts).
  await new Promise((r) => setTimeout(r, 2500));
  timeCli(['--cache-dir', base, 'stats']); // the first run records what later runs reuse (the index summary)
  const stats: number[] = [];
  for (let i = 0; i < Math.max(5, samples); i++) stats.push(timeCli(['--cache-dir', base, 'stats']));
  const ls: number[] = [];
  for (let i = 0; i < samples; i++) ls.push(timeCli(['--cache-dir', base, 'ls', '--limit', '20']));
  const verify: number[] = [];
  for (let i = 0; i < samples; i++) verify.push(timeCli(['--cache-dir', base, 'verify', '--no-repair']));
  const shrink: number[] = [];
  for (let i = 0; i < samples; i++) {
    const work = join(root, `shrink-${i}`);
    execFileSync('cp', ['-a', base, work]);
    shrink.push(timeCli(['--cache-dir', work, 'shrink', '100KB']));
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`node ${process.version}, ${entries} entries of 8 KiB`);
  console.log(`cuop cache stats          ${fmt(stats)}`);
  console.log(`cuop cache ls --limit 20  ${fmt(ls)}`);
  console.log(`cuop cache verify         ${fmt(verify)}`);
  console.log(`cuop cache shrink 100KB   ${fmt(shrink)}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
