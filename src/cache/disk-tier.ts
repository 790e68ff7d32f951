import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { codecSuffix, compress, decompress, type Codec } from './codec.js';
import { CACHE_FORMAT_VERSION, isCacheKey } from './key.js';
import { errorCode, errorText, type CacheLog } from './logger.js';
import { parseManifest, type Manifest } from './manifest.js';
import { parseEntryMetadata, type EntryMetadata } from './metadata.js';
import type { CacheTier, ExpectedIdentity, TierHooks, TierRecord } from './tier.js';

/**
 * Read a file whose size the metadata states: one read into a buffer of that size (plus one byte, so a longer file
 * shows up as a size mismatch) instead of readFileSync's fstat and growth.
 */
function readExpected(path: string, bytes: number): Buffer {
  const fd = fs.openSync(path, 'r');
  try {
    // Bounded by the file's real size too, so absurd metadata cannot make us allocate gigabytes.
    const buf = Buffer.allocUnsafeSlow(Math.min(bytes, fs.fstatSync(fd).size) + 1);
    let n = 0;
    for (;;) {
      const r = fs.readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
      if (n === buf.length) break;
    }
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

export const FORMAT_FILE = 'format-version';
const CACHEDIR_TAG =
  'Signature: 8a477f597d28d172789f06886806bc55\n' +
  '# This file is a cache directory tag created by cuop (CUDA kernel cache).\n' +
  '# For information about cache directory tags, see https://bford.info/cachedir/\n';

/** Why a directory is not safe to load GPU code from, or undefined when it is. */
export function unsafeDirReason(dir: string): string | undefined {
  const st = fs.statSync(dir);
  if (!st.isDirectory()) return 'it is not a directory';
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (uid !== undefined && st.uid !== uid)
    return `it is owned by uid ${st.uid}, not by this user (uid ${uid})`;
  if (st.mode & 0o002)
    return `it is world-writable (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
  return undefined;
}

export interface DiskTierOptions {
  codec: Codec;
  checksum: boolean;
  now: () => number;
  hooks: TierHooks;
  log: CacheLog;
}

/** Information about one entry on disk, gathered by scan() for maintenance. */
export interface DiskEntryInfo {
  key: string;
  metaPath: string;
  /** Kernel files of this key (normally one; several if the codec changed between publishes). */
  kernelPaths: string[];
  /** The kernel file the metadata points at, if present. */
  kernelPath?: string;
  meta?: EntryMetadata;
  /** The metadata's formatVersion field, even when the rest does not parse (entries of other formats). */
  formatVersion?: number;
  /** Bytes of all its files. */
  bytes: number;
  /** mtime of the kernel file (touched on hits), or of the metadata when the kernel is missing. */
  lastUseMs: number;
}

export interface DiskScan {
  entries: Map<string, DiskEntryInfo>;
  /** Kernel files with no metadata at all (a publish under way, or a killed writer). */
  orphanKernels: { path: string; mtimeMs: number; bytes: number }[];
  temps: { path: string; mtimeMs: number }[];
  locks: string[];
  /** Manifest files: family key and path. */
  manifests: { family: string; path: string }[];
  /** Files that do not belong (unknown names). */
  strays: string[];
}

/** The persistent tier: one directory, atomic publishes, lock-free verified reads. */
export class DiskTier implements CacheTier {
  readonly name = 'disk';
  readonly kernelsDir: string;
  readonly metadataDir: string;
  readonly tempDir: string;
  readonly locksDir: string;
  readonly statsDir: string;
  readonly manifestsDir: string;

  private constructor(
    readonly root: string,
    private readonly opts: DiskTierOptions,
  ) {
    this.kernelsDir = join(root, 'kernels');
    this.metadataDir = join(root, 'metadata');
    this.tempDir = join(root, 'temp');
    this.locksDir = join(root, 'locks');
    this.statsDir = join(root, 'stats');
    this.manifestsDir = join(root, 'manifests');
  }

  /**
   * Creates (mode 0700) and checks the directory. Returns undefined, after one warning, when it cannot be used:
   * unsafe (world-writable or another user's: a planted cubin is code on the GPU), uncreatable, or written by a
   * newer cache format. The cache then runs memory-only.
   */
  static open(root: string, opts: DiskTierOptions): DiskTier | undefined {
    const log = opts.log;
    try {
      fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    } catch (e) {
      log.warnOnce(
        'dir-unusable',
        `cannot create the cache directory ${root} (${errorCode(e)}); running with the in-memory cache only. ` +
          `Set CUOP_CACHE_DIR to a writable directory, or CUOP_CACHE_DISABLE=1 to silence this.`,
      );
      return undefined;
    }
    let reason: string | undefined;
    try {
      reason = unsafeDirReason(root);
    } catch (e) {
      reason = `it cannot be inspected (${errorCode(e)})`;
    }
    if (reason) {
      log.warnOnce(
        'dir-unsafe',
        `refusing the cache directory ${root}: ${reason}. Cached GPU code loaded from it could have been planted by ` +
          `another user, so the disk cache is off and kernels are cached in memory only. ` +
          `Fix: chmod 700 and chown it to yourself, or point CUOP_CACHE_DIR at a private directory.`,
      );
      return undefined;
    }
    const tier = new DiskTier(root, opts);
    try {
      const fmtPath = join(root, FORMAT_FILE);
      let onDisk: number | undefined;
      try {
        onDisk = Number.parseInt(fs.readFileSync(fmtPath, 'utf8').trim(), 10);
      } catch {
        onDisk = undefined;
      }
      if (onDisk !== undefined && Number.isFinite(onDisk) && onDisk > CACHE_FORMAT_VERSION) {
        log.warnOnce(
          'dir-future-format',
          `the cache directory ${root} uses cache format ${onDisk}, newer than this cuop's (${CACHE_FORMAT_VERSION}); ` +
            `leaving it alone and caching in memory only. Upgrade cuop or use another CUOP_CACHE_DIR.`,
        );
        return undefined;
      }
      for (const d of [
        tier.kernelsDir,
        tier.metadataDir,
        tier.manifestsDir,
        tier.tempDir,
        tier.locksDir,
        tier.statsDir,
      ]) {
        fs.mkdirSync(d, { recursive: true, mode: 0o700 });
      }
      if (onDisk !== CACHE_FORMAT_VERSION)
        fs.writeFileSync(fmtPath, `${CACHE_FORMAT_VERSION}\n`, { mode: 0o600 });
      const tag = join(root, 'CACHEDIR.TAG');
      if (!fs.existsSync(tag)) fs.writeFileSync(tag, CACHEDIR_TAG, { mode: 0o600 });
    } catch (e) {
      // Read-only but otherwise fine: keep serving reads; writes will fail and be counted.
      log.warnOnce(
        'dir-readonly',
        `cannot initialise the cache directory ${root} (${errorCode(e)}: ${errorText(e)}); ` +
          `existing entries are still read, new ones are kept in memory only.`,
      );
    }
    return tier;
  }

  private shard(key: string): string {
    return key.slice(0, 2);
  }

  metaPath(key: string): string {
    return join(this.metadataDir, this.shard(key), `${key}.json`);
  }

  kernelPath(key: string, imageKind: 'cubin' | 'ptx', codec: Codec): string {
    return join(this.kernelsDir, this.shard(key), `${key}.${imageKind}${codecSuffix(codec)}`);
  }

  manifestPath(family: string): string {
    return join(this.manifestsDir, this.shard(family), `${family}.json`);
  }

  /** The family's manifest, or undefined when there is none or it is unreadable (it is then rewritten). */
  readManifest(family: string): Manifest | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.manifestPath(family), 'utf8');
    } catch {
      return undefined;
    }
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
    const stem = `${family}.${process.pid}.${threadId}.${randomBytes(4).toString('hex')}.manifest`;
    const tmp = await this.writeTemp(stem, JSON.stringify(manifest), this.opts.now());
    try {
      await fsp.mkdir(join(this.manifestsDir, this.shard(family)), { recursive: true, mode: 0o700 });
      await fsp.rename(tmp, this.manifestPath(family));
    } catch (e) {
      await fsp.unlink(tmp).catch(() => {});
      throw e;
    }
  }

  lockPath(key: string): string {
    return join(this.locksDir, `${key}.lock`);
  }

  /** True when a metadata file (the commit record) exists; one stat, used by waiters polling for a publish. */
  committed(key: string): boolean {
    return fs.existsSync(this.metaPath(key));
  }

  private corrupt(key: string, reason: string, paths: string[]): undefined {
    let repaired = true;
    for (const p of paths) {
      try {
        fs.unlinkSync(p);
      } catch (e) {
        if (errorCode(e) !== 'ENOENT') repaired = false;
      }
    }
    this.opts.hooks.corrupt(this.name, key, reason, repaired);
    return undefined;
  }

  /**
   * Lock-free verified read: metadata (schema, format version, identity) → kernel file → stored size → decompress →
   * raw size → SHA-256 (when checksum is on). Anything wrong deletes the entry, reports it and returns a miss.
   * Synchronous on purpose: a hit is two small reads, and the promise API would triple its cost.
   */
  getSync(key: string, expect?: ExpectedIdentity): TierRecord | undefined {
    const r = this.inspect(key, expect, this.opts.checksum);
    if (r === undefined) return undefined;
    if ('reason' in r) return this.corrupt(key, r.reason, r.paths);
    return r;
  }

  /** Committed entries (metadata files) now: one directory listing per shard, no file is opened. */
  countEntries(): number {
    let n = 0;
    let shards: string[];
    try {
      shards = fs.readdirSync(this.metadataDir);
    } catch {
      return 0;
    }
    for (const shard of shards) {
      try {
        for (const name of fs.readdirSync(join(this.metadataDir, shard))) if (name.endsWith('.json')) n++;
      } catch {
        // not a shard directory
      }
    }
    return n;
  }

  /** Full verification of one entry without touching it (checksum always): undefined when sound, else why not. */
  verify(key: string): string | undefined {
    const r = this.inspect(key, undefined, true, false);
    if (r === undefined) return 'metadata missing or unreadable';
    return 'reason' in r ? r.reason : undefined;
  }

  private inspect(
    key: string,
    expect: ExpectedIdentity | undefined,
    checksum: boolean,
    countBytes = true,
  ): TierRecord | { reason: string; paths: string[] } | undefined {
    const metaPath = this.metaPath(key);
    let text: string;
    try {
      text = fs.readFileSync(metaPath, 'utf8');
    } catch (e) {
      if (errorCode(e) !== 'ENOENT') this.opts.log.debug(`disk read of ${metaPath} failed: ${errorCode(e)}`);
      return undefined;
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
    if (
      meta.key !== key ||
      (expect &&
        (meta.target !== expect.target ||
          meta.requestedImageKind !== expect.imageKind ||
          meta.compiler.id !== expect.compiler.id ||
          meta.compiler.version !== expect.compiler.version))
    ) {
      return { reason: 'metadata describes another entry', paths: both };
    }
    let stored: Buffer;
    try {
      stored = readExpected(kernelPath, meta.storedBytes);
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return { reason: 'kernel file missing', paths: [metaPath] };
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
    if (checksum) {
      const sum = createHash('sha256').update(image).digest('hex');
      if (sum !== meta.checksum.value) return { reason: 'checksum mismatch', paths: both };
    }
    if (countBytes) this.opts.hooks.bytesRead(stored.length + text.length);
    return { key, image, meta };
  }

  async get(key: string, expect?: ExpectedIdentity): Promise<TierRecord | undefined> {
    return this.getSync(key, expect);
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
          fs.utimesSync(p, t, t);
          return true;
        } catch {
          // try the next path
        }
      }
      return false;
    }
    fs.utimes(first, t, t, (e) => {
      if (e && second) fs.utimes(second, t, t, () => {});
    });
    return true;
  }

  private async writeTemp(name: string, data: Buffer | string, mtimeMs: number): Promise<string> {
    const path = join(this.tempDir, name);
    const fh = await fsp.open(path, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
      const t = mtimeMs / 1000;
      await fh.utimes(t, t);
    } finally {
      await fh.close();
    }
    return path;
  }

  private async syncDir(dir: string): Promise<void> {
    try {
      const fh = await fsp.open(dir, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch {
      // Not supported everywhere; the rename order already gives atomic visibility.
    }
  }

  /**
   * Atomic publish: both files are written and fsynced in temp/, then the kernel is renamed into place and then the
   * metadata (the commit record). A reader sees either no entry or a complete one. Throws on I/O errors (the caller
   * counts a write failure); temp files are removed on failure.
   */
  async put(record: TierRecord): Promise<void> {
    const { key } = record;
    if (!isCacheKey(key)) throw new Error(`not a cache key: ${key}`);
    const codec = this.opts.codec;
    const stored = compress(codec, record.image);
    const meta: EntryMetadata = { ...record.meta, codec, storedBytes: stored.length };
    const json = JSON.stringify(meta);
    const now = this.opts.now();
    const stem = `${key}.${process.pid}.${threadId}.${randomBytes(4).toString('hex')}`;
    const temps: string[] = [];
    try {
      temps.push(await this.writeTemp(`${stem}.kernel`, stored, now));
      temps.push(await this.writeTemp(`${stem}.json`, json, now));
      const kernelPath = this.kernelPath(key, meta.imageKind, codec);
      const metaPath = this.metaPath(key);
      const kdir = join(this.kernelsDir, this.shard(key));
      const mdir = join(this.metadataDir, this.shard(key));
      await fsp.mkdir(kdir, { recursive: true, mode: 0o700 });
      await fsp.mkdir(mdir, { recursive: true, mode: 0o700 });
      // Another writer already committed a sound entry (e.g. after a lock wait ran out): keep it rather than swap
      // its kernel file under a reader that has read its metadata.
      if (fs.existsSync(metaPath) && this.verify(key) === undefined) {
        for (const t of temps) if (t) await fsp.unlink(t).catch(() => {});
        return;
      }
      await fsp.rename(temps[0]!, kernelPath);
      temps[0] = '';
      await this.syncDir(kdir);
      await fsp.rename(temps[1]!, metaPath);
      temps[1] = '';
      await this.syncDir(mdir);
      this.opts.hooks.bytesWritten(stored.length + Buffer.byteLength(json));
    } catch (e) {
      for (const t of temps) if (t) await fsp.unlink(t).catch(() => {});
      throw e;
    }
  }

  async has(key: string): Promise<boolean> {
    return this.committed(key);
  }

  /** Removes an entry: metadata first (readers then miss), then every kernel file of the key. */
  async delete(key: string): Promise<boolean> {
    let removed = false;
    try {
      await fsp.unlink(this.metaPath(key));
      removed = true;
    } catch {
      // not there
    }
    const kdir = join(this.kernelsDir, this.shard(key));
    let names: string[] = [];
    try {
      names = await fsp.readdir(kdir);
    } catch {
      // no shard dir
    }
    for (const n of names) {
      if (n.startsWith(`${key}.`)) {
        await fsp.unlink(join(kdir, n)).then(
          () => (removed = true),
          () => {},
        );
      }
    }
    return removed;
  }

  async *keys(): AsyncIterable<string> {
    let shards: string[];
    try {
      shards = await fsp.readdir(this.metadataDir);
    } catch {
      return;
    }
    for (const s of shards.sort()) {
      let names: string[];
      try {
        names = await fsp.readdir(join(this.metadataDir, s));
      } catch {
        continue;
      }
      for (const n of names) if (n.endsWith('.json') && isCacheKey(n.slice(0, -5))) yield n.slice(0, -5);
    }
  }

  /** Removes every entry; throws when a directory could not be removed (e.g. EACCES), after trying them all. */
  async clear(): Promise<void> {
    let failure: unknown;
    for (const d of [this.metadataDir, this.kernelsDir, this.manifestsDir, this.tempDir]) {
      await fsp.rm(d, { recursive: true, force: true }).catch((e: unknown) => (failure ??= e));
      await fsp.mkdir(d, { recursive: true, mode: 0o700 }).catch(() => {});
    }
    if (failure !== undefined) throw failure;
  }

  /** Walks the directory for maintenance (async, yields to the event loop between files). */
  async scan(): Promise<DiskScan> {
    const entries = new Map<string, DiskEntryInfo>();
    const strays: string[] = [];
    const listDir = async (d: string): Promise<string[]> => fsp.readdir(d).catch(() => [] as string[]);
    const statOf = async (p: string): Promise<fs.Stats | undefined> => fsp.stat(p).catch(() => undefined);

    for (const s of (await listDir(this.metadataDir)).sort()) {
      const dir = join(this.metadataDir, s);
      for (const n of await listDir(dir)) {
        const p = join(dir, n);
        const key = n.endsWith('.json') ? n.slice(0, -5) : '';
        if (!isCacheKey(key) || key.slice(0, 2) !== s) {
          strays.push(p);
          continue;
        }
        const st = await statOf(p);
        if (!st) continue;
        let meta: EntryMetadata | undefined;
        let formatVersion: number | undefined;
        try {
          const raw = JSON.parse(await fsp.readFile(p, 'utf8')) as unknown;
          const v = (raw as { formatVersion?: unknown } | null)?.formatVersion;
          if (typeof v === 'number') formatVersion = v;
          const r = parseEntryMetadata(raw);
          if (r.success) meta = r.data;
        } catch {
          meta = undefined;
        }
        entries.set(key, {
          key,
          metaPath: p,
          kernelPaths: [],
          meta,
          formatVersion,
          bytes: st.size,
          lastUseMs: st.mtimeMs,
        });
      }
    }
    const orphanKernels: DiskScan['orphanKernels'] = [];
    for (const s of (await listDir(this.kernelsDir)).sort()) {
      const dir = join(this.kernelsDir, s);
      for (const n of await listDir(dir)) {
        const p = join(dir, n);
        const key = n.slice(0, 64);
        const st = await statOf(p);
        if (!st) continue;
        if (!isCacheKey(key) || n[64] !== '.') {
          strays.push(p);
          continue;
        }
        const e = entries.get(key);
        if (!e) {
          orphanKernels.push({ path: p, mtimeMs: st.mtimeMs, bytes: st.size });
          continue;
        }
        e.kernelPaths.push(p);
        e.bytes += st.size;
        if (e.meta && p === this.kernelPath(key, e.meta.imageKind, e.meta.codec)) {
          e.kernelPath = p;
          e.lastUseMs = st.mtimeMs;
        }
      }
    }
    const temps: DiskScan['temps'] = [];
    for (const n of await listDir(this.tempDir)) {
      const p = join(this.tempDir, n);
      const st = await statOf(p);
      if (st) temps.push({ path: p, mtimeMs: st.mtimeMs });
    }
    const locks = (await listDir(this.locksDir)).map((n) => join(this.locksDir, n));
    const manifests: DiskScan['manifests'] = [];
    for (const s of (await listDir(this.manifestsDir)).sort()) {
      for (const n of await listDir(join(this.manifestsDir, s))) {
        const family = n.endsWith('.json') ? n.slice(0, -5) : '';
        if (isCacheKey(family) && family.slice(0, 2) === s) {
          manifests.push({ family, path: join(this.manifestsDir, s, n) });
        }
      }
    }
    return { entries, orphanKernels, temps, locks, manifests, strays };
  }
}
