// A disk tier alone on a fresh temp dir, with its corruption reports recorded (the disk-tier tests read them).
import assert from 'node:assert/strict';
import { lstatSync, readFileSync } from 'node:fs';

import { codecSuffix, type Codec } from '../../src/cache/codec.js';
import { DiskTier } from '../../src/cache/disk-tier.js';
import { CacheLog } from '../../src/cache/logger.js';
import { noHooks, type TierRecord } from '../../src/cache/tier.js';
import { trustRule } from '../../src/cache/trust.js';
import { tempDir } from './fixtures.js';

export interface CorruptReport {
  key: string;
  reason: string;
  repaired: boolean;
}

export interface DiskSubject {
  dir: string;
  tier: DiskTier;
  corrupt: CorruptReport[];
  kernelPath(r: TierRecord): string;
  metaPath(r: TierRecord): string;
}

const quiet = { debug: () => {}, warn: () => {} };

/** A disk tier on `dir` (a fresh temp dir when absent), storing with `codec`. */
export function openDisk(codec: Codec = 'none', dir = tempDir('disk-tier')): DiskSubject {
  const corrupt: CorruptReport[] = [];
  const tier = DiskTier.open(dir, {
    rule: trustRule('private'),
    codec,
    now: Date.now,
    hooks: { ...noHooks, corrupt: (_t, key, reason, repaired) => corrupt.push({ key, reason, repaired }) },
    log: new CacheLog(quiet, false),
  });
  assert.ok(tier, 'the disk tier opens');
  return {
    dir,
    tier,
    corrupt,
    kernelPath: (r) => tier.layout.kernelPath(r.key, r.meta.imageKind, codecSuffix(codec)),
    metaPath: (r) => tier.layout.metaPath(r.key),
  };
}

/** What identifies a file on disk and what it holds: a kept file has all of these unchanged. */
export function fileState(path: string): { ino: number; mtimeNs: bigint; size: number; bytes: string } {
  const st = lstatSync(path, { bigint: true });
  return {
    ino: Number(st.ino),
    mtimeNs: st.mtimeNs,
    size: Number(st.size),
    bytes: readFileSync(path).toString('hex'),
  };
}

export const exists = (p: string): boolean => lstatSync(p, { throwIfNoEntry: false }) !== undefined;
