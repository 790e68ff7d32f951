// Gemm's Hopper path: float16 / bfloat16 on a compute capability 9.0 device go to the wgmma + TMA kernel
// (gemm-wgmma-source.ts) when TMA can address the operands (16-byte aligned bases and leading dimensions, K > 0).
// Everything else stays on the mma.sync / SIMT kernels of gemm-source.ts. Kept apart from gemm.ts, which asks
// wgmmaApplies() first and hands the call to wgmmaForward() (when tuning, after wgmmaCandidates(), with
// wgmmaKernelSpecFor() to compile ahead and wgmmaLauncher() to time).
import { driver } from '../cuda/index.js';
import { defaultKernelProvider } from '../jit/default-provider.js';
import type { KernelSpec } from '../jit/types.js';
import {
  bytesArg,
  f32,
  i32,
  type Device,
  type Kernel,
  type KernelArg,
  type StructArg,
} from '../runtime/index.js';
import type { GemmEpilogue } from './gemm-epilogue.js';
import { gemmAligned } from './gemm-source.js';
import {
  defaultFusedWgmmaConfig,
  defaultWgmmaConfig,
  validateWgmmaConfig,
  wgmmaSharedBytes,
  wgmmaSource,
  WGMMA_CONFIGS,
  type WgmmaConfig,
  type WgmmaSource,
  type WgmmaSpec,
} from './gemm-wgmma-source.js';
import type { ForwardOptions } from './operator.js';
import type { DType, Tensor } from './tensor.js';

/** What the Hopper path needs to know of the Gemm operator. */
export interface WgmmaOperator {
  readonly dtype: DType;
  readonly transA: boolean;
  readonly transB: boolean;
  readonly alpha: number;
  readonly beta: number;
  /** false: never use the Hopper kernel; an object: override parts of its tile config. */
  readonly wgmma?: false | Partial<WgmmaConfig> | undefined;
  /** An mma.sync tile config given by the user: it asks for that kernel, so the Hopper path steps aside. */
  readonly configOverride?: object | undefined;
  /** A fused epilogue (bias, activation, scale, residual, output cast), generated into the kernel's store. */
  readonly epilogue?: GemmEpilogue | undefined;
}

/**
 * Whether the Hopper kernel serves this problem on this device (pure apart from reading the device's fields). TT
 * (transA and transB) only when `wgmma` is given as an object: see the comment inside.
 */
export function wgmmaApplies(
  op: WgmmaOperator,
  device: Pick<Device, 'computeCapability'>,
  M: number,
  N: number,
  K: number,
  pointers: readonly bigint[],
): boolean {
  if (op.dtype !== 'float16' && op.dtype !== 'bfloat16') return false;
  if (op.wgmma === false) return false;
  if (op.wgmma === undefined && op.configOverride !== undefined) return false;
  // TT (A stored K×M and B stored N×K: MN-major A panels with a K-major B box) stays on mma.sync unless the caller
  // asks for this kernel explicitly (`wgmma: {}` or a config). On an H200 the TT case at 8192³ hung twice (the
  // process never finished) while NN, NT, TN at every size and TT up to 4096³ never did, and every correctness check
  // passed. Review and a CPU emulation of the protocol (test/ops/gemm-wgmma-pipeline.test.ts: barrier counts,
  // transaction bytes against the boxes issued, parity, stage reuse, every config × transposes up to 8192³) found
  // no cause, so the default keeps the layout that hung off this kernel until a GPU run names it
  // (bench/wgmma-check.ts --trans tt --sizes 8192 --tt-wgmma, notes/gemm.md).
  if (op.transA && op.transB && op.wgmma === undefined) return false;
  // (A stand-in device without a compute capability, as CPU tests use, is not a Hopper.)
  const cc = (device as Partial<Pick<Device, 'computeCapability'>>).computeCapability;
  if (cc === undefined || cc.major !== 9 || cc.minor !== 0) return false;
  if (M === 0 || N === 0 || K === 0) return false;
  return gemmAligned(op.dtype, op.transA, op.transB, M, N, K, pointers);
}

/** The config fields that choose the tile's shape and its consumers' schedule. */
const TILE_FIELDS = ['bm', 'bn', 'consumers', 'pingpong', 'cluster'] as const;

/** The Hopper kernel's spec for a problem: the shape's default config with the operator's overrides. Pure. */
export function wgmmaSpecFor(op: WgmmaOperator, M: number, N: number, smCount: number): WgmmaSpec {
  const overrides = op.wgmma === false ? {} : (op.wgmma ?? {});
  // A caller who names the tile gets it on the plain default (a ping-pong default under a bm/bn of theirs could
  // make a tile they did not ask for); otherwise a fused epilogue has its own default.
  const namesTile = TILE_FIELDS.some((k) => overrides[k] !== undefined);
  const base =
    op.epilogue !== undefined && !namesTile
      ? defaultFusedWgmmaConfig(M, N, smCount)
      : defaultWgmmaConfig(M, N, smCount);
  const config: WgmmaConfig = { ...base, ...overrides };
  validateWgmmaConfig(op.dtype, config, op.epilogue !== undefined);
  return {
    dtype: op.dtype,
    transA: op.transA,
    transB: op.transB,
    config,
    ...(op.epilogue ? { epilogue: op.epilogue } : {}),
  };
}

/**
 * The candidates of a tuning run on the Hopper kernel for an M×N output: the shape's default first (wgmmaSpecFor),
 * then every listed config (WGMMA_CONFIGS), each with the operator's overrides; with a fused epilogue each at the
 * default's row unroll ('auto') or at 1, 2 and 4 ('exhaustive'). Deduplicated, valid, within `maxSharedBytes`. Pure.
 */
export function wgmmaCandidates(
  op: WgmmaOperator,
  M: number,
  N: number,
  smCount: number,
  mode: 'auto' | 'exhaustive',
  maxSharedBytes: number,
): WgmmaConfig[] {
  const overrides = op.wgmma === false ? {} : (op.wgmma ?? {});
  const fused = op.epilogue !== undefined;
  // The shape's default with the overrides, when that is a valid config (an override may fit only other tiles).
  let first: WgmmaConfig | undefined;
  try {
    first = wgmmaSpecFor(op, M, N, smCount).config;
  } catch {
    first = undefined;
  }
  const defaultUnroll = first?.epilogueUnroll ?? overrides.epilogueUnroll ?? 2;
  const unrolls = !fused ? [undefined] : mode === 'exhaustive' ? [1, 2, 4] : [defaultUnroll];
  const base: WgmmaConfig[] = first ? [first] : [];
  for (const c of Object.values(WGMMA_CONFIGS) as WgmmaConfig[]) {
    for (const u of unrolls)
      base.push({ ...c, ...(u === undefined ? {} : { epilogueUnroll: u }), ...overrides });
  }
  const seen = new Set<string>();
  const out: WgmmaConfig[] = [];
  for (const c of base) {
    const canon: WgmmaConfig = {
      bm: c.bm,
      bn: c.bn,
      bk: c.bk,
      stages: c.stages,
      consumers: c.consumers,
      cluster: c.cluster,
      ...(c.pingpong ? { pingpong: true } : {}),
      ...(fused ? { epilogueUnroll: c.epilogueUnroll ?? 1 } : {}),
    };
    const id = JSON.stringify(canon);
    if (seen.has(id)) continue;
    seen.add(id);
    try {
      validateWgmmaConfig(op.dtype, canon, fused);
    } catch {
      continue;
    }
    if (wgmmaSharedBytes(canon, fused) > maxSharedBytes) continue;
    out.push(canon);
  }
  if (out.length === 0) {
    throw new RangeError(
      `gemm: no wgmma tile config is valid with the override ${JSON.stringify(overrides)} for ${op.dtype}` +
        `${fused ? ' with a fused epilogue' : ''} within ${maxSharedBytes} bytes of shared memory: pass fewer fields`,
    );
  }
  return out;
}

/** The JIT request for a generated Hopper kernel (no signature: every argument is passed typed). */
export function wgmmaKernelSpec(gen: WgmmaSource): KernelSpec {
  return { source: gen.source, name: gen.name, options: gen.options, programName: gen.programName };
}

const generated = new Map<string, { gen: WgmmaSource; kernelSpec: KernelSpec }>();
const raised = new WeakSet<Kernel>();

function generatedFor(spec: WgmmaSpec): { gen: WgmmaSource; kernelSpec: KernelSpec } {
  const id = JSON.stringify(spec);
  let g = generated.get(id);
  if (!g) {
    const gen = wgmmaSource(spec);
    g = { gen, kernelSpec: wgmmaKernelSpec(gen) };
    generated.set(id, g);
  }
  return g;
}

/**
 * The tensor map of one row-major operand stored rows×cols (cols contiguous) with a box of boxCols×boxRows: its
 * request, for cuTensorMapEncodeTiled. Pure.
 */
export function operandTensorMap(
  dtype: DType,
  ptr: bigint,
  rows: number,
  cols: number,
  box: readonly [number, number],
): driver.TensorMapTiled {
  return {
    dataType: dtype === 'bfloat16' ? driver.TensorMapDataType.BFloat16 : driver.TensorMapDataType.Float16,
    globalAddress: ptr,
    globalDim: [cols, rows],
    globalStrides: [cols * 2],
    boxDim: [box[0], box[1]],
    swizzle: driver.TensorMapSwizzle.B128,
    l2Promotion: driver.TensorMapL2Promotion.B256,
  };
}

// Encoded maps by (dtype, pointer, shape, box): a repeat forward on the same tensors encodes nothing. Bounded: the
// maps of long-gone tensors are dropped all at once when it fills.
const MAP_MEMO_LIMIT = 256;
const maps = new Map<string, StructArg>();

function tensorMapArg(
  dtype: DType,
  ptr: bigint,
  rows: number,
  cols: number,
  box: readonly [number, number],
): StructArg {
  const id = `${dtype}:${ptr}:${rows}:${cols}:${box[0]}:${box[1]}`;
  let arg = maps.get(id);
  if (!arg) {
    if (maps.size >= MAP_MEMO_LIMIT) maps.clear();
    arg = bytesArg(driver.encodeTensorMapTiled(operandTensorMap(dtype, ptr, rows, cols, box)), 64);
    maps.set(id, arg);
  }
  return arg;
}

/** The operator's Hopper spec with `config` (a tuned one) in place of the shape's. Pure. */
function specWith(op: WgmmaOperator, M: number, N: number, smCount: number, config?: WgmmaConfig): WgmmaSpec {
  const spec = wgmmaSpecFor(op, M, N, smCount);
  if (config === undefined) return spec;
  validateWgmmaConfig(op.dtype, config, op.epilogue !== undefined);
  return { ...spec, config };
}

/** The JIT request of the operator's Hopper kernel with `config` (what a tuning run compiles ahead). Pure. */
export function wgmmaKernelSpecFor(
  op: WgmmaOperator,
  M: number,
  N: number,
  smCount: number,
  config: WgmmaConfig,
): KernelSpec {
  return generatedFor(specWith(op, M, N, smCount, config)).kernelSpec;
}

/**
 * Run C = alpha·op(A)·op(B) + beta·C (or the operator's fused epilogue) on the Hopper kernel. The caller has
 * validated the shapes and checked wgmmaApplies(); `extra` are the epilogue's bias and residual tensors, in that
 * order, as Gemm.forward takes them after A and B; `config` a tuned configuration instead of the shape's default.
 */
export async function wgmmaForward(
  op: WgmmaOperator,
  A: Tensor,
  B: Tensor,
  C: Tensor,
  problem: { readonly M: number; readonly N: number; readonly K: number },
  options: ForwardOptions,
  extra: readonly Tensor[] = [],
  config?: WgmmaConfig,
): Promise<void> {
  (await wgmmaLauncher(op, A, B, C, problem, options, extra, config))();
}

/**
 * What wgmmaForward launches, as a function that queues the kernel once more with the same arguments: the kernel is
 * loaded and its tensor maps encoded first (a tuning run times the function).
 */
export async function wgmmaLauncher(
  op: WgmmaOperator,
  A: Tensor,
  B: Tensor,
  C: Tensor,
  problem: { readonly M: number; readonly N: number; readonly K: number },
  options: ForwardOptions,
  extra: readonly Tensor[] = [],
  config?: WgmmaConfig,
): Promise<() => void> {
  const { M, N, K } = problem;
  const device = C.device;
  const smCount = device.multiprocessorCount;
  const { gen, kernelSpec } = generatedFor(specWith(op, M, N, smCount, config));
  const kernel = await (options.jit ?? defaultKernelProvider()).kernel(kernelSpec, device);
  if (!raised.has(kernel)) {
    if (gen.sharedMemBytes > device.maxSharedMemoryPerBlockOptin) {
      throw new RangeError(
        `gemm: the wgmma tile config needs ${gen.sharedMemBytes} bytes of shared memory; ${device.name} allows ` +
          `${device.maxSharedMemoryPerBlockOptin} (pass a config with fewer stages, e.g. wgmma: { stages: 3 })`,
      );
    }
    kernel.setMaxDynamicSharedMemory(gen.sharedMemBytes);
    raised.add(kernel);
  }
  // A clustered grid is as many clusters as the device holds at once (at most one per CLUSTER SMs): more would
  // wait for others to finish their every tile.
  let slots = smCount;
  if (gen.cluster > 1) {
    const clusters = kernel.maxActiveClusters([gen.cluster, 1, 1], gen.block, gen.sharedMemBytes);
    if (clusters < 1) {
      throw new RangeError(
        `gemm: ${device.name} cannot hold one cluster of ${gen.cluster} blocks of the wgmma config ` +
          `(${gen.sharedMemBytes} bytes of shared memory each); pass wgmma: { cluster: 1 }`,
      );
    }
    slots = Math.min(smCount, clusters * gen.cluster);
  }
  // A is M×K (K×M when transposed), B is K×N (N×K when transposed), each row-major.
  const mapA = op.transA
    ? tensorMapArg(op.dtype, A.devicePtr, K, M, gen.boxA)
    : tensorMapArg(op.dtype, A.devicePtr, M, K, gen.boxA);
  const mapB = op.transB
    ? tensorMapArg(op.dtype, B.devicePtr, N, K, gen.boxB)
    : tensorMapArg(op.dtype, B.devicePtr, K, N, gen.boxB);
  const launch = {
    grid: gen.grid(M, N, slots),
    block: gen.block,
    sharedMem: gen.sharedMemBytes,
    ...(options.stream ? { stream: options.stream } : {}),
  };
  const args = wgmmaArgs(op, mapA, mapB, C, problem, extra);
  return () => kernel.launch(launch, args);
}

/**
 * The Hopper kernel's arguments: the two tensor maps, C, M, N, K, alpha, beta, then a fused epilogue's bias,
 * residual and scalars (the parameter order of gemm-wgmma.cu with gemmEpilogueCode's params appended, as the
 * mma.sync kernel takes them after its A, B, C, M, N, K, alpha, beta). Pure.
 */
export function wgmmaArgs(
  op: WgmmaOperator,
  mapA: StructArg,
  mapB: StructArg,
  C: Tensor,
  problem: { readonly M: number; readonly N: number; readonly K: number },
  extra: readonly Tensor[],
): KernelArg[] {
  const base: KernelArg[] = [
    mapA,
    mapB,
    C,
    i32(problem.M),
    i32(problem.N),
    i32(problem.K),
    f32(op.alpha),
    f32(op.beta),
  ];
  const e = op.epilogue;
  if (!e) return base;
  const want = (e.bias ? 1 : 0) + (e.residual ? 1 : 0);
  if (extra.length !== want) {
    throw new RangeError(
      `gemm: the wgmma epilogue ${e.lowered.text} takes ${want} tensors after A and B, got ${extra.length}`,
    );
  }
  return [...base, ...extra, ...e.lowered.scalars.map((s) => f32(s))];
}
