/* global URL, process, console */
import { performance } from 'node:perf_hooks';
// A fresh process's open + first lookup to the image, with a breakdown, on any box with nvcc (notes/performance.md).
// Usage: CUOP_CACHE_DIR=<dir> node bench/first-lookup-cpu.mjs [dist|build]   (run twice: the first compiles)
const lib = new URL(
  process.argv[2] === 'build' ? '../build/src/index.js' : '../dist/index.js',
  import.meta.url,
).href;
const t0 = performance.now();
const { JitCompiler, KernelCache } = await import(lib);
const t1 = performance.now();
const cc = (await import(lib)).codeCache;
const dir = process.env.CUOP_CACHE_DIR ?? '/tmp/cuop-first-lookup';
const jit = new JitCompiler({ cache: new KernelCache({ dir }), compiler: 'nvcc' });
const t2 = performance.now();
await jit.compilerInfo();
const t3 = performance.now();
const spec = {
  source:
    'extern "C" __global__ void k(float* o, int n) { int i = threadIdx.x; if (i < n) o[i] = 2.0f * o[i]; }',
  name: 'k',
};
const spec2 = { ...spec, source: spec.source + '\n// 2' };
const r = await jit.compile(spec, 'sm_90');
const t4 = performance.now();
const r2 = await jit.compile(spec2, 'sm_90');
const t5 = performance.now();
await jit.cache.close();
console.log(
  JSON.stringify({
    cc: cc?.used,
    tier: r.tier,
    tier2: r2.tier,
    import: +(t1 - t0).toFixed(2),
    ctor: +(t2 - t1).toFixed(2),
    identity: +(t3 - t2).toFixed(2),
    first: +(t4 - t3).toFixed(2),
    second: +(t5 - t4).toFixed(2),
    openPlusFirst: +(t4 - t1).toFixed(2),
  }),
);
{
  const a = performance.now();
  const jit2 = new JitCompiler({ cache: new KernelCache({ dir }), compiler: 'nvcc' });
  const b = performance.now();
  await jit2.compilerInfo();
  const c = performance.now();

  await jit2.compile(spec2, 'sm_90');
  const d = performance.now();
  console.log(
    'warm again: ctor',
    (b - a).toFixed(3),
    'identity',
    (c - b).toFixed(3),
    'hit',
    (d - c).toFixed(3),
  );
  await jit2.cache.close();
}
