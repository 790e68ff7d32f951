import { driver, KernelParamBlock, PARAM_SIZE, type ParamType } from '../cuda/index.js';
import type { KernelArg } from './args.js';
import type { Device } from './device.js';
import type { Module } from './module.js';
import type { Stream } from './stream.js';

const { FunctionAttribute } = driver;

export type Dim3 = number | readonly [number] | readonly [number, number] | readonly [number, number, number];

export interface LaunchConfig {
  readonly grid: Dim3;
  readonly block: Dim3;
  /** Dynamic shared memory in bytes (default 0). Over 48 KiB needs kernel.setMaxDynamicSharedMemory first. */
  readonly sharedMem?: number;
  /** Default: the device's legacy default stream. */
  readonly stream?: Stream;
}

/** Arguments do not match the kernel's parameters. Raised before anything reaches the driver. */
export class LaunchArgumentError extends TypeError {
  override readonly name = 'LaunchArgumentError';
}

const dimError = (d: Dim3, what: string): LaunchArgumentError =>
  new LaunchArgumentError(`${what} dimensions must be positive 32-bit integers, got ${JSON.stringify(d)}`);

// Read one component of a Dim3 without allocating (this runs on every launch).
const dim = (d: Dim3, i: 0 | 1 | 2, what: string): number => {
  const v = typeof d === 'number' ? (i === 0 ? d : 1) : ((d as readonly number[])[i] ?? 1);
  if (v >>> 0 !== v || v === 0) throw dimError(d, what);
  return v;
};

/** A __global__ function of a loaded module, ready to launch. */
export class Kernel {
  private block: KernelParamBlock | undefined;
  private declaredSizes: number[] | undefined | null = null; // null: not asked yet
  private readonly types: ParamType[] = [];

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
  ) {}

  /** Registers per thread. */
  get numRegisters(): number {
    return this.attribute(FunctionAttribute.NumRegs);
  }
  /** Most threads a block of this kernel may have (registers and shared memory limit it). */
  get maxThreadsPerBlock(): number {
    return this.attribute(FunctionAttribute.MaxThreadsPerBlock);
  }
  get staticSharedBytes(): number {
    return this.attribute(FunctionAttribute.SharedSizeBytes);
  }
  get localBytesPerThread(): number {
    return this.attribute(FunctionAttribute.LocalSizeBytes);
  }
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
    const block = this.paramBlockFor(args);
    for (let i = 0; i < args.length; i++) {
      const a = args[i] as KernelArg;
      block.set(i, typeof a === 'object' ? ('devicePtr' in a ? a.devicePtr : a.value) : a);
    }
    this.device.makeCurrent();
    const { grid, block: threads } = config;
    driver.launchKernel(
      this.handle,
      dim(grid, 0, 'grid'),
      dim(grid, 1, 'grid'),
      dim(grid, 2, 'grid'),
      dim(threads, 0, 'block'),
      dim(threads, 1, 'block'),
      dim(threads, 2, 'block'),
      config.sharedMem ?? 0,
      config.stream?.handle ?? 0n,
      block.pointerArray,
    );
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

  private typeOf(a: KernelArg, i: number): ParamType {
    if (typeof a === 'object') return 'devicePtr' in a ? 'ptr' : a.type;
    const declared = this.signature?.[i];
    if (declared) return declared;
    if (typeof a === 'bigint') return 'u64';
    throw new LaunchArgumentError(
      `${this.name}: argument #${i} is a plain number (${a}), which could be an int or a float. ` +
        `Wrap it (i32(), u32(), f32(), f64(), i64()) or load the kernel with a signature.`,
    );
  }

  private validate(types: readonly ParamType[]): void {
    if (this.signature && this.signature.length !== types.length) {
      throw new LaunchArgumentError(
        `${this.name} takes ${this.signature.length} arguments (${this.signature.join(', ')}), got ${types.length}`,
      );
    }
    const sizes = this.parameterSizes;
    if (!sizes) return;
    if (sizes.length !== types.length) {
      throw new LaunchArgumentError(
        `${this.name} declares ${sizes.length} parameters, got ${types.length} arguments`,
      );
    }
    sizes.forEach((size, i) => {
      const t = types[i] as ParamType;
      if (PARAM_SIZE[t] !== size) {
        throw new LaunchArgumentError(
          `${this.name}: argument #${i} is packed as ${t} (${PARAM_SIZE[t]} bytes) but the kernel's parameter ` +
            `#${i} is ${size} bytes`,
        );
      }
    });
  }
}
