import { driver } from '../cuda/index.js';
import type { Device } from './device.js';
import type { Stream } from './stream.js';

const CU_EVENT_DISABLE_TIMING = 0x2;

const registry = new FinalizationRegistry<{ device: Device; handle: bigint; generation: number }>(
  ({ device, handle, generation }) => {
    // Made before a Device.reset(): the context it lived in is gone, and the address may belong to a newer object.
    if (device.generation !== generation) return;
    try {
      device.makeCurrent();
      driver.eventDestroy(handle);
    } catch {
      // context gone
    }
  },
);

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

  record(stream?: Stream): this {
    this.device.makeCurrent();
    driver.eventRecord(this.handle, stream?.handle ?? 0n);
    return this;
  }

  synchronize(): void {
    this.device.makeCurrent();
    driver.eventSynchronize(this.handle);
  }

  /** Milliseconds of device time from `start` to this event (both recorded and completed). */
  elapsedSince(start: Event): number {
    this.device.makeCurrent();
    return driver.eventElapsedMs(start.handle, this.handle);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    registry.unregister(this);
    if (this.device.generation !== this.generation) return; // its context was released by Device.reset()
    this.device.makeCurrent();
    driver.eventDestroy(this.handle);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
