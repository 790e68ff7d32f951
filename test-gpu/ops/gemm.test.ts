// GPU tests of Gemm against a float64 CPU reference built from the dtype-rounded inputs. Every case uses fresh random
// inputs, poisons the output (and a guard region after it) with NaN bits before the run, and checks every element and
// the guard. Failures are collected per dtype × transpose combination and reported together, each naming its case.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { driverAvailable } from '../../src/cuda/driver.js';
import { GEMM_CONFIGS, type GemmConfig } from '../../src/ops/gemm-source.js';
import { Gemm, gemm } from '../../src/ops/gemm.js';
import { DTYPE_BYTES, Tensor, encodeHost, type DType } from '../../src/ops/tensor.js';
import { Device } from '../../src/runtime/index.js';
import { DTYPES, roundToDtype, TOL } from './helpers.js';

const skip = driverAvailable() ? false : 'no CUDA driver on this machine';
const TRANS: readonly [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

/** [M, N, K]: edges, odd sizes, vector-friendly sizes. */
const SIZES: readonly [number, number, number][] = [
  [1, 1, 1],
  [17, 33, 65],
  [127, 129, 31],
  [256, 256, 256],
  [1, 300, 70],
  [300, 1, 70],
  [64, 48, 1],
  [33, 40, 13],
  [64, 128, 96],
  [130, 260, 100],
  [1100, 130, 64],
  [5, 7, 0],
];
/** Sizes also run with every non-default tile configuration. */
const CONFIG_SIZES: readonly [number, number, number][] = [
  [127, 129, 31],
  [136, 264, 72],
  [200, 300, 40],
  [96, 136, 264],
];
const EXTRA_CONFIGS: Readonly<Record<DType, readonly GemmConfig[]>> = {
  float32: [GEMM_CONFIGS.f32Large, GEMM_CONFIGS.f32Large16, GEMM_CONFIGS.f32Medium],
  float16: [GEMM_CONFIGS.mmaLarge, GEMM_CONFIGS.mmaLarge8, GEMM_CONFIGS.mmaWide, GEMM_CONFIGS.mmaLarge64],
  bfloat16: [GEMM_CONFIGS.mmaLarge, GEMM_CONFIGS.mmaLarge8, GEMM_CONFIGS.mmaWide, GEMM_CONFIGS.mmaLarge64],
};
/** [alpha, beta]: beta = 0 runs with C poisoned (C must not be read); beta ≠ 0 with random C. */
const SCALARS: readonly [number, number][] = [
  [1.5, 0],
  [0.75, -1.25],
];
const GUARD = 64; // elements after C that must stay untouched

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random values in [-1, 1), rounded to the dtype; returns the values as the device will see them. */
function randomRounded(n: number, dtype: DType, rand: () => number): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = rand() * 2 - 1;
  return roundToDtype(v, dtype);
}

/** ref = alpha·op(A)·op(B) + beta·C0 in float64. */
function reference(
  a: Float64Array,
  b: Float64Array,
  c0: Float64Array | undefined,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  alpha: number,
  beta: number,
): Float64Array {
  // Bring op(A) to M×K row-major and op(B) to N×K row-major (rows of Bᵀ) so the inner loop is contiguous.
  const A = new Float64Array(M * K);
  const Bt = new Float64Array(N * K);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) A[i * K + k] = transA ? a[k * M + i]! : a[i * K + k]!;
  for (let j = 0; j < N; j++)
    for (let k = 0; k < K; k++) Bt[j * K + k] = transB ? b[j * K + k]! : b[k * N + j]!;
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      const ai = i * K;
      const bj = j * K;
      for (let k = 0; k < K; k++) s += A[ai + k]! * Bt[bj + k]!;
      out[i * N + j] = alpha * s + (c0 ? beta * c0[i * N + j]! : 0);
    }
  }
  return out;
}

interface Check {
  readonly ok: boolean;
  readonly message: string;
}

function compare(out: Float64Array, ref: Float64Array, tol: number): Check {
  let num = 0;
  let den = 0;
  let worst = -1;
  let worstErr = -1;
  let nonFinite = 0;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i]!;
    const r = ref[i]!;
    if (!Number.isFinite(o)) nonFinite++;
    const e = Math.abs(o - r);
    if (!(e <= worstErr)) {
      worstErr = e;
      worst = i;
    }
    num += (o - r) * (o - r);
    den += r * r;
  }
  const rel = den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
  const ok = nonFinite === 0 && rel <= tol;
  return {
    ok,
    message:
      `rel err ${rel.toExponential(2)} (tol ${tol}), ${nonFinite} non-finite, worst at flat index ${worst}: ` +
      `got ${out[worst]}, want ${ref[worst]}`,
  };
}

/** The raw bytes of a device buffer after the first `from` bytes. */
function guardIntact(t: Tensor, fromBytes: number): boolean {
  const raw = t.buffer.download(new Uint8Array(t.buffer.byteLength));
  for (let i = fromBytes; i < raw.length; i++) if (raw[i] !== 0xff) return false;
  return true;
}

describe('Gemm on the GPU vs a float64 reference', { skip }, () => {
  const device = skip ? undefined : Device.get(0);
  after(() => device?.synchronize());
  let seed = 1;

  async function runCase(
    dtype: DType,
    transA: boolean,
    transB: boolean,
    [M, N, K]: readonly [number, number, number],
    alpha: number,
    beta: number,
    config: GemmConfig | undefined,
  ): Promise<string | undefined> {
    const dev = device as Device;
    const label =
      `${dtype} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} M=${M} N=${N} K=${K} alpha=${alpha} beta=${beta}` +
      (config
        ? ` config=${config.bm}x${config.bn}x${config.bk}/w${config.warpsM}x${config.warpsN}/s${config.stages}`
        : '');
    const rand = rng(seed++);
    const a = randomRounded(M * K, dtype, rand);
    const b = randomRounded(K * N, dtype, rand);
    const c0 = beta !== 0 ? randomRounded(M * N, dtype, rand) : undefined;
    const A = Tensor.fromArray(dev, a, transA ? [K, M] : [M, K], dtype);
    const B = Tensor.fromArray(dev, b, transB ? [N, K] : [K, N], dtype);
    const bytes = DTYPE_BYTES[dtype];
    const C = new Tensor(dev.alloc((M * N + GUARD) * bytes), [M, N], dtype);
    try {
      C.buffer.fillBytes(0xff); // NaN in every dtype
      if (c0) C.buffer.upload(encodeHost(c0, dtype));
      const op = new Gemm({ dtype, transA, transB, alpha, beta, ...(config ? { config } : {}) });
      await op.forward([A, B], [C]);
      dev.synchronize();
      const out = C.toArray();
      const ref = reference(a, b, c0, M, N, K, transA, transB, alpha, beta);
      const r = compare(out, ref, TOL[dtype]);
      if (!r.ok) return `${label}: ${r.message}`;
      if (!guardIntact(C, M * N * bytes)) return `${label}: wrote past the end of C`;
      return undefined;
    } catch (e) {
      return `${label}: threw ${(e as Error).stack ?? String(e)}`;
    } finally {
      A.dispose();
      B.dispose();
      C.dispose();
    }
  }

  for (const dtype of DTYPES) {
    for (const [transA, transB] of TRANS) {
      test(`${dtype} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}: default configs, edge sizes, alpha/beta`, async () => {
        const failures: string[] = [];
        let cases = 0;
        for (const size of SIZES) {
          for (const [alpha, beta] of SCALARS) {
            const f = await runCase(dtype, transA, transB, size, alpha, beta, undefined);
            cases++;
            if (f) failures.push(f);
          }
        }
        // Every extra config for NN and TT; the mixed layouts get the first (the large default) only, to bound compiles.
        const extra = transA === transB ? EXTRA_CONFIGS[dtype] : EXTRA_CONFIGS[dtype].slice(0, 1);
        for (const config of extra) {
          for (const size of CONFIG_SIZES) {
            const [alpha, beta] = SCALARS[cases % 2]!;
            const f = await runCase(dtype, transA, transB, size, alpha, beta, config);
            cases++;
            if (f) failures.push(f);
          }
        }
        assert.deepEqual(
          failures,
          [],
          `${failures.length} of ${cases} cases failed:\n${failures.join('\n')}`,
        );
      });
    }
  }

  test('gemm() allocates C and matches the reference', async () => {
    const dev = device as Device;
    const [M, N, K] = [70, 90, 50];
    const rand = rng(12345);
    const a = randomRounded(M * K, 'float16', rand);
    const b = randomRounded(K * N, 'float16', rand);
    const A = Tensor.fromArray(dev, a, [M, K], 'float16');
    const B = Tensor.fromArray(dev, b, [K, N], 'float16');
    const C = await gemm(A, B, { alpha: 2 });
    try {
      assert.deepEqual(C.shape, [M, N]);
      assert.equal(C.dtype, 'float16');
      const r = compare(C.toArray(), reference(a, b, undefined, M, N, K, false, false, 2, 0), TOL.float16);
      assert.ok(r.ok, r.message);
    } finally {
      A.dispose();
      B.dispose();
      C.dispose();
    }
  });
});
