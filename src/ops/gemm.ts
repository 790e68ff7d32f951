import { defaultKernelProvider } from '../jit/default-provider.js';
import type { KernelSpec } from '../jit/types.js';
import { f32, i32, type Kernel } from '../runtime/index.js';
import {
  defaultGemmConfig,
  gemmAligned,
  gemmSource,
  validateGemmConfig,
  type GemmConfig,
  type GemmSource,
  type GemmSpec,
} from './gemm-source.js';
import type { WgmmaConfig } from './gemm-wgmma-source.js';
import { wgmmaApplies, wgmmaForward } from './gemm-wgmma.js';
import type { ForwardOptions, Operator } from './operator.js';
import { ShapeError, Tensor, type DType } from './tensor.js';

/** C = alpha · op(A) · op(B) + beta · C: the dtype, the transposes, the scalars and any tile config. */
export interface GemmOptions {
  /** Element type of A, B and C (default float32). float16/bfloat16 accumulate in float32 on tensor cores. */
  readonly dtype?: DType;
  /** A is stored K×M and op(A) = Aᵀ. */
  readonly transA?: boolean;
  /** B is stored N×K and op(B) = Bᵀ. */
  readonly transB?: boolean;
  /** Default 1. */
  readonly alpha?: number;
  /** Default 0; with 0, C is never read (it may hold garbage or NaN). */
  readonly beta?: number;
  /** Override parts of the tile configuration chosen by shape. */
  readonly config?: Partial<GemmConfig>;
  /**
   * The Hopper (sm_90a wgmma + TMA) kernel for float16/bfloat16 on compute capability 9.0: false never uses it; an
   * object overrides parts of its tile config (WGMMA_CONFIGS). Default: used when the operands allow TMA, unless
   * `config` asks for an mma.sync tile.
   */
  readonly wgmma?: false | Partial<WgmmaConfig>;
}

/** The problem a forward call solves, after validation. */
export interface GemmProblem {
  readonly M: number;
  readonly N: number;
  readonly K: number;
}

const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];
const I32_MAX = 0x7fffffff;

/**
 * C = alpha·op(A)·op(B) + beta·C on row-major matrices. The kernel source is generated for the dtype, the transposes,
 * the tile configuration (chosen by shape) and whether 16-byte vector accesses are possible; alpha, beta, M, N, K are
 * run-time arguments.
 */
export class Gemm implements Operator {
  readonly name = 'gemm';
  readonly dtype: DType;
  readonly transA: boolean;
  readonly transB: boolean;
  readonly alpha: number;
  readonly beta: number;
  readonly configOverride: Partial<GemmConfig> | undefined;
  /** The `wgmma` option as given. */
  readonly wgmma: false | Partial<WgmmaConfig> | undefined;
  /** Kernels whose dynamic shared-memory limit has been raised already. */
  private readonly raised = new WeakSet<Kernel>();

  constructor(options: GemmOptions = {}) {
    this.dtype = options.dtype ?? 'float32';
    if (!DTYPES.includes(this.dtype)) throw new TypeError(`Gemm: unsupported dtype ${String(this.dtype)}`);
    this.transA = options.transA ?? false;
    this.transB = options.transB ?? false;
    this.alpha = options.alpha ?? 1;
    this.beta = options.beta ?? 0;
    if (!Number.isFinite(this.alpha) || !Number.isFinite(this.beta)) {
      throw new TypeError(`Gemm: alpha and beta must be finite numbers (got ${this.alpha}, ${this.beta})`);
    }
    this.configOverride = options.config;
    this.wgmma = options.wgmma;
  }

  /** Check shapes, dtypes and devices; returns M, N, K. Throws ShapeError before anything touches the GPU. */
  validate(inputs: readonly Tensor[], outputs: readonly Tensor[]): GemmProblem {
    if (inputs.length !== 2) throw new ShapeError(`gemm takes 2 inputs [A, B], got ${inputs.length}`);
    if (outputs.length !== 1) throw new ShapeError(`gemm takes 1 output [C], got ${outputs.length}`);
    const [A, B] = inputs as [Tensor, Tensor];
    const C = outputs[0] as Tensor;
    const problem = this.validateInputs(A, B);
    this.checkMatrix('C', C);
    const { M, N } = problem;
    if (C.shape[0] !== M || C.shape[1] !== N) {
      throw new ShapeError(`gemm: C must be ${M}×${N} for ${this.describe(A, B)}, got [${C.shape}]`);
    }
    if (A.device !== C.device) throw new ShapeError('gemm: A, B and C must be on the same device');
    return problem;
  }

  /** Check A and B alone (rank, dtype, layout, inner dimensions, device); returns M, N, K. */
  validateInputs(A: Tensor, B: Tensor): GemmProblem {
    this.checkMatrix('A', A);
    this.checkMatrix('B', B);
    const [a0, a1] = A.shape as [number, number];
    const [b0, b1] = B.shape as [number, number];
    const [M, KA] = this.transA ? [a1, a0] : [a0, a1];
    const [KB, N] = this.transB ? [b1, b0] : [b0, b1];
    if (KA !== KB) {
      throw new ShapeError(
        `gemm: inner dimensions differ: op(A) is ${M}×${KA}, op(B) is ${KB}×${N} (${this.describe(A, B)})`,
      );
    }
    for (const [n, d] of [
      ['M', M],
      ['N', N],
      ['K', KA],
    ] as const) {
      if (d > I32_MAX) throw new ShapeError(`gemm: ${n} = ${d} exceeds the 32-bit index range`);
    }
    if (A.device !== B.device) throw new ShapeError('gemm: A, B and C must be on the same device');
    return { M, N, K: KA };
  }

  private checkMatrix(n: string, t: Tensor): void {
    if (t.rank !== 2) throw new ShapeError(`gemm: ${n} must be a matrix (rank 2), got shape [${t.shape}]`);
    if (t.dtype !== this.dtype)
      throw new ShapeError(`gemm: ${n} is ${t.dtype} but this Gemm is ${this.dtype}`);
    if (!t.isContiguous)
      throw new ShapeError(`gemm: ${n} must be row-major contiguous (strides [${t.strides}])`);
  }

  private describe(A: Tensor, B: Tensor): string {
    const opA = this.transA ? `Aᵀ with A [${A.shape}]` : `A [${A.shape}]`;
    const opB = this.transB ? `Bᵀ with B [${B.shape}]` : `B [${B.shape}]`;
    return `${opA} · ${opB}`;
  }

  /** The tile configuration for an M×N output: the shape's default with this operator's overrides. */
  configFor(M: number, N: number, smCount: number, aligned = true): GemmConfig {
    const c: GemmConfig = {
      ...defaultGemmConfig(this.dtype, M, N, smCount, aligned),
      ...this.configOverride,
    };
    validateGemmConfig(this.dtype, c);
    return c;
  }

  /** The kernel specialization for a validated problem. Pure: no GPU. */
  specFor(problem: GemmProblem, pointers: readonly bigint[], smCount: number): GemmSpec {
    const { M, N, K } = problem;
    const aligned = gemmAligned(this.dtype, this.transA, this.transB, M, N, K, pointers);
    return {
      dtype: this.dtype,
      transA: this.transA,
      transB: this.transB,
      config: this.configFor(M, N, smCount, aligned),
      aligned,
    };
  }

  async forward(
    inputs: readonly Tensor[],
    outputs: readonly Tensor[],
    options: ForwardOptions = {},
  ): Promise<void> {
    const problem = this.validate(inputs, outputs);
    const [A, B] = inputs as [Tensor, Tensor];
    const C = outputs[0] as Tensor;
    const { M, N, K } = problem;
    if (M === 0 || N === 0) return;
    // Hopper (compute capability 9.0), float16/bfloat16, TMA-addressable operands: the wgmma kernel (gemm-wgmma.ts).
    if (wgmmaApplies(this, C.device, M, N, K, [A.devicePtr, B.devicePtr, C.devicePtr]))
      return wgmmaForward(this, A, B, C, problem, options);
    const device = C.device;
    const { gen, kernelSpec } = generated(
      this.specFor(problem, [A.devicePtr, B.devicePtr, C.devicePtr], device.multiprocessorCount),
    );
    const kernel = await (options.jit ?? defaultKernelProvider()).kernel(kernelSpec, device);
    if (gen.sharedMemBytes > 48 * 1024 && !this.raised.has(kernel)) {
      if (gen.sharedMemBytes > device.maxSharedMemoryPerBlockOptin) {
        throw new RangeError(
          `gemm: tile config needs ${gen.sharedMemBytes} bytes of shared memory; ${device.name} allows ` +
            `${device.maxSharedMemoryPerBlockOptin}`,
        );
      }
      kernel.setMaxDynamicSharedMemory(gen.sharedMemBytes);
      this.raised.add(kernel);
    }
    const launch = {
      grid: gen.grid(M, N),
      block: gen.block,
      sharedMem: gen.sharedMemBytes,
      ...(options.stream ? { stream: options.stream } : {}),
    };
    kernel.launch(launch, [A, B, C, i32(M), i32(N), i32(K), f32(this.alpha), f32(this.beta)]);
  }
}

// Generated kernels by specialization, shared by every Gemm: a repeat forward reuses the same spec object, so it
// neither rebuilds the ~12 KB source nor rehashes it for the cache key (the JIT's resident map is keyed by object).
const generatedSpecs = new Map<string, { gen: GemmSource; kernelSpec: KernelSpec }>();

function generated(spec: GemmSpec): { gen: GemmSource; kernelSpec: KernelSpec } {
  const id = JSON.stringify(spec);
  let g = generatedSpecs.get(id);
  if (!g) {
    const gen = gemmSource(spec);
    g = { gen, kernelSpec: kernelSpecOf(gen) };
    generatedSpecs.set(id, g);
  }
  return g;
}

/** The JIT request for a generated GEMM kernel. */
export function kernelSpecOf(gen: GemmSource): KernelSpec {
  return {
    source: gen.source,
    name: gen.name,
    options: gen.options,
    signature: gen.signature,
    programName: gen.programName,
  };
}

/** C = alpha·op(A)·op(B) in a newly allocated tensor of A's dtype. */
export async function gemm(
  A: Tensor,
  B: Tensor,
  opts: Omit<GemmOptions, 'beta' | 'dtype'> & ForwardOptions = {},
): Promise<Tensor> {
  const op = new Gemm({ ...opts, dtype: A.dtype, beta: 0 });
  const { M, N } = op.validateInputs(A, B); // before allocating anything
  const C = Tensor.empty(A.device, [M, N], A.dtype, opts.stream);
  try {
    await op.forward([A, B], [C], opts);
  } catch (e) {
    C.dispose();
    throw e;
  }
  return C;
}
