import * as fs from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { isStatsName } from './layout.js';
import { HOST, pidAlive } from './lock.js';
import { createFileSync, readTrustedTextOrUndefined, removePath } from './safe-fs.js';
import { trustRule, type TrustRule } from './trust.js';
import type { CacheLog } from './logger.js';
import type { EvictionReason, TierHooks } from './tier.js';

/** Counters of one process, or summed over all processes that used a cache directory. */
export interface CacheCounters {
  /** Lookups answered by each tier; `shared`: published by another process while this one waited for it. */
  hits: { memory: number; disk: number; shared: number; [tier: string]: number };
  /** Lookups that ran the compile. */
  misses: number;
  compiles: number;
  compileErrors: number;
  /** Lookups that joined a compile already running in this process. */
  coalesced: number;
  /** Sum of compile wall times of this cache's compiles. */
  compileMs: number;
  /** Sum of the stored compile time of every hit: what the cache saved. */
  savedCompileMs: number;
  bytesRead: number;
  bytesWritten: number;
  evictions: Record<EvictionReason, number>;
  corruptFound: number;
  corruptRepaired: number;
  writeFailures: number;
  lockWaits: number;
  lockTakeovers: number;
  /** The remote tier's counters (redis-tier.ts: hits, misses, timeouts, breaker trips, rejected signatures, …). */
  remote: Record<string, number>;
}

/** The counters of one scope (this cache object, or every process of the directory), with the hit rates. */
export interface CacheStatsSnapshot extends CacheCounters {
  /** hits / (hits + misses) over every tier, 0 when there was no lookup. */
  hitRate: number;
  /**
   * The persistent tiers' share: hits below memory (disk, shared, remote) / (those hits + misses), 0 when none.
   * What a restarted process gains from the cache, the seed's disk hit rate.
   */
  diskHitRate: number;
}

/**
 * What `KernelCache.getStats` returns: this process's counters, the directory's totals, and the kernels cached
 * now.
 */
export interface CacheStats {
  /** This cache object since it was created. */
  process: CacheStatsSnapshot;
  /** Persisted totals of every process that used the directory (this one included, live); = process when memory-only. */
  all: CacheStatsSnapshot;
  /** How many per-process stats files were summed into `all` (compacted ones are in the total). */
  processFiles: number;
  /** Kernels cached now: images in this process's memory tier, entries in the disk tier (counted when asked). */
  cachedKernels: { memory: number; disk: number };
  /** Tiers below the disk that count for themselves (the remote tier), this process only, by tier name. */
  tiers?: Record<string, Readonly<Record<string, number | string>>>;
}

export function emptyCounters(): CacheCounters {
  return {
    hits: { memory: 0, disk: 0, shared: 0 },
    misses: 0,
    compiles: 0,
    compileErrors: 0,
    coalesced: 0,
    compileMs: 0,
    savedCompileMs: 0,
    bytesRead: 0,
    bytesWritten: 0,
    evictions: { expired: 0, size: 0, count: 0, stale: 0, orphan: 0, memory: 0, cleared: 0 },
    corruptFound: 0,
    corruptRepaired: 0,
    writeFailures: 0,
    lockWaits: 0,
    lockTakeovers: 0,
    remote: {},
  };
}

/** a += b, field by field (numbers and one level of nested number records). */
export function addCounters(a: CacheCounters, b: Partial<CacheCounters>): CacheCounters {
  const A = a as unknown as Record<string, number | Record<string, number>>;
  for (const [k, v] of Object.entries(b as Record<string, unknown>)) {
    if (typeof v === 'number' && Number.isFinite(v)) {
      A[k] = ((A[k] as number | undefined) ?? 0) + v;
    } else if (v && typeof v === 'object') {
      const dst = ((A[k] as Record<string, number> | undefined) ??= {});
      for (const [kk, vv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof vv === 'number' && Number.isFinite(vv)) dst[kk] = (dst[kk] ?? 0) + vv;
      }
    }
  }
  return a;
}

export function snapshot(c: CacheCounters): CacheStatsSnapshot {
  const copy = addCounters(emptyCounters(), c);
  let hits = 0;
  for (const v of Object.values(copy.hits)) hits += v;
  const lookups = hits + copy.misses;
  const persistent = hits - copy.hits.memory;
  return {
    ...copy,
    hitRate: lookups === 0 ? 0 : hits / lookups,
    diskHitRate: persistent + copy.misses === 0 ? 0 : persistent / (persistent + copy.misses),
  };
}

interface ProcessFile {
  v: 1;
  pid: number;
  host: string;
  threadId: number;
  startedAt: number;
  updatedAt: number;
  counters: CacheCounters;
  keyUses: Record<string, number>;
}

interface TotalFile {
  v: 1;
  counters: CacheCounters;
  keyUses: Record<string, number>;
  /** Process files already added into `counters` (skipped when summing until they are deleted). */
  merged: string[];
}

const TOTAL = 'total.json';
/** How the last field of both file kinds starts in their JSON text (see readJson). */
const USES_FIELD = ',"keyUses":';
let storesMade = 0;
const MAX_KEYS = 100_000;
/** A process file of another host not updated for this long is considered dead and compacted. */
const FOREIGN_DEAD_MS = 7 * 86_400_000;

/**
 * Stats of one KernelCache. Hot-path updates are plain increments of in-memory fields. Persistence: each cache object
 * owns one file stats/<host>.<pid>.<thread>.<created>-<n>-<random>.json holding its cumulative counters, rewritten atomically
 * (temp + rename) on an unref'd timer, at close() and at process exit. Only its owner ever writes it, so concurrent
 * processes cannot lose each other's increments; readers sum all files plus total.json, into which maintenance
 * compacts the files of dead processes.
 */
export class StatsStore {
  readonly counters = emptyCounters();
  /** key → uses (hits of any tier) by this object; feeds the eviction weight. */
  readonly keyUses = new Map<string, number>();
  /** Keys used since the last flush → time of their last use (for LRU touches of memory hits). */
  readonly usedSinceFlush = new Map<string, number>();
  // Unique without the crypto RNG (a process's first randomBytes costs ~0.1 ms of setup): the creation time tells a
  // reused pid apart, the counter two stores of one thread created within the same millisecond, and Math.random
  // two copies of this module loaded in one process (each has its own counter).
  private readonly fileName =
    `${HOST}.${process.pid}.${threadId}.${Date.now().toString(36)}-${++storesMade}` +
    `-${Math.random().toString(36).slice(2, 8)}.json`;
  private readonly startedAt = Date.now();
  private dirty = false;

  constructor(
    private readonly dir: string | undefined,
    private readonly rule: TrustRule = trustRule('private'),
  ) {}

  get filePath(): string | undefined {
    return this.dir ? join(this.dir, this.fileName) : undefined;
  }

  markDirty(): void {
    this.dirty = true;
  }

  /** Records a use of a key at `now` (hot path: two Map updates). */
  use(key: string, now: number): void {
    this.usedSinceFlush.set(key, now);
    const n = this.keyUses.get(key);
    if (n !== undefined) this.keyUses.set(key, n + 1);
    else if (this.keyUses.size < MAX_KEYS) this.keyUses.set(key, 1);
    this.dirty = true;
  }

  /** Writes this object's cumulative counters (synchronous: also used at exit). Never throws. */
  flush(): boolean {
    if (!this.dir || !this.dirty) return true;
    const body: ProcessFile = {
      v: 1,
      pid: process.pid,
      host: HOST,
      threadId,
      startedAt: this.startedAt,
      updatedAt: Date.now(),
      counters: this.counters,
      keyUses: Object.fromEntries(this.keyUses),
    };
    const path = join(this.dir, this.fileName);
    const tmp = `${path}.tmp`;
    try {
      this.writeReplacing(tmp, path, JSON.stringify(body));
      this.dirty = false;
      return true;
    } catch {
      return false;
    }
  }

  /** `text` into `dest` by way of `tmp` (a leftover tmp of a killed flush is replaced; links never followed). */
  private writeReplacing(tmp: string, dest: string, text: string): void {
    removePath(tmp);
    createFileSync(tmp, text, this.rule);
    fs.renameSync(tmp, dest);
  }

  /**
   * `withUses` false: the file without its keyUses, which JSON.stringify wrote last. Cutting the text there skips
   * parsing up to 100 000 keys (17 ms at 10 000); the cut cannot fall inside a string, where quotes are escaped.
   */
  private readJson<T extends object>(path: string, withUses = true, needs?: keyof T): T | undefined {
    try {
      const text = readTrustedTextOrUndefined(path, this.rule, 64 * 2 ** 20);
      if (text === undefined) return undefined;
      const cut = withUses ? -1 : text.lastIndexOf(USES_FIELD);
      if (cut > 0) {
        try {
          const head = JSON.parse(`${text.slice(0, cut)}}`) as T;
          // A file of an older cuop may hold fields after keyUses: then it is parsed whole.
          if (needs === undefined || needs in head) return head;
        } catch {
          // parsed whole below
        }
      }
      return JSON.parse(text) as T;
    } catch {
      return undefined;
    }
  }

  /** Process files (cuop's names only: a stats dir holding anything else keeps it). */
  private listFiles(): string[] {
    if (!this.dir) return [];
    try {
      return fs.readdirSync(this.dir).filter((n) => n.endsWith('.json') && n !== TOTAL && isStatsName(n));
    } catch {
      return [];
    }
  }

  /** How many process files the directory holds now (one listing). */
  fileCount(): number {
    return this.listFiles().length;
  }

  /**
   * Sum over total.json and every process file (this object's own file replaced by its live counters). `withUses`
   * false: counters only (the per-key use counts, up to 100 000 of them per file, are what eviction needs).
   */
  readAll(withUses = true): { counters: CacheCounters; keyUses: Map<string, number>; files: number } {
    const counters = emptyCounters();
    const keyUses = new Map<string, number>();
    const addUses = (u: Record<string, number> | Map<string, number> | undefined) => {
      if (!u || !withUses) return;
      for (const [k, n] of u instanceof Map ? u : Object.entries(u)) {
        if (typeof n === 'number') keyUses.set(k, (keyUses.get(k) ?? 0) + n);
      }
    };
    let files = 0;
    if (this.dir) {
      // List first, then the total, then the files: a file compacted in between is either still listed in the
      // total's `merged` (skipped) or gone; a listed file that vanished means a compaction ran: read again.
      for (let attempt = 0; ; attempt++) {
        const names = this.listFiles();
        const total = this.readJson<TotalFile>(join(this.dir, TOTAL), withUses, 'merged');
        const merged = new Set(total?.merged ?? []);
        const parts: ProcessFile[] = [];
        let vanished = false;
        for (const n of names) {
          if (n === this.fileName || merged.has(n)) continue;
          const f = this.readJson<ProcessFile>(join(this.dir, n), withUses);
          if (!f) vanished ||= !fs.lstatSync(join(this.dir, n), { throwIfNoEntry: false });
          else if (f.counters) parts.push(f);
        }
        if (vanished && attempt < 3) continue;
        if (total?.counters) addCounters(counters, total.counters);
        addUses(total?.keyUses);
        for (const f of parts) {
          addCounters(counters, f.counters);
          addUses(f.keyUses);
        }
        files = parts.length;
        break;
      }
    }
    addCounters(counters, this.counters);
    addUses(this.keyUses);
    return { counters, keyUses, files: files + 1 };
  }

  /**
   * Folds the files of dead processes into total.json (call under the maintenance lock). Crash-safe: total.json
   * lists the files it already contains; they are skipped by readAll until deleted here or by the next compaction.
   * keyUses of keys no longer on disk are dropped when `liveKeys` is given; temps of killed flushes older than
   * `tempGraceMs` are removed.
   */
  compact(liveKeys?: ReadonlySet<string>, tempGraceMs = 3_600_000): number {
    if (!this.dir) return 0;
    const totalPath = join(this.dir, TOTAL);
    const old = this.readJson<TotalFile>(totalPath);
    const counters = addCounters(emptyCounters(), old?.counters ?? {});
    const uses: Record<string, number> = { ...(old?.keyUses ?? {}) };
    const alreadyMerged = new Set(old?.merged ?? []);
    const now = Date.now();
    const mergedNow: string[] = [];
    for (const n of this.listFiles()) {
      if (n === this.fileName || alreadyMerged.has(n)) continue;
      const path = join(this.dir, n);
      const f = this.readJson<ProcessFile>(path);
      let dead: boolean;
      if (!f?.counters) {
        // unreadable: a torn temp never becomes a .json (rename), so this is garbage; drop it when old
        try {
          dead = now - fs.lstatSync(path).mtimeMs > 3_600_000;
        } catch {
          dead = false;
        }
        if (dead) removePath(path);
        continue;
      }
      dead = f.host === HOST ? !pidAlive(f.pid) : now - f.updatedAt > FOREIGN_DEAD_MS;
      if (!dead) continue;
      addCounters(counters, f.counters);
      for (const [k, v] of Object.entries(f.keyUses ?? {})) uses[k] = (uses[k] ?? 0) + v;
      mergedNow.push(n);
    }
    if (liveKeys) for (const k of Object.keys(uses)) if (!liveKeys.has(k)) delete uses[k];
    // Files merged by an earlier compaction that died before deleting them stay listed, or a second crash in the
    // same place would count them twice.
    const stillThere = [...alreadyMerged].filter((n) =>
      fs.lstatSync(join(this.dir as string, n), { throwIfNoEntry: false }),
    );
    // keyUses last: see readJson.
    const body: TotalFile = { v: 1, counters, merged: [...stillThere, ...mergedNow], keyUses: uses };
    const tmp = `${totalPath}.${process.pid}.tmp`;
    try {
      this.writeReplacing(tmp, totalPath, JSON.stringify(body));
    } catch {
      return 0;
    }
    for (const n of [...alreadyMerged, ...mergedNow]) if (isStatsName(n)) removePath(join(this.dir, n));
    this.removeStaleTemps(tempGraceMs, now);
    return mergedNow.length;
  }

  /**
   * Removes the temp files of flushes and compactions that were killed between writing and renaming them (cuop's
   * names only), when older than `graceMs`: a live writer renames its temp within microseconds, and one removed under
   * it only fails that flush (the next one writes again). Returns how many were removed.
   */
  removeStaleTemps(graceMs: number, now = Date.now()): number {
    if (!this.dir) return 0;
    let removed = 0;
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return 0;
    }
    for (const n of names) {
      if (!n.endsWith('.tmp') || !isStatsName(n)) continue;
      const p = join(this.dir, n);
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st && now - st.mtimeMs > graceMs && removePath(p)) removed++;
    }
    return removed;
  }
}

const exitFlushes = new Set<() => void>();
let exitHookInstalled = false;

/** Runs `flush` at process exit (one 'exit' listener for all caches); it must be synchronous. */
export function registerExitFlush(flush: () => void): void {
  exitFlushes.add(flush);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const f of exitFlushes) {
        try {
          f();
        } catch {
          // best effort: never break the process's exit or the other listeners
        }
      }
    });
  }
}

export function unregisterExitFlush(flush: () => void): void {
  exitFlushes.delete(flush);
}

/** The tiers' events (corruption, bytes, evictions) as counters of `stats`, with the user-facing warnings. */
export function statsHooks(stats: StatsStore, log: CacheLog): TierHooks {
  return {
    corrupt: (tier, key, reason, repaired) => {
      stats.counters.corruptFound++;
      if (repaired) stats.counters.corruptRepaired++;
      stats.markDirty();
      log.warnOnce(
        'corrupt',
        `corrupt ${tier} cache entry ${key} (${reason}); ${repaired ? 'removed' : 'could not remove it'}, recompiling.`,
      );
      log.debug(`repair ${key} ${tier}: ${reason}`);
    },
    bytesRead: (n) => {
      stats.counters.bytesRead += n;
    },
    bytesWritten: (n) => {
      stats.counters.bytesWritten += n;
    },
    eviction: (reason, key) => {
      stats.counters.evictions[reason]++;
      stats.markDirty();
      log.debug(`evict ${key} (${reason})`);
    },
  };
}
