import { sha256Hex } from '../cache/index.js';
import { defaultKernelProvider } from '../jit/default-provider.js';
import type { KernelProvider, KernelSpec } from '../jit/types.js';
import { f32, i32, type Device, type Kernel, type KernelArg, type Stream } from '../runtime/index.js';
import {
  epilogueText,
  lowerGemmEpilogue,
  type GemmEpilogue,
  type GemmEpilogueOptions,
} from './gemm-epilogue.js';
import { deviceIdentity, gemmCandidates, gemmTuningProblem, timeGemmLaunch } from './gemm-tune.js';
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
import {
  wgmmaApplies,
  wgmmaCandidates,
  wgmmaForward,
  wgmmaKernelSpecFor,
  wgmmaLauncher,
} from './gemm-wgmma.js';
import type { ForwardOptions, Operator } from './operator.js';
import { ShapeError, Tensor, type DType } from './tensor.js';
import {
  configDigest,
  emptyTuningStats,
  MemoryRecordStore,
  tune,
  TUNE_MODES,
  type TuneMode,
  type TuneOutcome,
  type TuningStats,
} from './tune.js';

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
   * A fused epilogue: `{ bias, activation, scale, residual, outDtype }` or `{ expr }` (see gemm-epilogue.ts). Its
   * bias (length N) and residual (M×N) tensors follow A and B in forward's inputs, in that order.
   */
  readonly epilogue?: GemmEpilogueOptions;
  /**
   * Tile configuration by timing (default 'off': chosen by shape). 'auto' times a few candidates, 'exhaustive' every
   * valid one of the mma.sync grid (on the Hopper kernel: the listed WGMMA_CONFIGS, with a fused epilogue also at row
   * unrolls 1, 2 and 4), on the first forward of each shape bucket (powers of two of M, N, K); the winner is stored
   * in the kernel cache (every tier, bundles) and reused by later forwards and processes without timing.
   */
  readonly tune?: TuneMode;
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
  /** The fused epilogue, lowered; undefined for the plain `alpha·acc + beta·C`. */
  readonly epilogue: GemmEpilogue | undefined;
  /** C's dtype (the epilogue's outDtype, else dtype). */
  readonly outDtype: DType;
  readonly tune: TuneMode;
  /** This operator's tuning counters (the process's, over every operator: tuningStats() in tune.ts). */
  readonly tuningStats: TuningStats = emptyTuningStats();
  /**
   * The last tuning decision of this operator (tuned or reused), for inspection: a GemmConfig winner (mma.sync /
   * SIMT; it has `warpsM`) or a WgmmaConfig one (the Hopper kernel; it has `consumers`).
   */
  lastTuning: TuneOutcome<GemmConfig> | TuneOutcome<WgmmaConfig> | undefined;
  /** The `wgmma` option as given. */
  readonly wgmma: false | Partial<WgmmaConfig> | undefined;
  /** Kernels whose dynamic shared-memory limit has been raised already. */
  private readonly raised = new WeakSet<Kernel>();
  /** Tuned configurations by problem (bucket), per device. */
  private readonly tuned = new Map<string, Promise<GemmConfig>>();
  private readonly tunedWgmma = new Map<string, Promise<WgmmaConfig>>();

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
    this.epilogue = lowerGemmEpilogue(options.epilogue, this.dtype);
    this.outDtype = this.epilogue?.outDtype ?? this.dtype;
    this.tune = options.tune ?? 'off';
    if (!TUNE_MODES.includes(this.tune)) {
      throw new TypeError(`Gemm: tune must be 'off', 'auto' or 'exhaustive', got ${String(this.tune)}`);
    }
    this.wgmma = options.wgmma;
  }

  /** Number of input tensors forward() takes: A, B, then the epilogue's bias and residual when it reads them. */
  get arity(): number {
    return 2 + (this.epilogue?.bias ? 1 : 0) + (this.epilogue?.residual ? 1 : 0);
  }

  /** Check shapes, dtypes and devices; returns M, N, K. Throws ShapeError before anything touches the GPU. */
  validate(inputs: readonly Tensor[], outputs: readonly Tensor[]): GemmProblem {
    if (inputs.length !== this.arity) {
      const names = [
        'A',
        'B',
        ...(this.epilogue?.bias ? ['bias'] : []),
        ...(this.epilogue?.residual ? ['residual'] : []),
      ];
      throw new ShapeError(
        `gemm takes ${this.arity} inputs [${names.join(', ')}]${this.epilogue ? ` for its epilogue ${this.epilogue.lowered.text}` : ''}, got ${inputs.length}`,
      );
    }
    if (outputs.length !== 1) throw new ShapeError(`gemm takes 1 output [C], got ${outputs.length}`);
    const [A, B] = inputs as [Tensor, Tensor];
    const C = outputs[0] as Tensor;
    const problem = this.validateInputs(A, B);
    this.checkMatrix('C', C, this.outDtype);
    const { M, N } = problem;
    if (C.shape[0] !== M || C.shape[1] !== N) {
      throw new ShapeError(`gemm: C must be ${M}×${N} for ${this.describe(A, B)}, got [${C.shape}]`);
    }
    if (A.device !== C.device) throw new ShapeError('gemm: A, B and C must be on the same device');
    this.validateEpilogueInputs(inputs.slice(2), M, N, A);
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

  /** The epilogue's bias (length N) and residual (M×N): tensors of the output dtype on A's device. */
  private validateEpilogueInputs(extra: readonly Tensor[], M: number, N: number, A: Tensor): void {
    const e = this.epilogue;
    if (!e) return;
    let i = 0;
    const check = (what: string, shape: readonly number[]): void => {
      const t = extra[i++];
      if (!(t instanceof Tensor)) throw new ShapeError(`gemm: the epilogue's ${what} is not a Tensor`);
      const want = `[${shape.join(', ')}]`;
      if (t.rank !== shape.length || t.shape.some((d, k) => d !== shape[k])) {
        throw new ShapeError(
          `gemm: the epilogue's ${what} must have shape ${want} (${what === 'bias' ? 'one value per column of C' : 'the shape of C'}), got [${t.shape}]`,
        );
      }
      if (t.dtype !== this.outDtype) {
        throw new ShapeError(
          `gemm: the epilogue's ${what} is ${t.dtype} but must be ${this.outDtype} (the output dtype); convert it first`,
        );
      }
      if (!t.isContiguous)
        throw new ShapeError(`gemm: the epilogue's ${what} must be contiguous (strides [${t.strides}])`);
      if (t.device !== A.device)
        throw new ShapeError(`gemm: the epilogue's ${what} must be on the device of A`);
    };
    if (e.bias) check('bias', [N]);
    if (e.residual) check('residual', [M, N]);
  }

  private checkMatrix(n: string, t: Tensor, dtype: DType = this.dtype): void {
    if (t.rank !== 2) throw new ShapeError(`gemm: ${n} must be a matrix (rank 2), got shape [${t.shape}]`);
    if (t.dtype !== dtype)
      throw new ShapeError(
        `gemm: ${n} is ${t.dtype} but this Gemm ${n === 'C' && dtype !== this.dtype ? 'writes' : 'is'} ${dtype}`,
      );
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

  /** The kernel specialization for a validated problem (`config`: a tuned one instead of the shape's). Pure: no GPU. */
  specFor(problem: GemmProblem, pointers: readonly bigint[], smCount: number, config?: GemmConfig): GemmSpec {
    const { M, N, K } = problem;
    const aligned = gemmAligned(this.dtype, this.transA, this.transB, M, N, K, pointers);
    return {
      dtype: this.dtype,
      transA: this.transA,
      transB: this.transB,
      config: config ?? this.configFor(M, N, smCount, aligned),
      aligned,
      ...(this.epilogue ? { epilogue: this.epilogue } : {}),
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
    // Hopper (compute capability 9.0), float16/bfloat16, TMA-addressable operands: the wgmma kernel (gemm-wgmma.ts),
    // fused epilogue included (generated into its store); tuned among its own configurations when asked.
    if (wgmmaApplies(this, C.device, M, N, K, [A.devicePtr, B.devicePtr, C.devicePtr])) {
      const config =
        this.tune === 'off' ? undefined : await this.tunedWgmmaConfig(problem, C, inputs, options);
      return wgmmaForward(this, A, B, C, problem, options, inputs.slice(2), config);
    }
    const device = C.device;
    const provider = options.jit ?? defaultKernelProvider();
    const pointers = [A.devicePtr, B.devicePtr, C.devicePtr];
    let spec = this.specFor(problem, pointers, device.multiprocessorCount);
    if (this.tune !== 'off') {
      const config = await this.tunedConfig(spec, problem, provider, device, inputs, options.stream);
      spec = { ...spec, config };
    }
    const { gen, kernelSpec } = generated(spec);
    const kernel = await this.loaded(provider, kernelSpec, gen, device);
    const launch = {
      grid: gen.grid(M, N),
      block: gen.block,
      sharedMem: gen.sharedMemBytes,
      ...(options.stream ? { stream: options.stream } : {}),
    };
    kernel.launch(launch, this.args(inputs, C, problem));
  }

  /** The kernel arguments: A, B, C, M, N, K, alpha, beta, then the epilogue's bias, residual and scalars. */
  private args(inputs: readonly Tensor[], C: Tensor, p: GemmProblem): KernelArg[] {
    const [A, B, ...extra] = inputs as Tensor[];
    const base: KernelArg[] = [
      A as Tensor,
      B as Tensor,
      C,
      i32(p.M),
      i32(p.N),
      i32(p.K),
      f32(this.alpha),
      f32(this.beta),
    ];
    if (!this.epilogue) return base;
    return [...base, ...extra, ...this.epilogue.lowered.scalars.map((s) => f32(s))];
  }

  /** The kernel of a generated spec on `device`, its dynamic shared-memory limit raised where it needs more than 48 KiB. */
  private async loaded(
    provider: KernelProvider,
    kernelSpec: KernelSpec,
    gen: GemmSource,
    device: Device,
  ): Promise<Kernel> {
    const kernel = await provider.kernel(kernelSpec, device);
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
    return kernel;
  }

  /**
   * The tuned configuration of this problem's bucket: from this operator's memo, else from the tuner (a stored
   * winner record, or timing the candidates — compiled concurrently — on a scratch output of C's shape).
   */
  private tunedConfig(
    spec: GemmSpec,
    problem: GemmProblem,
    provider: KernelProvider,
    device: Device,
    inputs: readonly Tensor[],
    stream: Stream | undefined,
  ): Promise<GemmConfig> {
    const tuningProblem = gemmTuningProblem({
      dtype: this.dtype,
      outDtype: this.outDtype,
      transA: this.transA,
      transB: this.transB,
      aligned: spec.aligned,
      epilogue: epilogueText(this.epilogue),
      ...problem,
    });
    const id = `${device.ordinal}|${JSON.stringify(tuningProblem.fields)}`;
    let pending = this.tuned.get(id);
    if (pending === undefined) {
      pending = this.runTuning(spec, problem, provider, device, inputs, stream, tuningProblem);
      this.tuned.set(id, pending);
      pending.catch(() => this.tuned.delete(id));
    }
    return pending;
  }

  /**
   * The tuned Hopper configuration of this problem's bucket (as tunedConfig, over wgmmaCandidates; its records are
   * the `gemm-wgmma` op's, apart from the mma.sync kernel's).
   */
  private tunedWgmmaConfig(
    problem: GemmProblem,
    C: Tensor,
    inputs: readonly Tensor[],
    options: ForwardOptions,
  ): Promise<WgmmaConfig> {
    const base = gemmTuningProblem({
      dtype: this.dtype,
      outDtype: this.outDtype,
      transA: this.transA,
      transB: this.transB,
      aligned: true,
      epilogue: epilogueText(this.epilogue),
      ...problem,
    });
    // Whether C is read (beta ≠ 0) changes the store's path (the fused store unrolls only with beta 0), so its
    // timings are not another's.
    const tuningProblem = { op: 'gemm-wgmma', fields: { ...base.fields, readsC: this.beta !== 0 } };
    const device = C.device;
    const id = `${device.ordinal}|${JSON.stringify(tuningProblem.fields)}`;
    let pending = this.tunedWgmma.get(id);
    if (pending === undefined) {
      pending = this.runWgmmaTuning(problem, C, inputs, options, tuningProblem);
      this.tunedWgmma.set(id, pending);
      pending.catch(() => this.tunedWgmma.delete(id));
    }
    return pending;
  }

  private async runWgmmaTuning(
    problem: GemmProblem,
    C: Tensor,
    inputs: readonly Tensor[],
    options: ForwardOptions,
    tuningProblem: ReturnType<typeof gemmTuningProblem>,
  ): Promise<WgmmaConfig> {
    const { M, N } = problem;
    const device = C.device;
    const sm = device.multiprocessorCount;
    const provider = options.jit ?? defaultKernelProvider();
    const stream = options.stream;
    const mode = this.tune === 'exhaustive' ? 'exhaustive' : 'auto';
    const candidates = wgmmaCandidates(this, M, N, sm, mode, device.maxSharedMemoryPerBlockOptin);
    if (candidates.length === 1) return candidates[0] as WgmmaConfig;
    const [A, B, ...extra] = inputs as Tensor[];
    let scratch: Tensor | undefined;
    try {
      const outcome = await tune<WgmmaConfig>({
        identity: deviceIdentity(device),
        problem: tuningProblem,
        candidates,
        // A timing belongs to the kernel's text, not only its config: an edit of the CUDA templates times anew
        // without an epoch bump.
        digest: (c) =>
          configDigest({ config: c, source: sha256Hex(wgmmaKernelSpecFor(this, M, N, sm, c).source) }),
        store: provider.cache ?? processRecords,
        stats: this.tuningStats,
        prepare: async (cs) => {
          await Promise.allSettled(
            cs.map((c) => provider.kernel(wgmmaKernelSpecFor(this, M, N, sm, c), device)),
          );
        },
        time: async (config) => {
          scratch ??= Tensor.empty(device, [M, N], this.outDtype, stream);
          const run = await wgmmaLauncher(
            this,
            A as Tensor,
            B as Tensor,
            scratch,
            problem,
            { jit: provider, ...(stream ? { stream } : {}) },
            extra,
            config,
          );
          return timeGemmLaunch(device, stream, run);
        },
      });
      this.lastTuning = outcome;
      return outcome.winner;
    } finally {
      scratch?.dispose();
    }
  }

  private async runTuning(
    spec: GemmSpec,
    problem: GemmProblem,
    provider: KernelProvider,
    device: Device,
    inputs: readonly Tensor[],
    stream: Stream | undefined,
    tuningProblem: ReturnType<typeof gemmTuningProblem>,
  ): Promise<GemmConfig> {
    const candidates = gemmCandidates({
      dtype: this.dtype,
      mode: this.tune === 'exhaustive' ? 'exhaustive' : 'auto',
      aligned: spec.aligned,
      transA: this.transA,
      transB: this.transB,
      defaultConfig: spec.config,
      override: this.configOverride,
      maxSharedBytes: device.maxSharedMemoryPerBlockOptin,
    });
    if (candidates.length <= 1) return spec.config;
    const of = (config: GemmConfig) => generated({ ...spec, config });
    let scratch: Tensor | undefined;
    try {
      const outcome = await tune<GemmConfig>({
        identity: deviceIdentity(device),
        problem: tuningProblem,
        candidates,
        store: provider.cache ?? processRecords,
        stats: this.tuningStats,
        prepare: async (cs) => {
          // Compiled concurrently through the provider (and so the cache); a failure shows when that one is timed.
          await Promise.allSettled(cs.map((c) => provider.kernel(of(c).kernelSpec, device)));
        },
        time: async (config) => {
          const { gen, kernelSpec } = of(config);
          const kernel = await this.loaded(provider, kernelSpec, gen, device);
          scratch ??= Tensor.empty(device, [problem.M, problem.N], this.outDtype, stream);
          const launch = {
            grid: gen.grid(problem.M, problem.N),
            block: gen.block,
            sharedMem: gen.sharedMemBytes,
            ...(stream ? { stream } : {}),
          };
          const args = this.args(inputs, scratch, problem);
          return timeGemmLaunch(device, stream, () => kernel.launch(launch, args));
        },
      });
      this.lastTuning = outcome;
      return outcome.winner;
    } finally {
      scratch?.dispose();
    }
  }
}

/** Tuning records of providers without a cache: this process only. */
const processRecords = new MemoryRecordStore();

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

/** What gemmEpilogue fuses: the tensors of the epilogue and the structured options (see GemmEpilogueOptions). */
export interface GemmEpilogueCall extends Omit<GemmOptions, 'beta' | 'dtype' | 'epilogue'>, ForwardOptions {
  /** A length-N tensor of the output dtype, added per column. */
  readonly bias?: Tensor;
  /** An M×N tensor of the output dtype, added last. */
  readonly residual?: Tensor;
  readonly activation?: GemmEpilogueOptions['activation'];
  readonly scale?: number;
  /** C's dtype (default A's): the cast in the epilogue. */
  readonly outDtype?: DType;
}

/**
 * `scale · activation(alpha·op(A)·op(B) + bias) + residual` in one kernel, into a newly allocated tensor of outDtype
 * (default A's dtype): e.g. `gemmEpilogue(A, B, { bias, activation: 'gelu' })` is `gelu(A·B + bias)`.
 */
export async function gemmEpilogue(A: Tensor, B: Tensor, opts: GemmEpilogueCall = {}): Promise<Tensor> {
  const { bias, residual, activation, scale, outDtype, ...rest } = opts;
  const op = new Gemm({
    ...rest,
    dtype: A.dtype,
    beta: 0,
    epilogue: {
      ...(bias !== undefined ? { bias: true } : {}),
      ...(residual !== undefined ? { residual: true } : {}),
      ...(activation !== undefined ? { activation } : {}),
      ...(scale !== undefined ? { scale } : {}),
      ...(outDtype !== undefined ? { outDtype } : {}),
    },
  });
  const inputs = [A, B, ...(bias !== undefined ? [bias] : []), ...(residual !== undefined ? [residual] : [])];
  const { M, N } = op.validateInputs(A, B); // before allocating anything
  const C = Tensor.empty(A.device, [M, N], op.outDtype, opts.stream);
  try {
    op.validate(inputs, [C]);
    await op.forward(inputs, [C], opts);
  } catch (e) {
    C.dispose();
    throw e;
  }
  return C;
}
