import type { Manifest } from './manifest.js';
import type { EntryMetadata } from './metadata.js';

/** What a tier stores and returns: the image (decoded) and its metadata. */
export interface TierRecord {
  readonly key: string;
  readonly image: Buffer;
  readonly meta: EntryMetadata;
  /**
   * When the tier last recorded a use of the entry (ms; the disk: its kernel file's mtime), where a read learns it
   * for free: a hit within the touch interval of it needs no LRU touch. Not part of what is verified or stored.
   */
  readonly usedAt?: number;
}

/** What the requester knows independently of the stored data: a record that disagrees is corrupt. */
export interface ExpectedIdentity {
  readonly target: string;
  readonly compiler: { readonly id: string; readonly version: string };
  readonly imageKind: 'cubin' | 'ptx' | 'ltoir';
}

/** What a tier can do; the lookup reads these instead of asking which tier it is. */
export interface TierCapabilities {
  /** put/delete/clear are refused (a consumer of a shared cache, a bundle): nothing is ever published to it. */
  readonly readOnly: boolean;
  /** Survives this process (disk, remote). */
  readonly persistent: boolean;
  /** Other hosts see what is published (a remote tier). */
  readonly shared: boolean;
  /** The largest image worth publishing here (a disk bound); larger ones are skipped with one warning. */
  readonly maxRecordBytes?: number;
}

/** One entry's size and last use, as the tier knows them. */
export interface TierEntryInfo {
  readonly key: string;
  /** Bytes the entry occupies in the tier (all its files). */
  readonly bytes: number;
  /** Last use (ms since the epoch) when the tier tracks it. */
  readonly lastUseMs?: number;
}

/**
 * One level of the cache. The lookup (lookup.ts) walks an ordered list of tiers (memory → disk → remote), verifies
 * every record from a tier below memory against its metadata (verify.ts) before use, copies a hit up into the
 * writable tiers above it, and publishes a compile to every writable tier.
 *
 * Contract: get() returns a record it could decode, or undefined; what it cannot decode it reports through its hooks'
 * corrupt() (and removes, when it may) and returns as a miss. get, stat, list and delete may throw for an I/O fault:
 * the lookup counts it and treats it as a miss. put() throws when the record was not stored (counted as a write
 * failure). Nothing outside a tier touches the tier's storage.
 */
export interface CacheTier {
  readonly name: string;
  readonly capabilities: TierCapabilities;
  /** `recheck`: a second look at a key that just missed here (after taking its lease); counted apart from misses. */
  get(key: string, expect?: ExpectedIdentity, recheck?: boolean): Promise<TierRecord | undefined>;
  /** The same answer synchronously, where the tier can give one cheaply (the lean path of a fresh process). */
  getSync?(key: string, expect?: ExpectedIdentity): TierRecord | undefined;
  /** Stores the record; throws when it was not stored (a read-only tier throws ReadOnlyTierError). */
  put(record: TierRecord): Promise<void>;
  /** Resolves once every earlier put is stored (a tier that publishes in the background, e.g. remote). */
  flush?(): Promise<void>;
  /** Removes the entry; false when there was none. */
  delete(key: string): Promise<boolean>;
  /** The same synchronously, where getSync exists: the lean path removes what fails verification at once. */
  deleteSync?(key: string): boolean;
  /** Keys of the committed entries. */
  list(): AsyncIterable<string>;
  /** Bytes and last use of the entry, or undefined when there is none. */
  stat(key: string): Promise<TierEntryInfo | undefined>;
  /** Removes every entry. */
  clear(): Promise<void>;
  /** Releases connections and timers; the tier is not used afterwards. */
  close?(): Promise<void>;
  /** The tier's own counters for this process (a remote tier: errors, timeouts, breaker trips, rejected entries). */
  stats?(): Readonly<Record<string, number | string>>;
  /** LRU bookkeeping of a hit at `atMs`: synchronous (durable at once) or fire and forget. True when it took. */
  touch?(key: string, meta: Pick<EntryMetadata, 'imageKind' | 'codec'>, atMs: number, sync: boolean): boolean;
  /** Family manifests (kernels of modules, entries of headers on disk), where the tier keeps them. */
  readManifestSync?(family: string): Manifest | undefined;
  /** Stores a family manifest (replacing the family's previous one). */
  writeManifest?(manifest: Manifest): Promise<void>;
}

/** Thrown by put/delete/clear of a read-only tier. */
export class ReadOnlyTierError extends Error {
  constructor(tier: string) {
    super(`the ${tier} cache tier is read-only`);
    this.name = 'ReadOnlyTierError';
  }
}

/** Events a tier reports to its owner (stats, logging). */
export interface TierHooks {
  corrupt(tier: string, key: string, reason: string, repaired: boolean): void;
  bytesRead(n: number): void;
  bytesWritten(n: number): void;
  eviction(reason: EvictionReason, key: string): void;
}

/**
 * Why an entry was removed: past its max age, over the size or count bound, another format or compiler version,
 * without its files, pushed out of memory, or cleared.
 */
export type EvictionReason = 'expired' | 'size' | 'count' | 'stale' | 'orphan' | 'memory' | 'cleared';

export const noHooks: TierHooks = {
  corrupt: () => {},
  bytesRead: () => {},
  bytesWritten: () => {},
  eviction: () => {},
};
