// A float64 CPU reference for GEMM checks on the GPU (test-gpu/ops/gemm-wgmma.test.ts, bench/wgmma-check.ts):
// seeded inputs rounded to the dtype, the reference over all rows or a sample of them (big shapes), and a comparison
// that names the first mismatching (row, column).
import type { DType } from '../../src/ops/tensor.js';
import { roundToDtype } from './helpers.js';

/** A seeded generator of uniform numbers in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random values in [-1, 1), rounded to the dtype: the values as the device will see them. */
export function randomRounded(n: number, dtype: DType, rand: () => number): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = rand() * 2 - 1;
  return roundToDtype(v, dtype);
}

/** One GEMM problem as stored: A is M×K (K×M when transA), B is K×N (N×K when transB), row-major. */
export interface GemmCase {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly transA: boolean;
  readonly transB: boolean;
  readonly alpha: number;
  readonly beta: number;
}

/** Rows worth checking when not all are: tile edges (multiples of 64 and their neighbours), the last, a few random. */
export function sampleRows(M: number, count = 48, seed = 7): number[] {
  const rows = new Set<number>([0, M - 1]);
  for (let r = 64; r < M && rows.size < count / 2; r += 64 * 17) rows.add(r - 1).add(r);
  const rand = rng(seed);
  while (rows.size < Math.min(M, count)) rows.add(Math.floor(rand() * M));
  return [...rows].filter((r) => r >= 0 && r < M).sort((x, y) => x - y);
}

/** alpha·op(A)·op(B) + beta·C0 in float64 for the given rows (all columns): out[r][j] as rows.length × N. */
export function referenceRows(
  c: GemmCase,
  a: Float64Array,
  b: Float64Array,
  c0: Float64Array | undefined,
  rows: readonly number[],
): Float64Array {
  const { M, N, K, transA, transB, alpha, beta } = c;
  const Bt = new Float64Array(N * K); // rows of op(B)ᵀ: contiguous inner loop
  for (let j = 0; j < N; j++)
    for (let k = 0; k < K; k++) Bt[j * K + k] = transB ? b[j * K + k]! : b[k * N + j]!;
  const out = new Float64Array(rows.length * N);
  const ai = new Float64Array(K);
  rows.forEach((i, r) => {
    for (let k = 0; k < K; k++) ai[k] = transA ? a[k * M + i]! : a[i * K + k]!;
    for (let j = 0; j < N; j++) {
      let s = 0;
      const bj = j * K;
      for (let k = 0; k < K; k++) s += ai[k]! * Bt[bj + k]!;
      out[r * N + j] = alpha * s + (c0 ? beta * c0[i * N + j]! : 0);
    }
  });
  return out;
}

/** The comparison of the GPU's rows with the reference. */
export interface GemmCheck {
  readonly ok: boolean;
  /** sqrt(Σ(out-ref)²/Σref²) over the rows compared. */
  readonly relError: number;
  /** Largest |out-ref| / (max |ref| of the rows compared). */
  readonly maxRelError: number;
  readonly message: string;
}

/**
 * Compare `out` (all M×N of C) on `rows` with `ref` (from referenceRows). Fails on a non-finite value or a relative
 * error above tol; the message gives the errors and the first mismatching (row, column) with both values.
 */
export function compareRows(
  out: Float64Array,
  ref: Float64Array,
  rows: readonly number[],
  N: number,
  tol: number,
): GemmCheck {
  let num = 0;
  let den = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]!));
  let worst = 0;
  let first: string | undefined;
  let nonFinite = 0;
  rows.forEach((row, r) => {
    for (let j = 0; j < N; j++) {
      const o = out[row * N + j]!;
      const want = ref[r * N + j]!;
      const e = Math.abs(o - want);
      if (!Number.isFinite(o)) nonFinite++;
      num += (o - want) * (o - want);
      den += want * want;
      if (e > worst || !Number.isFinite(e)) worst = Number.isFinite(e) ? e : Infinity;
      if (first === undefined && !(e <= 4 * tol * Math.max(scale, 1e-30)))
        first = `first mismatch at (row ${row}, col ${j}): got ${o}, want ${want}`;
    }
  });
  const relError = den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
  const maxRelError = worst / Math.max(scale, 1e-30);
  const ok = nonFinite === 0 && relError <= tol;
  return {
    ok,
    relError,
    maxRelError,
    message:
      `rel err ${relError.toExponential(2)}, max rel err ${maxRelError.toExponential(2)} (tol ${tol}), ` +
      `${nonFinite} non-finite over ${rows.length} rows` +
      (first ? `; ${first}` : ''),
  };
}
