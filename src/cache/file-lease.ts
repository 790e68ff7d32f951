// The lease of one host: a lock file per key in the cache's locks/ directory (lock.ts), taken over when its owner
// died (same host) or held it past `staleAfterMs`.
import * as fs from 'node:fs';

import type { CacheLayout } from './layout.js';
import { breakStaleLock, lockIsStale, readLock, releaseLock, tryCreateLock, type LockInfo } from './lock.js';
import { errorCode } from './logger.js';
import type { Lease, LeaseAttempt, LeaseProvider } from './single-flight.js';
import type { TrustRule } from './trust.js';

export class FileLeaseProvider implements LeaseProvider {
  readonly name = 'file';

  constructor(
    private readonly layout: CacheLayout,
    private readonly rule: TrustRule,
    private readonly staleAfterMs: () => number,
    private readonly onTakeover: (name: string, owner: string) => void = () => {},
  ) {}

  tryAcquire(name: string): LeaseAttempt {
    const path = this.layout.lockPath(name);
    for (let attempt = 0; attempt < 3; attempt++) {
      let mine: boolean;
      try {
        mine = tryCreateLock(path, Date.now(), this.rule);
      } catch (e) {
        return { unavailable: `cannot create ${path} (${errorCode(e)})` };
      }
      if (mine) {
        const lease: Lease = { release: () => releaseLock(path, this.rule) };
        return { lease };
      }
      const held = this.holder(path, this.staleAfterMs());
      if (held === undefined) continue; // released just now: try again at once
      const owner = held.info ? `${held.info.host}:${held.info.pid}` : 'unknown';
      if (!held.stale) return { busy: true, holder: owner };
      this.onTakeover(name, owner);
      breakStaleLock(path, held.info, this.rule);
    }
    return { busy: true };
  }

  /** Removes a lock file judged stale by maintenance (the same guarded removal as a waiter's takeover). */
  breakIfStale(path: string, maxAgeMs: number): void {
    const held = this.holder(path, maxAgeMs);
    if (held?.stale) breakStaleLock(path, held.info, this.rule);
  }

  /** Who holds the lock at `path` and whether that is stale; undefined when the lock is gone. */
  private holder(path: string, maxAgeMs: number): { info: LockInfo | undefined; stale: boolean } | undefined {
    const info = readLock(path, this.rule);
    let mtime: number;
    try {
      mtime = fs.lstatSync(path).mtimeMs;
    } catch {
      return undefined;
    }
    return { info, stale: lockIsStale(info, Date.now(), maxAgeMs, mtime) };
  }
}
