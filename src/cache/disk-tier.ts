// The disk tier: an entry is a metadata file (the commit record) and a kernel file, published atomically and read
// without locks. Opening the directory is disk-dir.ts; listing it for maintenance is disk-scan.ts.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';

import { codecSuffix, compress, decompress, type Codec } from './codec.js';
import { openCacheDir, replaceRootFile } from './disk-dir.js';
import {
  lastUseOf,
  listShards,
  liveKernelName,
  MAX_METADATA_BYTES,
  metaShardStamp,
  orphanMtime,
  scanAux,
  scanShard,
  shardStamp,
  type AuxScan,
  type DiskEntryInfo,
  type ShardScan,
} from './disk-scan.js';
import { CACHE_FORMAT_VERSION, isCacheKey } from './key.js';
import { CacheLayout, isEntryJsonName, isKernelFileName, isShardName } from './layout.js';
import { errorCode, type CacheLog } from './logger.js';
import { parseManifest, type Manifest } from './manifest.js';
import { parseEntryMetadata, type EntryMetadata } from './metadata.js';
import {
  createFile,
  createFileSync,
  ensureTrustedDir,
  readTrusted,
  readTrustedText,
  readTrustedTextOrUndefined,
  removePath,
  removePathAsync,
  UntrustedPathError,
  type TrustedReadStat,
} from './safe-fs.js';
import type { CacheTier, TierCapabilities, TierEntryInfo, TierHooks, TierRecord } from './tier.js';
import { repairChannel, traceClock, traceRepairMessage } from './trace.js';
import { dirProblem, type TrustRule } from './trust.js';
import { recordProblem } from './verify.js';

export { unsafeDirReason } from './disk-dir.js';

/** Removes a temp file of this process's own; a failure leaves it for the temp sweep. */
function unlinkQuietly(path: string): void {
  try {
    fs.unlinkSync(path);
  } catch {
    // swept later
  }
}
export type { AuxScan, DiskEntryInfo, ShardScan } from './disk-scan.js';

/** Why a read failure means the path holds something cuop must not use (and may remove), else undefined. */
function unusable(e: unknown): string | undefined {
  if (e instanceof UntrustedPathError) return e.reason;
  const code = errorCode(e);
  if (code === 'ELOOP') return 'is a symbolic link (never followed)';
  if (code === 'EISDIR') return 'is a directory';
  return undefined;
}

const MAX_MANIFEST_BYTES = 16 * 2 ** 20;

export interface DiskTierOptions {
  /** Whose files and directories are trusted (see trust.ts). */
  rule: TrustRule;
  codec: Codec;
  /** The disk's size bound: a larger image is not worth publishing (it would push out everything else). */
  maxBytes?: number;
  now: () => number;
  hooks: TierHooks;
  log: CacheLog;
  /**
   * clear() leaves temp files and kernels without metadata younger than this (ms): a publish of another process may
   * be under way, and removing its files would break it or leave a half entry. KernelCache passes the policy's
   * orphanGraceMs; default 0 (everything goes).
   */
  orphanGraceMs?: number;
}

/**
 * The persistent tier: one directory, atomic publishes, lock-free reads. It decodes what it stores (metadata
 * schema, sizes, codec) and reports what it cannot decode; the lookup verifies identity and checksum (verify.ts).
 * Every path comes from the layout; nothing else touches these files.
 */
export class DiskTier implements CacheTier {
  readonly name = 'disk';
  readonly capabilities: TierCapabilities;
  readonly layout: CacheLayout;

  /** Fan-out directories checked by this process (a lookup checks each once). */
  private readonly goodShards = new Set<string>();

  private constructor(
    layout: CacheLayout,
    private readonly opts: DiskTierOptions,
  ) {
    this.layout = layout;
    this.capabilities = {
      readOnly: false,
      persistent: true,
      shared: false,
      ...(opts.maxBytes !== undefined ? { maxRecordBytes: opts.maxBytes } : {}),
    };
  }

  get root(): string {
    return this.layout.root;
  }

  /** Opens `given` (see openCacheDir); undefined, after one warning, when it cannot be used. */
  static open(given: string, opts: DiskTierOptions): DiskTier | undefined {
    const layout = openCacheDir(given, opts);
    return layout && new DiskTier(layout, opts);
  }

  /** A top-level file of ours (maintenance stamp, identity memo, index), replaced atomically; never through a link. */
  writeRootFile(name: string, text: string): void {
    replaceRootFile(this.layout, name, text, this.opts.rule);
  }

  /** A top-level file of ours, read safely (regular, trusted, bounded); undefined when absent or unusable. */
  readRootFile(name: string, maxBytes = 2 ** 20): string | undefined {
    return readTrustedTextOrUndefined(this.layout.rootFile(name), this.opts.rule, maxBytes);
  }

  /** mtime of a top-level file, or undefined. */
  rootFileMtime(name: string): number | undefined {
    return fs.lstatSync(this.layout.rootFile(name), { throwIfNoEntry: false })?.mtimeMs;
  }

  /**
   * Checks a fan-out directory once per process: a link or a file at its path is removed (never followed), a
   * directory that fails the trust rule makes its entries misses. `create`: make it when missing (writes).
   */
  private shardDirOk(dir: string, create: boolean): boolean {
    if (this.goodShards.has(dir)) return true;
    try {
      if (create) {
        if (fs.lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) removePath(dir);
        ensureTrustedDir(dir, this.opts.rule);
      } else {
        const st = fs.lstatSync(dir, { throwIfNoEntry: false });
        if (!st) return false;
        if (!st.isDirectory()) {
          // A file or a link at a fan-out dir's name (inside a tree checked to be private): removed, never followed.
          removePath(dir);
          return false;
        }
        const problem = dirProblem(st, this.opts.rule);
        if (problem) throw new UntrustedPathError(dir, problem);
      }
    } catch (e) {
      if (e instanceof UntrustedPathError) {
        this.opts.log.warnOnce(
          `untrusted-${dir}`,
          `ignoring ${dir} in the cache: ${e.reason}. Its kernels are compiled instead of loaded.`,
        );
      }
      return false;
    }
    this.goodShards.add(dir);
    return true;
  }

  private kernelPath(key: string, imageKind: 'cubin' | 'ptx' | 'ltoir', codec: Codec): string {
    return this.layout.kernelPath(key, imageKind, codecSuffix(codec));
  }

  /** The family's manifest, or undefined when there is none or it is unreadable (it is then rewritten). */
  readManifestSync(family: string): Manifest | undefined {
    const path = this.layout.manifestPath(family);
    if (!this.shardDirOk(dirname(path), false)) return undefined;
    const text = readTrustedTextOrUndefined(path, this.opts.rule, MAX_MANIFEST_BYTES);
    if (text === undefined) return undefined;
    try {
      return parseManifest(JSON.parse(text), family);
    } catch {
      return undefined;
    }
  }

  /** Atomic replace (temp file + rename); concurrent writers may drop each other's candidate: a later miss, no harm. */
  async writeManifest(manifest: Manifest): Promise<void> {
    const { family } = manifest;
    if (!isCacheKey(family)) throw new Error(`not a family key: ${family}`);
    const tmp = this.layout.entryTemp(family, 'manifest', threadId);
    await createFile(tmp, JSON.stringify(manifest), this.opts.rule, this.opts.now());
    try {
      const dest = this.layout.manifestPath(family);
      const dir = dirname(dest);
      if (!this.shardDirOk(dir, true))
        throw new UntrustedPathError(dir, 'the fan-out directory is not usable');
      if ((await fsp.lstat(dest).catch(() => undefined))?.isDirectory()) await removePathAsync(dest);
      await fsp.rename(tmp, dest);
    } catch (e) {
      await fsp.unlink(tmp).catch(() => {});
      throw e;
    }
  }

  /** Removes a manifest (maintenance: none of its candidates is left). */
  removeManifest(family: string): Promise<boolean> {
    return removePathAsync(this.layout.manifestPath(family));
  }

  /** True when a metadata file (the commit record) exists; one stat, used by waiters polling for a publish. */
  committed(key: string): boolean {
    return fs.lstatSync(this.layout.metaPath(key), { throwIfNoEntry: false })?.isFile() ?? false;
  }

  private corrupt(key: string, reason: string, paths: string[]): undefined {
    const t0 = repairChannel.hasSubscribers ? traceClock() : 0;
    let repaired = true;
    for (const p of paths) repaired = removePath(p) && repaired;
    this.opts.hooks.corrupt(this.name, key, reason, repaired);
    if (t0 !== 0) {
      const ms = traceClock() - t0;
      const outcome = repaired ? 'removed' : 'kept';
      traceRepairMessage({ key, tier: this.name, outcome, reason, ms, during: 'read' });
    }
    return undefined;
  }

  /**
   * Lock-free read: metadata (schema, format version, key) → kernel file → stored size → decompress → raw size.
   * What cannot be decoded is deleted, reported and returned as a miss. Synchronous on purpose: a hit is two small
   * reads, and the promise API would triple its cost.
   */
  getSync(key: string): TierRecord | undefined {
    const r = this.inspect(key, true);
    if (r === undefined) return undefined;
    if ('reason' in r) return this.corrupt(key, r.reason, r.paths);
    return r;
  }

  async get(key: string): Promise<TierRecord | undefined> {
    return this.getSync(key);
  }

  /** An entry's metadata alone (explanations read every entry's: their images need not be read). */
  readMetadata(key: string): EntryMetadata | undefined {
    try {
      const r = parseEntryMetadata(
        JSON.parse(readTrustedText(this.layout.metaPath(key), this.opts.rule, MAX_METADATA_BYTES)),
      );
      return r.success && r.data.key === key ? r.data : undefined;
    } catch {
      return undefined;
    }
  }

  /** The entry as stored, or why it cannot be decoded, without counting or removing anything (integrity checks). */
  readForCheck(key: string): TierRecord | { reason: string } | undefined {
    return this.inspect(key, false);
  }

  /** The shard names under metadata/ (one listing). */
  metadataShards(): string[] {
    return listDirSafe(this.layout.metadataDir).filter(isShardName);
  }

  /** Committed entries (metadata files) of one shard: one directory listing, no file is opened. */
  countShard(shard: string): number {
    let n = 0;
    for (const name of listDirSafe(this.layout.metaShardDir(shard))) if (isEntryJsonName(name)) n++;
    return n;
  }

  private inspect(
    key: string,
    countBytes: boolean,
  ): TierRecord | { reason: string; paths: string[] } | undefined {
    const metaPath = this.layout.metaPath(key);
    const shard = CacheLayout.shardOf(key);
    if (!this.shardDirOk(this.layout.metaShardDir(shard), false)) return undefined;
    let text: string;
    try {
      text = readTrustedText(metaPath, this.opts.rule, MAX_METADATA_BYTES);
    } catch (e) {
      const why = unusable(e);
      if (why === undefined) {
        if (errorCode(e) !== 'ENOENT')
          this.opts.log.debug(`disk read of ${metaPath} failed: ${errorCode(e)}`);
        return undefined;
      }
      // Not a file cuop may read (a FIFO, a link, a directory, another user's, absurdly large): it is at a path
      // cuop generates, so it goes, and the key is compiled again.
      return { reason: `metadata: ${why}`, paths: [metaPath] };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return { reason: 'metadata is not JSON', paths: [metaPath] };
    }
    const parsed = parseEntryMetadata(raw);
    if (!parsed.success) {
      const v = (raw as { formatVersion?: unknown } | null)?.formatVersion;
      const why =
        typeof v === 'number' && v !== CACHE_FORMAT_VERSION ? `format version ${v}` : 'metadata schema';
      return { reason: why, paths: [metaPath] };
    }
    const meta = parsed.data;
    const kernelPath = this.kernelPath(key, meta.imageKind, meta.codec);
    const both = [metaPath, kernelPath];
    if (meta.formatVersion !== CACHE_FORMAT_VERSION)
      return { reason: `format version ${meta.formatVersion}`, paths: both };
    if (meta.key !== key) return { reason: 'metadata describes another entry', paths: both };
    let stored: Buffer;
    // The kernel file's mtime is the entry's LRU time (see touch): a hit within the touch interval skips its touch.
    const seen: TrustedReadStat = {};
    try {
      if (!this.shardDirOk(this.layout.kernelShardDir(shard), false))
        return { reason: 'kernel file missing', paths: [metaPath] };
      stored = readTrusted(kernelPath, this.opts.rule, meta.storedBytes, seen);
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return { reason: 'kernel file missing', paths: [metaPath] };
      const why = unusable(e);
      if (why !== undefined) return { reason: `kernel: ${why}`, paths: both };
      this.opts.log.debug(`disk read of ${kernelPath} failed: ${errorCode(e)}`);
      return undefined;
    }
    if (stored.length !== meta.storedBytes) {
      return { reason: `kernel is ${stored.length} bytes, expected ${meta.storedBytes}`, paths: both };
    }
    let image: Buffer;
    try {
      image = meta.codec === 'none' ? stored : decompress(meta.codec, stored, meta.rawBytes);
    } catch (e) {
      return { reason: `cannot decompress (${errorCode(e)})`, paths: both };
    }
    if (image.length !== meta.rawBytes) {
      return { reason: `image is ${image.length} bytes, expected ${meta.rawBytes}`, paths: both };
    }
    if (countBytes) this.opts.hooks.bytesRead(stored.length + text.length);
    return seen.mtimeMs === undefined ? { key, image, meta } : { key, image, meta, usedAt: seen.mtimeMs };
  }

  /**
   * LRU bookkeeping for a hit: set the kernel file's mtime (no metadata rewrite). Synchronous (one utimes call:
   * durable even if the process is killed next; true when it took), or fire and forget.
   */
  touch(key: string, meta: Pick<EntryMetadata, 'imageKind' | 'codec'>, atMs: number, sync: boolean): boolean {
    const t = atMs / 1000;
    const first = this.kernelPath(key, meta.imageKind, meta.codec);
    // The memory copy of a freshly compiled entry does not know the codec the disk stored it with: the disk's own
    // codec is tried after the recorded one.
    const second =
      meta.codec === this.opts.codec ? undefined : this.kernelPath(key, meta.imageKind, this.opts.codec);
    if (sync) {
      for (const p of second ? [first, second] : [first]) {
        try {
          fs.lutimesSync(p, t, t); // never the target of a link planted here
          return true;
        } catch {
          // try the next path
        }
      }
      return false;
    }
    fs.lutimes(first, t, t, (e) => {
      if (e && second) fs.lutimes(second, t, t, () => {});
    });
    return true;
  }

  /** True when a committed entry of `key` is sound (decodes, and its checksum matches). */
  private soundEntry(key: string): boolean {
    const r = this.inspect(key, false);
    return r !== undefined && !('reason' in r) && recordProblem(r, key, undefined, true) === undefined;
  }

  /**
   * Atomic publish: both files are written in temp/, then the kernel is renamed into place and then the metadata
   * (the commit record); no fsync (see createFile: reads verify, so a power loss costs a recompile, not a bad kernel). A reader sees either no entry or a complete one. Throws on I/O errors (the caller
   * counts a write failure); temp files are removed on failure.
   */
  async put(record: TierRecord): Promise<void> {
    this.putSync(record);
  }

  // Synchronous on purpose: a publish is ~12 small file operations, and as libuv round trips they cost about as much
  // again as the work (0.5-1 ms of a cold compile measured on the CPU box); done inline they block the event loop for
  // ~0.1 ms, once per compile.
  private putSync(record: TierRecord): void {
    const { key } = record;
    if (!isCacheKey(key)) throw new Error(`not a cache key: ${key}`);
    const codec = this.opts.codec;
    const stored = compress(codec, record.image);
    const meta: EntryMetadata = { ...record.meta, codec, storedBytes: stored.length };
    const json = JSON.stringify(meta);
    const now = this.opts.now();
    const temps: string[] = [];
    try {
      const kernelTemp = this.layout.entryTemp(key, 'kernel', threadId);
      createFileSync(kernelTemp, stored, this.opts.rule, false, now);
      temps.push(kernelTemp);
      const metaTemp = this.layout.entryTemp(key, 'json', threadId);
      createFileSync(metaTemp, json, this.opts.rule, false, now);
      temps.push(metaTemp);
      const kernelPath = this.kernelPath(key, meta.imageKind, codec);
      const metaPath = this.layout.metaPath(key);
      const kdir = dirname(kernelPath);
      const mdir = dirname(metaPath);
      for (const d of [kdir, mdir]) {
        if (!this.shardDirOk(d, true)) throw new UntrustedPathError(d, 'the fan-out directory is not usable');
      }
      // A directory squatting a path cuop generates would make every publish of this key fail, forever.
      for (const dest of [kernelPath, metaPath]) {
        if (fs.lstatSync(dest, { throwIfNoEntry: false })?.isDirectory()) removePath(dest);
      }
      // Another writer already committed a sound entry (e.g. after a lock wait ran out): keep it rather than swap
      // its kernel file under a reader that has read its metadata.
      if (this.committed(key) && this.soundEntry(key)) {
        for (const t of temps) if (t) unlinkQuietly(t);
        return;
      }
      fs.renameSync(kernelTemp, kernelPath);
      temps[0] = '';
      fs.renameSync(metaTemp, metaPath);
      temps[1] = '';
      this.opts.hooks.bytesWritten(stored.length + Buffer.byteLength(json));
    } catch (e) {
      for (const t of temps) if (t) unlinkQuietly(t);
      throw e;
    }
  }

  async stat(key: string): Promise<TierEntryInfo | undefined> {
    const shard = key.slice(0, 2);
    const metaSt = await fsp.lstat(this.layout.metaPath(key)).catch(() => undefined);
    if (!metaSt?.isFile()) return undefined;
    let bytes = metaSt.size;
    let lastUseMs = metaSt.mtimeMs;
    for (const n of await fsp.readdir(this.layout.kernelShardDir(shard)).catch(() => [] as string[])) {
      if (!n.startsWith(`${key}.`) || !isKernelFileName(n)) continue;
      const st = await fsp.lstat(join(this.layout.kernelShardDir(shard), n)).catch(() => undefined);
      if (!st?.isFile()) continue;
      bytes += st.size;
      lastUseMs = st.mtimeMs;
    }
    return { key, bytes, lastUseMs };
  }

  /** Removes an entry: metadata first (readers then miss), then every kernel file of the key. */
  async delete(key: string): Promise<boolean> {
    return this.deleteSync(key);
  }

  deleteSync(key: string): boolean {
    let removed = false;
    const metaPath = this.layout.metaPath(key);
    if (fs.lstatSync(metaPath, { throwIfNoEntry: false })) removed = removePath(metaPath);
    const kdir = this.layout.kernelShardDir(key.slice(0, 2));
    for (const n of listDirSafe(kdir)) {
      if (n.startsWith(`${key}.`) && isKernelFileName(n) && removePath(join(kdir, n))) removed = true;
    }
    return removed;
  }

  async *list(): AsyncIterable<string> {
    for (const s of listDirSafe(this.layout.metadataDir).sort()) {
      for (const n of listDirSafe(this.layout.metaShardDir(s))) {
        if (n.endsWith('.json') && isCacheKey(n.slice(0, -5))) yield n.slice(0, -5);
      }
    }
  }

  /**
   * Removes every entry; throws when a file could not be removed (e.g. EACCES), after trying them all. Temp files
   * and kernels without metadata younger than orphanGraceMs are a publish under way (another process's): left to
   * commit, or to the sweep once they are old.
   */
  async clear(): Promise<void> {
    // Only what cuop wrote, by name: files of other names stay where they are.
    const aux = { strays: [] as string[], squatters: [] as string[] };
    let failed: string | undefined;
    const remove = (p: string): void => {
      if (!removePath(p)) failed ??= p;
    };
    const grace = this.opts.orphanGraceMs ?? 0;
    const old = (mtimeMs: number | undefined): boolean =>
      mtimeMs !== undefined && this.opts.now() - mtimeMs > grace;
    for (const shard of listShards(this.layout, aux)) {
      const s = scanShard(this.layout, shard, this.opts.rule);
      for (const e of s.entries) this.removeEntryFiles(e, remove);
      for (const k of s.orphanKernels)
        if (old(orphanMtime(this.layout, shard, k.name)))
          remove(join(this.layout.kernelShardDir(shard), k.name));
      for (const p of s.squatters) remove(p);
      await yieldToLoop();
    }
    const rest = scanAux(this.layout, aux);
    for (const p of [
      ...rest.temps.filter((t) => old(t.mtimeMs)).map((t) => t.path),
      ...rest.manifests.map((m) => m.path),
      ...rest.squatters,
    ])
      remove(p);
    if (failed !== undefined) {
      const err = new Error(`cannot remove ${failed}`) as NodeJS.ErrnoException;
      err.code = 'EACCES';
      throw err;
    }
  }

  // ------------------------------------------------- what maintenance asks of the directory (disk-scan.ts)

  shards(aux: { strays: string[]; squatters: string[] }): string[] {
    return listShards(this.layout, aux);
  }

  shardStamp(shard: string): string {
    return shardStamp(this.layout, shard);
  }

  metaShardStamp(shard: string): string {
    return metaShardStamp(this.layout, shard);
  }

  scanShard(shard: string): ShardScan {
    return scanShard(this.layout, shard, this.opts.rule);
  }

  scanAux(aux: { strays: string[]; squatters: string[] }): AuxScan {
    return scanAux(this.layout, aux);
  }

  lastUse(e: DiskEntryInfo): number {
    return lastUseOf(this.layout, e);
  }

  orphanMtime(shard: string, name: string): number | undefined {
    return orphanMtime(this.layout, shard, name);
  }

  /** Metadata first (readers then miss), then the kernel files; false when a file stayed. */
  removeEntry(e: DiskEntryInfo): boolean {
    let gone = true;
    this.removeEntryFiles(e, (p) => {
      gone = removePath(p) && gone;
    });
    return gone;
  }

  private removeEntryFiles(e: DiskEntryInfo, remove: (path: string) => void): void {
    remove(this.layout.metaPath(e.key));
    const kdir = this.layout.kernelShardDir(e.key.slice(0, 2));
    for (const k of e.kernels) remove(join(kdir, k.name));
  }

  /** Kernel files of an entry other than its live one (left by a codec change). */
  removeDeadKernels(e: DiskEntryInfo): void {
    const live = liveKernelName(this.layout, e);
    const kdir = this.layout.kernelShardDir(e.key.slice(0, 2));
    for (const k of e.kernels) if (k.name !== live) removePath(join(kdir, k.name));
  }

  removeOrphanKernel(shard: string, name: string): boolean {
    return removePath(join(this.layout.kernelShardDir(shard), name));
  }

  /** mtime of a path the scan reported (never followed), or undefined when it is gone. */
  reportedMtime(path: string): number | undefined {
    return fs.lstatSync(path, { throwIfNoEntry: false })?.mtimeMs;
  }

  /** A path the scan reported (a temp file, a squatter, a lock tombstone): only inside this tree, never followed. */
  removeReported(path: string): boolean {
    if (!path.startsWith(this.layout.root + '/')) return false;
    return removePath(path);
  }
}

function listDirSafe(d: string): string[] {
  try {
    return fs.readdirSync(d);
  } catch {
    return [];
  }
}

/** Lets the event loop run between shards of a long synchronous pass. */
export const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));
