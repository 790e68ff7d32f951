// GPU tests of the last-axis reductions (sum, max) against float64 CPU references built from dtype-rounded random
// inputs. Outputs live in buffers with a guard zone past the end; the whole buffer is poisoned with NaN bits before
// each run (float32: words 0x7fc00000; float16/bfloat16: bytes 0xff, i.e. 0xffff, a NaN in both formats and also
// right for buffers of an odd number of halves) and afterwards every element is checked, and the guard must still be
// poison. Kernels come from the default (global) JIT, as for a user who passes no `jit`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { max, Reduce, ShapeError, sum, Tensor, type DType } from '../../src/ops/index.js';
import { splitPlan } from '../../src/ops/reduce.js';
import { Device, type Stream } from '../../src/runtime/index.js';
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

function reference(op: 'sum' | 'max', x: Float64Array, rows: number, n: number): Float64Array {
  const ref = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = op === 'sum' ? 0 : -Infinity;
    for (let j = 0; j < n; j++) {
      const v = x[r * n + j]!;
      acc = op === 'sum' ? acc + v : Math.max(acc, v);
    }
    ref[r] = acc;
  }
  return ref;
}

async function runCase(device: Device, op: 'sum' | 'max', shape: number[], dtype: DType, offset: number) {
  const seed = newSeed();
  const label = `${op} ${dtype}[${shape}] seed=${seed}`;
  const n = shape[shape.length - 1]!;
  const rows = count(shape) / n;
  // sum: values in [offset - 0.75, offset + 0.75) so a row's sum is not near zero (the norm check is relative).
  const values = randomValues(shape, dtype, seed, offset, 0.75);
  const x = Tensor.fromArray(device, values, shape, dtype);
  const out = poisonedOutput(device, shape.slice(0, -1), dtype);
  try {
    await new Reduce(op).forward([x], [out.tensor]);
    check(label, out.read(), reference(op, values, rows, n), TOL[dtype]);
  } finally {
    x.dispose();
    out.tensor.dispose();
  }
}

test('sum over the last axis, every dtype and shape', { skip }, async () => {
  const device = Device.get(0);
  for (const dtype of DTYPES) for (const shape of SHAPES) await runCase(device, 'sum', shape, dtype, 0.25);
});

test('max over the last axis, every dtype and shape', { skip }, async () => {
  const device = Device.get(0);
  // Negative values everywhere: a kernel that starts from 0 instead of -inf would be caught.
  for (const dtype of DTYPES) for (const shape of SHAPES) await runCase(device, 'max', shape, dtype, -2);
});

test(
  'row lengths not a multiple of the vector width (scalar loads), convenience functions',
  { skip },
  async () => {
    const device = Device.get(0);
    for (const dtype of DTYPES)
      for (const shape of [
        [9, 1001],
        [2, 2049],
        [1, 7],
      ]) {
        await runCase(device, 'sum', shape, dtype, 0.25);
        await runCase(device, 'max', shape, dtype, 0);
      }
    const values = [3, -1, 2, 7, -5, 0.5];
    const x = Tensor.fromArray(device, values, [2, 3]);
    const s = await sum(x);
    const m = await max(x);
    assert.deepEqual([...s.toArray()], [4, 2.5]);
    assert.deepEqual([...m.toArray()], [3, 7]);
    const all = await sum(Tensor.fromArray(device, values, [6]));
    assert.deepEqual(all.shape, []);
    assert.deepEqual([...all.toArray()], [6.5]);
    for (const t of [x, s, m, all]) t.dispose();
    await assert.rejects(sum(Tensor.empty(device, [])), ShapeError);
  },
);

test(
  'few long rows are split over many blocks: every dtype, vector and scalar loads, on a stream too',
  { skip },
  async () => {
    const device = Device.get(0);
    // f16 sums stay far below 65504 with a small offset; bf16 and f32 take the usual one.
    const sumOffset: Record<DType, number> = { float32: 0.25, float16: 0.01, bfloat16: 0.25 };
    const shapes = [
      [1, 1_048_576],
      [3, 2_000_003],
      [2, 700_000],
      [device.multiprocessorCount - 1, 70_000],
    ];
    for (const dtype of DTYPES) {
      for (const shape of shapes) {
        await runCase(device, 'sum', shape, dtype, sumOffset[dtype]);
        await runCase(device, 'max', shape, dtype, -2);
      }
    }
    // On a non-blocking stream, twice in a row: the second pass-1 reuses the stream's scratch after the first's
    // pass 2 (stream order), and the results must not mix.
    const stream = device.createStream({ nonBlocking: true });
    try {
      const n = 1_000_000;
      const a = randomValues([1, n], 'float32', newSeed(), 0.25, 0.75);
      const b = randomValues([2, n], 'float32', newSeed(), -0.5, 0.75);
      const xa = Tensor.fromArray(device, a, [1, n]);
      const xb = Tensor.fromArray(device, b, [2, n]);
      const oa = poisonedOutput(device, [1], 'float32');
      const ob = poisonedOutput(device, [2], 'float32');
      await new Reduce('sum').forward([xa], [oa.tensor], { stream });
      await new Reduce('sum').forward([xb], [ob.tensor], { stream });
      stream.synchronize();
      check('stream sum a', oa.read(), reference('sum', a, 1, n), TOL.float32);
      check('stream sum b', ob.read(), reference('sum', b, 2, n), TOL.float32);
      for (const t of [xa, xb, oa.tensor, ob.tensor]) t.dispose();
    } finally {
      stream.dispose();
    }
  },
);

test('split rows: values planted at piece boundaries and at the row end are not lost', { skip }, async () => {
  const device = Device.get(0);
  for (const dtype of DTYPES) {
    for (const shape of [
      [1, 1 << 20],
      [3, 2_000_003],
    ]) {
      const [rows, n] = shape as [number, number];
      const vec = n % (dtype === 'float32' ? 4 : 8) === 0 ? (dtype === 'float32' ? 4 : 8) : 1;
      const plan = splitPlan(rows, n, vec, device.multiprocessorCount);
      assert.ok(plan, `${dtype}[${shape}] must take the split path`);
      const spots = [plan.chunk - 1, plan.chunk, n - 1];
      for (const op of ['sum', 'max'] as const) {
        const seed = newSeed();
        // max: everything else is below -1.25, so the planted 3 is the row's only maximum. sum: a value large
        // enough against the row's total that losing it exceeds the tolerance (exact in every dtype).
        const offset = op === 'max' ? -2 : dtype === 'float16' ? 0.01 : 0.25;
        const values = randomValues(shape, dtype, seed, offset, 0.75);
        const planted = op === 'max' ? 3 : dtype === 'bfloat16' ? 65_536 : 4096;
        for (let r = 0; r < rows; r++) values[r * n + spots[r % spots.length]!] = planted;
        if (rows === 1) for (const at of spots) values[at] = planted;
        const x = Tensor.fromArray(device, values, shape, dtype);
        const out = poisonedOutput(device, [rows], dtype);
        try {
          await new Reduce(op).forward([x], [out.tensor]);
          check(
            `${op} ${dtype}[${shape}] planted seed=${seed}`,
            out.read(),
            reference(op, values, rows, n),
            TOL[dtype],
          );
        } finally {
          x.dispose();
          out.tensor.dispose();
        }
      }
    }
  }
});

test(
  'split rows on two non-blocking streams at once: each stream has its own scratch',
  { skip },
  async () => {
    const device = Device.get(0);
    const s1 = device.createStream({ nonBlocking: true });
    const s2 = device.createStream({ nonBlocking: true });
    try {
      const n = 1 << 22;
      const a = randomValues([1, n], 'float32', newSeed(), 0.25, 0.75);
      const b = randomValues([1, n], 'float32', newSeed(), -0.25, 0.75);
      const xa = Tensor.fromArray(device, a, [1, n]);
      const xb = Tensor.fromArray(device, b, [1, n]);
      const oa = poisonedOutput(device, [1], 'float32');
      const ob = poisonedOutput(device, [1], 'float32');
      for (let i = 0; i < 20; i++) {
        // Queued back to back on two streams: a shared scratch would let one stream's pass 1 overwrite the other's.
        await new Reduce('sum').forward([xa], [oa.tensor], { stream: s1 });
        await new Reduce('sum').forward([xb], [ob.tensor], { stream: s2 });
      }
      s1.synchronize();
      s2.synchronize();
      check('stream 1', oa.read(), reference('sum', a, 1, n), TOL.float32);
      check('stream 2', ob.read(), reference('sum', b, 1, n), TOL.float32);
      const other = { device: {} } as unknown as Stream; // a stream of another device
      await assert.rejects(sum(xa, { stream: other }), /stream belongs to another device/);
      for (const t of [xa, xb, oa.tensor, ob.tensor]) t.dispose();
    } finally {
      s1.dispose();
      s2.dispose();
    }
  },
);
