// The kernel cache: the rooms put together. Lookup (lookup.ts) walks memory → disk → further tiers; single flight
// (single-flight.ts, file-lease.ts) makes one compile per key; the compile becomes a record (compile-record.ts)
// published to every tier; stats (stats.ts) count it all; maintenance (maintenance.ts) keeps the disk in bounds.
// Never fails the caller because of the cache: a fault degrades to a miss and a recompile.
import type { CompileResult } from '../compiler/types.js';
import { buildMetadata, compileRecord, type CompileExtras } from './compile-record.js';
import { DiskTier } from './disk-tier.js';
import type { NearEntry } from './explain.js';
import {
  exportBundle,
  importBundle,
  type BundleExportOptions,
  type BundleExportReport,
  type BundleImportOptions,
  type BundleImportReport,
} from './bundle-import.js';
import { FileLeaseProvider } from './file-lease.js';
import { LeaseChain } from './lease-chain.js';
import { memoizedCacheKey, type KeySpec } from './key.js';
import { CacheLog, errorText, stderrLogger, type CacheLogger } from './logger.js';
import { LookupPipeline, type CacheLookup } from './lookup.js';
import {
  Maintenance,
  type CacheEntryInfo,
  type IntegrityReport,
  type MaintenanceReport,
} from './maintenance.js';
import { MemoryTier, type CacheEntry } from './memory-tier.js';
import { getSettings } from '../settings/index.js';
import { remoteTierFromSettings, type RedisTier, type RedisTierOptions } from './redis-tier.js';
import type { EntryMetadata } from './metadata.js';
import {
  cacheDisabled,
  resolveCacheDir,
  resolvePolicy,
  type CachePolicy,
  type CachePolicyInput,
  type EnvProblem,
} from './policy.js';
import {
  registerExitFlush,
  snapshot,
  statsHooks,
  StatsStore,
  unregisterExitFlush,
  type CacheStats,
} from './stats.js';
import { leaseOrWait, SingleFlight, type LeaseProvider } from './single-flight.js';
import type { CacheTier, TierHooks } from './tier.js';
import {
  compileChannel,
  lookupChannel,
  repairChannel,
  traceClock,
  traceCompileMessage,
  traceLookupMessage,
  traceRepairMessage,
  type CacheLookupMessage,
} from './trace.js';
import { trustRule, type TrustRule } from './trust.js';
import { isRecordSpec } from './records.js';

export type { CacheLookup, LookupTier } from './lookup.js';
export type { CompileExtras } from './compile-record.js';
export type { CacheEntryInfo, IntegrityProblem, IntegrityReport, MaintenanceReport } from './maintenance.js';

/** One disk entry read whole for inspection (`cuop cache show`): its metadata, and its image when it decodes. */
export interface InspectedEntry {
  readonly meta: EntryMetadata;
  /** The decoded image; absent when the kernel file is missing or does not decode (then `problem` says why). */
  readonly image?: Buffer;
  readonly problem?: string;
}

/** What a lookup of a spec would find now, and on a miss the nearest entries and what differs. */
export interface CacheExplanation {
  /** The spec's own key. */
  readonly key: string;
  /** Where a lookup would find it; undefined for a miss. */
  readonly found?: { readonly key: string; readonly tier: string };
  /** On a miss: the entries closest to the spec (same kernel names), fewest differences first. */
  readonly nearest: readonly NearEntry[];
}

/** How a KernelCache is built: where it lives, its policy, its logger, and the tiers below the disk. */
export interface KernelCacheOptions {
  /** null = memory only; undefined = resolveCacheDir(env). */
  dir?: string | null;
  policy?: Partial<CachePolicyInput>;
  logger?: CacheLogger;
  /** Milliseconds; drives created/last-use times, expiry and touches (injectable for tests). */
  clock?: () => number;
  /** Environment to read CUOP_* from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Further tiers below the disk (and the remote tier), in order. */
  tiers?: CacheTier[];
  /**
   * The shared tier (Redis): settings of its own, or false for none. Default: from the remote settings (CUOP_REMOTE_CACHE and the rest) (none unless
   * CUOP_REMOTE_CACHE is set).
   */
  remote?: Partial<RedisTierOptions> | false;
}

/**
 * The kernel cache: memory, then the disk directory, then any remote tier; one compile per key across processes.
 */
export class KernelCache {
  readonly dir: string | null;
  readonly policy: CachePolicy;
  /** Whose files this cache trusts (policy.sharing). */
  readonly rule: TrustRule;
  private readonly log: CacheLog;
  private readonly clock: () => number;
  private readonly memory: MemoryTier;
  private readonly disk: DiskTier | undefined;
  /** The shared tier made from the remote settings (CUOP_REMOTE_CACHE and the rest) or the `remote` option, if any. */
  private readonly remote: RedisTier | undefined;
  /** Tiers below memory, in lookup order. */
  private readonly lower: CacheTier[];
  private readonly stats: StatsStore;
  private readonly lookup: LookupPipeline;
  private readonly flights = new SingleFlight<CacheLookup>();
  /** One compile per key: the host's lock files, chained with the fleet's lease when a writable remote tier is on. */
  private lease: LeaseProvider | undefined;
  private readonly maintenance: Maintenance | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly env: NodeJS.ProcessEnv;
  private readonly flushAtExit = (): void => this.flushStats(true);

  constructor(opts: KernelCacheOptions = {}) {
    const env = opts.env ?? process.env;
    this.env = env;
    const envProblems: EnvProblem[] = [];
    this.policy = resolvePolicy(opts.policy, env, (p) => envProblems.push(p));
    this.log = new CacheLog(opts.logger ?? stderrLogger, this.policy.debug);
    for (const p of envProblems) {
      this.log.warnOnce(
        `env-${p.variable}`,
        `ignoring ${p.variable}=${JSON.stringify(p.value)}: ${p.message}; using the default.`,
      );
    }
    this.rule = trustRule(this.policy.sharing);
    this.clock = opts.clock ?? Date.now;
    const wanted = cacheDisabled(env) ? null : opts.dir === undefined ? resolveCacheDir(env) : opts.dir;
    // The tiers report to the stats, which live in the disk tier's directory: bound once both exist.
    const bound: { to?: TierHooks } = {};
    const hooks: TierHooks = {
      corrupt: (...a) => bound.to?.corrupt(...a),
      bytesRead: (n) => bound.to?.bytesRead(n),
      bytesWritten: (n) => bound.to?.bytesWritten(n),
      eviction: (r, k) => bound.to?.eviction(r, k),
    };
    this.memory = new MemoryTier({
      maxBytes: this.policy.memoryMaxBytes,
      maxEntries: this.policy.memoryMaxEntries,
      hooks,
      // A key used since the last flush gets its disk touch now: the flush finds only resident entries.
      onEvict: (entry) => {
        const at = this.stats.usedSinceFlush.get(entry.key);
        if (at === undefined) return;
        this.stats.usedSinceFlush.delete(entry.key);
        this.lookup.touch(entry.key, entry.meta, at, false);
      },
    });
    this.disk = wanted
      ? DiskTier.open(wanted, {
          rule: this.rule,
          codec: this.policy.compression,
          maxBytes: this.policy.maxDiskBytes,
          orphanGraceMs: this.policy.orphanGraceMs,
          now: this.clock,
          hooks,
          log: this.log,
        })
      : undefined;
    this.dir = this.disk ? this.disk.root : null;
    this.remote = remoteTierFromSettings(opts.remote, env, this.log);
    this.lower = [
      ...(this.disk ? [this.disk] : []),
      ...(this.remote ? [this.remote] : []),
      ...(opts.tiers ?? []),
    ];
    this.stats = new StatsStore(this.disk?.layout.statsDir, this.rule);
    bound.to = statsHooks(this.stats, this.log);
    this.lookup = new LookupPipeline({
      memory: this.memory,
      tiers: this.lower,
      stats: this.stats,
      hooks,
      log: this.log,
      clock: this.clock,
      checksum: this.policy.checksum,
      touchIntervalMs: this.policy.touchIntervalMs,
    });
    const fleetLease = this.remote?.leases();
    if (this.disk) {
      const hostLease = new FileLeaseProvider(
        this.disk.layout,
        this.rule,
        () => this.policy.lockWaitMs,
        (name, owner) => {
          this.stats.counters.lockTakeovers++;
          this.log.debug(`stale lock ${name} (owner ${owner}) taken over`);
        },
      );
      this.lease = fleetLease ? new LeaseChain(hostLease, fleetLease) : hostLease;
      this.maintenance = new Maintenance({
        disk: this.disk,
        policy: this.policy,
        rule: this.rule,
        stats: this.stats,
        log: this.log,
        clock: this.clock,
        flush: () => this.flushStats(true),
        manifestChanged: (family) => this.lookup.forgetManifest(family),
      });
      registerExitFlush(this.flushAtExit);
      // The timers start once the current work has run: a process's first timers cost ~0.9 ms (measured on the
      // H200 host), which its first kernel does not need (stats reach the disk at the first flush, or at exit).
      setImmediate(() => this.startTimers()).unref();
    }
    this.lease ??= fleetLease;
    if (this.log.debugEnabled)
      this.log.debug(`cache dir ${this.dir ?? '(memory only)'} policy ${JSON.stringify(this.policy)}`);
  }

  private startTimers(): void {
    if (this.closed) return;
    const flush = setInterval(() => this.flushStats(), Math.max(100, this.policy.statsFlushMs));
    flush.unref();
    this.timers.push(flush);
    const every = this.policy.maintenanceIntervalMs;
    if (every > 0) {
      const background = (): void => void this.maintenance?.maybeRunInBackground(() => this.closed);
      const first = setTimeout(background, Math.min(every, 10_000));
      first.unref();
      const periodic = setInterval(background, every);
      periodic.unref();
      this.timers.push(first, periodic);
    }
  }

  /** A small file of the layer above kept in the cache's root (the JIT's compiler identity memo); safe reads. */
  readRootFile(name: string): string | undefined {
    return this.disk?.readRootFile(name);
  }

  /** Replaces such a file atomically; false when there is no disk tier or it cannot be written. */
  writeRootFile(name: string, text: string): boolean {
    try {
      this.disk?.writeRootFile(name, text);
      return this.disk !== undefined;
    } catch {
      return false;
    }
  }

  /** Memory tier only, synchronous, no I/O, no hashing. */
  peek(key: string): CacheEntry | undefined {
    return this.memory.peek(key);
  }

  /**
   * The one entry point: memory → disk → further tiers → (single-flight) compile → publish. Never throws because
   * of the cache; a compile's own error (e.g. CompileError) is rethrown and never cached.
   */
  getOrCompile(
    spec: KeySpec,
    compile: () => Promise<CompileResult>,
    extra?: CompileExtras,
  ): Promise<CacheLookup> {
    // Traced only with a subscriber: otherwise one property read, no clock (t0 0 = not traced).
    const t0 = lookupChannel.hasSubscribers ? traceClock() : 0;
    const key = memoizedCacheKey(spec);
    const entry = this.memory.peek(key);
    if (entry !== undefined) {
      this.lookup.noteMemoryHit(entry);
      if (this.log.debugEnabled) this.log.debug(`hit memory ${key}`);
      if (t0 !== 0) traceLookup(key, 'memory', 'hit', t0, false);
      return Promise.resolve({ key, entry, tier: 'memory' });
    }
    const pending = this.flights.joined(key);
    if (pending !== undefined) {
      this.stats.counters.coalesced++;
      if (t0 !== 0) traceLookup(key, 'none', 'coalesced', t0, false);
      return pending;
    }
    return this.flights.run(key, () => this.lookupOrCompile(key, spec, compile, extra, t0));
  }

  /**
   * Memory, then the synchronous tiers (the disk), answered synchronously: never compiles, never waits, counts no
   * miss (the caller falls back to getOrCompile). A fresh process's first lookups are mostly first-execution cost
   * of the code they run; this path runs far less of it than the promise chain of getOrCompile.
   */
  lookupSync(spec: KeySpec): CacheLookup | undefined {
    const t0 = lookupChannel.hasSubscribers ? traceClock() : 0;
    const key = memoizedCacheKey(spec);
    const resident = this.memory.peek(key);
    if (resident !== undefined) {
      this.lookup.noteMemoryHit(resident);
      if (t0 !== 0) traceLookup(key, 'memory', 'hit', t0, true);
      return { key, entry: resident, tier: 'memory' };
    }
    if (this.flights.has(key)) return undefined;
    try {
      const found = this.lookup.findSync(spec, key);
      // A miss is not published: the caller goes on to getOrCompile, which publishes the outcome.
      if (found !== undefined && t0 !== 0) traceLookup(key, found.tier, 'hit', t0, true);
      return found;
    } catch {
      return undefined; // the async path retries and reports
    }
  }

  /**
   * False when an entry was compiled from headers on disk that have changed since (or a path that had to stay
   * absent now exists): the caller must look the spec up again.
   */
  isCurrent(entry: CacheEntry): boolean {
    return this.lookup.isCurrent(entry);
  }

  /**
   * Count a hit the caller answered from its own copy of a resident entry (the JIT's loaded-kernel map), so stats
   * see every lookup. In-memory increments only.
   */
  noteMemoryHit(entry: CacheEntry): void {
    this.lookup.noteMemoryHit(entry);
    if (lookupChannel.hasSubscribers) traceLookup(entry.key, 'memory', 'hit', 0, true);
  }

  /**
   * Drop an entry from every tier because its image proved unusable above the cache (e.g. the driver refused to load
   * it). Counted as corrupt; the next lookup recompiles.
   */
  async invalidate(key: string, reason: string): Promise<void> {
    this.stats.counters.corruptFound++;
    this.stats.markDirty();
    this.log.warnOnce(
      `invalidate-${key}`,
      `cache entry ${key} is unusable (${reason}); it was removed and will be recompiled.`,
    );
    const t0 = repairChannel.hasSubscribers ? traceClock() : 0;
    await this.memory.delete(key);
    for (const t of this.lower) {
      if (t.capabilities.readOnly) continue;
      try {
        await t.delete(key);
      } catch (e) {
        this.log.debug(`invalidate ${key} in ${t.name} failed: ${errorText(e)}`);
      }
    }
    this.stats.counters.corruptRepaired++;
    if (t0 !== 0) {
      const ms = traceClock() - t0;
      traceRepairMessage({ key, tier: 'all', outcome: 'removed', reason, ms, during: 'invalidate' });
    }
  }

  private async lookupOrCompile(
    key: string,
    spec: KeySpec,
    compile: () => Promise<CompileResult>,
    extra: CompileExtras | undefined,
    t0: number,
  ): Promise<CacheLookup> {
    const found = await this.lookup.find(spec, key);
    if (found) {
      if (t0 !== 0) traceLookup(key, found.tier, 'hit', t0, false);
      return found;
    }
    if (this.log.debugEnabled) await this.logMissReason(spec, key);
    const got = this.lease
      ? await leaseOrWait(
          this.lease,
          key,
          // Another host publishes to the remote tier: look there too, once the local tiers have nothing.
          async () => this.lookup.probePublished(spec, key) ?? (await this.lookup.probeAsyncTiers(spec, key)),
          this.policy.lockWaitMs,
          {
            waiting: (holder) => {
              this.stats.counters.lockWaits++;
              this.log.debug(`wait ${key} (compiling in ${holder ?? 'another process'})`);
            },
            timedOut: () =>
              this.log.warnOnce(
                'lock-timeout',
                `waited ${this.policy.lockWaitMs} ms for another process compiling ${key}; compiling here too.`,
              ),
            unavailable: (why) => this.log.debug(`no lock for ${key} (${why}); compiling without one`),
          },
        )
      : {};
    if (got.found) {
      if (t0 !== 0) traceLookup(key, got.found.tier, 'hit', t0, false);
      return got.found;
    }
    if (t0 !== 0) traceLookup(key, 'none', 'miss', t0, false);
    try {
      this.stats.counters.misses++;
      this.stats.markDirty();
      this.log.debug(`compile ${key}`);
      const startedAt = Date.now();
      const c0 = compileChannel.hasSubscribers ? traceClock() : 0;
      let result: CompileResult;
      try {
        result = await compile();
      } catch (e) {
        this.stats.counters.compileErrors++;
        this.log.debug(`compile failed ${key}: ${e instanceof Error ? e.name : 'error'} (not cached)`);
        if (c0 !== 0) {
          const error = e instanceof Error ? e.name : typeof e;
          traceCompileMessage({ key, tier: 'compiled', outcome: 'failed', ms: traceClock() - c0, error });
        }
        throw e;
      }
      this.stats.counters.compiles++;
      this.stats.counters.compileMs += result.compileMs;
      return await this.store(key, spec, result, extra, startedAt, c0 === 0 ? undefined : traceClock() - c0);
    } finally {
      if (got.lease) await got.lease.release();
    }
  }

  /** A compile's result into every tier, under its key (or its dependent key when it read headers from disk). */
  private async store(
    key: string,
    spec: KeySpec,
    result: CompileResult,
    extra: CompileExtras | undefined,
    startedAt: number,
    /** The compile's wall time when it is traced (published here: before the publishes to the tiers). */
    tracedMs: number | undefined,
  ): Promise<CacheLookup> {
    const made = compileRecord(key, spec, result, {
      extra,
      saveSource: this.policy.saveSource,
      now: this.clock(),
      startedAt,
    });
    if (tracedMs !== undefined) {
      const kept = 'rec' in made ? made.rec.key : undefined;
      traceCompileMessage({
        key,
        tier: 'compiled',
        outcome: kept === undefined ? 'transient' : 'stored',
        ms: tracedMs,
        compileMs: result.compileMs,
        bytes: result.image.length,
        ...(kept !== undefined && kept !== key ? { entryKey: kept } : {}),
      });
    }
    if ('transient' in made) {
      this.log.warnOnce(
        `transient-${key}`,
        `kernel ${spec.nameExpressions.join(', ')} is not cached: ${made.why}. It is compiled again at its next ` +
          `lookup.${made.advice}`,
      );
      const { image, meta } = made.transient;
      return { key, entry: { key, image, meta, attached: new Map() }, tier: 'compiled', transient: true };
    }
    const { rec, dependencies } = made;
    // Found through the family: a kernel of a module compiled with more names, an entry that read files from disk.
    const candidate =
      dependencies || spec.nameExpressions.length > 1
        ? {
            key: rec.key,
            names: [...spec.nameExpressions],
            ...(dependencies ? { dependencies } : {}),
            createdAt: rec.meta.createdAt,
          }
        : undefined;
    const entry = await this.lookup.store(spec, key, rec, candidate);
    return { key: rec.key, entry, tier: 'compiled' };
  }

  /**
   * What a lookup of `spec` would find, without counting a hit or loading anything; on a miss, which entries come
   * closest and which key inputs differ (header edited, option changed, compiler, arch, ...). Reads every entry's
   * metadata: a diagnostic, not for hot paths.
   */
  async explain(spec: KeySpec): Promise<CacheExplanation> {
    const key = memoizedCacheKey(spec);
    const found = this.lookup.whereIs(spec, key);
    if (found) return { key, found, nearest: [] };
    const metas = new Map<string, EntryMetadata>();
    for await (const k of this.memory.list()) {
      const e = this.memory.entryOf(k);
      if (e) metas.set(k, e.meta);
    }
    if (this.disk) {
      for await (const k of this.disk.list()) {
        if (metas.has(k)) continue;
        const meta = this.disk.readMetadata(k);
        if (meta) metas.set(k, meta);
      }
    }
    // Loaded on first use: hits never need it.
    const { nearestEntries } = await import('./explain.js');
    return { key, nearest: nearestEntries(spec, metas.values()) };
  }

  /** The CUOP_DEBUG line for a miss: what the nearest entry differs in. */
  private async logMissReason(spec: KeySpec, key: string): Promise<void> {
    try {
      const { nearest } = await this.explain(spec);
      const first = nearest[0];
      this.log.debug(
        first
          ? `miss ${key}: nearest entry ${first.key.slice(0, 12)} differs in: ` +
              (first.differences.map((d) => d.text).join('; ') || 'nothing the metadata records')
          : `miss ${key}: no entry for ${spec.nameExpressions.join(', ')} in the cache`,
      );
    } catch (e) {
      this.log.debug(`miss ${key} (no explanation: ${errorText(e)})`);
    }
  }

  // ---------------------------------------------------------------- records (records.ts)

  /**
   * The payload of a small non-kernel record (a spec made by recordKeySpec) from memory or the first tier holding it,
   * verified like any entry and copied up; undefined when no tier has it. A hit counts as a cache hit; a miss counts
   * nothing (no compile follows). The payload is the caller's to validate: the cache vouches for its integrity only.
   */
  async getRecord(spec: KeySpec): Promise<Buffer | undefined> {
    if (!isRecordSpec(spec)) throw new TypeError('getRecord takes the key spec of a record (recordKeySpec)');
    const key = memoizedCacheKey(spec);
    const resident = this.memory.peek(key);
    if (resident !== undefined) {
      this.lookup.noteMemoryHit(resident);
      return resident.image;
    }
    return (await this.lookup.find(spec, key))?.entry.image;
  }

  /**
   * Stores a record's payload in memory and every writable tier (disk, remote), as a compile's image would be.
   * Entries are immutable by key: an existing sound entry is kept unless `replace` is set, which first removes it
   * from every writable tier (for a payload the caller rejected). `costMs` is recorded as the entry's compile time,
   * so the stats' saved time counts what a hit saved (e.g. the tuning it made unnecessary).
   */
  async putRecord(
    spec: KeySpec,
    payload: Buffer,
    opts: { costMs?: number; replace?: boolean } = {},
  ): Promise<void> {
    if (!isRecordSpec(spec)) throw new TypeError('putRecord takes the key spec of a record (recordKeySpec)');
    const key = memoizedCacheKey(spec);
    if (opts.replace) {
      await this.memory.delete(key);
      for (const t of this.lower) {
        if (t.capabilities.readOnly) continue;
        await t
          .delete(key)
          .catch((e: unknown) => this.log.debug(`replace ${key} in ${t.name}: ${errorText(e)}`));
      }
    }
    const result: CompileResult = {
      image: payload,
      imageKind: spec.imageKind,
      target: spec.target,
      log: '',
      loweredNames: {},
      compileMs: Math.max(0, opts.costMs ?? 0),
      compiler: spec.compiler as CompileResult['compiler'],
    };
    const now = this.clock();
    const meta = buildMetadata(key, spec, result, { saveSource: true, now });
    await this.lookup.store(spec, key, { key, image: payload, meta }, undefined);
  }

  // ---------------------------------------------------------------- bundles (bundle-import.ts, bundle.ts)

  /**
   * Writes a bundle of the given entries (default: every entry of the disk tier), signed when `signer` is given
   * (default: the first remote secret, CUOP_REMOTE_SECRET). Entries that read headers from disk are skipped.
   */
  async exportBundle(
    path: string,
    opts: Partial<BundleExportOptions> & { cuopVersion: string },
  ): Promise<BundleExportReport> {
    const keys = opts.keys ?? (this.disk ? this.disk.list() : []);
    const signer = opts.signer ?? getSettings(this.env).remote.secrets[0];
    return exportBundle(this.lookup, keys, path, { ...opts, ...(signer ? { signer } : {}) });
  }

  /**
   * Verifies a bundle and imports its entries into the disk tier: each one verified (hashes, metadata, checksum),
   * skipped when built for an arch not in `archs`, left alone when already cached. A bundle whose structure or
   * signature fails throws BundleRejectedError and imports nothing. Signatures are required when a secret is set.
   */
  async importBundle(path: string, opts: Partial<BundleImportOptions> = {}): Promise<BundleImportReport> {
    const secrets = opts.secrets ?? getSettings(this.env).remote.secrets;
    return importBundle(this.lookup, path, {
      ...opts,
      secrets,
      requireSignature: opts.requireSignature ?? secrets.length > 0,
    });
  }

  /** Counters of this object and the persisted totals of every process using the directory. */
  getStats(): CacheStats {
    this.syncRemoteCounters();
    const all = this.stats.readAll(false);
    const tiers: NonNullable<CacheStats['tiers']> = {};
    for (const t of this.lower) if (t.stats) tiers[t.name] = t.stats();
    return {
      process: snapshot(this.stats.counters),
      all: snapshot(all.counters),
      processFiles: all.files,
      cachedKernels: { memory: this.memory.size, disk: this.maintenance?.countEntries() ?? 0 },
      ...(Object.keys(tiers).length > 0 ? { tiers } : {}),
    };
  }

  /** Entries and bytes of the disk tier now, removing nothing (zeros without a disk tier). */
  async diskUsage(): Promise<{ entries: number; bytes: number }> {
    return this.maintenance ? this.maintenance.usage() : { entries: 0, bytes: 0 };
  }

  /** Persists the stats and the LRU touches of keys hit since the last flush (synchronously at close and exit). */
  private flushStats(sync = false): void {
    if (this.disk && this.stats.usedSinceFlush.size > 0) {
      for (const [key, at] of this.stats.usedSinceFlush) {
        // Entries evicted from memory were touched at eviction; deleted ones need none.
        const e = this.memory.entryOf(key);
        if (e) this.lookup.touch(key, e.meta, at, sync);
      }
      this.stats.usedSinceFlush.clear();
    }
    this.syncRemoteCounters();
    this.stats.flush();
    this.maintenance?.compactStatsIfCrowded();
  }

  /** The remote tier's counters into this process's stats, so that they persist with the rest (`cuop cache stats`). */
  private syncRemoteCounters(): void {
    if (!this.remote) return;
    const now = { ...this.remote.counters } as Record<string, number>;
    const before = this.stats.counters.remote;
    if (Object.keys(now).some((k) => now[k] !== before[k])) {
      this.stats.counters.remote = now;
      this.stats.markDirty();
    }
  }

  // ---------------------------------------------------------------- maintenance (maintenance.ts)

  /** Every disk entry with its size, uses, last use and creation time (see CacheEntryInfo); [] without a disk tier. */
  async listEntries(): Promise<CacheEntryInfo[]> {
    return this.maintenance ? this.maintenance.listEntries() : [];
  }

  /**
   * One disk entry's metadata and image as stored, without counting a hit, touching its LRU time or removing
   * anything when it is broken; undefined when its metadata is missing or unreadable.
   */
  inspectEntry(key: string): InspectedEntry | undefined {
    if (!this.disk) return undefined;
    const r = this.disk.readForCheck(key);
    if (r !== undefined && !('reason' in r)) return { meta: r.meta, image: r.image };
    const meta = this.disk.readMetadata(key);
    if (!meta) return undefined;
    return { meta, problem: r?.reason ?? 'kernel file unreadable' };
  }

  /** Removes entries unused for longer than policy.maxAgeMs. */
  async cleanupExpiredCache(): Promise<MaintenanceReport> {
    return this.maintenanceOr((m) => m.cleanupExpired());
  }

  /** Expired entries first, then the least valuable until the disk tier is at most targetBytes (and maxEntries). */
  async cleanupBySize(targetBytes: number): Promise<MaintenanceReport> {
    return this.maintenanceOr((m) => m.cleanupBySize(targetBytes));
  }

  /**
   * Reclaims what can never be hit again: entries of other cache format versions, entries of `compiler` with
   * another version (a toolkit upgrade), kernels without metadata and temp files older than the grace period,
   * unreadable metadata, stale locks.
   */
  async pruneStale(opts: { compiler?: { id: string; version: string } } = {}): Promise<MaintenanceReport> {
    return this.maintenanceOr((m) => m.pruneStale(opts.compiler));
  }

  /** Verifies every entry (schema, identity, size, SHA-256); with repair, removes what is broken. */
  async validateCacheIntegrity(opts: { repair?: boolean } = {}): Promise<IntegrityReport> {
    if (!this.maintenance) return { ran: false, checked: 0, ok: 0, problems: [], repaired: 0, foreign: [] };
    return this.maintenance.validateIntegrity(opts.repair ?? false);
  }

  /** One background pass (orphans, expired, over-size, stats compaction); skipped if another process runs one. */
  async runMaintenance(opts: { wait?: boolean } = {}): Promise<MaintenanceReport> {
    return this.maintenanceOr((m) => m.run(opts.wait ?? true));
  }

  private async maintenanceOr(
    pass: (m: Maintenance) => Promise<MaintenanceReport>,
  ): Promise<MaintenanceReport> {
    if (!this.maintenance)
      return { ran: false, removed: 0, freedBytes: 0, byReason: {}, entries: 0, bytes: 0 };
    return pass(this.maintenance);
  }

  /** Removes every entry from every tier (the stats history stays). False when a tier could not be cleared (warned). */
  async clear(): Promise<boolean> {
    await this.memory.clear();
    let ok = true;
    for (const t of this.lower) {
      if (t.capabilities.readOnly) continue;
      try {
        await t.clear();
      } catch (e) {
        ok = false;
        this.log.warnOnce(`clear-${t.name}`, `clearing the ${t.name} cache failed: ${errorText(e)}`);
      }
    }
    this.lookup.forgetTouches();
    return ok;
  }

  /** Stops the timers, waits for a running maintenance pass and lookups, flushes the stats, closes the tiers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.maintenance?.idle();
    await this.flights.settled();
    // The remote tier this cache made is closed (its queued writes sent first, so that the stats count them);
    // tiers the caller passed in are the caller's: only flushed.
    for (const t of this.lower) {
      if (t === this.disk) continue;
      if (t === this.remote) await this.remote.close().catch(() => {});
      else await t.flush?.().catch(() => {});
    }
    this.flushStats(true);
    unregisterExitFlush(this.flushAtExit);
  }
}

/** One lookup message (only called when the lookup channel has subscribers). */
function traceLookup(
  key: string,
  tier: string,
  outcome: CacheLookupMessage['outcome'],
  t0: number,
  sync: boolean,
): void {
  const msg: CacheLookupMessage = { key, tier, outcome, ms: t0 === 0 ? 0 : traceClock() - t0, sync };
  traceLookupMessage(msg);
}
