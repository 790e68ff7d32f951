// What `cuop bench` runs: the kernels of its scenarios and how much of each a full and a --quick run does.
import type { KernelSpec } from '../../jit/types.js';
import { Gemm, kernelSpecOf } from '../../ops/gemm.js';
import { gemmSource } from '../../ops/gemm-source.js';
import { COOPERATIVE_SOFTMAX_SOURCE } from '../sample-kernels.js';
import { GROUPS, type GroupName, type KernelName } from './names.js';

export * from './names.js';

/** How much each scenario does: the full run, or --quick (a subset for tests and a first look). */
export interface Plan {
  readonly groups: readonly GroupName[];
  /** Disk-hit samples: fresh processes per kernel (median). */
  readonly restarts: number;
  /** In-process repeats timed for the memory hit (mean). */
  readonly repeats: number;
  readonly storageCounts: readonly number[];
  readonly hitRateRuns: number;
  readonly hitRateKernels: number;
  /** Lookups of each kernel in one run of the hit-rate workload. */
  readonly hitRateCalls: number;
  /** Samples of the cuop vs direct compile (median each). */
  readonly directSamples: number;
  readonly concurrentProcesses: number;
}

const QUICK_GROUPS: readonly GroupName[] = ['gemm-256', 'storage', 'hit-rate', 'direct', 'concurrent'];

export function planFor(quick: boolean, only: readonly GroupName[] | undefined): Plan {
  const base = quick ? QUICK_GROUPS : GROUPS;
  const groups = only ? GROUPS.filter((g) => only.includes(g)) : base;
  return quick
    ? {
        groups,
        restarts: 1,
        repeats: 1000,
        storageCounts: [100],
        hitRateRuns: 2,
        hitRateKernels: 2,
        hitRateCalls: 3,
        directSamples: 1,
        concurrentProcesses: 4,
      }
    : {
        groups,
        restarts: 3,
        repeats: 10_000,
        storageCounts: [100, 1000, 10_000],
        hitRateRuns: 5,
        hitRateKernels: 4,
        hitRateCalls: 10,
        directSamples: 5,
        concurrentProcesses: 16,
      };
}

/** SMs the GEMM's tile choice is made for when there is no device: an H100's / H200's 132. */
export const DEFAULT_SM_COUNT = 132;

/** The spec of a bench kernel; GEMMs are the ops library's own kernel for an N×N×N float32 problem. */
export function kernelSpec(name: KernelName, smCount: number): KernelSpec {
  if (name === 'heavy-cg') {
    return {
      source: COOPERATIVE_SOFTMAX_SOURCE,
      name: 'cg_softmax<float, 256, 8>',
      programName: 'cg_softmax.cu',
    };
  }
  const n = Number(name.slice('gemm-'.length));
  // 16-byte aligned pointers: the aligned (vectorized) kernel, the one a real forward gets.
  const spec = new Gemm({ dtype: 'float32' }).specFor({ M: n, N: n, K: n }, [256n, 256n, 256n], smCount);
  return kernelSpecOf(gemmSource(spec));
}

/** The same kernel under another key: a -D define its source ignores (a real compile, a distinct entry). */
export function variantOf(spec: KernelSpec, variant: string): KernelSpec {
  return { ...spec, options: [...(spec.options ?? []), `-DCUOP_BENCH_VARIANT=${variant}`] };
}

/** What each kernel is, for the method text. */
export function describeKernel(name: KernelName, spec: KernelSpec): string {
  return name === 'heavy-cg'
    ? `${spec.name}: cooperative-groups softmax (grid.sync, memcpy_async, cg::reduce)`
    : `the ops library's float32 GEMM for ${name.slice(5)}³ (${spec.name})`;
}
