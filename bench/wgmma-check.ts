// A fast GPU smoke check of the Hopper (sm_90a wgmma + TMA) GEMM: correctness on a handful of shapes (every
// transpose combination, float16 and bfloat16, tails, alpha/beta) against a float64 CPU reference, then TFLOP/s at
// 2048³, 4096³, 8192³ for the wgmma kernel and, for comparison, the mma.sync kernel (wgmma: false).
//   node build/bench/wgmma-check.js [--sizes 2048,4096,8192] [--iters 20] [--trans nn,nt,tn,tt] [--no-check]
//                                   [--no-mma] [--config '{"stages":3}'] [--tt-wgmma] [--limit-s 60]
// Exit status 1 when a check fails; each failure names the shape, transposes and the first mismatching (row, col).
// Every case prints a line before it starts ("timing float16 TT 8192 wgmma…") and waits for the GPU by polling with
// a deadline (--limit-s, default 60 s a case): a kernel that never finishes is named, and the process exits with
// status 3 instead of hanging. TT (transA and transB) runs on mma.sync by default (gemm-wgmma.ts: wgmmaApplies);
// --tt-wgmma asks for the wgmma kernel there explicitly (wgmma: {}), to reproduce the TT 8192 hang.
import { driver } from '../src/cuda/index.js';
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
  ttWgmma: boolean;
  limitMs: number;
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
    ttWgmma: false,
    limitMs: 60_000,
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
    else if (a === '--tt-wgmma') args.ttWgmma = true;
    else if (a === '--limit-s') args.limitMs = Number(next()) * 1000;
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

const TT = (ta: boolean, tb: boolean): string => `${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`;

/**
 * Wait for everything queued on the default stream, polling, for at most limitMs: a kernel that never finishes
 * (a deadlock) is named and the process exits with status 3 rather than blocking in a synchronize forever.
 */
async function settle(device: Device, what: string, limitMs: number): Promise<void> {
  device.makeCurrent();
  const t0 = performance.now();
  while (!driver.streamQuery(0n)) {
    if (performance.now() - t0 > limitMs) {
      console.log(`HUNG: ${what} did not finish within ${(limitMs / 1000).toFixed(0)} s; exiting`);
      process.exit(3);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Whether a transpose combination goes to the wgmma kernel: TT only when asked for (wgmmaApplies), by --tt-wgmma
 * or by a --config, which is passed as the `wgmma` option.
 */
const wgmmaExpected = (ta: boolean, tb: boolean, args: Args): boolean =>
  !(ta && tb) || args.ttWgmma || args.config !== undefined;

/** The `wgmma` option a case passes: the --config override, or {} to ask for TT explicitly. */
function wgmmaOption(ta: boolean, tb: boolean, args: Args): Partial<WgmmaConfig> | undefined {
  return args.config ?? (ta && tb && args.ttWgmma ? {} : undefined);
}

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
  expectWgmma: boolean,
  limitMs: number,
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
    await settle(device, `check ${label}`, limitMs);
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
    const ok = r.ok && wg === expectWgmma;
    const which =
      wg === expectWgmma ? '' : wg ? ' (the wgmma kernel, NOT expected)' : ' (NOT the wgmma kernel)';
    console.log(
      `${ok ? 'ok  ' : 'FAIL'} ${label}: ${r.message}; ${kernel}${which} ` +
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
  what: string,
  limitMs: number,
): Promise<number> {
  console.log(`timing ${what}…`);
  const rand = rng(size + (transA ? 1 : 0) + (transB ? 2 : 0));
  const A = Tensor.fromArray(device, randomRounded(size * size, dtype, rand), [size, size], dtype);
  const B = Tensor.fromArray(device, randomRounded(size * size, dtype, rand), [size, size], dtype);
  const C = Tensor.empty(device, [size, size], dtype);
  try {
    const op = new Gemm({ dtype, transA, transB, ...(wgmma !== undefined ? { wgmma } : {}) });
    for (let i = 0; i < 3; i++) await op.forward([A, B], [C]);
    await settle(device, `${what} (warm-up)`, limitMs);
    const start = device.createEvent();
    const stop = device.createEvent();
    const times: number[] = [];
    const reps = size >= 8192 ? 2 : size >= 4096 ? 5 : 20;
    for (let i = 0; i < iters; i++) {
      start.record();
      for (let r = 0; r < reps; r++) await op.forward([A, B], [C]);
      stop.record();
      await settle(device, `${what} (iteration ${i + 1} of ${iters})`, limitMs);
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

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const device = Device.get(0);
  const cc = device.computeCapability;
  console.log(`${device.name} (${device.arch}, ${device.multiprocessorCount} SMs)`);
  if (cc.major !== 9 || cc.minor !== 0) {
    console.log('not a compute capability 9.0 device: the wgmma kernel does not run here');
    return 1;
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
            wgmmaOption(ta, tb, args),
            wgmmaExpected(ta, tb, args),
            args.limitMs,
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
        const what = `${dtype} ${TT(ta, tb)} ${size}`;
        const first = wgmmaExpected(ta, tb, args) ? 'wgmma' : 'mma.sync (TT stays off wgmma)';
        const wg = await timeCase(
          device,
          dtype,
          size,
          ta,
          tb,
          args.iters,
          wgmmaOption(ta, tb, args),
          `${what} ${first}`,
          args.limitMs,
        );
        const mma = args.mma
          ? await timeCase(
              device,
              dtype,
              size,
              ta,
              tb,
              Math.min(args.iters, 5),
              false,
              `${what} mma.sync`,
              args.limitMs,
            )
          : NaN;
        console.log(
          `${dtype.padEnd(8)} ${TT(ta, tb)} ${String(size).padStart(5)}³: ${first} ${wg.toFixed(1)} TFLOP/s` +
            (args.mma ? `, mma.sync ${mma.toFixed(1)} TFLOP/s` : ''),
        );
      }
    }
  }
  return failures > 0 ? 1 : 0;
}

// Explicit exits: nothing left pending (a stray handle, a finalizer) may keep the process alive after the last case.
main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
