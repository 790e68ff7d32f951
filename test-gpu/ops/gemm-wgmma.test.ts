// GPU tests of the Hopper (sm_90a wgmma + TMA) GEMM kernel against a float64 CPU reference: float16 and bfloat16,
// the four transpose combinations, alpha/beta (beta = 0 with C poisoned: C must not be read), tails (M, N, K not
// multiples of the tile, K < 64), every listed config, and a 4096³ case checked on sampled rows. Each case asserts
// that the wgmma kernel really ran (the kernel provider records the names it was asked for). Runs only on a compute
// capability 9.0 device; elsewhere it is skipped.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { driverAvailable } from '../../src/cuda/driver.js';
import { defaultKernelProvider } from '../../src/jit/default-provider.js';
import type { KernelProvider } from '../../src/jit/types.js';
import { gemmAligned } from '../../src/ops/gemm-source.js';
import { WGMMA_CONFIGS, type WgmmaConfig } from '../../src/ops/gemm-wgmma-source.js';
import { Gemm } from '../../src/ops/gemm.js';
import { DTYPE_BYTES, Tensor, encodeHost, type DType } from '../../src/ops/tensor.js';
import { Device } from '../../src/runtime/index.js';
import {
  compareRows,
  randomRounded,
  referenceRows,
  rng,
  sampleRows,
  type GemmCase,
} from './gemm-reference.js';

function hopper(): Device | undefined {
  if (!driverAvailable()) return undefined;
  const d = Device.get(0);
  return d.computeCapability.major === 9 && d.computeCapability.minor === 0 ? d : undefined;
}
const device = hopper();
const skip = device ? false : 'needs a compute capability 9.0 (Hopper) GPU';
const HALVES: readonly DType[] = ['float16', 'bfloat16'];
const TRANS: readonly [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
const TOL: Readonly<Record<string, number>> = { float16: 1e-2, bfloat16: 1e-2 };
const GUARD = 64;
/** [M, N, K]: multiples of 8 (TMA's 16-byte strides) that cut tiles, K below one k-tile, and odd M where lda = K. */
const SIZES: readonly [number, number, number][] = [
  [8, 8, 8],
  [24, 40, 16],
  [64, 64, 64],
  [17, 48, 40],
  [136, 264, 72],
  [200, 312, 520],
  [128, 256, 4096],
  [1000, 1032, 776],
];
const CONFIG_SIZES: readonly [number, number, number][] = [
  [136, 264, 72],
  [264, 200, 136],
];
const SCALARS: readonly [number, number][] = [
  [1.5, 0],
  [0.75, -1.25],
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

async function runCase(
  dtype: DType,
  c: GemmCase,
  seed: number,
  wgmma: Partial<WgmmaConfig> | undefined,
  sampled: boolean,
): Promise<string | undefined> {
  const dev = device as Device;
  const { M, N, K, transA, transB, alpha, beta } = c;
  const label =
    `${dtype} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} M=${M} N=${N} K=${K} alpha=${alpha} beta=${beta}` +
    (wgmma ? ` config=${JSON.stringify(wgmma)}` : '');
  const rand = rng(seed);
  const a = randomRounded(M * K, dtype, rand);
  const b = randomRounded(K * N, dtype, rand);
  const c0 = beta !== 0 ? randomRounded(M * N, dtype, rand) : undefined;
  const A = Tensor.fromArray(dev, a, transA ? [K, M] : [M, K], dtype);
  const B = Tensor.fromArray(dev, b, transB ? [N, K] : [K, N], dtype);
  const bytes = DTYPE_BYTES[dtype];
  const C = new Tensor(dev.alloc((M * N + GUARD) * bytes), [M, N], dtype);
  const names: string[] = [];
  try {
    C.buffer.fillBytes(0xff); // NaN in both dtypes
    if (c0) C.buffer.upload(encodeHost(c0, dtype));
    const op = new Gemm({ dtype, transA, transB, alpha, beta, ...(wgmma ? { wgmma } : {}) });
    await op.forward([A, B], [C], { jit: recording(names) });
    dev.synchronize();
    if (!names.every((n) => n.includes('_wgmma_')) || names.length === 0)
      return `${label}: the wgmma kernel did not run (kernels asked for: ${names.join(', ') || 'none'})`;
    const out = C.toArray();
    const rows = sampled ? sampleRows(M) : Array.from({ length: M }, (_, i) => i);
    const r = compareRows(out, referenceRows(c, a, b, c0, rows), rows, N, TOL[dtype] as number);
    if (!r.ok) return `${label}: ${r.message}`;
    const raw = C.buffer.download(new Uint8Array(C.buffer.byteLength));
    for (let i = M * N * bytes; i < raw.length; i++)
      if (raw[i] !== 0xff) return `${label}: wrote past the end of C (byte ${i})`;
    return undefined;
  } catch (e) {
    return `${label}: threw ${(e as Error).stack ?? String(e)}`;
  } finally {
    A.dispose();
    B.dispose();
    C.dispose();
  }
}

const aligned = (dtype: DType, ta: boolean, tb: boolean, [M, N, K]: readonly number[]): boolean =>
  gemmAligned(dtype, ta, tb, M!, N!, K!, []);

describe('the wgmma GEMM on a Hopper GPU vs a float64 reference', { skip }, () => {
  after(() => device?.synchronize());
  let seed = 11;

  test('TT without an explicit wgmma option runs on mma.sync', async () => {
    const dev = device as Device;
    for (const dtype of HALVES) {
      const A = Tensor.fromArray(dev, new Float32Array(64 * 64).fill(1), [64, 64], dtype);
      const C = Tensor.empty(dev, [64, 64], dtype);
      const names: string[] = [];
      try {
        await new Gemm({ dtype, transA: true, transB: true }).forward([A, A], [C], { jit: recording(names) });
        dev.synchronize();
        assert.ok(names.length > 0 && names.every((n) => !n.includes('_wgmma_')), names.join(', '));
        assert.equal(C.toArray()[0], 64);
      } finally {
        A.dispose();
        C.dispose();
      }
    }
  });

  for (const dtype of HALVES) {
    for (const [transA, transB] of TRANS) {
      const tag = `${dtype} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;
      // TT is off the wgmma kernel by default (wgmmaApplies: the 8192³ hang); {} asks for it explicitly.
      const ask = transA && transB ? {} : undefined;
      test(`${tag}: default config, tails, alpha/beta`, async () => {
        const failures: string[] = [];
        for (const size of SIZES) {
          if (!aligned(dtype, transA, transB, size)) continue;
          for (const [alpha, beta] of SCALARS) {
            const [M, N, K] = size;
            const c = { M, N, K, transA, transB, alpha, beta };
            const f = await runCase(dtype, c, seed++, ask, false);
            if (f) failures.push(f);
          }
        }
        assert.deepEqual(failures, [], failures.join('\n'));
      });

      test(`${tag}: every listed config`, async () => {
        const failures: string[] = [];
        for (const config of Object.values(WGMMA_CONFIGS)) {
          for (const [M, N, K] of CONFIG_SIZES) {
            const c = { M, N, K, transA, transB, alpha: 1, beta: 0.5 };
            const f = await runCase(dtype, c, seed++, config, false);
            if (f) failures.push(f);
          }
        }
        assert.deepEqual(failures, [], failures.join('\n'));
      });

      // Ping-pong consumers take turns only where a block gets two tiles or more (tiles > SMs): here 2–9 a block,
      // K from 2 k-tiles (fewer than the stages) to 65 (laps of the ring within one tile), tails in M, N and K.
      // Clusters the same way: several cluster tiles each, and an odd count of tile rows (4104 / 128 → 33), so the
      // last cluster row's second block is past M and only multicasts its half of B.
      test(`${tag}: ping-pong and cluster configs, several tiles a block (sampled rows)`, async () => {
        const failures: string[] = [];
        const many = (Object.values(WGMMA_CONFIGS) as WgmmaConfig[]).filter(
          (x) => x.pingpong || x.cluster > 1,
        );
        for (const config of many) {
          for (const [M, N, K] of [
            [4104, 4112, 4136],
            [2056, 2056, 136],
            [1032, 8200, 72],
          ] as const) {
            const c = { M, N, K, transA, transB, alpha: 1, beta: 0.5 };
            const f = await runCase(dtype, c, seed++, config, true);
            if (f) failures.push(f);
          }
        }
        assert.deepEqual(failures, [], failures.join('\n'));
      });

      test(`${tag}: 4096³ and 4104×4112×4136, sampled rows`, async () => {
        const failures: string[] = [];
        for (const [M, N, K] of [
          [4096, 4096, 4096],
          [4104, 4112, 4136],
        ] as const) {
          const c = { M, N, K, transA, transB, alpha: 1, beta: 0 };
          const f = await runCase(dtype, c, seed++, ask, true);
          if (f) failures.push(f);
        }
        assert.deepEqual(failures, [], failures.join('\n'));
      });
    }
  }
});
