// GPU tests of row-wise softmax against float64 CPU references built from dtype-rounded random inputs, including
// rows of large values (1000 + …), rows with -inf entries, and a row that is entirely -inf (NaN, as PyTorch).
// Outputs live in buffers with a guard zone past the end; the whole buffer is poisoned with NaN bits before each run
// (float32: words 0x7fc00000; float16/bfloat16: bytes 0xff, i.e. 0xffff, a NaN in both formats and also right for
// buffers of an odd number of halves) and afterwards every element is checked, and the guard must still be poison.
// Kernels come from the default (global) JIT, as for a user who passes no `jit`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShapeError, Softmax, softmax, Tensor, type DType } from '../../src/ops/index.js';
import { splitPlan } from '../../src/ops/reduce.js';
import { Device } from '../../src/runtime/index.js';
import { gpuSkipReason } from '../helpers.js';
import {
  check,
  count,
  DTYPES,
  newSeed,
  poisonedOutput,
  randomValues,
  ROW_SHAPES as SHAPES,
  TOL,
} from './helpers.js';

const skip = gpuSkipReason;

/** Row-wise softmax in float64; a row whose max is -inf is all NaN. */
function reference(x: Float64Array, rows: number, n: number): Float64Array {
  const ref = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, x[r * n + j]!);
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.exp(x[r * n + j]! - m);
    for (let j = 0; j < n; j++) ref[r * n + j] = m === -Infinity ? NaN : Math.exp(x[r * n + j]! - m) / s;
  }
  return ref;
}

/**
 * Softmax of `values` (already dtype-exact) over `shape`, checked element by element. Where the reference is NaN
 * (all -inf rows) the output must be NaN too; to tell that from the poison, those runs pre-fill the output with 0.
 */
async function runValues(device: Device, label: string, values: Float64Array, shape: number[], dtype: DType) {
  const n = shape[shape.length - 1]!;
  const rows = count(shape) / n;
  const ref = reference(values, rows, n);
  const expectNaN = ref.some((v) => Number.isNaN(v));
  const x = Tensor.fromArray(device, values, shape, dtype);
  const out = poisonedOutput(device, shape, dtype);
  if (expectNaN) out.tensor.buffer.fillBytes(0);
  try {
    await new Softmax().forward([x], [out.tensor]);
    const got = out.read();
    if (!expectNaN) {
      check(label, got, ref, TOL[dtype]);
      return;
    }
    const keep: number[] = [];
    ref.forEach((v, i) => {
      if (Number.isNaN(v))
        assert.ok(Number.isNaN(got.values[i]), `${label}: element ${i} is ${got.values[i]}, want NaN`);
      else keep.push(i);
    });
    check(
      `${label} (rows that are not all -inf)`,
      { values: Float64Array.from(keep, (i) => got.values[i]!), guardHit: -1 },
      Float64Array.from(keep, (i) => ref[i]!),
      TOL[dtype],
    );
  } finally {
    x.dispose();
    out.tensor.dispose();
  }
}

test('softmax over the last axis, every dtype and shape', { skip }, async () => {
  const device = Device.get(0);
  for (const dtype of DTYPES) {
    for (const shape of SHAPES) {
      const seed = newSeed();
      const values = randomValues(shape, dtype, seed, 0, 4);
      await runValues(device, `softmax ${dtype}[${shape}] seed=${seed}`, values, shape, dtype);
    }
  }
});

test('large values (1000 ± 4) do not overflow', { skip }, async () => {
  const device = Device.get(0);
  for (const dtype of DTYPES) {
    for (const shape of [
      [4, 300],
      [3, 2000],
      [1, 33],
    ]) {
      const seed = newSeed();
      const values = randomValues(shape, dtype, seed, 1000, 4);
      await runValues(device, `softmax(1000 ± 4) ${dtype}[${shape}] seed=${seed}`, values, shape, dtype);
    }
  }
});

test('-inf entries give 0; a row of all -inf gives NaN', { skip }, async () => {
  const device = Device.get(0);
  for (const dtype of DTYPES) {
    for (const shape of [
      [6, 37],
      [2, 3000],
      [5, 64],
    ]) {
      const seed = newSeed();
      const n = shape[1]!;
      const values = randomValues(shape, dtype, seed, 0, 4);
      for (let i = 0; i < values.length; i++) if (i % 3 === 1) values[i] = -Infinity;
      values[0] = -Infinity; // row 0 starts with -inf (the running max starts from -inf)
      for (let j = 0; j < n; j++) values[n + j] = j === n - 1 ? 2.5 : -Infinity; // row 1: one finite entry → 1
      const label = `softmax with -inf ${dtype}[${shape}] seed=${seed}`;
      await runValues(device, label, values, shape, dtype);
      // Row 1 entirely -inf.
      for (let j = 0; j < n; j++) values[n + j] = -Infinity;
      await runValues(device, `${label}, row 1 all -inf`, values, shape, dtype);
    }
  }
});

test(
  'few long rows are split over many blocks: every dtype, vector and scalar accesses, large values, -inf rows',
  { skip },
  async () => {
    const device = Device.get(0);
    const sm = device.multiprocessorCount;
    // float16 outputs of rows longer than ~10^5 fall into its subnormals (4 bits of precision): shorter rows there.
    const shapes: Record<DType, number[][]> = {
      float32: [
        [1, 1_048_576],
        [3, 2_000_003],
        [sm - 1, 70_000],
      ],
      bfloat16: [
        [1, 1_048_576],
        [3, 2_000_003],
        [sm - 1, 70_000],
      ],
      float16: [
        [1, 96_000],
        [2, 80_001],
        [sm - 1, 65_536],
      ],
    };
    for (const dtype of DTYPES) {
      for (const shape of shapes[dtype]) {
        const seed = newSeed();
        const values = randomValues(shape, dtype, seed, 0, 4);
        await runValues(device, `split softmax ${dtype}[${shape}] seed=${seed}`, values, shape, dtype);
      }
      const shape = dtype === 'float16' ? [2, 70_000] : [2, 300_000];
      const n = shape[1]!;
      let seed = newSeed();
      const big = randomValues(shape, dtype, seed, 1000, 4);
      await runValues(device, `split softmax(1000 ± 4) ${dtype}[${shape}] seed=${seed}`, big, shape, dtype);
      seed = newSeed();
      const values = randomValues(shape, dtype, seed, 0, 4);
      for (let i = 0; i < values.length; i++) if (i % 3 === 1) values[i] = -Infinity;
      for (let j = 0; j < n; j++) values[n + j] = j === n - 1 ? 2.5 : -Infinity; // row 1: one finite entry, last piece
      const label = `split softmax with -inf ${dtype}[${shape}] seed=${seed}`;
      await runValues(device, label, values, shape, dtype);
      for (let j = 0; j < n; j++) values[n + j] = -Infinity;
      await runValues(device, `${label}, row 1 all -inf`, values, shape, dtype);
    }
  },
);

test(
  "a NaN entry makes its row NaN even when it shares a thread's or a piece's share only with -inf",
  { skip },
  async () => {
    const device = Device.get(0);
    // One block per row: [1, 4096] f32 runs 256 threads over 16-byte vectors; every element warp 0 reads is -inf but
    // one NaN, so warp 0's (max, sum) pair is (-inf, NaN) and must survive the merges.
    let values = randomValues([1, 4096], 'float32', newSeed(), 0, 4);
    for (let v = 0; v < 1024; v++)
      if (v % 256 < 32) for (let j = 0; j < 4; j++) values[4 * v + j] = -Infinity;
    values[4] = NaN;
    await runValues(device, 'NaN among -inf, one block per row', values, [1, 4096], 'float32');
    // Split row: piece 0 holds one NaN and -inf only.
    const n = 1 << 20;
    const plan = splitPlan(1, n, 4, device.multiprocessorCount);
    assert.ok(plan);
    values = randomValues([1, n], 'float32', newSeed(), 0, 4);
    for (let j = 0; j < plan.chunk; j++) values[j] = -Infinity;
    values[0] = NaN;
    await runValues(device, 'NaN among -inf, split row', values, [1, n], 'float32');
  },
);

test('convenience function and errors', { skip }, async () => {
  const device = Device.get(0);
  const x = Tensor.fromArray(device, [0, Math.log(3), 5], [1, 3]);
  const y = await softmax(x);
  const got = y.toArray();
  const e5 = Math.exp(5);
  const want = [1 / (4 + e5), 3 / (4 + e5), e5 / (4 + e5)];
  want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) <= 1e-6 * w + 1e-7, `[${i}]: ${got[i]} vs ${w}`));
  await assert.rejects(new Softmax().forward([x], [x]), ShapeError);
  const wrong = Tensor.empty(device, [3]);
  await assert.rejects(new Softmax().forward([x], [wrong]), ShapeError);
  for (const t of [x, y, wrong]) t.dispose();
});
