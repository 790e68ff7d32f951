import type { EntryMetadata } from './metadata.js';

/** What a tier stores and returns: the image (decompressed, verified) and its metadata. */
export interface TierRecord {
  readonly key: string;
  readonly image: Buffer;
  readonly meta: EntryMetadata;
}

/** What the requester knows independently of the stored data: a record that disagrees is corrupt. */
export interface ExpectedIdentity {
  readonly target: string;
  readonly compiler: { readonly id: string; readonly version: string };
  readonly imageKind: 'cubin' | 'ptx';
}

/**
 * One level of the cache. The KernelCache walks an ordered list of tiers (memory → disk → e.g. a remote Redis tier
 * shared by many machines, which would sign records with HMAC-SHA256 and verify them in get) and, after a miss,
 * publishes to every tier above the one that hit, or to all of them after a compile.
 *
 * Contract: get() returns only a record it has verified (size, checksum, identity); anything wrong is removed or
 * quarantined, reported through the tier's hooks and returned as a miss. No method throws for an I/O problem except
 * put(), whose error the KernelCache counts as a write failure and swallows.
 */
export interface CacheTier {
  readonly name: string;
  get(key: string, expect?: ExpectedIdentity): Promise<TierRecord | undefined>;
  put(record: TierRecord): Promise<void>;
  has(key: string): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  keys(): AsyncIterable<string>;
  clear(): Promise<void>;
  close?(): Promise<void>;
}

/** Events a tier reports to its owner (stats, logging). */
export interface TierHooks {
  corrupt(tier: string, key: string, reason: string, repaired: boolean): void;
  bytesRead(n: number): void;
  bytesWritten(n: number): void;
  eviction(reason: EvictionReason, key: string): void;
}

export type EvictionReason = 'expired' | 'size' | 'count' | 'stale' | 'orphan' | 'memory' | 'cleared';

export const noHooks: TierHooks = {
  corrupt: () => {},
  bytesRead: () => {},
  bytesWritten: () => {},
  eviction: () => {},
};
