import { driver, type ParamType } from '../cuda/index.js';
import { DeviceBuffer } from './buffer.js';
import { Event } from './event.js';
import { asKernelFault, type KernelFaultError } from './kernel-fault.js';
import { Module } from './module.js';
import { Stream } from './stream.js';

const { DeviceAttribute } = driver;

/** Compute capability of a device. */
export interface ComputeCapability {
  readonly major: number;
  readonly minor: number;
}

const devices = new Map<number, Device>();
/** What a device's memory pool keeps reserved unless told otherwise (the driver's own default, 0, frees at every sync). */
const DEFAULT_POOL_RELEASE_THRESHOLD = 2 ** 30;

/**
 * One GPU. Holds its primary context (retained on first use, like the CUDA runtime does), which every module, buffer,
 * stream and event of this device lives in. Code for any number of GPUs: `Device.count()`, `Device.get(i)`.
 */
export class Device {
  readonly name: string;
  readonly computeCapability: ComputeCapability;
  /** `sm_90` for compute capability 9.0: what a cubin for this device is built for. */
  readonly arch: string;
  readonly multiprocessorCount: number;
  readonly totalMemory: number;
  readonly maxThreadsPerBlock: number;
  /** Dynamic shared memory one block may opt into (cuFuncSetAttribute), in bytes. */
  readonly maxSharedMemoryPerBlockOptin: number;
  private context: bigint | undefined;
  /**
   * Counts reset() calls. Objects remember the generation they were made in, so a finalizer never frees into (and
   * loaded-module maps never serve from) a context that was released and retained anew.
   */
  generation = 0;
  /** The last kernel launched on this device (named when a fault is reported later). */
  lastKernel: string | undefined;
  /** Set once a kernel faulted: the context is lost until reset(). */
  fault: KernelFaultError | undefined;
  private defaultStreamValue: Stream | undefined;
  private poolSupport: boolean | undefined;
  private thresholdSet = false;

  private constructor(
    readonly ordinal: number,
    private readonly handle: number,
  ) {
    this.name = driver.deviceName(handle);
    const major = driver.deviceAttribute(handle, DeviceAttribute.ComputeCapabilityMajor);
    const minor = driver.deviceAttribute(handle, DeviceAttribute.ComputeCapabilityMinor);
    this.computeCapability = { major, minor };
    this.arch = `sm_${major}${minor}`;
    this.multiprocessorCount = driver.deviceAttribute(handle, DeviceAttribute.MultiprocessorCount);
    this.maxThreadsPerBlock = driver.deviceAttribute(handle, DeviceAttribute.MaxThreadsPerBlock);
    this.maxSharedMemoryPerBlockOptin = driver.deviceAttribute(
      handle,
      DeviceAttribute.MaxSharedMemoryPerBlockOptin,
    );
    this.totalMemory = driver.deviceTotalMemory(handle);
  }

  /** Number of CUDA devices; throws LibraryNotFoundError / CudaError where there is no driver. */
  static count(): number {
    return driver.deviceCount();
  }

  /** The device with this ordinal (0-based); the same object on every call. */
  static get(ordinal = 0): Device {
    let d = devices.get(ordinal);
    if (!d) {
      const n = Device.count();
      if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal >= n) {
        throw new RangeError(`no CUDA device ${ordinal}: this host has ${n} (ordinals 0..${n - 1})`);
      }
      d = new Device(ordinal, driver.deviceGet(ordinal));
      devices.set(ordinal, d);
    }
    return d;
  }

  /** All devices of this host. */
  static all(): Device[] {
    return Array.from({ length: Device.count() }, (_, i) => Device.get(i));
  }

  /**
   * Make this device's primary context current on the calling thread (retaining it on first use). Asks the driver
   * what is current rather than trusting a cached answer: another library on this thread may have switched it.
   */
  makeCurrent(): void {
    if (this.context === undefined) {
      try {
        this.context = driver.primaryContextRetain(this.handle);
      } catch (e) {
        // After a fault, a driver that keeps the error for the whole process refuses a new context too.
        throw asKernelFault(e, this, true);
      }
    }
    if (driver.contextCurrentRaw() !== this.context) driver.contextSetCurrent(this.context);
  }

  /** An identifier of this device's context, stable for the process: what a loaded module belongs to. */
  get contextId(): string {
    return `dev${this.ordinal}.${this.generation}`;
  }

  /** Block until all work queued on this device has finished. A kernel that faulted: KernelFaultError. */
  synchronize(): void {
    this.makeCurrent();
    try {
      driver.contextSynchronize();
    } catch (e) {
      throw asKernelFault(e, this);
    }
  }

  /** Free and total device memory in bytes. */
  memoryInfo(): { free: number; total: number } {
    this.makeCurrent();
    return driver.memGetInfo();
  }

  /** The legacy default (NULL) stream. */
  get defaultStream(): Stream {
    this.defaultStreamValue ??= Stream.defaultOf(this);
    return this.defaultStreamValue;
  }

  /** A raw CUstream of this device's context made elsewhere (another library); cuop never destroys it. */
  wrapStream(handle: bigint): Stream {
    return Stream.wrap(this, handle);
  }

  /** A new stream on this device (`nonBlocking`: does not synchronize with the legacy default stream). */
  createStream(options: { nonBlocking?: boolean } = {}): Stream {
    return Stream.create(this, options);
  }

  /** A new event on this device (`timing`: records time, for elapsedSince). */
  createEvent(options: { timing?: boolean } = {}): Event {
    return Event.create(this, options);
  }

  /** `bytes` of device memory (cuMemAlloc); see allocAsync for the stream-ordered pool. */
  alloc(bytes: number): DeviceBuffer {
    return DeviceBuffer.alloc(this, bytes);
  }

  /** Whether this device and driver have stream-ordered memory pools (cuMemAllocAsync). */
  get memoryPoolsSupported(): boolean {
    this.poolSupport ??=
      driver.hasStreamOrderedAllocator() &&
      driver.deviceAttribute(this.handle, DeviceAttribute.MemoryPoolsSupported) === 1;
    return this.poolSupport;
  }

  /**
   * A buffer from the device's memory pool, ordered on `stream` (default: the legacy stream); dispose() returns
   * it to the pool on that stream. No device-wide synchronization either way (cuMemFree synchronizes). Falls
   * back to alloc() where pools are not supported. The pool keeps up to `poolReleaseThreshold` bytes reserved.
   */
  allocAsync(bytes: number, stream?: Stream): DeviceBuffer {
    if (!this.memoryPoolsSupported) return this.alloc(bytes);
    if (!this.thresholdSet) this.setPoolReleaseThreshold(DEFAULT_POOL_RELEASE_THRESHOLD);
    return DeviceBuffer.allocPooled(this, bytes, stream ?? null);
  }

  /** Bytes the memory pool keeps reserved across synchronizations (default 1 GiB; 0 returns all at each one). */
  setPoolReleaseThreshold(bytes: number | bigint): void {
    if (!this.memoryPoolsSupported) return;
    this.makeCurrent();
    driver.setDefaultPoolReleaseThreshold(this.handle, BigInt(bytes));
    this.thresholdSet = true;
  }

  /** Allocate a buffer holding a copy of `data`. */
  upload(data: ArrayBufferView): DeviceBuffer {
    const b = DeviceBuffer.alloc(this, data.byteLength);
    b.upload(data);
    return b;
  }

  /** Load a cubin, PTX (NUL-terminated) or fatbin image. `signatures` optionally types kernels' parameters. */
  loadModule(image: Uint8Array, signatures?: Readonly<Record<string, readonly ParamType[]>>): Module {
    return Module.load(this, image, signatures);
  }

  /** A prebuilt cubin, PTX or fatbin file (ImageFileError for a missing or empty one). */
  loadModuleFile(path: string, signatures?: Readonly<Record<string, readonly ParamType[]>>): Module {
    return Module.loadFile(this, path, signatures);
  }

  /**
   * Release the primary context (after synchronizing). Everything allocated on it becomes invalid; for tests, clean
   * shutdown, and after a KernelFaultError: a faulted context is reset by the driver (cuDevicePrimaryCtxReset),
   * and the next use of the device gets a fresh one.
   */
  reset(): void {
    if (this.context === undefined) return;
    let faulted = this.fault !== undefined;
    if (!faulted) {
      try {
        this.synchronize();
      } catch (e) {
        if (this.fault === undefined) throw e;
        faulted = true;
      }
    }
    if (faulted) {
      driver.contextSetCurrent(0n); // the reset wants the context not in use on this thread
      driver.primaryContextReset(this.handle);
    }
    driver.primaryContextRelease(this.handle);
    this.context = undefined;
    this.fault = undefined;
    this.generation++;
    this.defaultStreamValue = undefined;
    this.thresholdSet = false;
  }
}
