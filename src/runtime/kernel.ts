import {
  attachDetails,
  driver,
  KernelParamBlock,
  LaunchConfigBlock,
  rawSlot,
  registerErrorClass,
  slotLayout,
  type ParamType,
  type SlotType,
} from '../cuda/index.js';
import type { ParamRecord } from '../cache/index.js';
import type { ParamKind } from '../compiler/index.js';
import type { KernelArg } from './args.js';
import type { Device } from './device.js';
import type { Module } from './module.js';
import type { Stream } from './stream.js';

const { FunctionAttribute } = driver;

/** A grid or block size: x, or [x], [x, y], [x, y, z] (missing dimensions are 1). */
export type Dim3 = number | readonly [number] | readonly [number, number] | readonly [number, number, number];

/** How to launch a kernel: grid, block, dynamic shared memory, stream, cooperative. */
export interface LaunchConfig {
  readonly grid: Dim3;
  readonly block: Dim3;
  /** Dynamic shared memory in bytes (default 0). Over 48 KiB needs kernel.setMaxDynamicSharedMemory first. */
  readonly sharedMem?: number;
  /** Default: the device's legacy default stream. */
  readonly stream?: Stream;
  /**
   * A cooperative launch (grid.sync() in the kernel): every block must be resident at once. The grid is checked
   * against kernel.maxCooperativeBlocks() first; a grid too large is a LaunchArgumentError.
   */
  readonly cooperative?: boolean;
  /** Thread-block cluster dimensions (sm_90+), launched through cuLaunchKernelEx. The grid must be a multiple. */
  readonly cluster?: Dim3;
}

/** Arguments do not match the kernel's parameters. Raised before anything reaches the driver. */
export class LaunchArgumentError extends TypeError {
  override readonly name = 'LaunchArgumentError';
  constructor(message: string) {
    super(message);
    attachDetails(this, {});
  }
}
registerErrorClass('LaunchArgumentError', LaunchArgumentError);

const dimError = (d: Dim3, what: string): LaunchArgumentError =>
  new LaunchArgumentError(`${what} dimensions must be positive 32-bit integers, got ${JSON.stringify(d)}`);

// Read one component of a Dim3 without allocating (this runs on every launch).
const dim = (d: Dim3, i: 0 | 1 | 2, what: string): number => {
  const v = typeof d === 'number' ? (i === 0 ? d : 1) : ((d as readonly number[])[i] ?? 1);
  if (v >>> 0 !== v || v === 0) throw dimError(d, what);
  return v;
};

// Which argument types fit a parameter of each kind the compiled code declares. Integers of either signedness fit
// an integer of their width (the bits are the same); a device pointer fits a pointer or a 64-bit value whose
// signedness nobody knows (an extern "C" kernel), never a known integer or a float.
const FITS: Readonly<Record<ParamType, readonly ParamKind[]>> = {
  f32: ['f32'],
  f64: ['f64'],
  i32: ['i32', 'u32', 'b32'],
  u32: ['i32', 'u32', 'b32'],
  i64: ['i64', 'u64', 'b64', 'ptr'],
  u64: ['i64', 'u64', 'b64', 'ptr'],
  ptr: ['ptr', 'b64'],
};

const CHECKED_KINDS: ReadonlySet<string> = new Set(Object.values(FITS).flat());

/** The type a plain JS number takes for a parameter of this kind, when the kind leaves no doubt. */
function numberTypeFor(kind: string): ParamType | 'int32' | undefined {
  switch (kind) {
    case 'f32':
    case 'f64':
    case 'i32':
    case 'u32':
    case 'i64':
    case 'u64':
      return kind;
    case 'b32':
      return 'int32'; // i32 or u32 by the value's sign
    case 'b64':
      return 'u64';
    default:
      return undefined;
  }
}

function describeParam(p: ParamRecord): string {
  return p.cType ? `${p.cType} (${p.kind}, ${p.size} bytes)` : `${p.kind} (${p.size} bytes)`;
}

/** A __global__ function of a loaded module, ready to launch. */
export class Kernel {
  private block: KernelParamBlock | undefined;
  private exConfig: LaunchConfigBlock | undefined;
  // Scratch for the cuLaunchKernelEx path, reused so a launch allocates nothing.
  private readonly exGrid: [number, number, number] = [1, 1, 1];
  private readonly exBlock: [number, number, number] = [1, 1, 1];
  private readonly exCluster: [number, number, number] = [1, 1, 1];
  private readonly lastCooperative: [number, number, number] = [0, 0, -1];
  /** The handle as a number (the launch entry points take addresses). */
  private readonly address: number;
  /** The device's context generation when the kernel was made: a reset context's kernels must not launch. */
  private readonly generation: number;
  /** Resident blocks per multiprocessor by `${blockSize}:${sharedMem}`, and resident clusters by `cluster:…`. */
  private readonly occupancyMemo = new Map<string, number>();
  private declaredSizes: number[] | undefined | null = null; // null: not asked yet
  private readonly types: SlotType[] = [];
  /** Per parameter, the type a plain number is packed as (from the signature, else the compiled code). */
  private readonly numberTypes: (ParamType | 'int32' | undefined)[];

  /** @internal use module.getKernel() */
  constructor(
    /** The module this kernel lives in; held so the module is not unloaded (finalized) while the kernel is used. */
    readonly module: Module,
    readonly device: Device,
    /** CUfunction. */
    readonly handle: bigint,
    /** Symbol name (the lowered name for C++ kernels). */
    readonly name: string,
    /** Optional declared parameter types; plain numbers are typed by it. */
    readonly signature?: readonly ParamType[],
    /** The parameters as the compiler declared them (from the cache's metadata): launches are checked against it. */
    readonly params?: readonly ParamRecord[],
  ) {
    this.address = Number(handle);
    this.generation = device.generation;
    const n = Math.max(signature?.length ?? 0, params?.length ?? 0);
    this.numberTypes = Array.from({ length: n }, (_, i) => {
      const declared = signature?.[i];
      if (declared) return declared;
      const p = params?.[i];
      return p ? numberTypeFor(p.kind) : undefined;
    });
  }

  /** Registers per thread. */
  get numRegisters(): number {
    return this.attribute(FunctionAttribute.NumRegs);
  }
  /** Most threads a block of this kernel may have (registers and shared memory limit it). */
  get maxThreadsPerBlock(): number {
    return this.attribute(FunctionAttribute.MaxThreadsPerBlock);
  }
  /** Shared memory the kernel declares statically, bytes. */
  get staticSharedBytes(): number {
    return this.attribute(FunctionAttribute.SharedSizeBytes);
  }
  /** Local memory (spills, stack) per thread, bytes. */
  get localBytesPerThread(): number {
    return this.attribute(FunctionAttribute.LocalSizeBytes);
  }
  /** Dynamic shared memory the kernel may use now, bytes (raise it with setMaxDynamicSharedMemory). */
  get maxDynamicSharedBytes(): number {
    return this.attribute(FunctionAttribute.MaxDynamicSharedSizeBytes);
  }
  /** Allow this kernel up to `bytes` of dynamic shared memory (needed above 48 KiB). */
  setMaxDynamicSharedMemory(bytes: number): void {
    this.device.makeCurrent();
    driver.functionSetAttribute(this.handle, FunctionAttribute.MaxDynamicSharedSizeBytes, bytes);
  }

  /** Parameter sizes in bytes as the kernel declares them, when the driver can tell (CUDA >= 12.4). */
  get parameterSizes(): readonly number[] | undefined {
    if (this.declaredSizes === null) {
      this.device.makeCurrent();
      try {
        this.declaredSizes = driver.functionParamSizes(this.handle);
      } catch {
        this.declaredSizes = undefined;
      }
    }
    return this.declaredSizes;
  }

  /**
   * Queue the kernel. Arguments are checked against the kernel's declared parameter sizes (where the driver reports
   * them) before launch; the parameter block is reused between launches, so a launch allocates nothing.
   */
  launch(config: LaunchConfig, args: readonly KernelArg[]): void {
    const device = this.device;
    if (this.generation !== device.generation) throw this.staleError();
    const block = this.paramBlockFor(args);
    for (let i = 0; i < args.length; i++) {
      const a = args[i] as KernelArg;
      block.set(
        i,
        typeof a === 'object' ? ('devicePtr' in a ? a.devicePtr : 'struct' in a ? a.struct : a.value) : a,
      );
    }
    device.lastKernel = this.name;
    if (config.cooperative || config.cluster !== undefined) return this.launchEx(config, block);
    const { grid, block: threads } = config;
    const gx = dim(grid, 0, 'grid');
    const gy = dim(grid, 1, 'grid');
    const gz = dim(grid, 2, 'grid');
    const bx = dim(threads, 0, 'block');
    const by = dim(threads, 1, 'block');
    const bz = dim(threads, 2, 'block');
    const shared = config.sharedMem ?? 0;
    const stream = config.stream === undefined ? 0 : config.stream.address;
    // No context check first (a driver call of its own): the launch runs in the kernel's context when none is
    // current, and fails without running when another one is; then it is made current and the launch retried.
    let code = driver.launchKernelAt(
      this.address,
      gx,
      gy,
      gz,
      bx,
      by,
      bz,
      shared,
      stream,
      block.pointerAddress,
    );
    if (code !== 0 && driver.NOT_CURRENT_RESULTS.has(code)) {
      device.makeCurrent();
      code = driver.launchKernelAt(
        this.address,
        gx,
        gy,
        gz,
        bx,
        by,
        bz,
        shared,
        stream,
        block.pointerAddress,
      );
    }
    if (code !== 0) driver.checkResult(code, 'cuLaunchKernel');
  }

  private staleError(): Error {
    return new LaunchArgumentError(
      `${this.name} belongs to a context that device.reset() released: get the kernel again (jit.kernel() or ` +
        'module.getKernel() after the reset).',
    );
  }

  /**
   * Blocks of this kernel one multiprocessor holds at once with `blockSize` threads and `sharedMem` bytes of dynamic
   * shared memory (cuOccupancyMaxActiveBlocksPerMultiprocessor).
   */
  occupancy(blockSize: number, sharedMem = 0): number {
    const id = `${blockSize}:${sharedMem}`;
    let n = this.occupancyMemo.get(id);
    if (n === undefined) {
      this.device.makeCurrent();
      n = driver.occupancyMaxActiveBlocksPerMultiprocessor(this.handle, blockSize, sharedMem);
      this.occupancyMemo.set(id, n);
    }
    return n;
  }

  /**
   * Clusters of `cluster` blocks of this kernel, `block` threads and `sharedMem` bytes of dynamic shared memory
   * each, that the device holds at once (cuOccupancyMaxActiveClusters; sm_90+): how large a persistent clustered
   * grid can be without clusters waiting for others to finish. Raise the kernel's dynamic shared memory first.
   */
  maxActiveClusters(cluster: Dim3, block: Dim3, sharedMem = 0): number {
    const c: [number, number, number] = [
      dim(cluster, 0, 'cluster'),
      dim(cluster, 1, 'cluster'),
      dim(cluster, 2, 'cluster'),
    ];
    const b: [number, number, number] = [
      dim(block, 0, 'block'),
      dim(block, 1, 'block'),
      dim(block, 2, 'block'),
    ];
    const id = `cluster:${c.join('x')}:${b.join('x')}:${sharedMem}`;
    let n = this.occupancyMemo.get(id);
    if (n === undefined) {
      this.device.makeCurrent();
      const config = new LaunchConfigBlock();
      config.write(c, b, sharedMem, 0n, false, c);
      n = driver.occupancyMaxActiveClustersAt(this.address, config.address);
      this.occupancyMemo.set(id, n);
    }
    return n;
  }

  /** The largest grid (in blocks) a cooperative launch of this kernel can have: occupancy × multiprocessors. */
  maxCooperativeBlocks(block: Dim3, sharedMem = 0): number {
    const size = dim(block, 0, 'block') * dim(block, 1, 'block') * dim(block, 2, 'block');
    return this.occupancy(size, sharedMem) * this.device.multiprocessorCount;
  }

  private launchEx(config: LaunchConfig, block: KernelParamBlock): void {
    const g = this.exGrid;
    const b = this.exBlock;
    g[0] = dim(config.grid, 0, 'grid');
    g[1] = dim(config.grid, 1, 'grid');
    g[2] = dim(config.grid, 2, 'grid');
    b[0] = dim(config.block, 0, 'block');
    b[1] = dim(config.block, 1, 'block');
    b[2] = dim(config.block, 2, 'block');
    const sharedMem = config.sharedMem ?? 0;
    let cluster: [number, number, number] | undefined;
    if (config.cluster !== undefined) {
      cluster = this.exCluster;
      cluster[0] = dim(config.cluster, 0, 'cluster');
      cluster[1] = dim(config.cluster, 1, 'cluster');
      cluster[2] = dim(config.cluster, 2, 'cluster');
      if (g[0] % cluster[0] !== 0 || g[1] % cluster[1] !== 0 || g[2] % cluster[2] !== 0)
        throw new LaunchArgumentError(
          `${this.name}: the grid ${JSON.stringify(g)} is not a multiple of the cluster ${JSON.stringify(cluster)}`,
        );
    }
    const cooperative = config.cooperative ?? false;
    if (cooperative) this.checkCooperative(g[0] * g[1] * g[2], b[0] * b[1] * b[2], sharedMem);
    const ex = (this.exConfig ??= new LaunchConfigBlock());
    ex.write(g, b, sharedMem, config.stream?.handle ?? 0n, cooperative, cluster);
    let code = driver.launchKernelExAt(ex.address, this.address, block.pointerAddress);
    if (code !== 0 && driver.NOT_CURRENT_RESULTS.has(code)) {
      this.device.makeCurrent();
      code = driver.launchKernelExAt(ex.address, this.address, block.pointerAddress);
    }
    if (code !== 0) driver.checkResult(code, 'cuLaunchKernelEx');
  }

  /** A cooperative grid must fit on the device at once; the last size that did is remembered. */
  private checkCooperative(blocks: number, threads: number, sharedMem: number): void {
    const last = this.lastCooperative;
    if (last[0] === blocks && last[1] === threads && last[2] === sharedMem) return;
    const perSm = this.occupancy(threads, sharedMem);
    const max = perSm * this.device.multiprocessorCount;
    if (blocks > max) {
      throw new LaunchArgumentError(
        `${this.name}: a cooperative grid of ${blocks} blocks cannot be resident at once: at most ${max} ` +
          `(${perSm} per multiprocessor × ${this.device.multiprocessorCount}) with ${threads} threads and ` +
          `${sharedMem} bytes of dynamic shared memory per block. Size it with kernel.maxCooperativeBlocks().`,
      );
    }
    last[0] = blocks;
    last[1] = threads;
    last[2] = sharedMem;
  }

  private attribute(which: number): number {
    this.device.makeCurrent();
    return driver.functionAttribute(this.handle, which);
  }

  private paramBlockFor(args: readonly KernelArg[]): KernelParamBlock {
    const types = this.types;
    let changed = types.length !== args.length || this.block === undefined;
    types.length = args.length;
    for (let i = 0; i < args.length; i++) {
      const t = this.typeOf(args[i] as KernelArg, i);
      if (types[i] !== t) {
        types[i] = t;
        changed = true;
      }
    }
    if (changed || !this.block) {
      this.validate(types);
      this.block = new KernelParamBlock([...types]);
    }
    return this.block;
  }

  private typeOf(a: KernelArg, i: number): SlotType {
    if (typeof a === 'object') {
      if ('devicePtr' in a) return 'ptr';
      if ('struct' in a) return rawSlot(a.struct.length, a.align);
      return a.type;
    }
    const p = this.params?.[i];
    if (p?.kind === 'bytes') {
      throw new LaunchArgumentError(
        `${this.name}: argument #${i} is a plain ${typeof a} (${a}) but parameter #${i} is ${describeParam(p)}, ` +
          `passed by value. Pack it with new StructLayout({...}).pack({...}) or pass bytesArg(bytes).`,
      );
    }
    const declared = this.numberTypes[i];
    if (declared === 'int32') return typeof a === 'number' && a >= 2 ** 31 ? 'u32' : 'i32';
    if (declared) return declared;
    if (typeof a === 'bigint') return 'u64';
    throw new LaunchArgumentError(
      `${this.name}: argument #${i} is a plain number (${a}), which could be an int or a float. ` +
        `Wrap it (i32(), u32(), f32(), f64(), i64()) or load the kernel with a signature.`,
    );
  }

  private validate(types: readonly SlotType[]): void {
    if (this.signature && this.signature.length !== types.length) {
      throw new LaunchArgumentError(
        `${this.name} takes ${this.signature.length} arguments (${this.signature.join(', ')}), got ${types.length}`,
      );
    }
    const params = this.params;
    if (params) {
      if (params.length !== types.length) {
        throw new LaunchArgumentError(
          `${this.name} declares ${params.length} parameters (${params.map(describeParam).join(', ')}), ` +
            `got ${types.length} arguments`,
        );
      }
      types.forEach((t, i) => {
        const p = params[i] as ParamRecord;
        // Aggregates and narrow types are checked by size below: nothing more is known about them.
        if (!CHECKED_KINDS.has(p.kind)) return;
        if (t.startsWith('raw:')) {
          throw new LaunchArgumentError(
            `${this.name}: argument #${i} is a struct of ${slotLayout(t).size} bytes but the kernel's parameter ` +
              `#${i} is ${describeParam(p)}. Pass ${suggestion(p.kind)}.`,
          );
        }
        if (!(FITS[t as ParamType] as readonly string[]).includes(p.kind)) {
          throw new LaunchArgumentError(
            `${this.name}: argument #${i} is ${t === 'ptr' ? 'a device pointer' : `a ${t}`} but the kernel's ` +
              `parameter #${i} is ${describeParam(p)}. Pass ${suggestion(p.kind)}.`,
          );
        }
      });
    }
    const sizes = this.parameterSizes ?? params?.map((p) => p.size);
    if (!sizes) return;
    if (sizes.length !== types.length) {
      throw new LaunchArgumentError(
        `${this.name} declares ${sizes.length} parameters, got ${types.length} arguments`,
      );
    }
    sizes.forEach((size, i) => {
      const t = types[i] as SlotType;
      const packed = slotLayout(t).size;
      if (packed !== size) {
        const what = t.startsWith('raw:')
          ? `a struct of ${packed} bytes`
          : `packed as ${t} (${packed} bytes)`;
        throw new LaunchArgumentError(
          `${this.name}: argument #${i} is ${what} but the kernel's parameter #${i} is ${size} bytes` +
            (t.startsWith('raw:')
              ? ': check the layout against the C struct (field types, order, arrays).'
              : ''),
        );
      }
    });
  }
}

function suggestion(kind: string): string {
  switch (kind) {
    case 'f32':
      return 'f32(x) or a plain number';
    case 'f64':
      return 'f64(x)';
    case 'ptr':
      return 'a device buffer or tensor, or ptr(address)';
    case 'i64':
    case 'u64':
    case 'b64':
      return 'i64(x) / u64(x) or a bigint';
    default:
      return 'i32(x) / u32(x) or a plain integer';
  }
}
