// One compile per key: in this process, a promise shared by every caller of the key; across processes (or hosts),
// a lease taken from a LeaseProvider (file-lease.ts on one host; a remote tier can supply a cross-host one).
import { setTimeout as sleep } from 'node:timers/promises';

/** Held while this process compiles a key. */
export interface Lease {
  release(): void | Promise<void>;
}

export type LeaseAttempt =
  | { readonly lease: Lease }
  /** Another holder compiles the key now (`holder` says who, for logs). */
  | { readonly busy: true; readonly holder?: string }
  /** No lease can be had here (unwritable lock dir, unreachable server): compile without one. */
  | { readonly unavailable: string };

export interface LeaseProvider {
  readonly name: string;
  /** One attempt, no waiting; a stale lease of a dead or hung holder is taken over here. */
  tryAcquire(key: string): LeaseAttempt | Promise<LeaseAttempt>;
}

export interface WaitEvents {
  /** The first time this caller waits on another holder. */
  waiting?(holder: string | undefined): void;
  /** The bounded wait ran out: the caller compiles too. */
  timedOut?(): void;
  unavailable?(why: string): void;
}

/**
 * Takes the lease of `key`, or waits (bounded by `waitMs`, backing off from 2 to 50 ms) for another holder to publish
 * what `probe` finds. Returns the lease (this caller compiles), what another holder published, or neither (no lease
 * to be had, or the wait ran out: compile anyway).
 */
export async function leaseOrWait<T>(
  provider: LeaseProvider,
  key: string,
  probe: () => T | undefined | Promise<T | undefined>,
  waitMs: number,
  events: WaitEvents = {},
): Promise<{ lease?: Lease; found?: T }> {
  const deadline = Date.now() + waitMs;
  let delay = 2;
  let waited = false;
  for (;;) {
    const attempt = await provider.tryAcquire(key);
    if ('lease' in attempt) {
      // Someone may have published between our miss and our lease.
      const found = await probe();
      if (found !== undefined) {
        await attempt.lease.release();
        return { found };
      }
      return { lease: attempt.lease };
    }
    if ('unavailable' in attempt) {
      events.unavailable?.(attempt.unavailable);
      return {};
    }
    const found = await probe();
    if (found !== undefined) return { found };
    if (Date.now() >= deadline) {
      events.timedOut?.();
      return {};
    }
    if (!waited) {
      waited = true;
      events.waiting?.(attempt.holder);
    }
    await sleep(delay);
    delay = Math.min(delay * 1.5, 50);
  }
}

/** The in-process half: callers of a key already being looked up join its promise. */
export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  joined(key: string): Promise<T> | undefined {
    return this.running.get(key);
  }

  has(key: string): boolean {
    return this.running.has(key);
  }

  run(key: string, work: () => Promise<T>): Promise<T> {
    const p = work().finally(() => this.running.delete(key));
    this.running.set(key, p);
    return p;
  }

  /** Resolves when every running lookup has settled (close). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }
}
