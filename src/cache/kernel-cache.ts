import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CompileResult } from '../compiler/types.js';
import { DiskTier, type DiskEntryInfo, type DiskScan } from './disk-tier.js';
import { dependencyChange, dependencyRecords, type Dependencies } from './dependencies.js';
import {
  CACHE_FORMAT_VERSION,
  CODEGEN_EPOCH,
  dependentKey,
  memoizedCacheKey,
  memoizedFamilyKey,
  type KeySpec,
} from './key.js';
import { matchingKeys, withCandidate, type Manifest } from './manifest.js';
import type { NearEntry } from './explain.js';
import { breakStaleLock, HOST, lockIsStale, readLock, releaseLock, tryCreateLock } from './lock.js';
import { CacheLog, errorCode, errorText, stderrLogger, type CacheLogger } from './logger.js';
import { MemoryTier, type CacheEntry } from './memory-tier.js';
import type { EntryMetadata } from './metadata.js';
import {
  resolveCacheDir,
  resolvePolicy,
  type CachePolicy,
  type CachePolicyInput,
  type EnvProblem,
} from './policy.js';
import { trustRule, type TrustRule } from './trust.js';
import { registerExitFlush, snapshot, StatsStore, unregisterExitFlush, type CacheStats } from './stats.js';
import type { CacheTier, EvictionReason, ExpectedIdentity, TierHooks, TierRecord } from './tier.js';
import { removePathAsync } from './safe-fs.js';

export type LookupTier = 'memory' | 'disk' | 'compiled' | 'shared' | (string & {});

export interface CacheLookup {
  key: string;
  entry: CacheEntry;
  /** Where the entry came from; `shared`: published by another process while this one waited on its lock. */
  tier: LookupTier;
  /**
   * True for a compile that was not cached anywhere (its headers could not all be tracked, or changed while it
   * compiled): use it for this call only, and look it up again next time.
   */
  transient?: boolean;
}

/** What a lookup of a spec would find now, and on a miss the nearest entries and what differs. */
export interface CacheExplanation {
  /** The spec's own key. */
  readonly key: string;
  /** Where a lookup would find it; undefined for a miss. */
  readonly found?: { readonly key: string; readonly tier: 'memory' | 'disk' };
  /** On a miss: the entries closest to the spec (same kernel names), fewest differences first. */
  readonly nearest: readonly NearEntry[];
}

/** What the caller adds to an entry's metadata. */
export interface CompileExtras {
  kernelNames?: string[];
  driverVersion?: string;
}

/** In-memory manifests kept per cache; a bound, not a tuning knob (each is a few hundred bytes). */
const MAX_RESIDENT_MANIFESTS = 4096;

export interface KernelCacheOptions {
  /** null = memory only; undefined = resolveCacheDir(env). */
  dir?: string | null;
  policy?: Partial<CachePolicyInput>;
  logger?: CacheLogger;
  /** Milliseconds; drives created/last-use times, expiry and touches (injectable for tests). */
  clock?: () => number;
  /** Environment to read CUOP_* from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Further tiers below the disk, in order (e.g. a remote tier shared by many machines). */
  tiers?: CacheTier[];
}

export interface MaintenanceReport {
  /** False when there is no disk tier, or (background runs) another process held the maintenance lock. */
  ran: boolean;
  removed: number;
  freedBytes: number;
  byReason: Partial<Record<EvictionReason, number>>;
  /** Entries and bytes left on disk afterwards. */
  entries: number;
  bytes: number;
}

export interface IntegrityProblem {
  key?: string;
  path: string;
  problem: string;
}

export interface IntegrityReport {
  ran: boolean;
  checked: number;
  ok: number;
  problems: IntegrityProblem[];
  repaired: number;
  /** Files with names cuop never generates: not cuop's, so never removed (listed so that someone looks). */
  foreign: string[];
}

const EMPTY_REPORT: MaintenanceReport = {
  ran: false,
  removed: 0,
  freedBytes: 0,
  byReason: {},
  entries: 0,
  bytes: 0,
};
const MAINT_STAMP = 'maintenance.stamp';
/** Stats files (one per cache object of a process) past which a flush folds the dead ones into the total. */
const MAX_STATS_FILES = 256;

/**
 * The kernel cache: memory → disk → further tiers → one compile per key (in-process promise, cross-process lock
 * file) → publish to every tier. Never fails the caller because of the cache.
 */
function copySignatures(
  sigs: Readonly<Record<string, readonly { kind: string; size: number; align: number; cType?: string }[]>>,
): EntryMetadata['signatures'] {
  const out: NonNullable<EntryMetadata['signatures']> = {};
  for (const [name, params] of Object.entries(sigs)) {
    out[name] = params.map((p) => ({
      kind: p.kind,
      size: p.size,
      align: p.align,
      ...(p.cType !== undefined ? { cType: p.cType } : {}),
    }));
  }
  return out;
}

export class KernelCache {
  readonly dir: string | null;
  readonly policy: CachePolicy;
  /** Whose files this cache trusts (policy.sharing). */
  readonly rule: TrustRule;
  private readonly log: CacheLog;
  private readonly clock: () => number;
  private readonly memory: MemoryTier;
  private readonly disk: DiskTier | undefined;
  /** Tiers below memory, in lookup order. */
  private readonly lower: CacheTier[];
  private readonly stats: StatsStore;
  private readonly inflight = new Map<string, Promise<CacheLookup>>();
  private readonly manifests = new Map<string, Manifest>();
  private readonly familyFirst = new WeakSet<KeySpec>();
  private readonly lastTouch = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private maintenanceRunning: Promise<unknown> | undefined;
  private closed = false;
  private readonly flushAtExit = (): void => this.flushStats(true);

  constructor(opts: KernelCacheOptions = {}) {
    const env = opts.env ?? process.env;
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
    const disabled = env.CUOP_CACHE_DISABLE === '1' || env.CUOP_CACHE_DISABLE === 'true';
    const wanted = disabled ? null : opts.dir === undefined ? resolveCacheDir(env) : opts.dir;
    const hooks = this.hooks();
    this.memory = new MemoryTier({
      maxBytes: this.policy.memoryMaxBytes,
      maxEntries: this.policy.memoryMaxEntries,
      hooks,
      // A key used since the last flush gets its disk touch now: the flush finds only resident entries.
      onEvict: (entry) => {
        const at = this.stats.usedSinceFlush.get(entry.key);
        if (at === undefined) return;
        this.stats.usedSinceFlush.delete(entry.key);
        this.touchDisk(entry.key, entry.meta, at, false);
      },
    });
    this.disk = wanted
      ? DiskTier.open(wanted, {
          rule: this.rule,
          codec: this.policy.compression,
          checksum: this.policy.checksum,
          now: this.clock,
          hooks,
          log: this.log,
        })
      : undefined;
    this.dir = this.disk ? this.disk.root : null;
    this.lower = [...(this.disk ? [this.disk] : []), ...(opts.tiers ?? [])];
    this.stats = new StatsStore(this.disk?.statsDir, this.rule);
    if (this.disk) {
      registerExitFlush(this.flushAtExit);
      const flush = setInterval(() => this.flushStats(), Math.max(100, this.policy.statsFlushMs));
      flush.unref();
      this.timers.push(flush);
      const every = this.policy.maintenanceIntervalMs;
      if (every > 0) {
        const first = setTimeout(() => void this.backgroundMaintenance(), Math.min(every, 10_000));
        first.unref();
        const periodic = setInterval(() => void this.backgroundMaintenance(), every);
        periodic.unref();
        this.timers.push(first, periodic);
      }
    }
    this.log.debug(`cache dir ${this.dir ?? '(memory only)'} policy ${JSON.stringify(this.policy)}`);
  }

  private hooks(): TierHooks {
    return {
      corrupt: (tier, key, reason, repaired) => {
        this.stats.counters.corruptFound++;
        if (repaired) this.stats.counters.corruptRepaired++;
        this.stats.markDirty();
        this.log.warnOnce(
          'corrupt',
          `corrupt ${tier} cache entry ${key} (${reason}); ${repaired ? 'removed' : 'could not remove it'}, recompiling.`,
        );
        this.log.debug(`repair ${key} ${tier}: ${reason}`);
      },
      bytesRead: (n) => {
        this.stats.counters.bytesRead += n;
      },
      bytesWritten: (n) => {
        this.stats.counters.bytesWritten += n;
      },
      eviction: (reason, key) => {
        this.stats.counters.evictions[reason]++;
        this.stats.markDirty();
        this.log.debug(`evict ${key} (${reason})`);
      },
    };
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
   * The one entry point: memory → disk → (single-flight) compile → publish. Never throws because of the cache; a
   * compile's own error (e.g. CompileError) is rethrown and never cached.
   */
  getOrCompile(
    spec: KeySpec,
    compile: () => Promise<CompileResult>,
    extra?: CompileExtras,
  ): Promise<CacheLookup> {
    const key = memoizedCacheKey(spec);
    const entry = this.memory.peek(key);
    if (entry !== undefined) {
      this.noteMemoryHit(entry);
      if (this.log.debugEnabled) this.log.debug(`hit memory ${key}`);
      return Promise.resolve({ key, entry, tier: 'memory' });
    }
    const pending = this.inflight.get(key);
    if (pending !== undefined) {
      this.stats.counters.coalesced++;
      return pending;
    }
    const p = this.lookupSlow(key, spec, compile, extra).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /**
   * Memory, then the disk, answered synchronously: never compiles, never waits, counts no miss (the caller falls
   * back to getOrCompile). A fresh process's first lookups are mostly first-execution cost of the code they run;
   * this path runs far less of it than the promise chain of getOrCompile.
   */
  lookupSync(spec: KeySpec): CacheLookup | undefined {
    const key = memoizedCacheKey(spec);
    const resident = this.memory.peek(key);
    if (resident !== undefined) {
      this.noteMemoryHit(resident);
      return { key, entry: resident, tier: 'memory' };
    }
    if (this.inflight.has(key)) return undefined;
    try {
      return this.findSync(spec, key);
    } catch {
      return undefined; // the async path retries and reports
    }
  }

  /**
   * The disk entry under the spec's own key, else an entry of its family that holds its names and whose headers
   * on disk are as they were compiled (memory first). Counts and publishes the hit; never compiles.
   */
  private findSync(spec: KeySpec, key: string): CacheLookup | undefined {
    const expect = this.expectOf(spec);
    if (this.familyFirst.has(spec)) {
      const viaFamily = this.findInFamily(spec, expect);
      if (viaFamily) return viaFamily;
    }
    if (this.disk) {
      const rec = this.disk.getSync(key, expect);
      if (rec) return this.diskHit(rec);
    }
    return this.findInFamily(spec, expect);
  }

  /** `as`: the tier the hit is counted for ('shared' when another process published it while this one waited). */
  private diskHit(rec: TierRecord, as: LookupTier = 'disk'): CacheLookup {
    const entry = this.hit(as, rec);
    // The LRU touch, synchronously: one utimes call (~3 µs warm) is cheaper than a timer or the process's first
    // async fs call (0.1-0.3 ms cold), and survives a kill right after the hit.
    this.touchDisk(rec.key, rec.meta, this.clock(), true);
    return { key: rec.key, entry, tier: as };
  }

  /** Through the family's manifest: the resident one first, then the one on disk (another process may have added). */
  private findInFamily(
    spec: KeySpec,
    expect: ExpectedIdentity,
    as: LookupTier = 'disk',
  ): CacheLookup | undefined {
    const family = memoizedFamilyKey(spec);
    const search = (m: Manifest): CacheLookup | undefined => {
      for (const k of matchingKeys(m, spec.nameExpressions)) {
        const resident = this.memory.peek(k);
        if (resident) {
          this.noteMemoryHit(resident);
          return { key: k, entry: resident, tier: 'memory' };
        }
        const rec = this.disk?.getSync(k, expect);
        if (rec) return this.diskHit(rec, as);
      }
      return undefined;
    };
    const known = this.manifests.get(family);
    let found = known && search(known);
    if (!found && this.disk) {
      const onDisk = this.disk.readManifest(family);
      if (onDisk) {
        this.rememberManifest(onDisk);
        found = search(onDisk);
      }
    }
    // Found through its family (headers on disk, a kernel of a module): look there first next time, before the
    // spec's own key, whose miss costs a failed open.
    if (found) this.familyFirst.add(spec);
    return found;
  }

  private rememberManifest(m: Manifest): void {
    this.manifests.delete(m.family);
    if (this.manifests.size >= MAX_RESIDENT_MANIFESTS) {
      const oldest = this.manifests.keys().next().value;
      if (oldest !== undefined) this.manifests.delete(oldest);
    }
    this.manifests.set(m.family, m);
  }

  /**
   * False when an entry was compiled from headers on disk that have changed since (or a path that had to stay
   * absent now exists): the caller must look the spec up again. A stat per file; true at once for the others.
   */
  isCurrent(entry: CacheEntry): boolean {
    const deps = entry.meta.dependencies;
    return deps === undefined || dependencyChange(deps) === undefined;
  }

  /**
   * Count a hit the caller answered from its own copy of a resident entry (the JIT's loaded-kernel map), so stats
   * see every lookup. In-memory increments only.
   */
  noteMemoryHit(entry: CacheEntry): void {
    const c = this.stats.counters;
    c.hits.memory++;
    c.savedCompileMs += entry.meta.compileMs;
    this.stats.use(entry.key, this.clock());
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
    await this.memory.delete(key);
    for (const t of this.lower) {
      try {
        await t.delete(key);
      } catch (e) {
        this.log.debug(`invalidate ${key} in ${t.name} failed: ${errorText(e)}`);
      }
    }
    this.stats.counters.corruptRepaired++;
  }

  private expectOf(spec: KeySpec): ExpectedIdentity {
    return { target: spec.target, compiler: spec.compiler, imageKind: spec.imageKind };
  }

  private hit(tier: string, rec: TierRecord): CacheEntry {
    const c = this.stats.counters;
    c.hits[tier] = (c.hits[tier] ?? 0) + 1;
    c.savedCompileMs += rec.meta.compileMs;
    this.stats.use(rec.key, this.clock());
    if (this.log.debugEnabled) this.log.debug(`hit ${tier} ${rec.key}`);
    return this.memory.insert(rec);
  }

  private async tierGet(
    tier: CacheTier,
    key: string,
    expect: ExpectedIdentity,
  ): Promise<TierRecord | undefined> {
    try {
      return await tier.get(key, expect);
    } catch (e) {
      this.log.warnOnce(
        `read-${tier.name}`,
        `reading the ${tier.name} cache tier failed (${errorText(e)}); treated as a miss.`,
      );
      return undefined;
    }
  }

  private async publish(tiers: CacheTier[], rec: TierRecord): Promise<void> {
    for (const t of tiers) {
      if (t === this.disk && rec.image.length > this.policy.maxDiskBytes) {
        // It would be evicted at once, after pushing out everything else.
        this.log.warnOnce(
          'over-budget',
          `kernel image ${rec.key} is ${rec.image.length} bytes, more than the disk cache's limit of ` +
            `${this.policy.maxDiskBytes} bytes (maxDiskBytes / CUOP_CACHE_MAX_SIZE); it is kept in memory only.`,
        );
        continue;
      }
      try {
        await t.put(rec);
        this.log.debug(`publish ${rec.key} to ${t.name}`);
      } catch (e) {
        this.stats.counters.writeFailures++;
        this.stats.markDirty();
        this.log.warnOnce(
          `write-${t.name}`,
          `cannot write to the ${t.name} cache${t === this.disk ? ` at ${this.dir}` : ''} ` +
            `(${errorCode(e)}: ${errorText(e)}); kernels stay cached in memory and are recompiled in new processes.`,
        );
      }
    }
  }

  private touchDisk(
    key: string,
    meta: Pick<EntryMetadata, 'imageKind' | 'codec'>,
    now: number,
    sync: boolean,
  ): void {
    if (!this.disk) return;
    const last = this.lastTouch.get(key);
    if (last !== undefined && now - last < this.policy.touchIntervalMs) return;
    if (this.disk.touch(key, meta, now, sync)) this.lastTouch.set(key, now);
  }

  private async lookupSlow(
    key: string,
    spec: KeySpec,
    compile: () => Promise<CompileResult>,
    extra: CompileExtras | undefined,
  ): Promise<CacheLookup> {
    const expect = this.expectOf(spec);
    if (this.familyFirst.has(spec)) {
      try {
        const viaFamily = this.findInFamily(spec, expect);
        if (viaFamily) return viaFamily;
      } catch (e) {
        this.log.debug(`family lookup for ${key} failed: ${errorText(e)}`);
      }
    }
    for (let i = 0; i < this.lower.length; i++) {
      const tier = this.lower[i]!;
      const rec = await this.tierGet(tier, key, expect);
      if (rec) {
        const entry = this.hit(tier.name, rec);
        if (tier === this.disk) this.touchDisk(key, rec.meta, this.clock(), true);
        if (i > 0) await this.publish(this.lower.slice(0, i), rec);
        return { key, entry, tier: tier.name };
      }
    }
    try {
      const viaFamily = this.findInFamily(spec, expect);
      if (viaFamily) return viaFamily;
    } catch (e) {
      this.log.debug(`family lookup for ${key} failed: ${errorText(e)}`);
    }
    if (this.log.debugEnabled) await this.logMissReason(spec, key);
    let lockPath: string | undefined;
    if (this.disk) {
      const r = await this.acquireOrWait(key, () => this.probePublished(spec, key, expect));
      if (r.found) return r.found;
      lockPath = r.lockPath;
    }
    try {
      this.stats.counters.misses++;
      this.stats.markDirty();
      this.log.debug(`compile ${key}`);
      const startedAt = Date.now();
      let result: CompileResult;
      try {
        result = await compile();
      } catch (e) {
        this.stats.counters.compileErrors++;
        this.log.debug(`compile failed ${key}: ${e instanceof Error ? e.name : 'error'} (not cached)`);
        throw e;
      }
      this.stats.counters.compiles++;
      this.stats.counters.compileMs += result.compileMs;
      return await this.store(key, spec, result, extra, startedAt);
    } finally {
      if (lockPath) releaseLock(lockPath, this.rule);
    }
  }

  /** A compile's result into every tier, under its key (or its dependent key when it read headers from disk). */
  private async store(
    key: string,
    spec: KeySpec,
    result: CompileResult,
    extra: CompileExtras | undefined,
    startedAt: number,
  ): Promise<CacheLookup> {
    const deps = result.dependencies;
    if (deps && (deps.untracked.length > 0 || !deps.stable)) {
      const why =
        deps.untracked.length > 0
          ? `cuop cannot tell every file it reads (${deps.untracked
              .slice(0, 3)
              .map((u) => `${u.file}:${u.line}: ${u.text}`)
              .join('; ')})`
          : 'a header it reads changed while it compiled';
      this.log.warnOnce(
        `transient-${key}`,
        `kernel ${spec.nameExpressions.join(', ')} is not cached: ${why}. It is compiled again at its next lookup.` +
          (deps.untracked.length > 0
            ? ' Include headers by name (not through a macro), pass them in `headers`, and spell options out ' +
              'instead of using an options file.'
            : ''),
      );
      const meta = this.buildMeta(key, spec, result, extra, undefined);
      return {
        key,
        entry: { key, image: result.image, meta, attached: new Map() },
        tier: 'compiled',
        transient: true,
      };
    }
    const onDisk =
      deps && (deps.files.length > 0 || deps.absent.length > 0 || deps.workingDirectory !== undefined);
    const dependencies: Dependencies | undefined = onDisk
      ? {
          files: dependencyRecords(deps.files, startedAt),
          absent: [...deps.absent],
          ...(deps.workingDirectory !== undefined ? { cwd: deps.workingDirectory } : {}),
        }
      : undefined;
    const entryKey =
      dependencies && deps ? dependentKey(key, deps.files, deps.absent, deps.workingDirectory) : key;
    const rec: TierRecord = {
      key: entryKey,
      image: result.image,
      meta: this.buildMeta(entryKey, spec, result, extra, dependencies),
    };
    const entry = this.memory.insert(rec);
    this.lastTouch.set(entryKey, rec.meta.createdAt);
    this.stats.use(entryKey, rec.meta.createdAt);
    await this.publish(this.lower, rec);
    // Found through the family: a kernel of a module compiled with more names, an entry that read files from disk.
    if (dependencies || spec.nameExpressions.length > 1) {
      await this.addToManifest(rec.meta.familyKey, {
        key: entryKey,
        names: [...spec.nameExpressions],
        ...(dependencies ? { dependencies } : {}),
        createdAt: rec.meta.createdAt,
      });
    }
    if (entryKey !== key) this.familyFirst.add(spec);
    return { key: entryKey, entry, tier: 'compiled' };
  }

  private async addToManifest(family: string, candidate: Manifest['candidates'][number]): Promise<void> {
    const base = this.disk?.readManifest(family) ?? this.manifests.get(family);
    const next = withCandidate(base, family, candidate);
    this.rememberManifest(next);
    if (!this.disk) return;
    try {
      await this.disk.writeManifest(next);
    } catch (e) {
      this.stats.counters.writeFailures++;
      this.stats.markDirty();
      this.log.warnOnce(
        'write-manifest',
        `cannot write a manifest to the disk cache at ${this.dir} (${errorCode(e)}: ${errorText(e)}); ` +
          `kernels of modules and of headers on disk are recompiled in new processes.`,
      );
    }
  }

  /** What another process may have published for the spec meanwhile: its own key, or through the family. */
  private probePublished(spec: KeySpec, key: string, expect: ExpectedIdentity): CacheLookup | undefined {
    const disk = this.disk as DiskTier;
    if (disk.committed(key)) {
      const rec = disk.getSync(key, expect);
      if (rec) return this.diskHit(rec, 'shared');
    }
    return this.findInFamily(spec, expect, 'shared');
  }

  private buildMeta(
    key: string,
    spec: KeySpec,
    r: CompileResult,
    extra: CompileExtras | undefined,
    dependencies: Dependencies | undefined,
  ): EntryMetadata {
    const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
    const headers: Record<string, string> = {};
    for (const [n, c] of Object.entries(spec.headers ?? {})) headers[n] = sha(c);
    return {
      formatVersion: CACHE_FORMAT_VERSION,
      key,
      familyKey: memoizedFamilyKey(spec),
      epoch: CODEGEN_EPOCH,
      saltSha256: spec.salt ? sha(spec.salt) : '',
      kernelNames: [...new Set([...spec.nameExpressions, ...(extra?.kernelNames ?? [])])],
      loweredNames: { ...r.loweredNames },
      sourceSha256: sha(spec.source),
      ...(this.policy.saveSource ? { source: spec.source } : {}),
      headers,
      options: [...spec.options],
      compiler: { id: spec.compiler.id, version: spec.compiler.version },
      target: spec.target,
      requestedImageKind: spec.imageKind,
      imageKind: r.imageKind,
      imageTarget: r.target,
      codec: 'none',
      rawBytes: r.image.length,
      storedBytes: r.image.length,
      checksum: { algorithm: 'sha256', value: sha(r.image) },
      createdAt: this.clock(),
      compileMs: r.compileMs,
      driverVersion: extra?.driverVersion ?? null,
      host: HOST,
      log: r.log,
      ...(dependencies ? { dependencies } : {}),
      ...(r.signatures ? { signatures: copySignatures(r.signatures) } : {}),
    };
  }

  /**
   * Cross-process single flight. Returns the lock (this process compiles), or the record another process published
   * while we waited, or neither (locking impossible, or the bounded wait ran out: compile anyway).
   */
  private async acquireOrWait(
    key: string,
    probe: () => CacheLookup | undefined,
  ): Promise<{ lockPath?: string; found?: CacheLookup }> {
    const disk = this.disk!;
    const path = disk.lockPath(key);
    const deadline = Date.now() + this.policy.lockWaitMs;
    let delay = 2;
    let waited = false;
    for (;;) {
      let mine: boolean;
      try {
        mine = tryCreateLock(path, Date.now(), this.rule);
      } catch (e) {
        this.log.debug(`no lock for ${key} (${errorCode(e)}); compiling without one`);
        return {};
      }
      if (mine) {
        // Someone may have published between our miss and our lock.
        const found = probe();
        if (found) {
          releaseLock(path, this.rule);
          return { found };
        }
        return { lockPath: path };
      }
      const found = probe();
      if (found) return { found };
      const info = readLock(path, this.rule);
      let mtime: number | undefined;
      try {
        mtime = fs.lstatSync(path).mtimeMs;
      } catch {
        continue; // released just now: try again at once
      }
      if (lockIsStale(info, Date.now(), this.policy.lockWaitMs, mtime)) {
        this.stats.counters.lockTakeovers++;
        this.log.debug(
          `stale lock ${key} (owner ${info ? `${info.host}:${info.pid}` : 'unknown'}) taken over`,
        );
        breakStaleLock(path, info, this.rule);
        continue;
      }
      if (Date.now() >= deadline) {
        this.log.warnOnce(
          'lock-timeout',
          `waited ${this.policy.lockWaitMs} ms for another process compiling ${key}; compiling here too.`,
        );
        return {};
      }
      if (!waited) {
        waited = true;
        this.stats.counters.lockWaits++;
        this.log.debug(`wait ${key} (compiling in ${info ? `${info.host}:${info.pid}` : 'another process'})`);
      }
      await sleep(delay);
      delay = Math.min(delay * 1.5, 50);
    }
  }

  /**
   * What a lookup of `spec` would find, without counting or loading anything; on a miss, which entries come closest
   * and which key inputs differ (header edited, option changed, compiler, arch, ...). Reads every entry's metadata:
   * a diagnostic, not for hot paths.
   */
  async explain(spec: KeySpec): Promise<CacheExplanation> {
    const key = memoizedCacheKey(spec);
    const found = this.whereIs(spec, key);
    if (found) return { key, found, nearest: [] };
    const metas = new Map<string, EntryMetadata>();
    for await (const k of this.memory.keys()) {
      const e = this.memory.entryOf(k);
      if (e) metas.set(k, e.meta);
    }
    if (this.disk) {
      for (const e of (await this.disk.scan()).entries.values()) if (e.meta) metas.set(e.key, e.meta);
    }
    // Loaded on first use: hits never need it.
    const { nearestEntries } = await import('./explain.js');
    return { key, nearest: nearestEntries(spec, metas.values()) };
  }

  private whereIs(spec: KeySpec, key: string): CacheExplanation['found'] {
    const at = (k: string): CacheExplanation['found'] =>
      this.memory.entryOf(k)
        ? { key: k, tier: 'memory' }
        : this.disk?.committed(k) && this.disk.verify(k) === undefined
          ? { key: k, tier: 'disk' }
          : undefined;
    const direct = at(key);
    if (direct) return direct;
    const family = memoizedFamilyKey(spec);
    const manifest = this.disk?.readManifest(family) ?? this.manifests.get(family);
    for (const k of manifest ? matchingKeys(manifest, spec.nameExpressions) : []) {
      const f = at(k);
      if (f) return f;
    }
    return undefined;
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

  /** Counters of this object and the persisted totals of every process using the directory. */
  getStats(): CacheStats {
    const all = this.stats.readAll();
    return {
      process: snapshot(this.stats.counters),
      all: snapshot(all.counters),
      processFiles: all.files,
      cachedKernels: { memory: this.memory.size, disk: this.disk?.countEntries() ?? 0 },
    };
  }

  /** Persists the stats and the LRU touches of keys hit since the last flush (synchronously at close and exit). */
  private flushStats(sync = false): void {
    if (this.disk && this.stats.usedSinceFlush.size > 0) {
      for (const [key, at] of this.stats.usedSinceFlush) {
        // Entries evicted from memory were touched at eviction; deleted ones need none.
        const e = this.memory.entryOf(key);
        if (e) this.touchDisk(key, e.meta, at, sync);
      }
      this.stats.usedSinceFlush.clear();
    }
    this.stats.flush();
    this.compactStatsIfCrowded();
  }

  /**
   * Short-lived processes each leave a stats file until maintenance folds them into the total, which may not run for
   * an hour: past MAX_STATS_FILES, the flush folds those of dead processes at once (under the maintenance lock;
   * skipped if another process holds it).
   */
  private compactStatsIfCrowded(): void {
    const disk = this.disk;
    if (!disk || this.stats.fileCount() <= MAX_STATS_FILES) return;
    const path = join(disk.locksDir, 'maintenance.lock');
    try {
      if (!tryCreateLock(path, Date.now(), this.rule)) return;
    } catch {
      return;
    }
    try {
      this.stats.compact();
    } finally {
      releaseLock(path, this.rule);
    }
  }

  // ---------------------------------------------------------------- maintenance

  private async withMaintenanceLock<T>(
    wait: boolean,
    fn: (disk: DiskTier) => Promise<T>,
  ): Promise<T | undefined> {
    const disk = this.disk;
    if (!disk) return undefined;
    const path = join(disk.locksDir, 'maintenance.lock');
    const deadline = Date.now() + this.policy.lockWaitMs;
    for (;;) {
      let mine: boolean;
      try {
        mine = tryCreateLock(path, Date.now(), this.rule);
      } catch {
        return undefined;
      }
      if (mine) break;
      const info = readLock(path, this.rule);
      let mtime: number | undefined;
      try {
        mtime = fs.lstatSync(path).mtimeMs;
      } catch {
        continue;
      }
      if (lockIsStale(info, Date.now(), 3_600_000, mtime)) {
        breakStaleLock(path, info, this.rule);
        continue;
      }
      if (!wait || Date.now() >= deadline) return undefined;
      await sleep(20);
    }
    try {
      this.flushStats(true); // the pass must see this process's LRU touches
      return await fn(disk);
    } finally {
      releaseLock(path, this.rule);
    }
  }

  private async removeEntry(
    disk: DiskTier,
    e: DiskEntryInfo,
    reason: EvictionReason,
    rep: MaintenanceReport,
  ): Promise<void> {
    let gone = true;
    for (const p of [e.metaPath, ...e.kernelPaths]) gone = (await removePathAsync(p)) && gone;
    if (!gone) {
      this.log.debug(`could not remove ${e.key} from disk (${reason})`);
      return;
    }
    rep.removed++;
    rep.freedBytes += e.bytes;
    rep.byReason[reason] = (rep.byReason[reason] ?? 0) + 1;
    this.stats.counters.evictions[reason]++;
    this.stats.markDirty();
    this.log.debug(`evict ${e.key} from disk (${reason})`);
  }

  private finish(rep: MaintenanceReport, scan: DiskScan): MaintenanceReport {
    let bytes = 0;
    for (const e of scan.entries.values()) bytes += e.bytes;
    return { ...rep, ran: true, entries: scan.entries.size, bytes };
  }

  private async expireIn(disk: DiskTier, scan: DiskScan, rep: MaintenanceReport): Promise<void> {
    const now = this.clock();
    for (const e of [...scan.entries.values()]) {
      if (now - e.lastUseMs > this.policy.maxAgeMs) {
        await this.removeEntry(disk, e, 'expired', rep);
        scan.entries.delete(e.key);
      }
    }
  }

  /** Eviction score (lowest goes first): lastUseMs + frequencyWeightMs · log2(1 + uses). */
  private score(e: DiskEntryInfo, uses: ReadonlyMap<string, number>): number {
    return e.lastUseMs + this.policy.frequencyWeightMs * Math.log2(1 + (uses.get(e.key) ?? 0));
  }

  private async shrinkIn(
    disk: DiskTier,
    scan: DiskScan,
    rep: MaintenanceReport,
    maxBytes: number,
    maxEntries: number,
  ): Promise<void> {
    let bytes = 0;
    for (const e of scan.entries.values()) bytes += e.bytes;
    if (bytes <= maxBytes && scan.entries.size <= maxEntries) return;
    const uses = this.stats.readAll().keyUses;
    const order = [...scan.entries.values()].sort((a, b) => this.score(a, uses) - this.score(b, uses));
    for (const e of order) {
      if (bytes <= maxBytes && scan.entries.size <= maxEntries) break;
      const reason: EvictionReason = bytes > maxBytes ? 'size' : 'count';
      await this.removeEntry(disk, e, reason, rep);
      scan.entries.delete(e.key);
      bytes -= e.bytes;
    }
  }

  /** Orphans, leftovers of killed writers, broken or stale entries. */
  private async sweepIn(
    disk: DiskTier,
    scan: DiskScan,
    rep: MaintenanceReport,
    staleCompiler?: { id: string; version: string },
  ): Promise<void> {
    const now = this.clock();
    const grace = this.policy.orphanGraceMs;
    const count = (reason: EvictionReason, bytes: number) => {
      rep.removed++;
      rep.freedBytes += bytes;
      rep.byReason[reason] = (rep.byReason[reason] ?? 0) + 1;
      this.stats.counters.evictions[reason]++;
      this.stats.markDirty();
    };
    for (const t of scan.temps) {
      if (now - t.mtimeMs > grace) {
        await removePathAsync(t.path);
        count('orphan', 0);
        this.log.debug(`sweep temp ${t.path}`);
      }
    }
    for (const k of scan.orphanKernels) {
      if (now - k.mtimeMs > grace) {
        await removePathAsync(k.path);
        count('orphan', k.bytes);
        this.log.debug(`sweep orphan kernel ${k.path}`);
      }
    }
    // Something squatting a path cuop generates goes; files of names cuop never generates are not cuop's: kept.
    for (const p of scan.squatters) {
      if (await removePathAsync(p)) count('orphan', 0);
      this.log.debug(`remove ${p}: not what cuop keeps at that path`);
    }
    if (scan.strays.length > 0) this.log.debug(`left alone (not cuop's): ${scan.strays.join(', ')}`);
    for (const e of [...scan.entries.values()]) {
      let reason: EvictionReason | undefined;
      if (e.formatVersion !== undefined && e.formatVersion !== CACHE_FORMAT_VERSION) reason = 'stale';
      else if (!e.meta)
        reason = 'orphan'; // unreadable metadata
      else if (!e.kernelPath)
        reason = 'orphan'; // metadata whose kernel is gone
      else if (
        staleCompiler &&
        e.meta.compiler.id === staleCompiler.id &&
        e.meta.compiler.version !== staleCompiler.version
      ) {
        reason = 'stale';
      }
      if (reason) {
        await this.removeEntry(disk, e, reason, rep);
        scan.entries.delete(e.key);
        continue;
      }
      // kernel files of another codec next to the live one
      for (const p of e.kernelPaths) {
        if (p !== e.kernelPath) await removePathAsync(p);
      }
    }
    await this.sweepManifests(disk, scan);
    for (const l of scan.locks) {
      if (l.endsWith('maintenance.lock')) continue;
      const info = readLock(l, this.rule);
      let mtime: number | undefined;
      try {
        mtime = (await fs.promises.lstat(l)).mtimeMs;
      } catch {
        continue;
      }
      if (l.endsWith('.tmp')) {
        // A lock being created (see tryCreateLock); left behind only by a writer killed in those microseconds.
        if (this.clock() - mtime > this.policy.orphanGraceMs) await removePathAsync(l);
        continue;
      }
      if (lockIsStale(info, Date.now(), Math.max(this.policy.lockWaitMs, 1), mtime)) {
        breakStaleLock(l, info, this.rule); // the same guarded removal as a waiter's takeover
      }
    }
  }

  /** Manifests keep only candidates whose entries still exist; one with none left is removed. */
  private async sweepManifests(disk: DiskTier, scan: DiskScan): Promise<void> {
    for (const { family, path } of scan.manifests) {
      const m = disk.readManifest(family);
      if (!m) {
        await removePathAsync(path);
        continue;
      }
      const live = m.candidates.filter((c) => scan.entries.has(c.key));
      if (live.length === m.candidates.length) continue;
      this.manifests.delete(family);
      if (live.length === 0) await removePathAsync(path);
      else await disk.writeManifest({ ...m, candidates: live }).catch(() => {});
    }
  }

  /** Removes entries unused for longer than policy.maxAgeMs. */
  async cleanupExpiredCache(): Promise<MaintenanceReport> {
    const r = await this.withMaintenanceLock(true, async (disk) => {
      const scan = await disk.scan();
      const rep = { ...EMPTY_REPORT, byReason: {} };
      await this.expireIn(disk, scan, rep);
      return this.finish(rep, scan);
    });
    return r ?? { ...EMPTY_REPORT };
  }

  /** Expired entries first, then the least valuable until the disk tier is at most targetBytes (and maxEntries). */
  async cleanupBySize(targetBytes: number): Promise<MaintenanceReport> {
    const r = await this.withMaintenanceLock(true, async (disk) => {
      const scan = await disk.scan();
      const rep = { ...EMPTY_REPORT, byReason: {} };
      await this.expireIn(disk, scan, rep);
      await this.shrinkIn(disk, scan, rep, targetBytes, this.policy.maxEntries);
      return this.finish(rep, scan);
    });
    return r ?? { ...EMPTY_REPORT };
  }

  /**
   * Reclaims what can never be hit again: entries of other cache format versions, entries of `compiler` with
   * another version (a toolkit upgrade), kernels without metadata and temp files older than the grace period,
   * unreadable metadata, stale locks.
   */
  async pruneStale(opts: { compiler?: { id: string; version: string } } = {}): Promise<MaintenanceReport> {
    const r = await this.withMaintenanceLock(true, async (disk) => {
      const scan = await disk.scan();
      const rep = { ...EMPTY_REPORT, byReason: {} };
      await this.sweepIn(disk, scan, rep, opts.compiler);
      return this.finish(rep, scan);
    });
    return r ?? { ...EMPTY_REPORT };
  }

  /** Verifies every entry (schema, identity, size, SHA-256); with repair, removes what is broken. */
  async validateCacheIntegrity(opts: { repair?: boolean } = {}): Promise<IntegrityReport> {
    const r = await this.withMaintenanceLock(true, async (disk) => {
      const scan = await disk.scan();
      const problems: IntegrityProblem[] = [];
      let ok = 0;
      for (const e of scan.entries.values()) {
        const why = disk.verify(e.key);
        if (why === undefined) ok++;
        else problems.push({ key: e.key, path: e.metaPath, problem: why });
        await Promise.resolve();
      }
      const now = this.clock();
      for (const k of scan.orphanKernels) {
        if (now - k.mtimeMs > this.policy.orphanGraceMs) {
          problems.push({ path: k.path, problem: 'kernel without metadata' });
        }
      }
      for (const t of scan.temps) {
        if (now - t.mtimeMs > this.policy.orphanGraceMs)
          problems.push({ path: t.path, problem: 'stale temp file' });
      }
      for (const p of scan.squatters)
        problems.push({ path: p, problem: 'not a regular file where cuop keeps one' });
      let repaired = 0;
      if (opts.repair) {
        for (const p of problems) {
          if (p.key) {
            const e = scan.entries.get(p.key);
            let removed = true;
            if (e) {
              for (const f of [e.metaPath, ...e.kernelPaths]) removed = (await removePathAsync(f)) && removed;
            }
            this.stats.counters.corruptFound++;
            if (removed) this.stats.counters.corruptRepaired++;
            if (removed) repaired++;
          } else if (await removePathAsync(p.path)) {
            repaired++;
          }
        }
        this.stats.markDirty();
      }
      return { ran: true, checked: scan.entries.size, ok, problems, repaired, foreign: scan.strays };
    });
    return r ?? { ran: false, checked: 0, ok: 0, problems: [], repaired: 0, foreign: [] };
  }

  /** Everything: memory tier, disk entries, lower tiers. Stats are kept. */
  /** Removes every entry from every tier (the stats history stays). False when a tier could not be cleared (warned). */
  async clear(): Promise<boolean> {
    await this.memory.clear();
    let ok = true;
    for (const t of this.lower) {
      try {
        await t.clear();
      } catch (e) {
        ok = false;
        this.log.warnOnce(`clear-${t.name}`, `clearing the ${t.name} cache failed: ${errorText(e)}`);
      }
    }
    this.lastTouch.clear();
    return ok;
  }

  /** One background pass (expired, over-size, orphans, stats compaction); skipped if another process runs one. */
  async runMaintenance(opts: { wait?: boolean } = {}): Promise<MaintenanceReport> {
    const r = await this.withMaintenanceLock(opts.wait ?? true, async (disk) => {
      const scan = await disk.scan();
      const rep = { ...EMPTY_REPORT, byReason: {} };
      await this.sweepIn(disk, scan, rep);
      await this.expireIn(disk, scan, rep);
      await this.shrinkIn(disk, scan, rep, this.policy.maxDiskBytes, this.policy.maxEntries);
      this.stats.compact(new Set(scan.entries.keys()));
      try {
        disk.writeRootFile(MAINT_STAMP, `${this.clock()}\n`);
      } catch {
        // read-only dir: the next process runs maintenance again, no harm
      }
      return this.finish(rep, scan);
    });
    return r ?? { ...EMPTY_REPORT };
  }

  private async backgroundMaintenance(): Promise<void> {
    if (this.closed || this.maintenanceRunning || !this.disk) return;
    try {
      const st = await fs.promises.lstat(join(this.disk.root, MAINT_STAMP));
      if (Date.now() - st.mtimeMs < this.policy.maintenanceIntervalMs) return;
    } catch {
      // never ran
    }
    this.maintenanceRunning = this.runMaintenance({ wait: false })
      .then((rep) => {
        if (rep.ran) this.log.debug(`maintenance: removed ${rep.removed} (${JSON.stringify(rep.byReason)})`);
      })
      .catch((e: unknown) => this.log.debug(`maintenance failed: ${errorText(e)}`))
      .finally(() => (this.maintenanceRunning = undefined));
    await this.maintenanceRunning;
  }

  /** Stops the timers, waits for a running maintenance pass, flushes the stats. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    if (this.maintenanceRunning) await this.maintenanceRunning;
    await Promise.allSettled([...this.inflight.values()]);
    this.flushStats(true);
    unregisterExitFlush(this.flushAtExit);
    for (const t of this.lower) if (t.close && t !== this.disk) await t.close().catch(() => {});
  }
}
