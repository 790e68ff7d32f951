// The lease of one host: a lock file per key in the cache's locks/ directory (lock.ts), taken over when its owner
// died (same host) or held it past `staleAfterMs`.
import * as fs from 'node:fs';

import type { CacheLayout } from './layout.js';
import { breakStaleLock, lockIsStale, readLock, releaseLock, tryCreateLock } from './lock.js';
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
      const info = readLock(path, this.rule);
      let mtime: number;
      try {
        mtime = fs.lstatSync(path).mtimeMs;
      } catch {
        continue; // released just now: try again at once
      }
      const owner = info ? `${info.host}:${info.pid}` : 'unknown';
      if (!lockIsStale(info, Date.now(), this.staleAfterMs(), mtime)) return { busy: true, holder: owner };
      this.onTakeover(name, owner);
      breakStaleLock(path, info, this.rule);
    }
    return { busy: true };
  }

  /** Removes a lock file judged stale by maintenance (the same guarded removal as a waiter's takeover). */
  breakIfStale(path: string, maxAgeMs: number): void {
    const info = readLock(path, this.rule);
    let mtime: number;
    try {
      mtime = fs.lstatSync(path).mtimeMs;
    } catch {
      return;
    }
    if (lockIsStale(info, Date.now(), maxAgeMs, mtime)) breakStaleLock(path, info, this.rule);
  }
}
