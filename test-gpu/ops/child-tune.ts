// Child process for the GEMM tuning GPU test and bench (bench/gemm-tune-reuse.ts): open the cache in argv[2], run one
// forward of a Gemm with `tune` = argv[3] ('auto' | 'exhaustive') on an M×N×K problem (argv[4..6], dtype argv[7]),
// check its result against an untuned Gemm's, and print one JSON line: the operator's tuning counters, the decision,
// the cache's compile count and the wall time of the tuned forward (first call: tuning or reuse, compile, launch).
import { performance } from 'node:perf_hooks';

import { KernelCache } from '../../src/cache/index.js';
import { JitCompiler } from '../../src/jit/index.js';
import { Gemm } from '../../src/ops/gemm.js';
import { Tensor, type DType } from '../../src/ops/tensor.js';
import { tuningStats, type TuneMode } from '../../src/ops/tune.js';
import { Device } from '../../src/runtime/index.js';

const [dir, mode = 'auto', m = '2048', n = '2048', k = '1024', dtype = 'float16'] = process.argv.slice(2);
if (!dir) throw new Error('usage: child-tune.js <cacheDir> [auto|exhaustive] [M N K] [dtype]');
const [M, N, K] = [Number(m), Number(n), Number(k)];
const device = Device.get(0);
device.makeCurrent(); // driver init and context are not the tuner's cost
const jit = new JitCompiler({ cache: new KernelCache({ dir }) });
await jit.compilerInfo();
const rand = (len: number): Float64Array =>
  Float64Array.from({ length: len }, (_, i) => Math.sin(i * 12.9898) * 0.5);
const A = Tensor.fromArray(device, rand(M * K), [M, K], dtype as DType);
const B = Tensor.fromArray(device, rand(K * N), [K, N], dtype as DType);
const bias = Tensor.fromArray(device, rand(N), [N], dtype as DType);
const C = Tensor.empty(device, [M, N], dtype as DType);
const R = Tensor.empty(device, [M, N], dtype as DType);
const epilogue = { bias: true, activation: 'gelu' } as const;
const tuned = new Gemm({ dtype: dtype as DType, tune: mode as TuneMode, epilogue });
const compilesBefore = jit.getStats().process.compiles;
const t0 = performance.now();
await tuned.forward([A, B, bias], [C], { jit });
device.synchronize();
const forwardMs = performance.now() - t0;
const compiles = jit.getStats().process.compiles - compilesBefore;
await new Gemm({ dtype: dtype as DType, epilogue }).forward([A, B, bias], [R], { jit });
device.synchronize();
const c = C.toArray();
const r = R.toArray();
let num = 0;
let den = 0;
for (let i = 0; i < r.length; i++) {
  num += ((c[i] as number) - (r[i] as number)) ** 2;
  den += (r[i] as number) ** 2;
}
const t = tuned.lastTuning;
console.log(
  JSON.stringify({
    stats: tuned.tuningStats,
    process: tuningStats(),
    reused: t?.reused ?? null,
    timed: t?.timed ?? null,
    timingsReused: t?.timingsReused ?? null,
    candidates: t ? Object.keys(t.timings).length : null,
    winner: t?.winner ?? null,
    winnerMs: t?.ms ?? null,
    compiles,
    forwardMs,
    relError: Math.sqrt(num / (den || 1)),
  }),
);
for (const x of [A, B, bias, C, R]) x.dispose();
await jit.cache.close();
