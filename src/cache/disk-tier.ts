import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { codecSuffix, compress, decompress, type Codec } from './codec.js';
import { CACHE_FORMAT_VERSION, isCacheKey } from './key.js';
import { errorCode, errorText, type CacheLog } from './logger.js';
import { parseManifest, type Manifest } from './manifest.js';
import { parseEntryMetadata, type EntryMetadata } from './metadata.js';
import type { CacheTier, ExpectedIdentity, TierHooks, TierRecord } from './tier.js';
import {
  CACHEDIR_TAG,
  CACHEDIR_TAG_FILE,
  CACHEDIR_TAG_MARK,
  FORMAT_FILE,
  NODE_COMPILE_CACHE,
  isEntryJsonName,
  isKernelFileName,
  isLockName,
  isShardName,
  isTempName,
} from './layout.js';
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
} from './safe-fs.js';
import { dirMode, dirProblem, trustRule, type TrustRule } from './trust.js';

/** Why a read failure means the path holds something cuop must not use (and may remove), else undefined. */
function unusable(e: unknown): string | undefined {
  if (e instanceof UntrustedPathError) return e.reason;
  const code = errorCode(e);
  if (code === 'ELOOP') return 'is a symbolic link (never followed)';
  if (code === 'EISDIR') return 'is a directory';
  return undefined;
}

/** Bounds of what a file of the tree can be: anything larger is not ours (or is broken). */
const MAX_METADATA_BYTES = 64 * 2 ** 20;
const MAX_MANIFEST_BYTES = 16 * 2 ** 20;
const MAX_SMALL_FILE_BYTES = 4096;

/** Why a directory is not safe to load GPU code from under `rule`, or undefined when it is (links followed). */
export function unsafeDirReason(dir: string, rule: TrustRule = trustRule('private')): string | undefined {
  return dirProblem(fs.statSync(dir), rule);
}

/**
 * True when `root` holds nothing, or carries cuop's marker (its CACHEDIR.TAG and format file), or holds only the
 * marker's files while another process is writing them (format file first, then the tag: see markNew).
 */
function adoptable(root: string, rule: TrustRule): boolean {
  const names = fs.readdirSync(root);
  if (names.length === 0) return true;
  // Both marker files beside cuop's directories: a cuop cache (the tag's text is read only while it is young).
  if (names.includes(FORMAT_FILE) && names.includes(CACHEDIR_TAG_FILE) && names.includes('kernels'))
    return true;
  const tag = readTrustedTextOrUndefined(join(root, CACHEDIR_TAG_FILE), rule, MAX_SMALL_FILE_BYTES);
  // The tag may be half written by another process opening the directory at the same moment (see markNew).
  const marked = tag !== undefined && (tag.includes(CACHEDIR_TAG_MARK) || CACHEDIR_TAG.startsWith(tag));
  if (marked && names.includes(FORMAT_FILE)) return true;
  // Only names cuop makes before the marker is complete: the marker's files and the CLI's compile cache, which it
  // may make in an empty directory first.
  const early = names.every((n) => n === FORMAT_FILE || n === CACHEDIR_TAG_FILE || n === NODE_COMPILE_CACHE);
  return early && (tag === undefined || marked);
}

/**
 * Marks a directory as cuop's before anything else goes into it, so that a process opening it at the same moment
 * sees a cuop cache in the making rather than a foreign directory. Exclusive creates: the first writer wins.
 */
function markNew(root: string, rule: TrustRule): void {
  for (const [name, text] of [
    [FORMAT_FILE, `${CACHE_FORMAT_VERSION}\n`],
    [CACHEDIR_TAG_FILE, CACHEDIR_TAG],
  ] as const) {
    try {
      createFileSync(join(root, name), text, rule);
    } catch (e) {
      if (errorCode(e) !== 'EEXIST') throw e;
    }
  }
}

export interface DiskTierOptions {
  /** Whose files and directories are trusted (see trust.ts). */
  rule: TrustRule;
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
  /** Files with names cuop never generates: reported, never removed (they are not cuop's). */
  strays: string[];
  /**
   * Something else at a path cuop generates (a directory where a file belongs, a file where a shard directory
   * belongs, a link): cuop's own path, so maintenance removes it.
   */
  squatters: string[];
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

  /** Fan-out directories checked by this process (a lookup checks each once). */
  private readonly goodShards = new Set<string>();

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
   * Creates and checks the directory tree. Returns undefined, after one warning, when it cannot be used: unsafe (a
   * directory of another user, writable by others, a link inside the tree: a planted cubin is code on the GPU),
   * not cuop's (a non-empty directory without cuop's marker: its files are not cuop's to manage), uncreatable, or
   * written by a newer cache format. The cache then runs memory-only.
   */
  static open(given: string, opts: DiskTierOptions): DiskTier | undefined {
    const { log, rule } = opts;
    const refuse = (kind: string, message: string): undefined => {
      log.warnOnce(kind, message);
      return undefined;
    };
    let root: string;
    try {
      if (!fs.existsSync(given)) {
        fs.mkdirSync(given, { recursive: true, mode: dirMode(rule) });
        fs.chmodSync(given, dirMode(rule));
      }
      // The root itself may be reached through a link (~/.cache on another disk); nothing below it is followed.
      root = fs.realpathSync(given);
    } catch (e) {
      return refuse(
        'dir-unusable',
        `cannot create the cache directory ${given} (${errorCode(e)}); running with the in-memory cache only. ` +
          `Set CUOP_CACHE_DIR to a writable directory, or CUOP_CACHE_DISABLE=1 to silence this.`,
      );
    }
    const fix =
      rule.sharing === 'group'
        ? `Fix: chgrp it to your team's group and chmod 2770 (group mode is on), or use a private directory.`
        : `Fix: chown it to yourself and chmod 700, point CUOP_CACHE_DIR at a private directory, or share it on ` +
          `purpose with CUOP_CACHE_SHARED=group.`;
    const unsafe = (path: string, reason: string): undefined =>
      refuse(
        'dir-unsafe',
        `refusing the cache directory ${given}: ${path === root ? '' : `${path}: `}${reason}. Cached GPU code ` +
          `loaded from it could have been planted by another user, so the disk cache is off and kernels are ` +
          `cached in memory only. ${fix}`,
      );
    let reason: string | undefined;
    try {
      reason = dirProblem(fs.lstatSync(root), rule);
    } catch (e) {
      reason = `it cannot be inspected (${errorCode(e)})`;
    }
    if (reason) return unsafe(root, reason);
    const fmtText = readTrustedTextOrUndefined(join(root, FORMAT_FILE), rule, MAX_SMALL_FILE_BYTES);
    const onDisk = fmtText === undefined ? undefined : Number.parseInt(fmtText.trim(), 10);
    if (onDisk !== undefined && Number.isFinite(onDisk) && onDisk > CACHE_FORMAT_VERSION) {
      return refuse(
        'dir-future-format',
        `the cache directory ${given} uses cache format ${onDisk}, newer than this cuop's (${CACHE_FORMAT_VERSION}); ` +
          `leaving it alone and caching in memory only. Upgrade cuop or use another CUOP_CACHE_DIR.`,
      );
    }
    try {
      // Empty, or only what cuop makes first: complete the marker before anything else (another process may be
      // opening the directory at this moment and must see a cuop cache in the making).
      if (
        fs
          .readdirSync(root)
          .every((n) => n === NODE_COMPILE_CACHE || n === FORMAT_FILE || n === CACHEDIR_TAG_FILE)
      ) {
        try {
          markNew(root, rule);
        } catch {
          // unwritable: it stays empty, and the read-only case below says so
        }
      }
      if (!adoptable(root, rule)) {
        return refuse(
          'dir-foreign',
          `refusing the cache directory ${given}: it is not empty and is not a cuop cache (no ${CACHEDIR_TAG_FILE} ` +
            `by cuop and ${FORMAT_FILE}), so its files are not cuop's to manage. Point CUOP_CACHE_DIR at an empty ` +
            `or new directory; kernels are cached in memory only for now.`,
        );
      }
    } catch (e) {
      return unsafe(root, `it cannot be listed (${errorCode(e)})`);
    }
    const tier = new DiskTier(root, opts);
    const readOnly = (e: unknown): DiskTier => {
      // Read-only but otherwise fine: keep serving reads; writes will fail and be counted.
      log.warnOnce(
        'dir-readonly',
        `cannot initialise the cache directory ${given} (${errorCode(e)}: ${errorText(e)}); ` +
          `existing entries are still read, new ones are kept in memory only.`,
      );
      return tier;
    };
    try {
      for (const d of tier.subdirs()) ensureTrustedDir(d, rule);
    } catch (e) {
      if (e instanceof UntrustedPathError) return unsafe(e.path, e.reason);
      return readOnly(e);
    }
    try {
      if (onDisk !== CACHE_FORMAT_VERSION) {
        // A new or older-format cache (or a format file that is not one: a FIFO, a directory): written anew, tag too.
        tier.replaceSmallFile(FORMAT_FILE, `${CACHE_FORMAT_VERSION}\n`);
        tier.replaceSmallFile(CACHEDIR_TAG_FILE, CACHEDIR_TAG);
      }
    } catch (e) {
      return readOnly(e);
    }
    return tier;
  }

  private subdirs(): string[] {
    return [this.kernelsDir, this.metadataDir, this.manifestsDir, this.tempDir, this.locksDir, this.statsDir];
  }

  /** A top-level file of ours (maintenance stamp, identity memo), replaced atomically; never through a link. */
  writeRootFile(name: string, text: string): void {
    this.replaceSmallFile(name, text);
  }

  /** A top-level file of ours, read safely (regular, trusted, at most 1 MiB); undefined when absent or unusable. */
  readRootFile(name: string): string | undefined {
    return readTrustedTextOrUndefined(join(this.root, name), this.opts.rule, 2 ** 20);
  }

  /** A top-level file of ours, replaced atomically (temp + rename): a FIFO or directory there is replaced too. */
  private replaceSmallFile(name: string, text: string): void {
    const tmp = join(this.tempDir, `${name}.${process.pid}.${randomBytes(4).toString('hex')}`);
    createFileSync(tmp, text, this.opts.rule);
    const dest = join(this.root, name);
    if (fs.lstatSync(dest, { throwIfNoEntry: false })?.isDirectory()) removePath(dest);
    fs.renameSync(tmp, dest);
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
    const path = this.manifestPath(family);
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
    const stem = `${family}.${process.pid}.${threadId}.${randomBytes(4).toString('hex')}.manifest`;
    const tmp = await this.writeTemp(stem, JSON.stringify(manifest), this.opts.now());
    try {
      const dir = join(this.manifestsDir, this.shard(family));
      if (!this.shardDirOk(dir, true))
        throw new UntrustedPathError(dir, 'the fan-out directory is not usable');
      const dest = this.manifestPath(family);
      if ((await fsp.lstat(dest).catch(() => undefined))?.isDirectory()) await removePathAsync(dest);
      await fsp.rename(tmp, dest);
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
    return fs.lstatSync(this.metaPath(key), { throwIfNoEntry: false })?.isFile() ?? false;
  }

  private corrupt(key: string, reason: string, paths: string[]): undefined {
    let repaired = true;
    for (const p of paths) repaired = removePath(p) && repaired;
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
    if (!this.shardDirOk(dirname(metaPath), false)) return undefined;
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
      if (!this.shardDirOk(dirname(kernelPath), false))
        return { reason: 'kernel file missing', paths: [metaPath] };
      stored = readTrusted(kernelPath, this.opts.rule, meta.storedBytes);
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

  private async writeTemp(name: string, data: Buffer | string, mtimeMs: number): Promise<string> {
    const path = join(this.tempDir, name);
    await createFile(path, data, this.opts.rule, mtimeMs);
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
      for (const d of [kdir, mdir]) {
        if (!this.shardDirOk(d, true)) throw new UntrustedPathError(d, 'the fan-out directory is not usable');
      }
      // A directory squatting a path cuop generates would make every publish of this key fail, forever.
      for (const dest of [kernelPath, metaPath]) {
        if ((await fsp.lstat(dest).catch(() => undefined))?.isDirectory()) await removePathAsync(dest);
      }
      // Another writer already committed a sound entry (e.g. after a lock wait ran out): keep it rather than swap
      // its kernel file under a reader that has read its metadata.
      if (this.committed(key) && this.verify(key) === undefined) {
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
    const metaPath = this.metaPath(key);
    if (await fsp.lstat(metaPath).catch(() => undefined)) removed = await removePathAsync(metaPath);
    const kdir = join(this.kernelsDir, this.shard(key));
    let names: string[] = [];
    try {
      names = await fsp.readdir(kdir);
    } catch {
      // no shard dir
    }
    for (const n of names) {
      if (n.startsWith(`${key}.`) && isKernelFileName(n) && (await removePathAsync(join(kdir, n))))
        removed = true;
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
    // Only what cuop wrote, by name: files of other names stay where they are.
    const scan = await this.scan();
    const paths = [
      ...[...scan.entries.values()].flatMap((e) => [e.metaPath, ...e.kernelPaths]),
      ...scan.orphanKernels.map((k) => k.path),
      ...scan.temps.map((t) => t.path),
      ...scan.manifests.map((m) => m.path),
      ...scan.squatters,
    ];
    let failed: string | undefined;
    for (const p of paths) if (!(await removePathAsync(p))) failed ??= p;
    if (failed !== undefined) {
      const err = new Error(`cannot remove ${failed}`) as NodeJS.ErrnoException;
      err.code = 'EACCES';
      throw err;
    }
  }

  /**
   * Walks the directory for maintenance (async, yields to the event loop between files). Nothing is followed:
   * lstat only. Names cuop does not generate are listed as strays and left alone.
   */
  async scan(): Promise<DiskScan> {
    const entries = new Map<string, DiskEntryInfo>();
    const strays: string[] = [];
    const squatters: string[] = [];
    const listDir = async (d: string): Promise<string[]> => fsp.readdir(d).catch(() => [] as string[]);
    const lstatOf = async (p: string): Promise<fs.Stats | undefined> => fsp.lstat(p).catch(() => undefined);
    /** The fan-out directories of a top-level dir; anything else at a shard name is cuop's path taken: a squatter. */
    const shards = async (top: string): Promise<string[]> => {
      const out: string[] = [];
      for (const s of (await listDir(top)).sort()) {
        const p = join(top, s);
        if (!isShardName(s)) {
          strays.push(p);
          continue;
        }
        const st = await lstatOf(p);
        if (st?.isDirectory()) out.push(s);
        else if (st) squatters.push(p);
      }
      return out;
    };

    for (const s of await shards(this.metadataDir)) {
      const dir = join(this.metadataDir, s);
      for (const n of await listDir(dir)) {
        const p = join(dir, n);
        const key = n.slice(0, -5);
        if (!isEntryJsonName(n) || key.slice(0, 2) !== s) {
          strays.push(p);
          continue;
        }
        const st = await lstatOf(p);
        if (!st) continue;
        if (!st.isFile()) {
          squatters.push(p);
          continue;
        }
        let meta: EntryMetadata | undefined;
        let formatVersion: number | undefined;
        try {
          const raw = JSON.parse(readTrustedText(p, this.opts.rule, MAX_METADATA_BYTES)) as unknown;
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
    for (const s of await shards(this.kernelsDir)) {
      const dir = join(this.kernelsDir, s);
      for (const n of await listDir(dir)) {
        const p = join(dir, n);
        const key = n.slice(0, 64);
        if (!isKernelFileName(n) || key.slice(0, 2) !== s) {
          strays.push(p);
          continue;
        }
        const st = await lstatOf(p);
        if (!st) continue;
        if (!st.isFile()) {
          squatters.push(p);
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
      if (!isTempName(n)) {
        strays.push(p);
        continue;
      }
      const st = await lstatOf(p);
      if (st) temps.push({ path: p, mtimeMs: st.mtimeMs });
    }
    const locks: string[] = [];
    for (const n of await listDir(this.locksDir)) {
      (isLockName(n) ? locks : strays).push(join(this.locksDir, n));
    }
    const manifests: DiskScan['manifests'] = [];
    for (const s of await shards(this.manifestsDir)) {
      for (const n of await listDir(join(this.manifestsDir, s))) {
        const p = join(this.manifestsDir, s, n);
        const family = n.slice(0, -5);
        if (isEntryJsonName(n) && family.slice(0, 2) === s) manifests.push({ family, path: p });
        else strays.push(p);
      }
    }
    return { entries, orphanKernels, temps, locks, manifests, strays, squatters };
  }
}
