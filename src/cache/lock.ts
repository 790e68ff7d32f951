import { linkSync, renameSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { threadId } from 'node:worker_threads';

import { createFileSync, readTrustedTextOrUndefined } from './safe-fs.js';
import { trustRule, type TrustRule } from './trust.js';

const PRIVATE = trustRule('private');

/** Content of a lock file. */
export interface LockInfo {
  pid: number;
  host: string;
  threadId: number;
  startedAt: number;
}

export const HOST = hostname();

/** Whether a process with this pid exists on this host (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock's owner record; undefined when unreadable (a FIFO or a link planted there reads as unreadable). */
export function readLock(path: string, rule: TrustRule = PRIVATE): LockInfo | undefined {
  try {
    const text = readTrustedTextOrUndefined(path, rule, 4096);
    if (text === undefined) return undefined;
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.startedAt === 'number') {
      return { pid: v.pid, host: v.host, threadId: v.threadId ?? 0, startedAt: v.startedAt };
    }
  } catch {
    // unreadable or half-written: judged by age below
  }
  return undefined;
}

/** A lock is stale when its owner is gone from this host, or it is older than maxAgeMs (owner elsewhere or hung). */
export function lockIsStale(
  info: LockInfo | undefined,
  now: number,
  maxAgeMs: number,
  fileMtimeMs?: number,
): boolean {
  if (!info) return fileMtimeMs === undefined || now - fileMtimeMs > Math.min(maxAgeMs, 5_000);
  if (now - info.startedAt > maxAgeMs) return true;
  return info.host === HOST && !pidAlive(info.pid);
}

/**
 * Exclusive create (O_EXCL). Returns true when this caller now owns the lock. Throws only for errors other than
 * EEXIST (the caller treats those as "no locking possible").
 */
export function tryCreateLock(path: string, now: number, rule: TrustRule = PRIVATE): boolean {
  // Write the owner record to a private file, then link() it into place: link never overwrites (EEXIST, like
  // O_EXCL) and the lock appears with its content, so a writer killed mid-create leaves no empty, ownerless lock
  // (at worst a private file naming a dead pid, which maintenance removes).
  const info: LockInfo = { pid: process.pid, host: HOST, threadId, startedAt: now };
  const tmp = `${path}.${process.pid}.${threadId}.${Math.random().toString(36).slice(2)}.tmp`;
  createFileSync(tmp, JSON.stringify(info), rule);
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}

/**
 * Removes a lock judged stale. Two takers may race: the lock is first renamed to a unique tombstone (only one
 * rename of a given file succeeds); if the tombstone turns out not to be the stale lock we judged (someone took it
 * over and created a fresh one in between), it is put back with link() (which never overwrites).
 */
export function breakStaleLock(path: string, judged: LockInfo | undefined, rule: TrustRule = PRIVATE): void {
  const tomb = `${path}.stale.${process.pid}.${threadId}.${Math.random().toString(36).slice(2)}`;
  try {
    renameSync(path, tomb);
  } catch {
    return;
  }
  const got = readLock(tomb, rule);
  const same =
    (!got && !judged) ||
    (got &&
      judged &&
      got.pid === judged.pid &&
      got.host === judged.host &&
      got.startedAt === judged.startedAt);
  if (!same) {
    try {
      linkSync(tomb, path);
    } catch {
      // a third party holds it now: fine either way
    }
  }
  try {
    unlinkSync(tomb);
  } catch {
    // already gone
  }
}

export function releaseLock(path: string, rule: TrustRule = PRIVATE): void {
  // Move the lock aside first, then look at what was moved: if a successor took over a lock judged stale (a
  // compile that outlived lockWaitMs) and made its own, put that one back instead of deleting it.
  const tomb = `${path}.release.${process.pid}.${threadId}.${Math.random().toString(36).slice(2)}`;
  try {
    renameSync(path, tomb);
  } catch {
    return; // already gone
  }
  const cur = readLock(tomb, rule);
  if (cur && (cur.pid !== process.pid || cur.host !== HOST || cur.threadId !== threadId)) {
    try {
      linkSync(tomb, path);
    } catch {
      // a third party holds the path now
    }
  }
  try {
    unlinkSync(tomb);
  } catch {
    // already gone
  }
}
