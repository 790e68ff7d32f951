// Host cost of one Gemm.forward with its kernel resident, against the bare kernel.launch it ends in (GPU host).
// Small matrices so the GPU never limits: the numbers are the operator's and the launch's host time.
import { performance } from 'node:perf_hooks';

import { KernelCache } from '../src/cache/index.js';
import { JitCompiler } from '../src/jit/index.js';
import { Gemm, kernelSpecOf } from '../src/ops/gemm.js';
import { gemmSource } from '../src/ops/gemm-source.js';
import { Tensor } from '../src/ops/tensor.js';
import { Device, f32, i32 } from '../src/runtime/index.js';

const device = Device.get(0);
const n = 64;
const jit = new JitCompiler({ cache: new KernelCache({ dir: null }) });
const A = Tensor.fromArray(device, new Float32Array(n * n).fill(1), [n, n]);
const B = Tensor.fromArray(device, new Float32Array(n * n).fill(1), [n, n]);
const C = Tensor.empty(device, [n, n]);
const op = new Gemm();
await op.forward([A, B], [C], { jit });
const gen = gemmSource(
  op.specFor({ M: n, N: n, K: n }, [A.devicePtr, B.devicePtr, C.devicePtr], device.multiprocessorCount),
);
const kernel = await jit.kernel(kernelSpecOf(gen), device);
const N = 20_000;
const rounds = 7;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
const forwardUs: number[] = [];
const launchUs: number[] = [];
const args = [A, B, C, i32(n), i32(n), i32(n), f32(1), f32(0)];
const cfg = { grid: gen.grid(n, n), block: gen.block, sharedMem: gen.sharedMemBytes };
for (let r = 0; r < rounds; r++) {
  let t = performance.now();
  for (let i = 0; i < N; i++) await op.forward([A, B], [C], { jit });
  device.synchronize();
  forwardUs.push(((performance.now() - t) * 1000) / N);
  t = performance.now();
  for (let i = 0; i < N; i++) kernel.launch(cfg, args);
  device.synchronize();
  launchUs.push(((performance.now() - t) * 1000) / N);
}
console.log(
  JSON.stringify({
    forwardUs: median(forwardUs),
    launchUs: median(launchUs),
    note: `Gemm f32 ${n}³, ${rounds}×${N}`,
  }),
);
await jit.cache.close();
