// A fast GPU smoke check of the Hopper (sm_90a wgmma + TMA) GEMM: correctness on a handful of shapes (every
// transpose combination, float16 and bfloat16, tails, alpha/beta) against a float64 CPU reference, then TFLOP/s at
// 2048³, 4096³, 8192³ for the wgmma kernel and, for comparison, the mma.sync kernel (wgmma: false).
//   node build/bench/wgmma-check.js [--sizes 2048,4096,8192] [--iters 20] [--trans nn,nt,tn,tt] [--no-check]
//                                   [--no-mma] [--config '{"stages":3}']
// Exit status 1 when a check fails; each failure names the shape, transposes and the first mismatching (row, col).
import { defaultKernelProvider } from '../src/jit/default-provider.js';
import type { KernelProvider } from '../src/jit/types.js';
import type { WgmmaConfig } from '../src/ops/gemm-wgmma-source.js';
import { Gemm } from '../src/ops/gemm.js';
import { Tensor, encodeHost, type DType } from '../src/ops/tensor.js';
import { Device } from '../src/runtime/index.js';
import {
  compareRows,
  randomRounded,
  referenceRows,
  rng,
  sampleRows,
} from '../test-gpu/ops/gemm-reference.js';

interface Args {
  sizes: number[];
  iters: number;
  trans: [boolean, boolean][];
  check: boolean;
  mma: boolean;
  config: Partial<WgmmaConfig> | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    sizes: [2048, 4096, 8192],
    iters: 20,
    trans: [
      [false, false],
      [false, true],
    ],
    check: true,
    mma: true,
    config: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--sizes') args.sizes = next().split(',').map(Number);
    else if (a === '--iters') args.iters = Number(next());
    else if (a === '--trans')
      args.trans = next()
        .split(',')
        .map((t) => [t[0] === 't', t[1] === 't']);
    else if (a === '--no-check') args.check = false;
    else if (a === '--no-mma') args.mma = false;
    else if (a === '--config') args.config = JSON.parse(next()) as Partial<WgmmaConfig>;
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

const TT = (ta: boolean, tb: boolean): string => `${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`;

/** Records the kernel names a forward asks for. */
function recording(names: string[]): KernelProvider {
  return {
    kernel: (spec, dev) => {
      names.push(spec.name);
      return defaultKernelProvider().kernel(spec, dev);
    },
  };
}

async function checkCase(
  device: Device,
  dtype: DType,
  [M, N, K]: readonly [number, number, number],
  transA: boolean,
  transB: boolean,
  alpha: number,
  beta: number,
  seed: number,
  config: Partial<WgmmaConfig> | undefined,
): Promise<boolean> {
  const label = `${dtype} ${TT(transA, transB)} M=${M} N=${N} K=${K} alpha=${alpha} beta=${beta}`;
  const rand = rng(seed);
  const a = randomRounded(M * K, dtype, rand);
  const b = randomRounded(K * N, dtype, rand);
  const c0 = beta !== 0 ? randomRounded(M * N, dtype, rand) : undefined;
  const A = Tensor.fromArray(device, a, transA ? [K, M] : [M, K], dtype);
  const B = Tensor.fromArray(device, b, transB ? [N, K] : [K, N], dtype);
  const C = Tensor.empty(device, [M, N], dtype);
  const names: string[] = [];
  try {
    C.buffer.fillBytes(0xff);
    if (c0) C.buffer.upload(encodeHost(c0, dtype));
    const op = new Gemm({ dtype, transA, transB, alpha, beta, ...(config ? { wgmma: config } : {}) });
    const t0 = performance.now();
    await op.forward([A, B], [C], { jit: recording(names) });
    device.synchronize();
    const ms = performance.now() - t0;
    const rows = M > 512 ? sampleRows(M) : Array.from({ length: M }, (_, i) => i);
    const r = compareRows(
      C.toArray(),
      referenceRows({ M, N, K, transA, transB, alpha, beta }, a, b, c0, rows),
      rows,
      N,
      1e-2,
    );
    const kernel = names.join(', ');
    const wg = names.length > 0 && names.every((n) => n.includes('_wgmma_'));
    const ok = r.ok && wg;
    console.log(
      `${ok ? 'ok  ' : 'FAIL'} ${label}: ${r.message}; ${kernel}${wg ? '' : ' (NOT the wgmma kernel)'} ` +
        `(first call ${ms.toFixed(0)} ms incl. compile)`,
    );
    return ok;
  } catch (e) {
    console.log(`FAIL ${label}: threw ${(e as Error).stack ?? String(e)}`);
    return false;
  } finally {
    A.dispose();
    B.dispose();
    C.dispose();
  }
}

async function timeCase(
  device: Device,
  dtype: DType,
  size: number,
  transA: boolean,
  transB: boolean,
  iters: number,
  wgmma: false | Partial<WgmmaConfig> | undefined,
): Promise<number> {
  const rand = rng(size + (transA ? 1 : 0) + (transB ? 2 : 0));
  const A = Tensor.fromArray(device, randomRounded(size * size, dtype, rand), [size, size], dtype);
  const B = Tensor.fromArray(device, randomRounded(size * size, dtype, rand), [size, size], dtype);
  const C = Tensor.empty(device, [size, size], dtype);
  try {
    const op = new Gemm({ dtype, transA, transB, ...(wgmma !== undefined ? { wgmma } : {}) });
    for (let i = 0; i < 3; i++) await op.forward([A, B], [C]);
    device.synchronize();
    const start = device.createEvent();
    const stop = device.createEvent();
    const times: number[] = [];
    const reps = size >= 8192 ? 2 : size >= 4096 ? 5 : 20;
    for (let i = 0; i < iters; i++) {
      start.record();
      for (let r = 0; r < reps; r++) await op.forward([A, B], [C]);
      stop.record();
      stop.synchronize();
      times.push(stop.elapsedSince(start) / reps);
    }
    start.dispose();
    stop.dispose();
    times.sort((x, y) => x - y);
    const median = times[Math.floor(times.length / 2)] as number;
    return (2 * size ** 3) / (median * 1e-3) / 1e12;
  } finally {
    A.dispose();
    B.dispose();
    C.dispose();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const device = Device.get(0);
  const cc = device.computeCapability;
  console.log(`${device.name} (${device.arch}, ${device.multiprocessorCount} SMs)`);
  if (cc.major !== 9 || cc.minor !== 0) {
    console.log('not a compute capability 9.0 device: the wgmma kernel does not run here');
    process.exitCode = 1;
    return;
  }
  let failures = 0;
  if (args.check) {
    const shapes: [number, number, number][] = [
      [8, 8, 8],
      [24, 40, 16],
      [136, 264, 72],
      [200, 312, 520],
      [1000, 1032, 776],
      [2048, 2048, 2048],
    ];
    let seed = 1;
    for (const dtype of ['float16', 'bfloat16'] as const) {
      for (const [ta, tb] of [
        [false, false],
        [false, true],
        [true, false],
        [true, true],
      ] as const) {
        for (const shape of shapes) {
          const beta = shape[0] === 136 || shape[0] === 1000 ? -1.25 : 0;
          const ok = await checkCase(
            device,
            dtype,
            shape,
            ta,
            tb,
            beta ? 0.75 : 1,
            beta,
            seed++,
            args.config,
          );
          if (!ok) failures++;
        }
      }
    }
    console.log(failures === 0 ? 'all checks passed' : `${failures} checks FAILED`);
  }
  for (const dtype of ['float16', 'bfloat16'] as const) {
    for (const [ta, tb] of args.trans) {
      for (const size of args.sizes) {
        const wg = await timeCase(device, dtype, size, ta, tb, args.iters, args.config ?? undefined);
        const mma = args.mma
          ? await timeCase(device, dtype, size, ta, tb, Math.min(args.iters, 5), false)
          : NaN;
        console.log(
          `${dtype.padEnd(8)} ${TT(ta, tb)} ${String(size).padStart(5)}³: wgmma ${wg.toFixed(1)} TFLOP/s` +
            (args.mma ? `, mma.sync ${mma.toFixed(1)} TFLOP/s` : ''),
        );
      }
    }
  }
  if (failures > 0) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
