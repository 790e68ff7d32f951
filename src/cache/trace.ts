// The cache's events on node:diagnostics_channel, for tracers and APM agents: each lookup, compile, publish to a
// tier, eviction and repair, with its tier, key, outcome and milliseconds (docs/tracing.md). Publishers check
// `channel.hasSubscribers` before building a message or reading the clock: with nobody listening, an event costs
// one property read, which the memory-hit path can afford.
import { channel } from 'node:diagnostics_channel';

import type { EvictionReason } from './tier.js';

/** A lookup's answer: one message per getOrCompile call, per lookupSync hit, per hit counted through noteMemoryHit. */
export interface CacheLookupMessage {
  /** The spec's own key. */
  readonly key: string;
  /**
   * Where the answer came from: `memory`, `disk`, another tier's name (`remote`), `shared` (another process or host
   * published it while this one waited for its lease); `none` for a miss (a compile follows) and for `coalesced`.
   */
  readonly tier: string;
  /** `coalesced`: joined a compile of the same key already running in this process. */
  readonly outcome: 'hit' | 'miss' | 'coalesced';
  /**
   * From the call to its answer (a miss: until this process decided to compile, lease wait included). 0 for a hit the
   * caller answered from its own copy of a resident entry (the JIT's loaded kernels, through noteMemoryHit).
   */
  readonly ms: number;
  /** True for lookupSync and noteMemoryHit; false for getOrCompile. A lookupSync miss is not published (its caller goes on to getOrCompile, which publishes the outcome). */
  readonly sync: boolean;
}

/** A compile run by the cache on a miss (one per key and process: single flight). */
export interface CacheCompileMessage {
  /** The spec's own key. */
  readonly key: string;
  /** Always `compiled`: the tier name a lookup reports for a fresh compile. */
  readonly tier: 'compiled';
  /**
   * `stored`: kept under `entryKey`; `transient`: used for this call only (its headers could not be tracked);
   * `failed`: the compiler threw (the error is rethrown to the caller, nothing is cached).
   */
  readonly outcome: 'stored' | 'transient' | 'failed';
  /** Wall time of the compile call as the cache saw it. */
  readonly ms: number;
  /** The compile time the compiler reported (what a later hit saves); absent when it failed. */
  readonly compileMs?: number;
  /** The key the entry is kept under when it differs from `key` (it read headers from disk: a dependent key). */
  readonly entryKey?: string;
  /** The image's size in bytes; absent when it failed. */
  readonly bytes?: number;
  /** The error's name when it failed (CompileError, …). */
  readonly error?: string;
}

/** A record written to one tier below memory. */
export interface CachePublishMessage {
  readonly key: string;
  /** The tier written: `disk`, `remote`, or a custom tier's name. */
  readonly tier: string;
  /** `skipped`: larger than the tier's maxRecordBytes (kept in memory only, warned once). */
  readonly outcome: 'stored' | 'failed' | 'skipped';
  /** The tier's put() (a remote tier queues its writes: this is the time to queue, not to send). */
  readonly ms: number;
  /** The image's size in bytes. */
  readonly bytes: number;
  /** Why it was written: a compile, a copy up from a lower tier's hit, a bundle import. */
  readonly cause: 'compile' | 'copy-up' | 'import';
  /** The error's code or name when it failed. */
  readonly error?: string;
}

/** An entry removed to keep a tier in bounds: the memory LRU, or a maintenance step on the disk. */
export interface CacheEvictMessage {
  readonly key: string;
  /** `memory` or `disk`. */
  readonly tier: string;
  /** `failed`: maintenance could not remove the entry's files (it stays, and is tried again by the next pass). */
  readonly outcome: 'removed' | 'failed';
  /** Which bound or rule removed it: `memory` (LRU), `size`, `count`, `expired`, `stale`, `orphan`. */
  readonly reason: EvictionReason;
  /** The time the removal took (memory: unloading what was attached to the entry, e.g. loaded modules). */
  readonly ms: number;
  /** Bytes the entry occupied in that tier. */
  readonly bytes: number;
}

/** A corrupt or unusable entry found, and what was done about it. */
export interface CacheRepairMessage {
  readonly key: string;
  /** The tier that held it (`disk`, `remote`, …); `all` for an invalidated entry (removed from every writable tier). */
  readonly tier: string;
  /** `removed`: gone, the next lookup recompiles; `kept`: it could not be removed (read-only tier, I/O error). */
  readonly outcome: 'removed' | 'kept';
  /** What was wrong: the verification's finding (size, SHA-256, identity, …) or the caller's reason. */
  readonly reason: string;
  /** The time the removal took. */
  readonly ms: number;
  /**
   * `read`: a lookup or an export read it; `verify`: `validateCacheIntegrity({ repair: true })` / `cuop cache verify`;
   * `invalidate`: the layer above found the image unusable (the driver refused it) and called invalidate().
   */
  readonly during: 'read' | 'verify' | 'invalidate';
}

/** The channel names, as subscribers pass them to `diagnostics_channel.subscribe`. */
export const CACHE_CHANNELS = {
  lookup: 'cuop:cache:lookup',
  compile: 'cuop:cache:compile',
  publish: 'cuop:cache:publish',
  evict: 'cuop:cache:evict',
  repair: 'cuop:cache:repair',
} as const;

// Module-level references keep the channels (and their subscribers) alive.
export const lookupChannel = channel(CACHE_CHANNELS.lookup);
export const compileChannel = channel(CACHE_CHANNELS.compile);
export const publishChannel = channel(CACHE_CHANNELS.publish);
export const evictChannel = channel(CACHE_CHANNELS.evict);
export const repairChannel = channel(CACHE_CHANNELS.repair);

/** The clock of the messages' `ms` fields, read only when a channel has subscribers. */
export const traceClock = (): number => performance.now();

// Typed publishers: the compiler checks every message against its channel's interface. Call them only after
// checking the channel's hasSubscribers (the message is built by then).
export const traceLookupMessage = (m: CacheLookupMessage): void => lookupChannel.publish(m);
export const traceCompileMessage = (m: CacheCompileMessage): void => compileChannel.publish(m);
export const tracePublishMessage = (m: CachePublishMessage): void => publishChannel.publish(m);
export const traceEvictMessage = (m: CacheEvictMessage): void => evictChannel.publish(m);
export const traceRepairMessage = (m: CacheRepairMessage): void => repairChannel.publish(m);
