import { driver } from '../cuda/index.js';
import type { Device } from './device.js';
import { asKernelFault } from './kernel-fault.js';
import { releaseIn, releaseRegistry } from './release.js';
import type { Stream } from './stream.js';

const CU_EVENT_DISABLE_TIMING = 0x2;

// Safety net for objects the program forgot to dispose: released when the JS object is collected.
const registry = releaseRegistry((handle) => driver.eventDestroy(handle));

/** A marker in a stream; two timing events give the device time between them. */
export class Event {
  private disposed = false;
  /** The device's context generation when created (see Device.generation). */
  readonly generation: number;

  private constructor(
    readonly device: Device,
    readonly handle: bigint,
  ) {
    this.generation = device.generation;
  }

  /** @internal */
  static create(device: Device, options: { timing?: boolean }): Event {
    device.makeCurrent();
    const e = new Event(device, driver.eventCreate(options.timing === false ? CU_EVENT_DISABLE_TIMING : 0));
    registry.register(e, { device, handle: e.handle, generation: device.generation }, e);
    return e;
  }

  /** Records the event on `stream` (default: the legacy default stream). */
  record(stream?: Stream): this {
    this.device.makeCurrent();
    driver.eventRecord(this.handle, stream?.handle ?? 0n);
    return this;
  }

  /** Waits until the work before the event is done; throws KernelFaultError when that work faulted. */
  synchronize(): void {
    this.device.makeCurrent();
    try {
      driver.eventSynchronize(this.handle);
    } catch (e) {
      throw asKernelFault(e, this.device);
    }
  }

  /** Milliseconds of device time from `start` to this event (both recorded and completed). */
  elapsedSince(start: Event): number {
    this.device.makeCurrent();
    return driver.eventElapsedMs(start.handle, this.handle);
  }

  /** Destroys the event now; later calls do nothing. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    registry.unregister(this);
    releaseIn(this, driver.eventDestroy);
  }

  /** Same as dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
