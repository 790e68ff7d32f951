// npm run bench:deploy — the deploy-warm workflow on this host, as a user runs it (the real CLI, real nvcc): record
// the kernels of a small run of the operators, warm them into empty dirs with --jobs 1 and --jobs 2, export a bundle,
// import it into a fresh dir, check that every kernel hits. Prints each command, its output and its wall time.
// Usage: node build/bench/deploy-warm.js [workDir]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../src/cache/kernel-cache.js';
import { JitCompiler } from '../src/jit/index.js';
import { elementwiseSource, ew, lowerExpression, softmaxSource } from '../src/ops/index.js';
import { kernelSpecFrom } from '../src/ops/elementwise.js';
import { kernelSpecOf } from '../src/ops/gemm.js';
import { GEMM_CONFIGS, gemmSource } from '../src/ops/gemm-source.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const work = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'cuop-deploy-'));
const manifest = join(work, 'model.manifest');

// A run's kernels: GEMMs of three shapes' configs in f32 and f16, a softmax, two fused elementwise ops.
const specs = [
  kernelSpecOf(
    gemmSource({
      dtype: 'float32',
      transA: false,
      transB: false,
      config: GEMM_CONFIGS.f32Large,
      aligned: true,
    }),
  ),
  kernelSpecOf(
    gemmSource({
      dtype: 'float32',
      transA: false,
      transB: false,
      config: GEMM_CONFIGS.f32Small,
      aligned: false,
    }),
  ),
  kernelSpecOf(
    gemmSource({
      dtype: 'float16',
      transA: false,
      transB: true,
      config: GEMM_CONFIGS.mmaLarge,
      aligned: true,
    }),
  ),
  kernelSpecOf(
    gemmSource({
      dtype: 'float16',
      transA: false,
      transB: false,
      config: GEMM_CONFIGS.mmaSmall,
      aligned: true,
    }),
  ),
  kernelSpecFrom(softmaxSource({ dtype: 'float32', shape: 'warp', vec: 4 })),
  kernelSpecFrom(
    elementwiseSource({ expr: lowerExpression(ew.input(0).add(ew.input(1))), dtype: 'float32', vec: 4 }),
  ),
  kernelSpecFrom(
    elementwiseSource({
      expr: lowerExpression(ew.input(0).mul(ew.input(1)).add(1.5).gelu()),
      dtype: 'float16',
      vec: 8,
    }),
  ),
];

// Record: the lookups of the run through a recording JIT (compiling off: recording needs no compiler).
const recordCache = new KernelCache({ dir: null, env: {}, logger: { debug: () => {}, warn: () => {} } });
const recorder = new JitCompiler({
  cache: recordCache,
  compiler: 'nvcc',
  allowCompile: false,
  record: manifest,
});
for (const s of specs) await recorder.compile(s, 'sm_90').catch(() => {});
await recordCache.close();

const env: NodeJS.ProcessEnv = {};
for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CUOP_')) env[k] = v;
env['CUOP_CODE_CACHE'] = '0';
const rows: [string, number][] = [];
function cuop(...args: string[]): void {
  const shown = `cuop ${args.map((a) => a.replace(work, '$W')).join(' ')}`;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const s = (performance.now() - t0) / 1000;
  rows.push([shown, s]);
  console.log(`$ ${shown}    # ${s.toFixed(1)} s, exit ${r.status}`);
  const out = `${r.stdout}${r.stderr}`.replaceAll(work, '$W').trim();
  if (out) console.log(out.replace(/^/gm, '  '));
}

console.log(`recorded ${specs.length} kernel specs into $W/model.manifest (Node ${process.version})`);
cuop('cache', '--cache-dir', join(work, 'jobs1'), 'warm', manifest, '--jobs', '1');
cuop('cache', '--cache-dir', join(work, 'jobs2'), 'warm', manifest, '--jobs', '2');
cuop('cache', '--cache-dir', join(work, 'jobs2'), 'warm', manifest);
const bundle = join(work, 'model.cuopbundle');
cuop('cache', '--cache-dir', join(work, 'jobs2'), 'export', bundle, '--manifest', manifest);
cuop('cache', '--cache-dir', join(work, 'fresh'), 'check', manifest);
cuop('cache', '--cache-dir', join(work, 'fresh'), 'import', bundle, '--arch', 'sm_90');
cuop('cache', '--cache-dir', join(work, 'fresh'), 'import', bundle, '--arch', 'sm_90');
cuop('cache', '--cache-dir', join(work, 'fresh'), 'check', manifest);
cuop('cache', '--cache-dir', join(work, 'other'), 'import', bundle, '--arch', 'sm_80');
const [j1, j2] = [rows[0]![1], rows[1]![1]];
console.log(
  `\nwarm --jobs 1: ${j1.toFixed(1)} s; --jobs 2: ${j2.toFixed(1)} s (${(j1 / j2).toFixed(2)}× faster); bundle ` +
    `${(statSync(bundle).size / 1024).toFixed(1)} KiB`,
);
