// GPU tests of GEMM's fused epilogues against a float64 CPU reference built from the dtype-rounded inputs: every
// variant (bias, each activation, scale, residual, the expression form, output casts) for float32 / float16 /
// bfloat16, aligned and unaligned shapes, two transposes, beta 0 (C poisoned: never read) and beta ≠ 0. Outputs are
// NaN-poisoned with a guard zone past the end; every element and the guard are checked. On a compute capability 9.0
// device the float16/bfloat16 epilogues of TMA-addressable shapes must run on the wgmma kernel (kernel names recorded).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { driverAvailable } from '../../src/cuda/driver.js';
import { defaultKernelProvider } from '../../src/jit/default-provider.js';
import type { KernelProvider } from '../../src/jit/types.js';
import type { GemmEpilogueOptions } from '../../src/ops/gemm-epilogue.js';
import { Gemm, gemmEpilogue } from '../../src/ops/gemm.js';
import { WGMMA_CONFIGS, type WgmmaConfig } from '../../src/ops/gemm-wgmma-source.js';
import { encodeHost, Tensor, type DType } from '../../src/ops/tensor.js';
import { Device } from '../../src/runtime/index.js';
import { check, DTYPES, newSeed, poisonedOutput, randomValues, TOL } from './helpers.js';

const skip = driverAvailable() ? false : 'no CUDA driver on this machine';

/** erf to ~1e-13 (series for small |x|, continued fraction erfc for large), for the float64 reference. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = ax;
    let term = ax;
    for (let n = 1; n < 60; n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}
const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
const geluTanh = (x: number): number =>
  0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

interface Variant {
  readonly label: string;
  readonly epilogue: GemmEpilogueOptions;
  /** y(acc, bias[col], residual[row, col]) in float64. */
  readonly ref: (acc: number, bias: number, res: number) => number;
}
const VARIANTS: readonly Variant[] = [
  { label: 'bias', epilogue: { bias: true }, ref: (a, b) => a + b },
  { label: 'bias+gelu', epilogue: { bias: true, activation: 'gelu' }, ref: (a, b) => gelu(a + b) },
  { label: 'gelu-tanh', epilogue: { activation: 'gelu-tanh' }, ref: (a) => geluTanh(a) },
  {
    label: 'bias+relu+residual',
    epilogue: { bias: true, activation: 'relu', residual: true },
    ref: (a, b, r) => Math.max(a + b, 0) + r,
  },
  { label: 'silu+scale', epilogue: { activation: 'silu', scale: -0.75 }, ref: (a) => -0.75 * a * sigmoid(a) },
  {
    label: 'bias+gelu+scale+residual',
    epilogue: { bias: true, activation: 'gelu', scale: 0.5, residual: true },
    ref: (a, b, r) => 0.5 * gelu(a + b) + r,
  },
  {
    label: 'expr',
    epilogue: { expr: ({ acc, bias, residual }) => acc.mul(residual).add(bias).tanh().maximum(acc) },
    ref: (a, b, r) => Math.max(Math.tanh(a * r + b), a),
  },
];
/** [M, N, K]: aligned (vector paths), unaligned (odd K and N), a thin one. */
const SIZES: readonly [number, number, number][] = [
  [256, 256, 128],
  [127, 129, 31],
  [64, 136, 72],
  [1, 300, 70],
];
const TRANS: readonly [boolean, boolean][] = [
  [false, false],
  [true, true],
];

/** A provider that forwards to the default one and records the kernel names asked for. */
function recording(names: string[]): KernelProvider {
  return {
    kernel: (spec, dev) => {
      names.push(spec.name);
      return defaultKernelProvider().kernel(spec, dev);
    },
  };
}

describe('fused GEMM epilogues against a float64 reference', { skip }, () => {
  const device = skip ? undefined : Device.get(0);
  const hopper = device?.computeCapability.major === 9 && device.computeCapability.minor === 0;
  after(() => device?.synchronize());

  async function runCase(
    dtype: DType,
    outDtype: DType,
    v: Variant,
    [M, N, K]: readonly [number, number, number],
    [transA, transB]: readonly [boolean, boolean],
    alpha: number,
    beta: number,
    /** Assert which kernel family ran: true the wgmma one, false not it; undefined either. */
    wgmma?: boolean,
    /** The Gemm's wgmma option (a tile config). */
    config?: Partial<WgmmaConfig>,
  ): Promise<void> {
    const dev = device as Device;
    const seed = newSeed();
    const label =
      `${dtype}->${outDtype} ${v.label} ${M}x${N}x${K} ${transA ? 't' : 'n'}${transB ? 't' : 'n'} a=${alpha} ` +
      `b=${beta} seed=${seed}${config ? ` config=${JSON.stringify(config)}` : ''}`;
    const a = randomValues([M * K], dtype, seed, 0, 1);
    const b = randomValues([K * N], dtype, seed + 1, 0, 1);
    const bias = randomValues([N], outDtype, seed + 2, 0, 1);
    const res = randomValues([M * N], outDtype, seed + 3, 0, 1);
    const c0 = beta !== 0 ? randomValues([M * N], outDtype, seed + 4, 0, 1) : undefined;
    const op = new Gemm({
      dtype,
      transA,
      transB,
      alpha,
      beta,
      epilogue: { ...v.epilogue, outDtype },
      ...(config ? { wgmma: config } : {}),
    });
    const A = Tensor.fromArray(dev, a, transA ? [K, M] : [M, K], dtype);
    const B = Tensor.fromArray(dev, b, transB ? [N, K] : [K, N], dtype);
    const extra: Tensor[] = [];
    if (op.epilogue?.bias) extra.push(Tensor.fromArray(dev, bias, [N], outDtype));
    if (op.epilogue?.residual) extra.push(Tensor.fromArray(dev, res, [M, N], outDtype));
    const out = poisonedOutput(dev, [M, N], outDtype);
    try {
      if (c0) out.tensor.buffer.upload(encodeHost(c0, outDtype));
      const names: string[] = [];
      await op.forward([A, B, ...extra], [out.tensor], { jit: recording(names) });
      dev.synchronize();
      if (wgmma !== undefined) {
        const ran = names.length > 0 && names.every((n) => n.includes('_wgmma_'));
        if (ran !== wgmma)
          throw new Error(
            `${label}: expected ${wgmma ? 'the wgmma kernel' : 'another kernel'}, got ${names.join(', ')}`,
          );
      }
      const ref = new Float64Array(M * N);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) {
            const av = transA ? (a[k * M + i] as number) : (a[i * K + k] as number);
            const bv = transB ? (b[j * K + k] as number) : (b[k * N + j] as number);
            s += av * bv;
          }
          const y = v.ref(alpha * s, bias[j] as number, res[i * N + j] as number);
          ref[i * N + j] = y + (c0 ? beta * (c0[i * N + j] as number) : 0);
        }
      }
      // 16-bit inputs or output: the tolerance of the coarser type.
      const tol = Math.max(TOL[dtype], TOL[outDtype]);
      check(label, out.read(), ref, dtype === 'float32' && outDtype === 'float32' ? 1e-5 : tol);
    } finally {
      for (const t of [A, B, ...extra, out.tensor]) t.dispose();
    }
  }

  for (const dtype of DTYPES) {
    test(`${dtype}: every variant, sizes, transposes, beta 0 and beta ≠ 0`, async () => {
      const failures: string[] = [];
      for (const v of VARIANTS) {
        for (const size of SIZES) {
          for (const tr of TRANS) {
            for (const [alpha, beta] of [
              [1, 0],
              [0.5, -1.25],
            ] as const) {
              try {
                await runCase(dtype, dtype, v, size, tr, alpha, beta);
              } catch (e) {
                failures.push((e as Error).message);
              }
            }
          }
        }
      }
      assert.deepEqual(failures, [], failures.join('\n'));
    });

    test(`${dtype}: output casts to every other dtype`, async () => {
      const failures: string[] = [];
      for (const outDtype of DTYPES.filter((d) => d !== dtype)) {
        for (const v of [VARIANTS[1]!, VARIANTS[5]!]) {
          for (const size of SIZES) {
            for (const beta of [0, 0.5]) {
              try {
                await runCase(dtype, outDtype, v, size, [false, true], 1, beta);
              } catch (e) {
                failures.push((e as Error).message);
              }
            }
          }
        }
      }
      assert.deepEqual(failures, [], failures.join('\n'));
    });
  }

  for (const dtype of ['float16', 'bfloat16'] as const) {
    test(
      `${dtype} on compute capability 9.0: every variant and cast through the wgmma kernel (NN, NT, TN; TT stays off)`,
      { skip: hopper ? false : 'needs a compute capability 9.0 (Hopper) GPU' },
      async () => {
        const failures: string[] = [];
        // Multiples of 8 (TMA-addressable): full tiles, tiles cut by M and N, K not a multiple of 64, K < 64.
        const sizes: readonly [number, number, number][] = [
          [256, 256, 128],
          [200, 312, 520],
          [64, 136, 72],
          [8, 40, 16],
        ];
        const trans: readonly [boolean, boolean][] = [
          [false, false],
          [false, true],
          [true, false],
        ];
        const run = async (...args: Parameters<typeof runCase>): Promise<void> => {
          try {
            await runCase(...args);
          } catch (e) {
            failures.push((e as Error).message);
          }
        };
        for (const v of VARIANTS) {
          for (const size of sizes) {
            for (const tr of trans) {
              for (const [alpha, beta] of [
                [1, 0],
                [0.5, -1.25],
              ] as const)
                await run(dtype, dtype, v, size, tr, alpha, beta, true);
            }
          }
        }
        for (const outDtype of DTYPES.filter((d) => d !== dtype)) {
          for (const v of [VARIANTS[1]!, VARIANTS[5]!]) {
            for (const beta of [0, 0.5])
              await run(dtype, outDtype, v, [200, 312, 520], [false, true], 1, beta, true);
          }
        }
        // The fused default for a big output: ping-pong 128×128, rows unrolled by 2 (full tiles unrolled, the tile
        // cut by M and beta ≠ 0 rolled), 289 tiles over the SMs.
        for (const v of [VARIANTS[1]!, VARIANTS[5]!]) {
          for (const [alpha, beta] of [
            [1, 0],
            [0.5, -1.25],
          ] as const)
            await run(dtype, dtype, v, [2056, 2056, 136], [false, false], alpha, beta, true);
        }
        // Ping-pong consumers and clusters (several tiles a block: 153–165 tiles over the SMs; 17 tile rows of 128,
        // so the last cluster row is half past M), every element checked.
        const many = (Object.values(WGMMA_CONFIGS) as WgmmaConfig[]).filter(
          (x) => x.pingpong || x.cluster > 1,
        );
        for (const config of many) {
          for (const v of [VARIANTS[1]!, VARIANTS[5]!]) {
            for (const tr of [trans[0]!, trans[1]!])
              await run(dtype, dtype, v, [2056, 1032, 200], tr, 0.5, -1.25, true, config);
          }
        }
        // TT stays on mma.sync (the 8192³ hang, gemm-wgmma.ts), epilogue or not.
        await run(dtype, dtype, VARIANTS[5]!, [256, 256, 128], [true, true], 1, 0, false);
        assert.deepEqual(failures, [], failures.join('\n'));
      },
    );
  }

  test('gemmEpilogue(A, B, { bias, activation }) is gelu(A·B + bias) in one call', async () => {
    const dev = device as Device;
    const [M, N, K] = [96, 80, 64];
    const a = randomValues([M * K], 'float16', 7, 0, 1);
    const b = randomValues([K * N], 'float16', 8, 0, 1);
    const bias = randomValues([N], 'float16', 9, 0, 1);
    const A = Tensor.fromArray(dev, a, [M, K], 'float16');
    const B = Tensor.fromArray(dev, b, [K, N], 'float16');
    const Bias = Tensor.fromArray(dev, bias, [N], 'float32'); // bias and residual have the output's dtype
    const C = await gemmEpilogue(A, B, { bias: Bias, activation: 'gelu', outDtype: 'float32' });
    try {
      assert.equal(C.dtype, 'float32');
      const got = C.toArray();
      const ref = new Float64Array(M * N);
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += (a[i * K + k] as number) * (b[k * N + j] as number);
          ref[i * N + j] = gelu(s + (bias[j] as number));
        }
      check('gemmEpilogue', { values: Float64Array.from(got), guardHit: -1 }, ref, 1e-4);
    } finally {
      for (const t of [A, B, Bias, C]) t.dispose();
    }
  });
});
