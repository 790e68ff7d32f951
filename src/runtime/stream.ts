import { driver } from '../cuda/index.js';
import type { Device } from './device.js';

const registry = new FinalizationRegistry<{ device: Device; handle: bigint; generation: number }>(
  ({ device, handle, generation }) => {
    // Made before a Device.reset(): the context it lived in is gone, and the address may belong to a newer object.
    if (device.generation !== generation) return;
    try {
      device.makeCurrent();
      driver.streamDestroy(handle);
    } catch {
      // process is shutting down or the context is gone: nothing to release
    }
  },
);

/** A CUDA stream: work queued on one stream runs in order; different streams may overlap. */
export class Stream {
  private disposed = false;
  /** The device's context generation when created (see Device.generation). */
  readonly generation: number;

  private constructor(
    readonly device: Device,
    /** CUstream; 0n is the legacy default stream. */
    readonly handle: bigint,
  ) {
    this.generation = device.generation;
  }

  /** @internal */
  static defaultOf(device: Device): Stream {
    return new Stream(device, 0n);
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
    driver.streamSynchronize(this.handle);
  }

  /** True when all queued work has finished (does not block). */
  isIdle(): boolean {
    this.device.makeCurrent();
    return driver.streamQuery(this.handle);
  }

  dispose(): void {
    if (this.disposed || this.handle === 0n) return;
    this.disposed = true;
    registry.unregister(this);
    if (this.device.generation !== this.generation) return; // its context was released by Device.reset()
    this.device.makeCurrent();
    driver.streamDestroy(this.handle);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
