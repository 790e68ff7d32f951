// GPU tests of row-wise softmax against float64 CPU references built from dtype-rounded random inputs, including
// rows of large values (1000 + …), rows with -inf entries, and a row that is entirely -inf (NaN, as PyTorch).
// Outputs live in buffers with a guard zone past the end; the whole buffer is poisoned with NaN bits before each run
// (float32: words 0x7fc00000; float16/bfloat16: bytes 0xff, i.e. 0xffff, a NaN in both formats and also right for
// buffers of an odd number of halves) and afterwards every element is checked, and the guard must still be poison.
// Kernels come from the default (global) JIT, as for a user who passes no `jit`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeHost,
  DTYPE_BYTES,
  encodeHost,
  ShapeError,
  Softmax,
  softmax,
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

/** Random values offset + scale·[-1, 1), rounded to the dtype, then `edit`ed (e.g. -inf entries). */
function randomValues(shape: number[], dtype: DType, seed: number, offset: number, scale: number) {
  const raw = randomArray(count(shape), seed).map((v) => offset + scale * v);
  return decodeHost(encodeHost(raw, dtype), dtype);
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
