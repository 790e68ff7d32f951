// `cuop demo`: the seed's own example, end to end. A GEMM wrapped in JitWrapper with the persistent cache on:
// first call (compile, or a disk hit when the cache is warm), a repeat call (memory), and a fresh process (disk);
// checked against a float64 reference, timed, with the cache's stats. On a host without a GPU it compiles through
// the cache with nvcc and says why it cannot launch.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { JitWrapper } from '../api/index.js';
import type { CacheStatsSnapshot } from '../cache/index.js';
import { driverAvailable } from '../cuda/driver.js';
import { Gemm, kernelSpecOf } from '../ops/gemm.js';
import { gemmSource } from '../ops/gemm-source.js';
import { Tensor, type DType } from '../ops/tensor.js';
import { Device } from '../runtime/index.js';

interface DemoOptions {
  cacheDir?: string;
  size: number;
  dtype: string;
  child: boolean;
  /** internal: run as the fresh process and print one JSON line */
  childRun?: boolean;
}

const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];

function tierOf(before: CacheStatsSnapshot, after: CacheStatsSnapshot): string {
  if (after.compiles > before.compiles) return 'compiled';
  for (const t of Object.keys(after.hits)) if ((after.hits[t] ?? 0) > (before.hits[t] ?? 0)) return t;
  return 'memory (resident)';
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  if (!DTYPES.includes(opts.dtype as DType)) {
    console.error(`--dtype must be one of ${DTYPES.join(', ')}`);
    return 2;
  }
  const dtype = opts.dtype as DType;
  const n = opts.size;
  const wrapper = new JitWrapper(new Gemm({ dtype }));
  wrapper.enablePersistentCache(true);
  if (opts.cacheDir) wrapper.setPersistentCacheDirectory(opts.cacheDir);
  const jit = wrapper.jit;

  if (!driverAvailable()) return cpuOnlyDemo(opts, wrapper);

  const device = Device.get(0);
  const A = Tensor.fromArray(device, randomValues(n * n), [n, n], dtype);
  const B = Tensor.fromArray(device, randomValues(n * n), [n, n], dtype);
  const C = Tensor.empty(device, [n, n], dtype);

  const timeForward = async (): Promise<{ ms: number; tier: string }> => {
    const before = jit.getStats().process;
    const t = performance.now();
    await wrapper.forward([A, B], [C]);
    device.synchronize();
    return { ms: performance.now() - t, tier: tierOf(before, jit.getStats().process) };
  };

  if (opts.childRun) {
    const first = await timeForward();
    console.log(JSON.stringify(first));
    await jit.cache.close();
    return 0;
  }

  const info = await jit.compilerInfo();
  console.log(`cuop demo — GEMM ${n}×${n}×${n} ${dtype} through JitWrapper with the persistent cache`);
  console.log(
    `  device ${device.name} (${device.arch}), compiler ${info.id} ${info.version}, cache ${jit.cache.dir ?? 'memory only'}`,
  );
  const rows: [string, string, string][] = [];
  const first = await timeForward();
  rows.push(['first forward in this process', `${first.ms.toFixed(2)} ms`, first.tier]);
  const repeat = await timeForward();
  rows.push(['repeat forward', `${repeat.ms.toFixed(3)} ms`, repeat.tier]);

  if (opts.child) {
    await jit.cache.close();
    const child = runChild(opts);
    rows.push(['first forward in a fresh process', `${child.ms.toFixed(2)} ms`, child.tier]);
  }

  // Correctness: a sample of rows against a float64 reference of the dtype-rounded inputs.
  const a = A.toArray();
  const b = B.toArray();
  const c = C.toArray();
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 16))) {
    for (let j = 0; j < n; j++) {
      let ref = 0;
      for (let k = 0; k < n; k++) ref += (a[i * n + k] as number) * (b[k * n + j] as number);
      num += ((c[i * n + j] as number) - ref) ** 2;
      den += ref * ref;
    }
  }
  const relErr = Math.sqrt(num / (den || 1));
  const tol = dtype === 'float32' ? 1e-5 : 1e-2;

  // Throughput of the cached kernel.
  const start = device.createEvent();
  const end = device.createEvent();
  const reps = 20;
  start.record();
  for (let r = 0; r < reps; r++) await wrapper.forward([A, B], [C]);
  end.record();
  end.synchronize();
  const ms = end.elapsedSince(start) / reps;
  rows.push([
    'GEMM kernel time (mean of 20)',
    `${ms.toFixed(3)} ms`,
    `${((2 * n ** 3) / (ms * 1e9)).toFixed(1)} TFLOP/s`,
  ]);

  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  for (const [x, y, z] of rows) console.log(`  ${x.padEnd(w0)}  ${y.padStart(w1)}  ${z}`);
  console.log(
    `  relative error vs float64 reference: ${relErr.toExponential(2)} (${relErr <= tol ? 'ok' : 'TOO LARGE'}, limit ${tol})`,
  );
  const s = wrapper.jit.getStats().all;
  console.log(
    `  cache (all processes): ${s.hits.memory} memory hits, ${s.hits.disk} disk hits, ${s.compiles} compiles, ` +
      `${s.savedCompileMs.toFixed(0)} ms of compiling saved`,
  );
  for (const t of [A, B, C]) t.dispose();
  start.dispose();
  end.dispose();
  await wrapper.jit.cache.close();
  return relErr <= tol ? 0 : 1;
}

/**
 * Without a driver: the same GEMM kernel (as generated for an H100: 132 SMs, aligned buffers) goes through the
 * same cache with nvcc, in this process and in a fresh one, to show what persists. Nothing is launched.
 */
async function cpuOnlyDemo(opts: DemoOptions, wrapper: JitWrapper<Gemm>): Promise<number> {
  const jit = wrapper.jit;
  const n = opts.size;
  const spec = kernelSpecOf(gemmSource(wrapper.op.specFor({ M: n, N: n, K: n }, [256n, 256n, 256n], 132)));
  const lookup = async (): Promise<{ ms: number; tier: string }> => {
    const before = jit.getStats().process;
    const t = performance.now();
    await jit.compile(spec, 'sm_90');
    return { ms: performance.now() - t, tier: tierOf(before, jit.getStats().process) };
  };
  if (opts.childRun) {
    console.log(JSON.stringify(await lookup()));
    await jit.cache.close();
    return 0;
  }
  const info = await jit.compilerInfo();
  console.log(
    'cuop demo: no CUDA driver on this host, so the GEMM kernel is compiled and cached but not launched (`cuop info` shows where cuop looked).',
  );
  console.log(`  compiler ${info.id} ${info.version}, target sm_90, cache ${jit.cache.dir ?? 'memory only'}`);
  const rows: [string, { ms: number; tier: string }][] = [
    ['first lookup in this process', await lookup()],
    ['repeat lookup', await lookup()],
  ];
  await jit.cache.close();
  if (opts.child) rows.push(['first lookup in a fresh process', runChild(opts)]);
  for (const [label, r] of rows)
    console.log(`  ${label.padEnd(32)} ${r.ms.toFixed(2).padStart(9)} ms  ${r.tier}`);
  return 0;
}

/** Run `cuop demo --child-run` in a new process and read back its one JSON line. */
function runChild(opts: DemoOptions): { ms: number; tier: string } {
  // The script this process runs (build/src/cli/main.js or the bundled dist/cli/main.js).
  const script = process.argv[1] ?? fileURLToPath(new URL('./main.js', import.meta.url));
  const args = [script, 'demo', '--size', String(opts.size), '--dtype', opts.dtype, '--child-run'];
  if (opts.cacheDir) args.push('--cache-dir', opts.cacheDir);
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as { ms: number; tier: string };
  } catch {
    return { ms: NaN, tier: `failed: ${(r.stderr || line).split('\n')[0] ?? ''}` };
  }
}

function randomValues(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}
