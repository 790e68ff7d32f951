// GEMM's side of the tuner (tune.ts) for the mma.sync / SIMT kernels (the wgmma kernel's candidates are
// wgmmaCandidates in gemm-wgmma.ts): which tile configurations are candidates, what identifies a problem (the shape
// bucket), and how one candidate is timed on the device with CUDA events. The GPU part (timeGemmLaunch) runs only
// when a Gemm is constructed with `tune: 'auto' | 'exhaustive'`.
import { driver } from '../cuda/index.js';
import type { Device, Stream } from '../runtime/index.js';
import { GEMM_CONFIGS, validateGemmConfig, type GemmConfig } from './gemm-source.js';
import type { DType } from './tensor.js';
import type { TuneMode, TuningIdentity, TuningProblem } from './tune.js';

/** The smallest power of two ≥ n (1 for n ≤ 1): the shape bucket of one dimension. */
export function pow2Bucket(n: number): number {
  if (n <= 1) return 1;
  return 2 ** Math.ceil(Math.log2(n));
}

/** Dynamic shared memory of a tensor-core configuration (bytes; float32 kernels use static memory, ≤ 48 KiB). */
export function gemmSharedBytes(dtype: DType, c: GemmConfig, transA: boolean, transB: boolean): number {
  if (dtype === 'float32') return 0;
  const aRows = transA ? c.bk : c.bm;
  const aCols = transA ? c.bm : c.bk;
  const bRows = transB ? c.bn : c.bk;
  const bCols = transB ? c.bk : c.bn;
  return c.stages * (aRows * (aCols + 8) + bRows * (bCols + 8)) * 2;
}

const isValid = (dtype: DType, c: GemmConfig): boolean => {
  try {
    validateGemmConfig(dtype, c);
    return true;
  } catch {
    return false;
  }
};

/** Every configuration of the exhaustive grid that can be generated (before the shared-memory bound). */
function grid(dtype: DType): GemmConfig[] {
  const out: GemmConfig[] = [];
  if (dtype === 'float32') {
    for (const bm of [32, 64, 128, 256])
      for (const bn of [32, 64, 128, 256])
        for (const bk of [4, 8, 16, 32]) out.push({ bm, bn, bk, warpsM: 0, warpsN: 0, stages: 2 });
    return out;
  }
  for (const bm of [64, 128, 256])
    for (const bn of [64, 128, 256])
      for (const bk of [32, 64])
        for (const warpsM of [1, 2, 4])
          for (const warpsN of [1, 2, 4])
            for (const stages of [2, 3, 4]) {
              // 4 or 8 warps (the kernel's design points: 2 or 1 blocks per SM), and 32..128 f32 accumulators per
              // thread (warp tiles 32×32 .. 64×64): more cannot fit in registers, fewer starve the tensor cores.
              const warps = warpsM * warpsN;
              const accumulators = (bm / warpsM / 16) * (bn / warpsN / 8) * 4;
              if ((warps !== 4 && warps !== 8) || accumulators > 128 || accumulators < 32) continue;
              out.push({ bm, bn, bk, warpsM, warpsN, stages });
            }
  return out;
}

/** The short list of 'auto': the operator's own configurations (those that suit the alignment). */
function shortList(dtype: DType, aligned: boolean): GemmConfig[] {
  const g = GEMM_CONFIGS;
  if (dtype === 'float32') return [g.f32Large, g.f32Large16, g.f32Medium, g.f32Small];
  if (!aligned) return [g.mmaLarge8, g.mmaSmall, g.mmaLarge];
  return [g.mmaLarge, g.mmaWide, g.mmaLarge8, g.mmaLarge64, g.mmaSmall];
}

/**
 * The candidates of a tuning run: the shape's default first, then the short list ('auto') or the short list and the
 * whole grid ('exhaustive', so its timings of the short list are reused when a user moves from 'auto' to it); each
 * with the operator's overrides, deduplicated, valid, and within the device's shared memory (`maxSharedBytes`).
 */
export function gemmCandidates(o: {
  readonly dtype: DType;
  readonly mode: Exclude<TuneMode, 'off'>;
  readonly aligned: boolean;
  readonly transA: boolean;
  readonly transB: boolean;
  readonly defaultConfig: GemmConfig;
  readonly override?: Partial<GemmConfig> | undefined;
  readonly maxSharedBytes: number;
}): GemmConfig[] {
  const base = [
    o.defaultConfig,
    ...shortList(o.dtype, o.aligned),
    ...(o.mode === 'exhaustive' ? grid(o.dtype) : []),
  ];
  const seen = new Set<string>();
  const out: GemmConfig[] = [];
  for (const b of base) {
    const c: GemmConfig = { ...b, ...o.override };
    const canon: GemmConfig = {
      bm: c.bm,
      bn: c.bn,
      bk: c.bk,
      warpsM: c.warpsM,
      warpsN: c.warpsN,
      stages: c.stages,
    };
    const id = JSON.stringify(canon);
    if (seen.has(id)) continue;
    seen.add(id);
    if (!isValid(o.dtype, canon)) continue;
    if (gemmSharedBytes(o.dtype, canon, o.transA, o.transB) > o.maxSharedBytes) continue;
    out.push(canon);
  }
  return out;
}

/** The identity of a device's timings: name, arch and driver version. */
export function deviceIdentity(device: Device): TuningIdentity {
  return { device: device.name, arch: device.arch, driver: String(driver.driverVersion()) };
}

/** What selects a GEMM kernel, with M, N, K in power-of-two buckets. */
export function gemmTuningProblem(o: {
  readonly dtype: DType;
  readonly outDtype: DType;
  readonly transA: boolean;
  readonly transB: boolean;
  readonly aligned: boolean;
  readonly epilogue: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
}): TuningProblem {
  return {
    op: 'gemm',
    fields: {
      dtype: o.dtype,
      outDtype: o.outDtype,
      transA: o.transA,
      transB: o.transB,
      aligned: o.aligned,
      epilogue: o.epilogue,
      M: pow2Bucket(o.M),
      N: pow2Bucket(o.N),
      K: pow2Bucket(o.K),
    },
  };
}

/**
 * Device milliseconds per launch of `launch` (which queues one kernel on `stream`): two warm-up launches, then three
 * trials of enough launches for ~2 ms each (between 1 and 50), timed with CUDA events; the median trial.
 */
export function timeGemmLaunch(device: Device, stream: Stream | undefined, launch: () => void): number {
  const start = device.createEvent({ timing: true });
  const end = device.createEvent({ timing: true });
  try {
    const trial = (reps: number): number => {
      start.record(stream);
      for (let i = 0; i < reps; i++) launch();
      end.record(stream);
      end.synchronize();
      return end.elapsedSince(start) / reps;
    };
    launch();
    const estimate = trial(1);
    const reps = Math.max(1, Math.min(50, Math.round(2 / Math.max(estimate, 1e-3))));
    const trials = [trial(reps), trial(reps), trial(reps)].sort((a, b) => a - b);
    return trials[1] as number;
  } finally {
    start.dispose();
    end.dispose();
  }
}
