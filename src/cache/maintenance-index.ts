// The maintenance index: what each shard of the disk tier held when it was last read (entry summaries, file names
// and sizes), so that a pass over 10 000 entries parses one file instead of 10 000. A shard is read again when its
// directories changed since (their mtimes: adding, replacing or removing a file changes them) or changed too
// recently to tell (mtimes are coarse: two changes within one tick look alike). A missing, torn or foreign index is
// rebuilt from the files. Lookups never read it: a hit's correctness never depends on it.
import { CACHE_FORMAT_VERSION } from './key.js';
import type { DiskTier } from './disk-tier.js';
import { isEntrySummary, type DiskEntryInfo, type ShardScan } from './disk-scan.js';
import { INDEX_FILE, INDEX_SUMMARY_FILE } from './layout.js';

const INDEX_VERSION = 1;
/** A shard whose directories changed less than this before it was read is read again next time. */
const SETTLE_MS = 2_000;
const MAX_INDEX_BYTES = 256 * 2 ** 20;

interface IndexedShard extends ShardScan {
  readonly stamp: string;
  /** False when the shard changed too close to when it was read for the stamp to prove it unchanged. */
  readonly settled: boolean;
}

interface SummaryFile {
  readonly v: number;
  readonly format: number;
  /** Settled shards only: the metadata directory's mtime (ns) and the number of entries (metadata files). */
  readonly shards: Record<string, { readonly meta: string; readonly entries: number }>;
}

interface IndexFile {
  readonly v: number;
  readonly format: number;
  readonly shards: Record<string, IndexedShard>;
}

/** Milliseconds of the newer of a stamp's two mtimes (ns). */
function stampMs(stamp: string): number {
  let max = 0n;
  for (const part of stamp.split(':')) {
    try {
      const ns = BigInt(part);
      if (ns > max) max = ns;
    } catch {
      return Number.POSITIVE_INFINITY;
    }
  }
  return Number(max / 1_000_000n);
}

function parseIndex(text: string | undefined): Map<string, IndexedShard> {
  const out = new Map<string, IndexedShard>();
  if (text === undefined) return out;
  try {
    const raw = JSON.parse(text) as Partial<IndexFile>;
    if (raw.v !== INDEX_VERSION || raw.format !== CACHE_FORMAT_VERSION || typeof raw.shards !== 'object')
      return out;
    for (const [shard, s] of Object.entries(raw.shards ?? {})) {
      if (
        typeof s?.stamp === 'string' &&
        s.settled === true &&
        Array.isArray(s.entries) &&
        Array.isArray(s.orphanKernels) &&
        Array.isArray(s.strays) &&
        Array.isArray(s.squatters) &&
        s.entries.every(
          (e: DiskEntryInfo) =>
            typeof e?.key === 'string' &&
            typeof e.metaBytes === 'number' &&
            Array.isArray(e.kernels) &&
            // a shard recorded by an older cuop (fewer summary fields) is read again
            (e.summary === undefined || isEntrySummary(e.summary)),
        )
      ) {
        out.set(shard, s);
      }
    }
  } catch {
    // torn or foreign: rebuilt
  }
  return out;
}

export interface ShardView {
  readonly shards: ShardScan[];
  /** Shards read from the files this time (the rest came from the index). */
  readonly rescanned: number;
  /** Strays and squatters found while listing the shards themselves. */
  readonly strays: string[];
  readonly squatters: string[];
}

export class MaintenanceIndex {
  constructor(private readonly disk: DiskTier) {}

  /** Every shard as it is now: from the index where it is provably unchanged, else read; the index is then saved. */
  async view(yieldEvery: () => Promise<void>): Promise<ShardView> {
    const known = parseIndex(this.disk.readRootFile(INDEX_FILE, MAX_INDEX_BYTES));
    const aux = { strays: [] as string[], squatters: [] as string[] };
    const shards: IndexedShard[] = [];
    let rescanned = 0;
    for (const shard of this.disk.shards(aux)) {
      const stamp = this.disk.shardStamp(shard);
      const cached = known.get(shard);
      if (cached && cached.stamp === stamp) {
        shards.push(cached);
        continue;
      }
      const readAt = Date.now();
      const scan = this.disk.scanShard(shard);
      rescanned++;
      shards.push({ ...scan, stamp, settled: readAt - stampMs(stamp) > SETTLE_MS });
      await yieldEvery();
    }
    if (rescanned > 0) this.save(shards);
    return { shards, rescanned, strays: aux.strays, squatters: aux.squatters };
  }

  /** Records shards as maintenance left them (their directories just changed: read again next time). */
  save(shards: readonly ShardScan[]): void {
    const body: IndexFile = {
      v: INDEX_VERSION,
      format: CACHE_FORMAT_VERSION,
      shards: Object.fromEntries(
        shards.map((s) => {
          const stamp = 'stamp' in s ? (s as IndexedShard).stamp : this.disk.shardStamp(s.shard);
          const settled = 'settled' in s ? (s as IndexedShard).settled : false;
          return [s.shard, { ...s, stamp, settled }];
        }),
      ),
    };
    const summary: SummaryFile = {
      v: INDEX_VERSION,
      format: CACHE_FORMAT_VERSION,
      shards: Object.fromEntries(
        Object.entries(body.shards)
          .filter(([, s]) => s.settled)
          .map(([shard, s]) => [
            shard,
            { meta: s.stamp.slice(0, s.stamp.indexOf(':')), entries: s.entries.length },
          ]),
      ),
    };
    try {
      this.disk.writeRootFile(INDEX_FILE, JSON.stringify(body));
      this.disk.writeRootFile(INDEX_SUMMARY_FILE, JSON.stringify(summary));
    } catch {
      // read-only directory: the next pass reads the files again, no harm
    }
  }

  /**
   * Committed entries now: a shard the summary knows and whose metadata directory is unchanged counts as recorded,
   * any other is listed (and recorded, once settled). Exact either way: the mtime proves the listing unchanged.
   */
  countEntries(): number {
    let known: Record<string, { meta: string; entries: number }> = {};
    try {
      const raw = JSON.parse(this.disk.readRootFile(INDEX_SUMMARY_FILE) ?? '{}') as Partial<SummaryFile>;
      if (raw.v === INDEX_VERSION && raw.format === CACHE_FORMAT_VERSION && typeof raw.shards === 'object')
        known = { ...raw.shards };
    } catch {
      // torn or foreign: every shard is listed
    }
    let n = 0;
    let learned = false;
    const present = new Set<string>();
    for (const shard of this.disk.metadataShards()) {
      present.add(shard);
      const k = known[shard];
      const meta = this.disk.metaShardStamp(shard);
      if (k && typeof k.entries === 'number' && k.meta === meta) {
        n += k.entries;
        continue;
      }
      const readAt = Date.now();
      const entries = this.disk.countShard(shard);
      n += entries;
      delete known[shard];
      if (readAt - stampMs(meta) > SETTLE_MS) {
        known[shard] = { meta, entries };
        learned = true;
      }
    }
    for (const shard of Object.keys(known)) {
      if (!present.has(shard)) {
        delete known[shard];
        learned = true;
      }
    }
    if (learned) {
      const summary: SummaryFile = { v: INDEX_VERSION, format: CACHE_FORMAT_VERSION, shards: known };
      try {
        this.disk.writeRootFile(INDEX_SUMMARY_FILE, JSON.stringify(summary));
      } catch {
        // read-only directory: counted by listing next time too
      }
    }
    return n;
  }
}
