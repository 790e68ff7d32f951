// Where a fresh process's first disk hit goes (GPU host): each step of JitCompiler.kernel() timed separately, for the
// first kernel of the process and then for a second kernel (same steps, code now warm). Run it in a new process per
// sample: node build/bench/fresh-process.js <cacheDir> (the cache must already hold the Gemm f32 and f16 kernels;
// bench/jit.js leaves them there when run with --keep <dir>).
import { performance } from 'node:perf_hooks';

import { KernelCache } from '../src/cache/index.js';
import { JitCompiler } from '../src/jit/index.js';
import { Gemm, kernelSpecOf } from '../src/ops/gemm.js';
import { gemmSource } from '../src/ops/gemm-source.js';
import { Device, i32, f32 } from '../src/runtime/index.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: fresh-process.js <cacheDir>');
const t0 = performance.now();
const device = Device.get(0);
device.makeCurrent();
const tInit = performance.now();
const jit = new JitCompiler({ cache: new KernelCache({ dir }) });
const tCache = performance.now();
await jit.compilerInfo();
const tInfo = performance.now();
const n = 1024;
const steps: Record<string, number> = {
  'cuInit + context': tInit - t0,
  'KernelCache open': tCache - tInit,
  'compiler identity (loads NVRTC)': tInfo - tCache,
};
const buf = device.alloc(n * n * 4);
for (const dtype of ['float32', 'float16'] as const) {
  const gen = gemmSource(
    new Gemm({ dtype }).specFor(
      { M: n, N: n, K: n },
      [buf.devicePtr, buf.devicePtr, buf.devicePtr],
      device.multiprocessorCount,
    ),
  );
  const spec = kernelSpecOf(gen);
  let t = performance.now();
  const lookup = await jit.compile(spec, device.arch, device);
  steps[`${dtype}: cache lookup (${lookup.tier})`] = performance.now() - t;
  t = performance.now();
  const mod = device.loadModule(lookup.entry.image);
  steps[`${dtype}: cuModuleLoadData`] = performance.now() - t;
  t = performance.now();
  const k = mod.getKernel(lookup.entry.meta.loweredNames[spec.name] ?? spec.name, spec.signature);
  steps[`${dtype}: cuModuleGetFunction`] = performance.now() - t;
  t = performance.now();
  if (gen.sharedMemBytes > 48 * 1024) k.setMaxDynamicSharedMemory(gen.sharedMemBytes);
  k.launch({ grid: gen.grid(n, n), block: gen.block, sharedMem: gen.sharedMemBytes }, [
    buf,
    buf,
    buf,
    i32(n),
    i32(n),
    i32(n),
    f32(1),
    f32(0),
  ]);
  steps[`${dtype}: first launch (queued)`] = performance.now() - t;
  t = performance.now();
  device.synchronize();
  steps[`${dtype}: synchronize`] = performance.now() - t;
}
buf.dispose();
await jit.cache.close();
console.log(JSON.stringify(steps));
