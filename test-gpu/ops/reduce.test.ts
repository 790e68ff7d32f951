// GPU tests of the last-axis reductions (sum, max) against float64 CPU references built from dtype-rounded random
// inputs. Outputs live in buffers with a guard zone past the end; the whole buffer is poisoned with NaN bits before
// each run (float32: words 0x7fc00000; float16/bfloat16: bytes 0xff, i.e. 0xffff, a NaN in both formats and also
// right for buffers of an odd number of halves) and afterwards every element is checked, and the guard must still be
// poison. Kernels come from the default (global) JIT, as for a user who passes no `jit`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeHost,
  DTYPE_BYTES,
  encodeHost,
  max,
  Reduce,
  ShapeError,
  sum,
  Tensor,
  type DType,
} from '../../src/ops/index.js';
import { Device } from '../../src/runtime/index.js';
import { gpuSkipReason, randomArray } from '../helpers.js';

const skip = gpuSkipReason;
const DTYPES: DType[] = ['float32', 'float16', 'bfloat16'];
const TOL: Record<DType, number> = { float32: 1e-5, float16: 1e-2, bfloat16: 1e-2 };
// Rank 1 (one row), odd row lengths, 1-wide rows, one long row, the warp/block boundary (1024/1025), rank 3.
const SHAPES: number[][] = [
  [1],
  [31],
  [33],
  [1000],
  [100_003],
  [7, 1],
  [1, 100_000],
  [129, 257],
  [3, 1024],
  [5, 1025],
  [2, 3, 40],
  [37, 4096],
];
const GUARD = 64; // elements past the end that must stay untouched

// ---- helpers (the reduce/softmax GPU tests carry the same ones) ----
const newSeed = () => (Math.random() * 2 ** 32) >>> 0 || 1;
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** An output tensor over a NaN-poisoned buffer with GUARD spare elements. */
function poisonedOutput(device: Device, shape: number[], dtype: DType) {
  const n = count(shape);
  const buffer = device.alloc((n + GUARD) * DTYPE_BYTES[dtype]);
  if (dtype === 'float32') buffer.fillWords(0x7fc00000);
  else buffer.fillBytes(0xff);
  const tensor = new Tensor(buffer, shape, dtype);
  return {
    tensor,
    /** Values, and the index of the first guard element that was overwritten (-1: none). */
    read(): { values: Float64Array; guardHit: number } {
      const host = dtype === 'float32' ? new Uint32Array(n + GUARD) : new Uint16Array(n + GUARD);
      buffer.download(host);
      const poison = dtype === 'float32' ? 0x7fc00000 : 0xffff;
      let guardHit = -1;
      for (let i = n; i < n + GUARD && guardHit < 0; i++) if (host[i] !== poison) guardHit = i - n;
      const data = dtype === 'float32' ? new Float32Array(host.buffer, 0, n) : host.subarray(0, n);
      return { values: decodeHost(data as Float32Array | Uint16Array, dtype), guardHit };
    },
  };
}

/** Every element is written (no NaN), nothing past the end, and ‖out − ref‖/‖ref‖ ≤ tol. */
function check(
  label: string,
  got: { values: Float64Array; guardHit: number },
  ref: Float64Array,
  tol: number,
) {
  const out = got.values;
  assert.equal(got.guardHit, -1, `${label}: wrote past the end (guard element ${got.guardHit})`);
  assert.equal(out.length, ref.length, `${label}: length`);
  let num = 0;
  let den = 0;
  let worst = 0;
  let worstErr = -1;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i] as number;
    const r = ref[i] as number;
    if (Number.isNaN(o))
      assert.fail(`${label}: element ${i} of ${ref.length} is NaN (not written?); want ${r}`);
    const d = (o - r) ** 2;
    if (d > worstErr) {
      worstErr = d;
      worst = i;
    }
    num += d;
    den += r * r;
  }
  const rel = Math.sqrt(num) / Math.sqrt(den || 1);
  assert.ok(
    rel <= tol,
    `${label}: relative error ${rel.toExponential(3)} > ${tol}; worst element ${worst}: got ${out[worst]}, want ${ref[worst]}`,
  );
}

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
  const raw = randomArray(count(shape), seed).map((v) => offset + 0.75 * v);
  const values = decodeHost(encodeHost(raw, dtype), dtype);
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
