// Last-axis sum and softmax on the GPU host: the split path (few long rows over many blocks) against one block per
// row, and a device-to-device copy of the same bytes as the bandwidth ceiling, timed with events (median of 20 after
// warm-up). Inputs are random; sums are checked against a float64 reference, softmax rows must sum to 1.
// Usage: node build/bench/reduce.js
import { KernelCache } from '../src/cache/index.js';
import { JitCompiler } from '../src/jit/index.js';
import { Reduce, Softmax } from '../src/ops/index.js';
import { softmaxSpec } from '../src/ops/softmax.js';
import { launchRows, reduceSpec, splitPlan } from '../src/ops/reduce.js';
import { Tensor } from '../src/ops/tensor.js';
import { Device } from '../src/runtime/index.js';

const device = Device.get(0);
const jit = new JitCompiler({ cache: new KernelCache({ dir: null }) });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;

function timeMs(run: () => Promise<void> | void): Promise<number> {
  return (async () => {
    for (let i = 0; i < 3; i++) await run();
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const a = device.createEvent({ timing: true }).record();
      await run();
      const b = device.createEvent({ timing: true }).record();
      b.synchronize();
      times.push(b.elapsedSince(a));
    }
    return median(times);
  })();
}

console.log(`${device.name}, ${device.multiprocessorCount} SMs; float32 sum over the last axis`);
console.log('shape            split plan          split ms  GB/s   one block/row ms  GB/s   copy ms  GB/s');
for (const [rows, n] of [
  [1, 1 << 26],
  [8, 1 << 24],
  [64, 1 << 21],
  [1024, 65_536],
] as [number, number][]) {
  const host = new Float32Array(rows * n);
  for (let i = 0; i < host.length; i++) host[i] = Math.random() - 0.25;
  const x = Tensor.fromArray(device, host, [rows, n]);
  const out = Tensor.empty(device, [rows]);
  const op = new Reduce('sum');
  const split = await timeMs(() => op.forward([x], [out], { jit }));
  const got = out.toArray();
  let worst = 0;
  for (let r = 0; r < rows; r++) {
    let ref = 0;
    for (let j = 0; j < n; j++) ref += host[r * n + j] as number;
    worst = Math.max(worst, Math.abs((got[r] as number) - ref) / Math.max(1, Math.abs(ref)));
  }
  if (!(worst < 1e-4)) throw new Error(`rows=${rows} n=${n}: relative error ${worst}`);
  const block = await timeMs(() =>
    launchRows('sum', x, out, { rows, n, vec: 4 }, (shape) => reduceSpec('sum', 'float32', shape, 4), {
      jit,
    }),
  );
  const dst = device.alloc(rows * n * 4);
  const copy = await timeMs(() => {
    dst.copyFrom(x.buffer);
  });
  const bytes = rows * n * 4;
  const gbs = (ms: number, b: number) => (b / ms / 1e6).toFixed(0).padStart(5);
  const plan = splitPlan(rows, n, 4, device.multiprocessorCount);
  console.log(
    `${`[${rows}, ${n}]`.padEnd(17)}${(plan ? `${plan.pieces} × ${plan.chunk}` : 'none').padEnd(20)}` +
      `${split.toFixed(3).padStart(8)} ${gbs(split, bytes)}   ${block.toFixed(3).padStart(16)} ${gbs(block, bytes)}` +
      `  ${copy.toFixed(3).padStart(7)} ${gbs(copy, 2 * bytes)}`,
  );
  for (const t of [x, out]) t.dispose();
  dst.dispose();
}
console.log('\nfloat32 softmax over the last axis (bytes moved: 2 reads + 1 write of the tensor)');
console.log('shape            split ms  GB/s   one block/row ms  GB/s');
for (const [rows, n] of [
  [1, 1 << 24],
  [8, 1 << 22],
  [64, 1 << 19],
] as [number, number][]) {
  const host = new Float32Array(rows * n);
  for (let i = 0; i < host.length; i++) host[i] = (Math.random() - 0.5) * 8;
  const x = Tensor.fromArray(device, host, [rows, n]);
  const out = Tensor.empty(device, [rows, n]);
  const split = await timeMs(() => new Softmax().forward([x], [out], { jit }));
  const y = out.toArray();
  for (let r = 0; r < rows; r++) {
    let total = 0;
    for (let j = 0; j < n; j++) total += y[r * n + j] as number;
    if (!(Math.abs(total - 1) < 1e-3))
      throw new Error(`softmax rows=${rows} n=${n}: row ${r} sums to ${total}`);
  }
  const block = await timeMs(() =>
    launchRows('softmax', x, out, { rows, n, vec: 4 }, (shape) => softmaxSpec('float32', shape, 4), { jit }),
  );
  const bytes = 3 * rows * n * 4;
  const gbs = (ms: number) => (bytes / ms / 1e6).toFixed(0).padStart(5);
  console.log(
    `${`[${rows}, ${n}]`.padEnd(17)}${split.toFixed(3).padStart(8)} ${gbs(split)}   ${block.toFixed(3).padStart(16)} ${gbs(block)}`,
  );
  for (const t of [x, out]) t.dispose();
}
await jit.cache.close();
