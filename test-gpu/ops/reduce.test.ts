// GPU tests of the last-axis reductions (sum, max) against float64 CPU references built from dtype-rounded random
// inputs. Outputs live in buffers with a guard zone past the end; the whole buffer is poisoned with NaN bits before
// each run (float32: words 0x7fc00000; float16/bfloat16: bytes 0xff, i.e. 0xffff, a NaN in both formats and also
// right for buffers of an odd number of halves) and afterwards every element is checked, and the guard must still be
// poison. Kernels come from the default (global) JIT, as for a user who passes no `jit`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { max, Reduce, ShapeError, sum, Tensor, type DType } from '../../src/ops/index.js';
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
