// Shared by the GPU operator tests (elementwise, reduce, softmax, gemm): dtypes and tolerances, dtype-rounded random
// inputs, outputs over NaN-poisoned buffers with a guard zone past the end, and the element-by-element comparison
// against a float64 reference.
// Poison: float32 words 0x7fc00000; float16/bfloat16 bytes 0xff, i.e. 0xffff, a NaN in both formats and also right for
// buffers of an odd number of halves.
import assert from 'node:assert/strict';
import { decodeHost, DTYPE_BYTES, encodeHost, Tensor, type DType } from '../../src/ops/index.js';
import type { Device } from '../../src/runtime/index.js';
import { NAN_F32_BITS, randomArray } from '../helpers.js';

export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];
export const TOL: Readonly<Record<DType, number>> = { float32: 1e-5, float16: 1e-2, bfloat16: 1e-2 };
// Rank 1 (one row), odd row lengths, 1-wide rows, one long row, the warp/block boundary (1024/1025), rank 3.
export const ROW_SHAPES: readonly number[][] = [
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
export const GUARD = 64; // elements past the end that must stay untouched

export const newSeed = () => (Math.random() * 2 ** 32) >>> 0 || 1;
export const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The values as the device will see them in `dtype` (rounded through the dtype's encoding). */
export function roundToDtype(values: ArrayLike<number>, dtype: DType): Float64Array {
  return decodeHost(encodeHost(values, dtype), dtype);
}

/** `count(shape)` random values offset + scale·[-1, 1) from `seed`, rounded to the dtype. */
export function randomValues(
  shape: readonly number[],
  dtype: DType,
  seed: number,
  offset: number,
  scale: number,
) {
  const raw = randomArray(count(shape), seed).map((v) => offset + scale * v);
  return roundToDtype(raw, dtype);
}

/** An output tensor over a NaN-poisoned buffer with GUARD spare elements. */
export function poisonedOutput(device: Device, shape: number[], dtype: DType) {
  const n = count(shape);
  const buffer = device.alloc((n + GUARD) * DTYPE_BYTES[dtype]);
  if (dtype === 'float32') buffer.fillWords(NAN_F32_BITS);
  else buffer.fillBytes(0xff);
  const tensor = new Tensor(buffer, shape, dtype);
  return {
    tensor,
    /** Values, and the index of the first guard element that was overwritten (-1: none). */
    read(): { values: Float64Array; guardHit: number } {
      const host = dtype === 'float32' ? new Uint32Array(n + GUARD) : new Uint16Array(n + GUARD);
      buffer.download(host);
      const poison = dtype === 'float32' ? NAN_F32_BITS : 0xffff;
      let guardHit = -1;
      for (let i = n; i < n + GUARD && guardHit < 0; i++) if (host[i] !== poison) guardHit = i - n;
      const data = dtype === 'float32' ? new Float32Array(host.buffer, 0, n) : host.subarray(0, n);
      return { values: decodeHost(data as Float32Array | Uint16Array, dtype), guardHit };
    },
  };
}

/** Every element is written (no NaN), nothing past the end, and ‖out − ref‖/‖ref‖ ≤ tol. */
export function check(
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
