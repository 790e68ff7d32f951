// Maintenance of the disk tier, as named steps over one view of the directory (maintenance-index.ts): sweep
// (orphans, leftovers of killed writers, stale or unreadable entries, dead manifests and locks), expire (unused
// longer than maxAgeMs), evict (over the size or count bound, least valuable first), and the integrity check.
// Passes run under the directory's maintenance lease, so that two processes never run one at once.
import { join } from 'node:path';

import { FileLeaseProvider } from './file-lease.js';
import type { DiskTier } from './disk-tier.js';
import { entryBytes, liveKernelName, type DiskEntryInfo, type ShardScan } from './disk-scan.js';
import { yieldToLoop } from './disk-tier.js';
import { CACHE_FORMAT_VERSION } from './key.js';
import { MAINTENANCE_LOCK, MAINTENANCE_STAMP } from './layout.js';
import { errorText, type CacheLog } from './logger.js';
import { MaintenanceIndex } from './maintenance-index.js';
import type { CachePolicy } from './policy.js';
import { leaseOrWait } from './single-flight.js';
import type { StatsStore } from './stats.js';
import type { EvictionReason } from './tier.js';
import { evictChannel, repairChannel, traceClock, traceEvictMessage, traceRepairMessage } from './trace.js';
import type { TrustRule } from './trust.js';
import { recordProblem } from './verify.js';

/** What a maintenance pass removed (how many, how many bytes, why) and what the disk tier holds afterwards. */
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

/** One entry or file that failed the integrity check, and why. */
export interface IntegrityProblem {
  key?: string;
  path: string;
  problem: string;
}

/** What `validateCacheIntegrity` checked, found broken and (with repair) removed. */
export interface IntegrityReport {
  ran: boolean;
  checked: number;
  ok: number;
  problems: IntegrityProblem[];
  repaired: number;
  /** Files with names cuop never generates: not cuop's, so never removed (listed so that someone looks). */
  foreign: string[];
}

/** One disk entry as a listing shows it (`cuop cache ls`, `KernelCache.listEntries`). */
export interface CacheEntryInfo {
  readonly key: string;
  readonly kernelNames: readonly string[];
  /** The requested target (`sm_90`) and what the image is built for (`compute_90` when it is PTX). */
  readonly target: string;
  readonly imageTarget: string;
  readonly imageKind: 'cubin' | 'ptx' | 'ltoir';
  readonly compiler: { readonly id: string; readonly version: string };
  readonly codec: string;
  /** Bytes of all its files on disk (metadata and kernel). */
  readonly bytes: number;
  /**
   * Uses the stats recorded (a hit from any tier, and the compile that stored it), summed over every process that
   * used the directory: the count eviction weighs. 0 when none is recorded (e.g. an imported entry never hit).
   */
  readonly uses: number;
  /** Last use (ms since the epoch): the kernel file's mtime, which hits set (the LRU clock eviction reads). */
  readonly lastUseMs: number;
  /** When it was compiled (ms since the epoch). */
  readonly createdAt: number;
}

const emptyReport = (): MaintenanceReport => ({
  ran: false,
  removed: 0,
  freedBytes: 0,
  byReason: {},
  entries: 0,
  bytes: 0,
});

/** A maintenance lease older than this belongs to a hung or vanished pass. */
const MAINTENANCE_STALE_MS = 3_600_000;
/** Stats files (one per cache object of a process) past which a flush folds the dead ones into the total. */
const MAX_STATS_FILES = 256;

/** One pass's picture of the directory, updated as steps remove things. */
interface DirView {
  readonly shards: ShardScan[];
  /** Live entries by key (removed ones are deleted from here and from their shard). */
  readonly entries: Map<string, DiskEntryInfo>;
  readonly strays: string[];
  readonly squatters: string[];
  readonly temps: { path: string; mtimeMs: number }[];
  readonly locks: string[];
  readonly manifests: { family: string; path: string }[];
  /** Shards a step changed (saved to the index as changed). */
  readonly changed: Set<string>;
  /** Last use per key, read once when a step needs it. */
  lastUse?: Map<string, number>;
}

export interface MaintenanceOptions {
  disk: DiskTier;
  policy: CachePolicy;
  rule: TrustRule;
  stats: StatsStore;
  log: CacheLog;
  clock: () => number;
  /** Called before a pass: the pass must see this process's LRU touches and counters. */
  flush: () => void;
  /** A manifest was rewritten or removed (the lookup drops its resident copy). */
  manifestChanged: (family: string) => void;
}

export class Maintenance {
  private readonly disk: DiskTier;
  private readonly o: MaintenanceOptions;
  private readonly lease: FileLeaseProvider;
  private readonly index: MaintenanceIndex;
  private running: Promise<unknown> | undefined;

  constructor(opts: MaintenanceOptions) {
    this.o = opts;
    this.disk = opts.disk;
    this.lease = new FileLeaseProvider(opts.disk.layout, opts.rule, () => MAINTENANCE_STALE_MS);
    this.index = new MaintenanceIndex(opts.disk);
  }

  /** Entries on disk now (through the index's summary where it still holds). */
  countEntries(): number {
    return this.index.countEntries();
  }

  /**
   * Every entry whose metadata parses, as a listing shows it: summaries from the index (one file at 10 000 entries),
   * last use from the kernel files' mtimes, uses from the stats. Reads only (the index is saved as any view saves
   * it), so no maintenance lease is taken; entries whose metadata does not parse are left to the integrity check.
   */
  async listEntries(): Promise<CacheEntryInfo[]> {
    this.o.flush(); // this process's LRU touches and uses
    const v = await this.index.view(yieldToLoop);
    const uses = this.o.stats.readAll().keyUses;
    const out: CacheEntryInfo[] = [];
    for (const s of v.shards) {
      for (const e of s.entries) {
        const m = e.summary;
        if (!m || e.formatVersion !== CACHE_FORMAT_VERSION) continue;
        out.push({
          key: e.key,
          kernelNames: m.kernelNames,
          target: m.target,
          imageTarget: m.imageTarget,
          imageKind: m.imageKind,
          compiler: m.compiler,
          codec: m.codec,
          bytes: entryBytes(e),
          uses: uses.get(e.key) ?? 0,
          lastUseMs: this.disk.lastUse(e),
          createdAt: m.createdAt,
        });
      }
    }
    return out;
  }

  /** Resolves when a background pass in progress has finished. */
  async idle(): Promise<void> {
    if (this.running) await this.running;
  }

  // ------------------------------------------------------------------------------------------- passes

  /** Removes entries unused for longer than policy.maxAgeMs. */
  async cleanupExpired(): Promise<MaintenanceReport> {
    return (await this.pass(true, async (view, rep) => this.expire(view, rep))) ?? emptyReport();
  }

  /** Expired entries first, then the least valuable until the disk tier is at most targetBytes (and maxEntries). */
  async cleanupBySize(targetBytes: number): Promise<MaintenanceReport> {
    const r = await this.pass(true, async (view, rep) => {
      await this.expire(view, rep);
      await this.evict(view, rep, targetBytes, this.o.policy.maxEntries);
    });
    return r ?? emptyReport();
  }

  /** Reclaims what can never be hit again (see sweep); `compiler`: entries of its other versions are stale. */
  async pruneStale(compiler?: { id: string; version: string }): Promise<MaintenanceReport> {
    return (await this.pass(true, async (view, rep) => this.sweep(view, rep, compiler))) ?? emptyReport();
  }

  /** The background pass: sweep, expire, evict to the policy's bounds, fold dead processes' stats. */
  async run(wait: boolean): Promise<MaintenanceReport> {
    const r = await this.pass(wait, async (view, rep) => {
      await this.sweep(view, rep);
      await this.expire(view, rep);
      await this.evict(view, rep, this.o.policy.maxDiskBytes, this.o.policy.maxEntries);
      this.o.stats.compact(new Set(view.entries.keys()), this.o.policy.orphanGraceMs);
      try {
        this.disk.writeRootFile(MAINTENANCE_STAMP, `${this.o.clock()}\n`);
      } catch {
        // read-only dir: the next process runs maintenance again, no harm
      }
    });
    return r ?? emptyReport();
  }

  /** A background pass when the last one (any process) is older than the interval; skipped while one runs. */
  async maybeRunInBackground(closed: () => boolean): Promise<void> {
    if (closed() || this.running) return;
    const last = this.disk.rootFileMtime(MAINTENANCE_STAMP);
    if (last !== undefined && Date.now() - last < this.o.policy.maintenanceIntervalMs) return;
    this.running = this.run(false)
      .then((rep) => {
        if (rep.ran)
          this.o.log.debug(`maintenance: removed ${rep.removed} (${JSON.stringify(rep.byReason)})`);
      })
      .catch((e: unknown) => this.o.log.debug(`maintenance failed: ${errorText(e)}`))
      .finally(() => (this.running = undefined));
    await this.running;
  }

  /** Verifies every entry (schema, identity, size, SHA-256); with repair, removes what is broken. */
  async validateIntegrity(repair: boolean): Promise<IntegrityReport> {
    const r = await this.withLease(true, async () => {
      const view = await this.view();
      const problems: IntegrityProblem[] = [];
      let ok = 0;
      let n = 0;
      for (const e of view.entries.values()) {
        const why = this.entryProblem(e.key);
        if (why === undefined) ok++;
        else problems.push({ key: e.key, path: this.disk.layout.metaPath(e.key), problem: why });
        if (++n % 256 === 0) await yieldToLoop();
      }
      const now = this.o.clock();
      const grace = this.o.policy.orphanGraceMs;
      for (const s of view.shards) {
        for (const k of s.orphanKernels) {
          const mtime = this.disk.orphanMtime(s.shard, k.name);
          if (mtime !== undefined && now - mtime > grace)
            problems.push({
              path: join(this.disk.layout.kernelShardDir(s.shard), k.name),
              problem: 'kernel without metadata',
            });
        }
      }
      for (const t of view.temps) {
        if (now - t.mtimeMs > grace) problems.push({ path: t.path, problem: 'stale temp file' });
      }
      for (const p of view.squatters)
        problems.push({ path: p, problem: 'not a regular file where cuop keeps one' });
      let repaired = 0;
      if (repair) {
        for (const p of problems) {
          if (p.key) {
            const e = view.entries.get(p.key);
            const t0 = repairChannel.hasSubscribers ? traceClock() : 0;
            const removed = e ? this.disk.removeEntry(e) : true;
            if (t0 !== 0) {
              const ms = traceClock() - t0;
              const outcome = removed ? 'removed' : 'kept';
              traceRepairMessage({
                key: p.key,
                tier: 'disk',
                outcome,
                reason: p.problem,
                ms,
                during: 'verify',
              });
            }
            this.o.stats.counters.corruptFound++;
            if (removed) {
              this.o.stats.counters.corruptRepaired++;
              repaired++;
              if (e) this.forget(view, e);
            }
          } else if (this.disk.removeReported(p.path)) {
            repaired++;
          }
        }
        this.o.stats.markDirty();
      }
      this.saveIndex(view);
      return { ran: true, checked: n, ok, problems, repaired, foreign: view.strays };
    });
    return r ?? { ran: false, checked: 0, ok: 0, problems: [], repaired: 0, foreign: [] };
  }

  /**
   * Short-lived processes each leave a stats file until maintenance folds them into the total, which may not run for
   * an hour: past MAX_STATS_FILES, the flush folds those of dead processes at once (skipped if a pass is running).
   */
  compactStatsIfCrowded(): void {
    if (this.o.stats.fileCount() <= MAX_STATS_FILES) return;
    const attempt = this.lease.tryAcquire(MAINTENANCE_LOCK);
    if (!('lease' in attempt)) return;
    try {
      this.o.stats.compact();
    } finally {
      void attempt.lease.release();
    }
  }

  /**
   * Entries and bytes on disk now, through the index (one file where it still holds): reads only, no maintenance
   * lease, nothing removed. For `cuop doctor`.
   */
  async usage(): Promise<{ entries: number; bytes: number }> {
    const v = await this.index.view(yieldToLoop);
    let entries = 0;
    let bytes = 0;
    for (const s of v.shards) {
      for (const e of s.entries) {
        entries++;
        bytes += entryBytes(e);
      }
    }
    return { entries, bytes };
  }

  // -------------------------------------------------------------------------------------------- steps

  /** Entries unused for longer than maxAgeMs. */
  private async expire(view: DirView, rep: MaintenanceReport): Promise<void> {
    const now = this.o.clock();
    const lastUse = this.lastUses(view);
    const old = [...view.entries.values()].filter((e) => now - lastUse.get(e.key)! > this.o.policy.maxAgeMs);
    await this.removeAll(view, old, 'expired', rep);
  }

  /** The least valuable entries until the tier holds at most maxBytes and maxEntries. */
  private async evict(
    view: DirView,
    rep: MaintenanceReport,
    maxBytes: number,
    maxEntries: number,
  ): Promise<void> {
    let bytes = 0;
    for (const e of view.entries.values()) bytes += entryBytes(e);
    if (bytes <= maxBytes && view.entries.size <= maxEntries) return;
    const uses = this.o.stats.readAll().keyUses;
    const lastUse = this.lastUses(view);
    // Eviction score (lowest goes first): last use + frequencyWeightMs · log2(1 + uses).
    const weight = this.o.policy.frequencyWeightMs;
    const score = (e: DiskEntryInfo): number =>
      lastUse.get(e.key)! + weight * Math.log2(1 + (uses.get(e.key) ?? 0));
    const order = [...view.entries.values()].sort((a, b) => score(a) - score(b));
    let n = 0;
    for (const e of order) {
      if (bytes <= maxBytes && view.entries.size <= maxEntries) break;
      const reason: EvictionReason = bytes > maxBytes ? 'size' : 'count';
      if (this.removeCounted(view, e, reason, rep)) bytes -= entryBytes(e);
      if (++n % 256 === 0) await yieldToLoop();
    }
  }

  /** Orphans, leftovers of killed writers, broken or stale entries, dead manifests, stale locks. */
  private async sweep(
    view: DirView,
    rep: MaintenanceReport,
    staleCompiler?: { id: string; version: string },
  ): Promise<void> {
    const now = this.o.clock();
    const grace = this.o.policy.orphanGraceMs;
    for (const t of view.temps) {
      if (now - t.mtimeMs > grace && this.disk.removeReported(t.path)) this.count(rep, 'orphan', 0);
    }
    // Stats temps of processes killed while flushing (stats/*.json.tmp): nobody renames them any more.
    for (let n = this.o.stats.removeStaleTemps(grace, now); n > 0; n--) this.count(rep, 'orphan', 0);
    for (const s of view.shards) {
      for (const k of [...s.orphanKernels]) {
        const mtime = this.disk.orphanMtime(s.shard, k.name);
        if (mtime === undefined || now - mtime <= grace) continue;
        if (this.disk.removeOrphanKernel(s.shard, k.name)) {
          this.count(rep, 'orphan', k.bytes);
          s.orphanKernels.splice(s.orphanKernels.indexOf(k), 1);
          view.changed.add(s.shard);
        }
      }
    }
    // Something squatting a path cuop generates goes; files of names cuop never generates are not cuop's: kept.
    for (const p of view.squatters) {
      if (this.disk.removeReported(p)) this.count(rep, 'orphan', 0);
      this.o.log.debug(`remove ${p}: not what cuop keeps at that path`);
    }
    if (view.strays.length > 0) this.o.log.debug(`left alone (not cuop's): ${view.strays.join(', ')}`);
    const stale: DiskEntryInfo[] = [];
    const orphaned: DiskEntryInfo[] = [];
    for (const e of view.entries.values()) {
      if (e.formatVersion !== undefined && e.formatVersion !== CACHE_FORMAT_VERSION) stale.push(e);
      else if (!e.summary || liveKernelName(this.disk.layout, e) === undefined)
        orphaned.push(e); // unreadable metadata, or metadata whose kernel is gone
      else if (
        staleCompiler &&
        e.summary.compiler.id === staleCompiler.id &&
        e.summary.compiler.version !== staleCompiler.version
      )
        stale.push(e);
      else if (e.kernels.length > 1) {
        this.disk.removeDeadKernels(e); // kernel files of another codec next to the live one
        view.changed.add(e.key.slice(0, 2));
      }
    }
    await this.removeAll(view, stale, 'stale', rep);
    await this.removeAll(view, orphaned, 'orphan', rep);
    this.sweepManifests(view);
    for (const l of view.locks) {
      if (l.endsWith(`${MAINTENANCE_LOCK}.lock`)) continue;
      if (l.endsWith('.tmp')) {
        // A lock being created (see tryCreateLock); left behind only by a writer killed in those microseconds.
        const mtime = this.disk.reportedMtime(l);
        if (mtime !== undefined && now - mtime > grace) this.disk.removeReported(l);
        continue;
      }
      this.lease.breakIfStale(l, Math.max(this.o.policy.lockWaitMs, 1));
    }
  }

  /** Manifests keep only candidates whose entries still exist; one with none left is removed. */
  private sweepManifests(view: DirView): void {
    for (const { family } of view.manifests) {
      const m = this.disk.readManifestSync(family);
      if (!m) {
        void this.disk.removeManifest(family);
        continue;
      }
      const live = m.candidates.filter((c) => view.entries.has(c.key));
      if (live.length === m.candidates.length) continue;
      this.o.manifestChanged(family);
      if (live.length === 0) void this.disk.removeManifest(family);
      else this.disk.writeManifest({ ...m, candidates: live }).catch(() => {});
    }
  }

  // ------------------------------------------------------------------------------------------ helpers

  private entryProblem(key: string): string | undefined {
    const r = this.disk.readForCheck(key);
    if (r === undefined) return 'metadata missing or unreadable';
    if ('reason' in r) return r.reason;
    return recordProblem(r, key, undefined, true);
  }

  private lastUses(view: DirView): Map<string, number> {
    if (!view.lastUse) {
      const m = new Map<string, number>();
      for (const e of view.entries.values()) m.set(e.key, this.disk.lastUse(e));
      view.lastUse = m;
    }
    return view.lastUse;
  }

  private async removeAll(
    view: DirView,
    entries: readonly DiskEntryInfo[],
    reason: EvictionReason,
    rep: MaintenanceReport,
  ): Promise<void> {
    let n = 0;
    for (const e of entries) {
      this.removeCounted(view, e, reason, rep);
      if (++n % 256 === 0) await yieldToLoop();
    }
  }

  private removeCounted(
    view: DirView,
    e: DiskEntryInfo,
    reason: EvictionReason,
    rep: MaintenanceReport,
  ): boolean {
    const t0 = evictChannel.hasSubscribers ? traceClock() : 0;
    const removed = this.disk.removeEntry(e);
    if (t0 !== 0) {
      const ms = traceClock() - t0;
      const outcome = removed ? 'removed' : 'failed';
      traceEvictMessage({ key: e.key, tier: 'disk', outcome, reason, ms, bytes: entryBytes(e) });
    }
    if (!removed) {
      this.o.log.debug(`could not remove ${e.key} from disk (${reason})`);
      return false;
    }
    this.count(rep, reason, entryBytes(e));
    this.forget(view, e);
    this.o.log.debug(`evict ${e.key} from disk (${reason})`);
    return true;
  }

  private forget(view: DirView, e: DiskEntryInfo): void {
    view.entries.delete(e.key);
    const shard = view.shards.find((s) => s.shard === e.key.slice(0, 2));
    if (shard) {
      const i = shard.entries.indexOf(e);
      if (i >= 0) shard.entries.splice(i, 1);
    }
    view.changed.add(e.key.slice(0, 2));
  }

  private count(rep: MaintenanceReport, reason: EvictionReason, bytes: number): void {
    rep.removed++;
    rep.freedBytes += bytes;
    rep.byReason[reason] = (rep.byReason[reason] ?? 0) + 1;
    this.o.stats.counters.evictions[reason]++;
    this.o.stats.markDirty();
  }

  private async view(): Promise<DirView> {
    const v = await this.index.view(yieldToLoop);
    const aux = this.disk.scanAux({ strays: v.strays, squatters: v.squatters });
    const entries = new Map<string, DiskEntryInfo>();
    // Shards are copied: steps edit them, and the index's parsed objects must not be shared between passes.
    const shards = v.shards.map((s) => ({
      ...s,
      entries: [...s.entries],
      orphanKernels: [...s.orphanKernels],
    }));
    for (const s of shards) for (const e of s.entries) entries.set(e.key, e);
    return {
      shards,
      entries,
      strays: [...v.shards.flatMap((s) => s.strays), ...aux.strays],
      squatters: [...v.shards.flatMap((s) => s.squatters), ...aux.squatters],
      temps: aux.temps,
      locks: aux.locks,
      manifests: aux.manifests,
      changed: new Set(),
    };
  }

  private saveIndex(view: DirView): void {
    if (view.changed.size === 0) return;
    // Changed shards lose their stamp: the index reads them again next time (their mtimes are too fresh to trust).
    this.index.save(
      view.shards.map((s) =>
        view.changed.has(s.shard)
          ? {
              shard: s.shard,
              entries: s.entries,
              orphanKernels: s.orphanKernels,
              strays: s.strays,
              squatters: s.squatters,
            }
          : s,
      ),
    );
  }

  private async pass(
    wait: boolean,
    steps: (view: DirView, rep: MaintenanceReport) => Promise<void>,
  ): Promise<MaintenanceReport | undefined> {
    return this.withLease(wait, async () => {
      const view = await this.view();
      const rep = emptyReport();
      await steps(view, rep);
      this.saveIndex(view);
      let bytes = 0;
      for (const e of view.entries.values()) bytes += entryBytes(e);
      return { ...rep, ran: true, entries: view.entries.size, bytes };
    });
  }

  private async withLease<T>(wait: boolean, fn: () => Promise<T>): Promise<T | undefined> {
    const got = await leaseOrWait(
      this.lease,
      MAINTENANCE_LOCK,
      () => undefined,
      wait ? this.o.policy.lockWaitMs : 0,
    );
    if (!got.lease) return undefined;
    try {
      this.o.flush(); // the pass must see this process's LRU touches
      return await fn();
    } finally {
      await got.lease.release();
    }
  }
}
