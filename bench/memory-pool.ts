// GPU host: what a fresh output costs, cuMemAlloc/cuMemFree against the device's stream-ordered pool
// (cuMemAllocAsync/cuMemFreeAsync): allocate + free of 1 MB, and an elementwise add whose output is new each call.
// Interleaved rounds, medians. Usage: node build/bench/memory-pool.js [rounds=7]
import { Add, Tensor } from '../src/ops/index.js';
import { Device } from '../src/runtime/index.js';

const rounds = Number(process.argv[2] ?? 7);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const device = Device.get(0);
const N = 2000;
const alloc = { plain: [] as number[], pooled: [] as number[] };
const op = { plain: [] as number[], pooled: [] as number[] };
const n = 1 << 18; // 1 MB of f32
const a = Tensor.fromArray(device, new Float32Array(n).fill(1), [n]);
const adder = new Add();
for (let r = 0; r < rounds + 1; r++) {
  for (const kind of ['plain', 'pooled'] as const) {
    const get = kind === 'plain' ? (b: number) => device.alloc(b) : (b: number) => device.allocAsync(b);
    device.synchronize();
    let t = performance.now();
    for (let i = 0; i < N; i++) get(1 << 20).dispose();
    device.synchronize();
    if (r > 0) alloc[kind].push(((performance.now() - t) * 1000) / N);
    // a + a into a fresh output each call, its memory from cuMemAlloc or from the pool.
    t = performance.now();
    for (let i = 0; i < N / 4; i++) {
      const out = new Tensor(get(n * 4), [n], 'float32');
      await adder.forward([a, a], [out]);
      out.dispose();
    }
    device.synchronize();
    if (r > 0) op[kind].push(((performance.now() - t) * 1000) / (N / 4));
  }
}
console.log(`${device.name}: medians of ${rounds} interleaved rounds`);
console.log(`| | cuMemAlloc/cuMemFree | memory pool | ratio |`);
console.log(`|---|---|---|---|`);
console.log(
  `| allocate + free 1 MB | ${median(alloc.plain).toFixed(2)} µs | ${median(alloc.pooled).toFixed(2)} µs | ${(median(alloc.plain) / median(alloc.pooled)).toFixed(1)}× |`,
);
console.log(
  `| add(a, a) into a fresh 1 MB output | ${median(op.plain).toFixed(2)} µs | ${median(op.pooled).toFixed(2)} µs | ${(median(op.plain) / median(op.pooled)).toFixed(1)}× |`,
);
a.dispose();
