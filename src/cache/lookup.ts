// The lookup: memory, then each tier below it in order, then the spec's family (kernels of modules, entries of
// headers on disk). Every record from below memory is verified before use and copied up into the writable tiers
// above the one that had it; a compile is published to every writable tier.
import { dependencyChange, type Dependencies } from './dependencies.js';
import { markHotPathRan } from './hot-path.js';
import {
  cacheKey,
  dependentKey,
  memoizedCacheKey,
  memoizedFamilyKey,
  sameStrings,
  type KeySpec,
} from './key.js';
import { errorCode, errorText, writeFailureKind, type CacheLog } from './logger.js';
import {
  matchingCandidates,
  withCandidate,
  withoutCandidate,
  type Manifest,
  type ManifestCandidate,
} from './manifest.js';
import type { CacheEntry, MemoryTier } from './memory-tier.js';
import type { EntryMetadata } from './metadata.js';
import type { StatsStore } from './stats.js';
import type { CacheTier, ExpectedIdentity, TierHooks, TierRecord } from './tier.js';
import {
  publishChannel,
  repairChannel,
  traceClock,
  tracePublishMessage,
  traceRepairMessage,
  type CachePublishMessage,
} from './trace.js';
import { recordProblem } from './verify.js';

/** Where a lookup found its entry (or `compiled`: nowhere, so it was compiled); other names are custom tiers. */
export type LookupTier = 'memory' | 'disk' | 'compiled' | 'shared' | (string & {});

/** The answer of a lookup: the key, the entry, and where it came from. */
export interface CacheLookup {
  key: string;
  entry: CacheEntry;
  /** Where the entry came from; `shared`: published by another process while this one waited on its lease. */
  tier: LookupTier;
  /**
   * True for a compile that was not cached anywhere (its headers could not all be tracked, or changed while it
   * compiled): use it for this call only, and look it up again next time.
   */
  transient?: boolean;
}

/** In-memory manifests kept per cache; a bound, not a tuning knob (each is a few hundred bytes). */
const MAX_RESIDENT_MANIFESTS = 4096;

export interface LookupOptions {
  memory: MemoryTier;
  /** Below memory, in lookup order. */
  tiers: readonly CacheTier[];
  stats: StatsStore;
  hooks: TierHooks;
  log: CacheLog;
  clock: () => number;
  /** SHA-256 every record from below memory (policy.checksum); sizes and identity are always checked. */
  checksum: boolean;
  /** A key's LRU touch is skipped when it was touched this recently. */
  touchIntervalMs: number;
}

export const expectOf = (spec: KeySpec): ExpectedIdentity => ({
  target: spec.target,
  compiler: spec.compiler,
  imageKind: spec.imageKind,
});

export class LookupPipeline {
  readonly memory: MemoryTier;
  readonly tiers: readonly CacheTier[];
  private readonly o: LookupOptions;
  private readonly manifests = new Map<string, Manifest>();
  /** Specs last found through their family: looked up there first (their own key's miss costs a failed open). */
  private readonly familyFirst = new WeakSet<KeySpec>();
  private readonly lastTouch = new Map<string, number>();
  /** `family:key` of manifest candidates that disagreed with their entries: never answered, never written back. */
  private readonly lies = new Set<string>();
  /** The leading tiers that answer synchronously (the lean path walks only these). */
  private readonly syncTiers: readonly CacheTier[];

  constructor(opts: LookupOptions) {
    this.o = opts;
    this.memory = opts.memory;
    this.tiers = opts.tiers;
    const leading: CacheTier[] = [];
    for (const t of opts.tiers) {
      if (!t.getSync) break;
      leading.push(t);
    }
    this.syncTiers = leading;
  }

  /** Counts a memory hit (also one the caller answered from its own copy of a resident entry). */
  noteMemoryHit(entry: CacheEntry): void {
    const c = this.o.stats.counters;
    c.hits.memory++;
    c.savedCompileMs += entry.meta.compileMs;
    this.o.stats.use(entry.key, this.o.clock());
  }

  /**
   * The lean path after a memory miss (the caller looked there): the synchronous tiers, then the family; never
   * waits. A record that fails verification is removed at once where the tier can do that synchronously.
   */
  findSync(spec: KeySpec, key: string): CacheLookup | undefined {
    const expect = expectOf(spec);
    if (this.familyFirst.has(spec)) {
      const viaFamily = this.findInFamily(spec, expect, 'sync');
      if (viaFamily) return viaFamily;
    }
    for (const tier of this.syncTiers) {
      const rec = this.verifiedGetSync(tier, key, expect);
      if (rec) return this.hit(tier, rec, tier.name);
    }
    return this.findInFamily(spec, expect, 'sync');
  }

  /** Memory, every tier in order (async), then the family. Faults of a tier are misses, reported once. */
  async find(spec: KeySpec, key: string): Promise<CacheLookup | undefined> {
    const expect = expectOf(spec);
    if (this.familyFirst.has(spec)) {
      const viaFamily = this.findInFamily(spec, expect, 'sync');
      if (viaFamily) return viaFamily;
    }
    for (let i = 0; i < this.tiers.length; i++) {
      const tier = this.tiers[i]!;
      const rec = await this.verifiedGet(tier, key, expect);
      if (rec) {
        const found = this.hit(tier, rec, tier.name);
        if (i > 0) await this.publish(rec, this.tiers.slice(0, i), 'copy-up');
        return found;
      }
    }
    return this.findInFamily(spec, expect, 'sync');
  }

  /** What another process may have published for the spec while this one waited: its own key, or its family. */
  probePublished(spec: KeySpec, key: string): CacheLookup | undefined {
    const expect = expectOf(spec);
    for (const tier of this.syncTiers) {
      const rec = this.verifiedGetSync(tier, key, expect);
      if (rec) return this.hit(tier, rec, 'shared');
    }
    return this.findInFamily(spec, expect, 'shared');
  }

  /**
   * The tiers after the synchronous ones (the remote tier), for what another host published while this one waited:
   * verified, copied up, counted as `shared`.
   */
  async probeAsyncTiers(spec: KeySpec, key: string): Promise<CacheLookup | undefined> {
    const expect = expectOf(spec);
    for (let i = this.syncTiers.length; i < this.tiers.length; i++) {
      const tier = this.tiers[i]!;
      const rec = await this.verifiedGet(tier, key, expect, true);
      if (rec) {
        const found = this.hit(tier, rec, 'shared');
        await this.publish(rec, this.tiers.slice(0, i), 'copy-up');
        return found;
      }
    }
    return undefined;
  }

  /** verifiedGet, synchronously (the tier has getSync); a fault is a miss the async path reports. */
  private verifiedGetSync(tier: CacheTier, key: string, expect: ExpectedIdentity): TierRecord | undefined {
    const rec = tier.getSync!(key, expect);
    if (rec === undefined) return undefined;
    const problem = recordProblem(rec, key, expect, this.o.checksum);
    if (problem === undefined) return rec;
    if (tier.deleteSync && !tier.capabilities.readOnly) {
      const t0 = repairChannel.hasSubscribers ? traceClock() : 0;
      const repaired = tier.deleteSync(key);
      this.o.hooks.corrupt(tier.name, key, problem, repaired);
      if (t0 !== 0) traceRepair(tier.name, key, problem, repaired, t0);
    }
    return undefined;
  }

  /** A record from `tier`, verified; a bad one is counted, removed from the tier and returned as a miss. */
  private async verifiedGet(
    tier: CacheTier,
    key: string,
    expect: ExpectedIdentity | undefined,
    recheck = false,
  ): Promise<TierRecord | undefined> {
    let rec: TierRecord | undefined;
    try {
      rec = await tier.get(key, expect, recheck);
    } catch (e) {
      this.o.log.warnOnce(
        `read-${tier.name}`,
        `reading the ${tier.name} cache tier failed (${errorText(e)}); treated as a miss.`,
      );
      return undefined;
    }
    if (rec === undefined) return undefined;
    const problem = recordProblem(rec, key, expect, this.o.checksum);
    if (problem === undefined) return rec;
    let repaired = false;
    const t0 = repairChannel.hasSubscribers ? traceClock() : 0;
    if (!tier.capabilities.readOnly) {
      try {
        repaired = await tier.delete(key);
      } catch {
        repaired = false;
      }
    }
    this.o.hooks.corrupt(tier.name, key, problem, repaired);
    if (t0 !== 0) traceRepair(tier.name, key, problem, repaired, t0);
    return undefined;
  }

  /** A verified record from `tier`: into memory, counted under `as`, its LRU touched. */
  private hit(tier: CacheTier, rec: TierRecord, as: LookupTier): CacheLookup {
    markHotPathRan();
    const c = this.o.stats.counters;
    c.hits[as] = (c.hits[as] ?? 0) + 1;
    c.savedCompileMs += rec.meta.compileMs;
    const now = this.o.clock();
    this.o.stats.use(rec.key, now);
    if (this.o.log.debugEnabled) this.o.log.debug(`hit ${as} ${rec.key}`);
    const entry = this.memory.insert(rec);
    // The LRU touch, synchronously: one utimes call (~3 µs warm) is cheaper than a timer or the process's first
    // async fs call (0.1-0.3 ms cold), and survives a kill right after the hit. None when the tier saw a use
    // within the touch interval (another process's touch, or the publish): that use is the last touch.
    const seen = rec.usedAt;
    if (seen !== undefined && now >= seen && now - seen < this.o.touchIntervalMs) {
      const last = this.lastTouch.get(rec.key);
      if (last === undefined || last < seen) this.lastTouch.set(rec.key, seen);
    } else if (tier.touch) this.touchIn(tier, rec.key, rec.meta, now, true);
    return { key: rec.key, entry, tier: as };
  }

  /** Through the family's manifest: the resident one first, then each tier's (another process may have added). */
  private findInFamily(
    spec: KeySpec,
    expect: ExpectedIdentity,
    as: 'sync' | 'shared',
  ): CacheLookup | undefined {
    try {
      const family = memoizedFamilyKey(spec);
      const search = (m: Manifest, from: string): CacheLookup | undefined => {
        for (const c of matchingCandidates(m, spec.nameExpressions)) {
          const k = c.key;
          const resident = this.memory.peek(k);
          if (resident) {
            const drop = (): boolean => (void this.memory.delete(k), true);
            if (this.rejectCandidate(spec, family, c, resident.meta, from, 'memory', drop)) continue;
            this.noteMemoryHit(resident);
            return { key: k, entry: resident, tier: 'memory' };
          }
          for (const tier of this.syncTiers) {
            const rec = this.verifiedGetSync(tier, k, expect);
            if (rec === undefined) continue;
            const drop = (): boolean => !tier.capabilities.readOnly && (tier.deleteSync?.(k) ?? false);
            if (this.rejectCandidate(spec, family, c, rec.meta, from, tier.name, drop)) break;
            return this.hit(tier, rec, as === 'shared' ? 'shared' : tier.name);
          }
        }
        return undefined;
      };
      const known = this.manifests.get(family);
      let found = known && search(known, 'memory');
      for (const tier of this.syncTiers) {
        if (found || !tier.readManifestSync) continue;
        const stored = tier.readManifestSync(family);
        if (stored) {
          const honest = this.withoutLies(stored);
          this.rememberManifest(honest);
          found = search(honest, tier.name);
        }
      }
      // Found through its family (headers on disk, a kernel of a module): look there first next time.
      if (found) this.familyFirst.add(spec);
      return found;
    } catch (e) {
      this.o.log.debug(`family lookup failed: ${errorText(e)}`);
      return undefined;
    }
  }

  /**
   * A manifest only points at a key: the entry there must be the one its key says, for this family, these names and
   * files on disk that hold now, as its own metadata (whose dependencies are in its key) says. True when it must not
   * answer the spec. A candidate that disagrees with a sound entry is a lie: counted as corrupt, never answered and
   * left out of the family's manifest from now on. An entry whose metadata does not describe its key is corrupt:
   * removed (`drop`).
   */
  private rejectCandidate(
    spec: KeySpec,
    family: string,
    c: ManifestCandidate,
    meta: EntryMetadata,
    /** Where the manifest came from, and where the entry. */
    from: string,
    entryTier: string,
    drop: () => boolean,
  ): boolean {
    const own = sameStrings(c.names, spec.nameExpressions)
      ? memoizedCacheKey(spec)
      : cacheKey({ ...spec, nameExpressions: c.names });
    const keyOf = (d: Dependencies | undefined): string =>
      d ? dependentKey(own, d.files, d.absent, d.cwd) : own;
    const deps = meta.dependencies;
    if (keyOf(deps) === c.key) {
      if (meta.familyKey === family) {
        if (deps === undefined || dependencyChange(deps) === undefined) return false;
        // The manifest's copy of the dependencies held a moment ago: a file changed since (no lie), or it lies.
        if (JSON.stringify(c.dependencies) === JSON.stringify(deps)) return true;
        return this.lie(family, c.key, "the manifest's dependencies are not the entry's", from);
      }
    } else if (keyOf(c.dependencies) !== c.key) {
      return this.lie(family, c.key, 'the manifest points at another entry', from);
    }
    // The key is this family's, these names' and the manifest's files': the entry's metadata says otherwise.
    this.o.hooks.corrupt(entryTier, c.key, 'metadata does not describe its key', drop());
    return true;
  }

  private lie(family: string, key: string, problem: string, from: string): true {
    this.lies.add(`${family}:${key}`);
    const m = this.manifests.get(family);
    if (m) this.manifests.set(family, withoutCandidate(m, key));
    this.o.hooks.corrupt(`${from} manifest`, family, `${problem} (${key})`, false);
    return true;
  }

  /** `m` without the candidates found to lie (see rejectCandidate). */
  private withoutLies(m: Manifest): Manifest {
    if (this.lies.size === 0) return m;
    const candidates = m.candidates.filter((c) => !this.lies.has(`${m.family}:${c.key}`));
    return candidates.length === m.candidates.length ? m : { ...m, candidates };
  }

  private rememberManifest(m: Manifest): void {
    this.manifests.delete(m.family);
    if (this.manifests.size >= MAX_RESIDENT_MANIFESTS) {
      const oldest = this.manifests.keys().next().value;
      if (oldest !== undefined) this.manifests.delete(oldest);
    }
    this.manifests.set(m.family, m);
  }

  /** Drops a family's resident manifest (maintenance rewrote it). */
  forgetManifest(family: string): void {
    this.manifests.delete(family);
  }

  /** The family's manifest as the first tier that keeps one has it, else the resident one. */
  manifestOf(family: string): Manifest | undefined {
    for (const t of this.tiers) {
      const m = t.readManifestSync?.(family);
      if (m) return m;
    }
    return this.manifests.get(family);
  }

  /**
   * False when an entry was compiled from headers on disk that have changed since (or a path that had to stay
   * absent now exists): the caller must look the spec up again. A stat per file; true at once for the others.
   */
  isCurrent(entry: CacheEntry): boolean {
    const deps = entry.meta.dependencies;
    return deps === undefined || dependencyChange(deps) === undefined;
  }

  /** A compile's record into memory and every writable tier, and into its family's manifest when it needs one. */
  async store(
    spec: KeySpec,
    ownKey: string,
    rec: TierRecord,
    candidate: Manifest['candidates'][number] | undefined,
  ): Promise<CacheEntry> {
    markHotPathRan();
    const entry = this.memory.insert(rec);
    this.lastTouch.set(rec.key, rec.meta.createdAt);
    this.o.stats.use(rec.key, rec.meta.createdAt);
    await this.publish(rec, this.tiers, 'compile');
    if (candidate) await this.addToManifest(rec.meta.familyKey, candidate);
    if (rec.key !== ownKey) this.familyFirst.add(spec);
    return entry;
  }

  /** The verified record of `key` from memory or the first tier holding it (for export); counts no hit. */
  async readRecord(key: string): Promise<TierRecord | undefined> {
    const resident = this.memory.peek(key);
    if (resident) return { key, image: resident.image, meta: resident.meta };
    for (const tier of this.tiers) {
      const rec = await this.verifiedGet(tier, key, undefined);
      if (rec) return rec;
    }
    return undefined;
  }

  /**
   * A verified record from outside (a bundle) into this host's writable persistent tiers (not a shared one: what
   * a host imports is its own business); false when none took it.
   */
  async adopt(rec: TierRecord): Promise<boolean> {
    const before = this.o.stats.counters.writeFailures;
    const into = this.tiers.filter(
      (t) => t.capabilities.persistent && !t.capabilities.readOnly && !t.capabilities.shared,
    );
    await this.publish(rec, into, 'import');
    return into.length > 0 && this.o.stats.counters.writeFailures === before;
  }

  private async publish(
    rec: TierRecord,
    tiers: readonly CacheTier[],
    cause: CachePublishMessage['cause'],
  ): Promise<void> {
    for (const t of tiers) {
      if (t.capabilities.readOnly) continue;
      const t0 = publishChannel.hasSubscribers ? traceClock() : 0;
      const max = t.capabilities.maxRecordBytes;
      if (max !== undefined && rec.image.length > max) {
        if (t0 !== 0) tracePublish(t.name, rec, 'skipped', t0, cause);
        // It would be evicted at once, after pushing out everything else.
        this.o.log.warnOnce(
          `over-budget-${t.name}`,
          `kernel image ${rec.key} is ${rec.image.length} bytes, more than the ${t.name} cache's limit of ` +
            `${max} bytes (maxDiskBytes / CUOP_CACHE_MAX_SIZE); it is kept in memory only.`,
        );
        continue;
      }
      try {
        await t.put(rec);
        this.o.log.debug(`publish ${rec.key} to ${t.name}`);
        if (t0 !== 0) tracePublish(t.name, rec, 'stored', t0, cause);
      } catch (e) {
        if (t0 !== 0) tracePublish(t.name, rec, 'failed', t0, cause, errorCode(e));
        this.o.stats.counters.writeFailures++;
        this.o.stats.markDirty();
        const where = t.capabilities.persistent && 'root' in t ? ` at ${String(t.root)}` : '';
        this.o.log.warnOnce(
          writeFailureKind(t.name),
          `cannot write to the ${t.name} cache${where} (${errorCode(e)}: ${errorText(e)}); kernels stay ` +
            `cached in memory and are recompiled in new processes.`,
        );
      }
    }
  }

  private async addToManifest(family: string, candidate: Manifest['candidates'][number]): Promise<void> {
    const known = this.manifestOf(family);
    const next = withCandidate(known && this.withoutLies(known), family, candidate);
    this.rememberManifest(next);
    for (const t of this.tiers) {
      if (!t.writeManifest || t.capabilities.readOnly) continue;
      try {
        await t.writeManifest(next);
      } catch (e) {
        this.o.stats.counters.writeFailures++;
        this.o.stats.markDirty();
        this.o.log.warnOnce(
          'write-manifest',
          `cannot write a manifest to the ${t.name} cache (${errorCode(e)}: ${errorText(e)}); ` +
            `kernels of modules and of headers on disk are recompiled in new processes.`,
        );
      }
    }
  }

  /** LRU touch of a key in every tier that tracks use (at most once per touchIntervalMs per key). */
  touch(key: string, meta: Pick<EntryMetadata, 'imageKind' | 'codec'>, at: number, sync: boolean): void {
    for (const t of this.tiers) if (t.touch) this.touchIn(t, key, meta, at, sync);
  }

  private touchIn(
    tier: CacheTier,
    key: string,
    meta: Pick<EntryMetadata, 'imageKind' | 'codec'>,
    at: number,
    sync: boolean,
  ): void {
    const last = this.lastTouch.get(key);
    if (last !== undefined && at - last < this.o.touchIntervalMs) return;
    if (tier.touch!(key, meta, at, sync)) this.lastTouch.set(key, at);
  }

  /** Forget LRU touch times (after a clear). */
  forgetTouches(): void {
    this.lastTouch.clear();
  }

  /**
   * Where a lookup of the spec would find it now, without counting a hit or loading it into memory (explain): its
   * own key or a family candidate, resident or in a tier whose record verifies.
   */
  whereIs(spec: KeySpec, key: string): { key: string; tier: string } | undefined {
    const expect = expectOf(spec);
    const at = (k: string): { key: string; tier: string } | undefined => {
      if (this.memory.entryOf(k)) return { key: k, tier: 'memory' };
      for (const t of this.syncTiers) {
        if (t === this.memory) continue;
        const rec = t.getSync!(k, expect);
        if (rec && recordProblem(rec, k, expect, true) === undefined) return { key: k, tier: t.name };
      }
      return undefined;
    };
    const direct = at(key);
    if (direct) return direct;
    const manifest = this.manifestOf(memoizedFamilyKey(spec));
    for (const c of manifest ? matchingCandidates(manifest, spec.nameExpressions) : []) {
      const f = at(c.key);
      if (f) return f;
    }
    return undefined;
  }
}

function tracePublish(
  tier: string,
  rec: TierRecord,
  outcome: CachePublishMessage['outcome'],
  t0: number,
  cause: CachePublishMessage['cause'],
  error?: string,
): void {
  const ms = traceClock() - t0;
  const msg: CachePublishMessage = { key: rec.key, tier, outcome, ms, bytes: rec.image.length, cause };
  tracePublishMessage(error === undefined ? msg : { ...msg, error });
}

function traceRepair(tier: string, key: string, reason: string, removed: boolean, t0: number): void {
  const ms = traceClock() - t0;
  traceRepairMessage({ key, tier, outcome: removed ? 'removed' : 'kept', reason, ms, during: 'read' });
}
