import { driver } from '../cuda/index.js';
import type { Device } from './device.js';
import { asKernelFault } from './kernel-fault.js';
import { releaseIn, releaseRegistry } from './release.js';
import type { Stream } from './stream.js';

// Safety net for objects the program forgot to dispose: released when the JS object is collected.
const registry = releaseRegistry((handle) => driver.memFree(handle));
// Pooled buffers go back to their pool, ordered on the legacy stream (after everything queued before).
const pooledRegistry = releaseRegistry((handle) => driver.memFreeAsync(handle, 0n));

type TypedArrayCtor<T> = {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
  BYTES_PER_ELEMENT: number;
};

/** Device memory. Free it with dispose() (or `using`); a finalizer frees it if you forget. */
export class DeviceBuffer {
  private ptrValue: bigint;
  /** The device's context generation when allocated (see Device.generation). */
  readonly generation: number;

  private constructor(
    readonly device: Device,
    readonly byteLength: number,
    ptr: bigint,
    /** The stream a pooled buffer was allocated on and goes back to the pool on; undefined: cuMemAlloc memory. */
    readonly poolStream?: Stream | null,
  ) {
    this.ptrValue = ptr;
    this.generation = device.generation;
  }

  /**
   * @internal use device.allocAsync(). From the device's memory pool, ordered on `stream` (null: the legacy
   * stream): no device-wide synchronization on allocation or on dispose(), unlike cuMemAlloc / cuMemFree.
   */
  static allocPooled(device: Device, bytes: number, stream: Stream | null): DeviceBuffer {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) {
      throw new RangeError(`buffer size must be a positive integer number of bytes, got ${bytes}`);
    }
    device.makeCurrent();
    const b = new DeviceBuffer(device, bytes, driver.memAllocAsync(bytes, stream?.handle ?? 0n), stream);
    pooledRegistry.register(b, { device, handle: b.ptrValue, generation: device.generation }, b);
    return b;
  }

  /** @internal use device.alloc() */
  static alloc(device: Device, bytes: number): DeviceBuffer {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) {
      throw new RangeError(`buffer size must be a positive integer number of bytes, got ${bytes}`);
    }
    device.makeCurrent();
    const b = new DeviceBuffer(device, bytes, driver.memAlloc(bytes));
    registry.register(b, { device, handle: b.ptrValue, generation: device.generation }, b);
    return b;
  }

  /** The CUdeviceptr; what a kernel parameter of pointer type receives. */
  get devicePtr(): bigint {
    if (this.ptrValue === 0n) throw new Error('DeviceBuffer used after dispose()');
    return this.ptrValue;
  }

  /** True once dispose() ran: the memory is freed. */
  get disposed(): boolean {
    return this.ptrValue === 0n;
  }

  /** Copy host data into the start of this buffer (synchronous unless a stream is given). */
  upload(data: ArrayBufferView, stream?: Stream): this {
    if (data.byteLength > this.byteLength) {
      throw new RangeError(`upload of ${data.byteLength} bytes into a ${this.byteLength}-byte buffer`);
    }
    this.device.makeCurrent();
    try {
      if (stream) driver.memcpyHtoDAsync(this.devicePtr, data, data.byteLength, stream.handle);
      else driver.memcpyHtoD(this.devicePtr, data, data.byteLength);
    } catch (e) {
      throw asKernelFault(e, this.device);
    }
    return this;
  }

  /** Copy the buffer (or its first `into.byteLength` bytes) to the host. Synchronous. */
  download(): Uint8Array;
  download<T extends ArrayBufferView>(into: T): T;
  download(into?: ArrayBufferView): ArrayBufferView {
    const target = into ?? new Uint8Array(this.byteLength);
    if (target.byteLength > this.byteLength) {
      throw new RangeError(`download of ${target.byteLength} bytes from a ${this.byteLength}-byte buffer`);
    }
    this.device.makeCurrent();
    try {
      driver.memcpyDtoH(target, this.devicePtr, target.byteLength);
    } catch (e) {
      throw asKernelFault(e, this.device);
    }
    return target;
  }

  /** Download into a new typed array of the given element type, sized to the whole buffer. */
  downloadAs<T extends ArrayBufferView>(ctor: TypedArrayCtor<T>): T {
    const n = Math.floor(this.byteLength / ctor.BYTES_PER_ELEMENT);
    return this.download(new ctor(new ArrayBuffer(n * ctor.BYTES_PER_ELEMENT), 0, n));
  }

  /** Set every byte to `value` (0..255). */
  fillBytes(value: number): this {
    this.device.makeCurrent();
    driver.memsetD8(this.devicePtr, value & 0xff, this.byteLength);
    return this;
  }

  /** Set every 32-bit word to `word` (e.g. a NaN bit pattern to poison float outputs). */
  fillWords(word: number): this {
    this.device.makeCurrent();
    driver.memsetD32(this.devicePtr, word, Math.floor(this.byteLength / 4));
    return this;
  }

  /** Copies `bytes` (default: as much as both hold) from `src`, device to device. */
  copyFrom(src: DeviceBuffer, bytes = Math.min(src.byteLength, this.byteLength)): this {
    this.device.makeCurrent();
    try {
      driver.memcpyDtoD(this.devicePtr, src.devicePtr, bytes);
    } catch (e) {
      throw asKernelFault(e, this.device);
    }
    return this;
  }

  /** Frees the memory now; later calls do nothing. */
  dispose(): void {
    if (this.ptrValue === 0n) return;
    const ptr = this.ptrValue;
    this.ptrValue = 0n;
    const owned = { device: this.device, handle: ptr, generation: this.generation };
    if (this.poolStream !== undefined) {
      pooledRegistry.unregister(this);
      const stream = this.poolStream?.handle ?? 0n;
      releaseIn(owned, (h) => driver.memFreeAsync(h, stream));
      return;
    }
    registry.unregister(this);
    releaseIn(owned, driver.memFree);
  }

  /** Same as dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
