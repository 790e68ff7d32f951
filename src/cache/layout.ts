// The names cuop gives files in a cache directory. Maintenance removes only what matches one of them: a cache dir
// pointed at a project's folder by mistake must never lose the project's files.
import { join } from 'node:path';

export const FORMAT_FILE = 'format-version';
export const CACHEDIR_TAG_FILE = 'CACHEDIR.TAG';
export const CACHEDIR_TAG =
  'Signature: 8a477f597d28d172789f06886806bc55\n' +
  '# This file is a cache directory tag created by cuop (CUDA kernel cache).\n' +
  '# For information about cache directory tags, see https://bford.info/cachedir/\n';
/** What marks a directory as cuop's (with the format file): the tag's cuop line. */
export const CACHEDIR_TAG_MARK = 'created by cuop';

export const SUBDIRS = ['kernels', 'metadata', 'manifests', 'temp', 'locks', 'stats'] as const;
/** Where the `cuop` CLI keeps Node's compile cache of its own code (see cli/main.ts). */
export const NODE_COMPILE_CACHE = 'node-compile-cache';

const KEY = '[0-9a-f]{64}';
const SHARD_RE = /^[0-9a-f]{2}$/;
const KERNEL_RE = new RegExp(`^${KEY}\\.(cubin|ptx)(\\.(gz|br|zst))?$`);
const JSON_RE = new RegExp(`^${KEY}\\.json$`);
const TEMP_RE = new RegExp(
  `^(${KEY}\\.\\d+\\.\\d+\\.[0-9a-f]{8}\\.(kernel|json|manifest)|(compilers\\.json|format-version|CACHEDIR\\.TAG|maintenance\\.stamp|index\\.json|index-summary\\.json)\\.\\d+\\.[0-9a-f]{8})$`,
);
const LOCK_RE = new RegExp(
  `^(${KEY}|maintenance)\\.lock(\\.\\d+\\.\\d+\\.[0-9a-z]+\\.tmp|\\.(stale|release)\\.\\d+\\.\\d+\\.[0-9a-z]+)?$`,
);
const STATS_RE = /^(total\.json(\.\d+\.tmp)?|[^/]+\.\d+\.\d+\.[0-9a-z]+-\d+-[0-9a-z]+\.json(\.tmp)?)$/;

export const isShardName = (n: string): boolean => SHARD_RE.test(n);
export const isKernelFileName = (n: string): boolean => KERNEL_RE.test(n);
export const isEntryJsonName = (n: string): boolean => JSON_RE.test(n);
export const isTempName = (n: string): boolean => TEMP_RE.test(n);
export const isLockName = (n: string): boolean => LOCK_RE.test(n);
export const isStatsName = (n: string): boolean => STATS_RE.test(n);

/** The file the maintenance room keeps its index in (a root file: see maintenance-index.ts). */
export const INDEX_FILE = 'index.json';
/** Entries per shard as of the index: what `cuop cache stats` reads instead of listing every shard. */
export const INDEX_SUMMARY_FILE = 'index-summary.json';
/** When background maintenance last ran (its mtime). */
export const MAINTENANCE_STAMP = 'maintenance.stamp';
/** The JIT layer's memo of compiler identities. */
export const COMPILERS_FILE = 'compilers.json';
/** The per-directory lock of maintenance passes (and of stats compaction). */
export const MAINTENANCE_LOCK = 'maintenance';

/** A random-enough token for temp names (no crypto: a process's first randomBytes costs ~0.1 ms of setup). */
const token = (): string => Math.random().toString(16).slice(2, 10).padEnd(8, '0');

/** A root with '.', '..', '//' or a trailing '/' in it: normalized (by join) once, when its layout is made. */
const UNNORMALIZED = /(^|\/)\.\.?(\/|$)|\/\/|.\/$|^$/;

/**
 * `root` + '/' + `name`. The root is a resolved path (realpath: absolute, normalized, no trailing separator
 * unless it is '/') and the names are ones cuop generates (no separators, no '.' or '..'), so plain concatenation
 * is what path.join would return, without its normalizing pass, which dominated a fresh process's path building
 * (run once each, interpreted: ~0.1 ms of the first lookup on the CPU box).
 */
const under = (root: string, name: string): string => (root.endsWith('/') ? root + name : `${root}/${name}`);

/**
 * Every path of a cache directory, in one place: the tier, the stats, the leases and maintenance ask it for their
 * files and never build a path themselves. Keys and family keys fan out by their first two hex digits.
 */
export class CacheLayout {
  readonly kernelsDir: string;
  readonly metadataDir: string;
  readonly manifestsDir: string;
  readonly tempDir: string;
  readonly locksDir: string;
  readonly statsDir: string;
  /** The root the paths are built from (normalized). */
  private readonly base: string;

  constructor(readonly root: string) {
    const r = UNNORMALIZED.test(root) ? join(root) : root;
    this.kernelsDir = under(r, 'kernels');
    this.metadataDir = under(r, 'metadata');
    this.manifestsDir = under(r, 'manifests');
    this.tempDir = under(r, 'temp');
    this.locksDir = under(r, 'locks');
    this.statsDir = under(r, 'stats');
    this.base = r;
  }

  /** The top-level directories, in the order they are created. */
  subdirs(): string[] {
    return [this.kernelsDir, this.metadataDir, this.manifestsDir, this.tempDir, this.locksDir, this.statsDir];
  }

  static shardOf(key: string): string {
    return key.slice(0, 2);
  }

  metaShardDir(shard: string): string {
    return `${this.metadataDir}/${shard}`;
  }

  kernelShardDir(shard: string): string {
    return `${this.kernelsDir}/${shard}`;
  }

  manifestShardDir(shard: string): string {
    return `${this.manifestsDir}/${shard}`;
  }

  metaPath(key: string): string {
    return `${this.metadataDir}/${key.slice(0, 2)}/${key}.json`;
  }

  kernelFileName(key: string, imageKind: 'cubin' | 'ptx' | 'ltoir', codecSuffix: string): string {
    return `${key}.${imageKind}${codecSuffix}`;
  }

  kernelPath(key: string, imageKind: 'cubin' | 'ptx' | 'ltoir', codecSuffix: string): string {
    return `${this.kernelsDir}/${key.slice(0, 2)}/${this.kernelFileName(key, imageKind, codecSuffix)}`;
  }

  manifestPath(family: string): string {
    return `${this.manifestsDir}/${family.slice(0, 2)}/${family}.json`;
  }

  /** `name`: a key, or MAINTENANCE_LOCK. */
  lockPath(name: string): string {
    return `${this.locksDir}/${name}.lock`;
  }

  rootFile(name: string): string {
    return under(this.base, name);
  }

  /** A unique temp file for an entry's part ('kernel' | 'json') or a manifest, matching isTempName. */
  entryTemp(key: string, part: 'kernel' | 'json' | 'manifest', threadId: number): string {
    return `${this.tempDir}/${key}.${process.pid}.${threadId}.${token()}.${part}`;
  }

  /** A unique temp file for a root file, matching isTempName. */
  rootTemp(name: string): string {
    return `${this.tempDir}/${name}.${process.pid}.${token()}`;
  }
}

/**
 * Where dist/index.js keeps V8's code cache of cuop's own bundle (scripts/bundle-lib.mjs writes that loader): in the
 * default cache directory only, and only when it is a private cuop cache.
 */
export const CODE_CACHE_DIR = 'code-cache';
