import { driver } from '../cuda/index.js';
import type { Device } from './device.js';
import { asKernelFault } from './kernel-fault.js';
import { releaseIn, releaseRegistry } from './release.js';

// Safety net for objects the program forgot to dispose: released when the JS object is collected.
const registry = releaseRegistry((handle) => driver.streamDestroy(handle));

/** A CUDA stream: work queued on one stream runs in order; different streams may overlap. */
export class Stream {
  private disposed = false;
  /** The device's context generation when created (see Device.generation). */
  readonly generation: number;
  /** The handle as a number, what the launch path passes (a CUstream is an address, far below 2^53). */
  readonly address: number;

  private constructor(
    readonly device: Device,
    /** CUstream; 0n is the legacy default stream. */
    readonly handle: bigint,
  ) {
    this.generation = device.generation;
    if (handle > BigInt(Number.MAX_SAFE_INTEGER))
      throw new TypeError(`0x${handle.toString(16)} is not a CUstream handle (an address)`);
    this.address = Number(handle);
  }

  /** @internal */
  static defaultOf(device: Device): Stream {
    return new Stream(device, 0n);
  }

  /**
   * @internal use device.wrapStream(). A CUstream made by another library (PyTorch's, a C addon's): used as it is,
   * never destroyed by cuop (its owner does that).
   */
  static wrap(device: Device, handle: bigint): Stream {
    if (typeof handle !== 'bigint' || handle < 0n)
      throw new TypeError(`a CUstream handle is a bigint, got ${String(handle)}`);
    const s = new Stream(device, handle);
    s.disposed = true; // not ours to destroy
    return s;
  }

  /** @internal */
  static create(device: Device, options: { nonBlocking?: boolean }): Stream {
    device.makeCurrent();
    const s = new Stream(device, driver.streamCreate(options.nonBlocking ? 1 : 0));
    registry.register(s, { device, handle: s.handle, generation: device.generation }, s);
    return s;
  }

  /** Block until all work queued on this stream has finished. */
  synchronize(): void {
    this.device.makeCurrent();
    try {
      driver.streamSynchronize(this.handle);
    } catch (e) {
      throw asKernelFault(e, this.device);
    }
  }

  /** True when all queued work has finished (does not block). */
  isIdle(): boolean {
    this.device.makeCurrent();
    try {
      return driver.streamQuery(this.handle);
    } catch (e) {
      throw asKernelFault(e, this.device);
    }
  }

  /** Destroys the stream now (a wrapped stream is left to its owner); later calls do nothing. */
  dispose(): void {
    if (this.disposed || this.handle === 0n) return;
    this.disposed = true;
    registry.unregister(this);
    releaseIn(this, driver.streamDestroy);
  }

  /** Same as dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
