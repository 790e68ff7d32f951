// What the disk tier's directory holds, shard by shard, for maintenance. Nothing is followed (lstat only); names cuop
// never generates are listed as strays and left alone. Synchronous calls on purpose: at 10 000 entries the promise
// API spent most of a scan waiting on the thread pool (one round trip per file); callers yield between shards.
import * as fs from 'node:fs';
import { join } from 'node:path';

import { codecSuffix, type Codec } from './codec.js';
import {
  CacheLayout,
  isEntryJsonName,
  isKernelFileName,
  isLockName,
  isShardName,
  isTempName,
} from './layout.js';
import { parseEntryMetadata } from './metadata.js';
import { readTrustedText } from './safe-fs.js';
import type { TrustRule } from './trust.js';

export const MAX_METADATA_BYTES = 64 * 2 ** 20;

/** What maintenance and a listing (`cuop cache ls`) need of an entry's metadata (the rest stays in its file). */
export interface EntrySummary {
  readonly compiler: { readonly id: string; readonly version: string };
  readonly imageKind: 'cubin' | 'ptx' | 'ltoir';
  readonly codec: Codec;
  readonly kernelNames: readonly string[];
  /** The requested target (`sm_90`) and what the image is built for (`compute_90` for PTX of an unknown arch). */
  readonly target: string;
  readonly imageTarget: string;
  readonly createdAt: number;
}

/** True for a summary with every field of this version (an index written by an older cuop lacks some). */
export function isEntrySummary(s: unknown): s is EntrySummary {
  const v = s as Partial<EntrySummary> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.compiler?.id === 'string' &&
    typeof v.imageKind === 'string' &&
    typeof v.codec === 'string' &&
    Array.isArray(v.kernelNames) &&
    typeof v.target === 'string' &&
    typeof v.imageTarget === 'string' &&
    typeof v.createdAt === 'number'
  );
}

/** One entry on disk: its metadata file and the kernel files of its key. */
export interface DiskEntryInfo {
  readonly key: string;
  readonly metaBytes: number;
  /** mtime of the metadata file. */
  readonly metaMtimeMs: number;
  /** undefined when the metadata does not parse (another format, torn, foreign). */
  readonly summary?: EntrySummary;
  /** The metadata's formatVersion field, even when the rest does not parse. */
  readonly formatVersion?: number;
  /** Kernel files of this key (normally one; several if the codec changed between publishes). */
  readonly kernels: readonly { readonly name: string; readonly bytes: number }[];
}

/** A shard's contents: entries, leftovers of killed writers, and what is not cuop's. */
export interface ShardScan {
  readonly shard: string;
  readonly entries: DiskEntryInfo[];
  /** Kernel files with no metadata at all (a publish under way, or a killed writer). */
  readonly orphanKernels: { readonly name: string; readonly bytes: number }[];
  /** Files with names cuop never generates: reported, never removed. */
  readonly strays: string[];
  /** Something else at a path cuop generates (a directory, a link, a FIFO): cuop's path, so it is removed. */
  readonly squatters: string[];
}

/** What is outside the shards: temp files, locks, manifests, and what occupies a shard's name. */
export interface AuxScan {
  readonly temps: { readonly path: string; readonly mtimeMs: number }[];
  readonly locks: string[];
  readonly manifests: { readonly family: string; readonly path: string }[];
  readonly strays: string[];
  readonly squatters: string[];
}

const listDir = (d: string): string[] => {
  try {
    return fs.readdirSync(d);
  } catch {
    return [];
  }
};
const lstatOf = (p: string): fs.Stats | undefined => {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
};

/** The live kernel file's name of an entry (the one its metadata points at). */
export function liveKernelName(layout: CacheLayout, e: DiskEntryInfo): string | undefined {
  if (!e.summary) return undefined;
  const name = layout.kernelFileName(e.key, e.summary.imageKind, codecSuffix(e.summary.codec));
  return e.kernels.some((k) => k.name === name) ? name : undefined;
}

/** Bytes of all of an entry's files. */
export const entryBytes = (e: DiskEntryInfo): number => e.kernels.reduce((n, k) => n + k.bytes, e.metaBytes);

/** The shard names present under metadata/ and kernels/ (what is at a shard's name but not a directory: squatter). */
export function listShards(layout: CacheLayout, aux: { strays: string[]; squatters: string[] }): string[] {
  const names = new Set<string>();
  for (const top of [layout.metadataDir, layout.kernelsDir]) {
    for (const s of listDir(top)) {
      const p = join(top, s);
      if (!isShardName(s)) {
        aux.strays.push(p);
        continue;
      }
      const st = lstatOf(p);
      if (st?.isDirectory()) names.add(s);
      else if (st) aux.squatters.push(p);
    }
  }
  return [...names].sort();
}

/** The change stamp of a shard: its two directories' mtimes (an entry added, replaced or removed changes them). */
export function shardStamp(layout: CacheLayout, shard: string): string {
  const m = fs.lstatSync(layout.metaShardDir(shard), { throwIfNoEntry: false, bigint: true });
  const k = fs.lstatSync(layout.kernelShardDir(shard), { throwIfNoEntry: false, bigint: true });
  return `${m?.mtimeNs ?? 0n}:${k?.mtimeNs ?? 0n}`;
}

/** The metadata directory's half of shardStamp (what an entry count depends on). */
export function metaShardStamp(layout: CacheLayout, shard: string): string {
  return `${fs.lstatSync(layout.metaShardDir(shard), { throwIfNoEntry: false, bigint: true })?.mtimeNs ?? 0n}`;
}

/**
 * A shard's file named `n` in `dir`, when it is one cuop may own there (`owned`: its name pattern and shard); else
 * it goes to strays (a name cuop never generates) or squatters (not a regular file), or is gone.
 */
function shardFile(
  dir: string,
  n: string,
  owned: boolean,
  out: { strays: string[]; squatters: string[] },
): fs.Stats | undefined {
  const p = join(dir, n);
  if (!owned) {
    out.strays.push(p);
    return undefined;
  }
  const st = lstatOf(p);
  if (st && !st.isFile()) {
    out.squatters.push(p);
    return undefined;
  }
  return st;
}

/** Reads one shard: every metadata file is parsed (the expensive part the maintenance index saves). */
export function scanShard(layout: CacheLayout, shard: string, rule: TrustRule): ShardScan {
  const entries = new Map<string, DiskEntryInfo & { kernels: { name: string; bytes: number }[] }>();
  const strays: string[] = [];
  const squatters: string[] = [];
  const out = { strays, squatters };
  const mdir = layout.metaShardDir(shard);
  for (const n of listDir(mdir)) {
    const p = join(mdir, n);
    const key = n.slice(0, -5);
    const st = shardFile(mdir, n, isEntryJsonName(n) && key.slice(0, 2) === shard, out);
    if (!st) continue;
    let summary: EntrySummary | undefined;
    let formatVersion: number | undefined;
    try {
      const raw = JSON.parse(readTrustedText(p, rule, MAX_METADATA_BYTES)) as unknown;
      const v = (raw as { formatVersion?: unknown } | null)?.formatVersion;
      if (typeof v === 'number') formatVersion = v;
      const r = parseEntryMetadata(raw);
      if (r.success) {
        const { compiler, imageKind, codec, kernelNames, target, imageTarget, createdAt } = r.data;
        summary = {
          compiler: { id: compiler.id, version: compiler.version },
          imageKind,
          codec,
          kernelNames,
          target,
          imageTarget,
          createdAt,
        };
      }
    } catch {
      summary = undefined;
    }
    entries.set(key, {
      key,
      metaBytes: st.size,
      metaMtimeMs: st.mtimeMs,
      ...(summary ? { summary } : {}),
      ...(formatVersion !== undefined ? { formatVersion } : {}),
      kernels: [],
    });
  }
  const orphanKernels: ShardScan['orphanKernels'][number][] = [];
  const kdir = layout.kernelShardDir(shard);
  for (const n of listDir(kdir)) {
    const key = n.slice(0, 64);
    const st = shardFile(kdir, n, isKernelFileName(n) && key.slice(0, 2) === shard, out);
    if (!st) continue;
    const e = entries.get(key);
    if (e) e.kernels.push({ name: n, bytes: st.size });
    else orphanKernels.push({ name: n, bytes: st.size });
  }
  return { shard, entries: [...entries.values()], orphanKernels, strays, squatters };
}

/** Temp files, locks and manifests. */
export function scanAux(layout: CacheLayout, aux: { strays: string[]; squatters: string[] }): AuxScan {
  const temps: AuxScan['temps'][number][] = [];
  for (const n of listDir(layout.tempDir)) {
    const p = join(layout.tempDir, n);
    if (!isTempName(n)) {
      aux.strays.push(p);
      continue;
    }
    const st = lstatOf(p);
    if (st) temps.push({ path: p, mtimeMs: st.mtimeMs });
  }
  const locks: string[] = [];
  for (const n of listDir(layout.locksDir)) {
    (isLockName(n) ? locks : aux.strays).push(join(layout.locksDir, n));
  }
  const manifests: AuxScan['manifests'][number][] = [];
  for (const s of listDir(layout.manifestsDir).sort()) {
    const dir = layout.manifestShardDir(s);
    if (!isShardName(s)) {
      aux.strays.push(dir);
      continue;
    }
    const st = lstatOf(dir);
    if (!st?.isDirectory()) {
      if (st) aux.squatters.push(dir);
      continue;
    }
    for (const n of listDir(dir)) {
      const p = join(dir, n);
      const family = n.slice(0, -5);
      if (isEntryJsonName(n) && family.slice(0, 2) === s) manifests.push({ family, path: p });
      else aux.strays.push(p);
    }
  }
  return { temps, locks, manifests, strays: aux.strays, squatters: aux.squatters };
}

/** The last use of each live kernel file (its mtime, set by hits), or the metadata's mtime when there is none. */
export function lastUseOf(layout: CacheLayout, e: DiskEntryInfo): number {
  const live = liveKernelName(layout, e);
  if (live === undefined) return e.metaMtimeMs;
  return lstatOf(join(layout.kernelShardDir(e.key.slice(0, 2)), live))?.mtimeMs ?? e.metaMtimeMs;
}

/** mtime of an orphan kernel file (for its grace period). */
export function orphanMtime(layout: CacheLayout, shard: string, name: string): number | undefined {
  return lstatOf(join(layout.kernelShardDir(shard), name))?.mtimeMs;
}
