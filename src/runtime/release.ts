import type { Device } from './device.js';

/** What a driver object needs in order to be released later: its device, handle and context generation. */
interface Owned {
  readonly device: Device;
  readonly handle: bigint;
  readonly generation: number;
}

/**
 * Release a driver object in its device's context, unless that context was released by Device.reset() since the
 * object was made (then the handle is already gone, and its address may belong to a newer object).
 */
export function releaseIn(owned: Owned, release: (handle: bigint) => void): void {
  // A faulted context fails every call; reset() frees everything of it at once.
  if (owned.device.generation !== owned.generation || owned.device.fault !== undefined) return;
  owned.device.makeCurrent();
  release(owned.handle);
}

/** A safety net: objects the program forgot to dispose are released when collected. */
export function releaseRegistry(release: (handle: bigint) => void): FinalizationRegistry<Owned> {
  return new FinalizationRegistry<Owned>((owned) => {
    try {
      releaseIn(owned, release);
    } catch {
      // the process is shutting down or the context is gone: nothing to release
    }
  });
}
