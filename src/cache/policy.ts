import { homedir } from 'node:os';
import { attachDetails, CuopError, registerErrorClass } from '../cuda/errors.js';
import { isAbsolute, join, resolve } from 'node:path';
import {
  DEFAULT_MAX_DISK_BYTES,
  getSettings,
  MAX_SALT_LENGTH,
  parseByteSize,
  settingsProblem,
  type Settings,
  type SettingsProblem,
} from '../settings/index.js';
import { CODECS, zstdAvailable, zstdUnavailableMessage, type Codec } from './codec.js';
import type { CacheSharing } from './trust.js';

// Byte sizes are parsed by the settings layer (CUOP_CACHE_MAX_SIZE); re-exported for the cache's callers.
export { parseByteSize };

const DAY = 86_400_000;

/**
 * Default codec, chosen by measurement (`npm run bench:cache`, bench/cache.ts, 2-core CPU box, Node 20): for the
 * 12.6 KB sgemm cubin a whole uncompressed disk hit of the cache layer (read metadata + image, SHA-256 verify) costs
 * ≈ 20–30 µs, while decompressing it costs gzip ≈ 24 µs and brotli ≈ 22–27 µs — 90–120 % of the hit, against the
 * design's 10 % budget; for a 1 MB cubin (disk hit ≈ 1.2–1.3 ms) gzip/brotli decompression is ≈ 0.9–1.1 ms (73–90 %).
 * zstd is absent from Node 20. So images are stored uncompressed by default; the disk bound is enforced by
 * eviction, and gzip/brotli (3–29× smaller) stay available for users short on disk.
 */
export const DEFAULT_CODEC: Codec = 'none';

/** The resolved policy: every field present and valid. */
export interface CachePolicy {
  /** Upper bound of the disk tier, bytes (kernel + metadata files). Input accepts '5GB'-style strings. */
  readonly maxDiskBytes: number;
  /** Upper bound of the disk tier, entries. */
  readonly maxEntries: number;
  /** An entry unused (no hit, no publish) for longer than this expires. */
  readonly maxAgeMs: number;
  readonly compression: Codec;
  /** Verify size + SHA-256 of every disk hit (the checksum is always written). */
  readonly checksum: boolean;
  readonly memoryMaxBytes: number;
  readonly memoryMaxEntries: number;
  /** Background maintenance period; 0 turns it off. */
  readonly maintenanceIntervalMs: number;
  /** How long a process waits for another one compiling the same key before compiling itself. */
  readonly lockWaitMs: number;
  /** Temp files and kernels without metadata younger than this are left alone (a publish may be under way). */
  readonly orphanGraceMs: number;
  /** At most one LRU touch (utimes of the kernel file) per key per process per this period. */
  readonly touchIntervalMs: number;
  /** How often this process's stats deltas are persisted (also at close() and at exit). */
  readonly statsFlushMs: number;
  /**
   * Eviction weight: score = lastUseMs + frequencyWeightMs · log2(1 + useCount); lowest score goes first.
   * With the default (1 day), an entry used 7 times outlives one used once that is up to 3 days more recent.
   */
  readonly frequencyWeightMs: number;
  /** Store the source text in the metadata (off: only its SHA-256). */
  readonly saveSource: boolean;
  /**
   * Part of every key: change it to separate caches by something cuop cannot see (a library linked at run time, a
   * patched driver, a deployment). CUOP_CACHE_SALT. Only its SHA-256 is stored.
   */
  readonly salt: string;
  /**
   * 'private' (default): every file and directory of the cache must be this user's and writable by nobody else.
   * 'group': a team shares one machine's cache on purpose (CUOP_CACHE_SHARED=group): the tree is made setgid,
   * mode 2770, files 0660, and entries of any member of the directory's group are used. World-writable is refused
   * in both.
   */
  readonly sharing: CacheSharing;
  readonly debug: boolean;
}

/** What callers may pass: any subset; byte sizes also as strings like '5GB'. */
export type CachePolicyInput = {
  -readonly [K in keyof CachePolicy]?: K extends 'maxDiskBytes' | 'memoryMaxBytes'
    ? number | string
    : CachePolicy[K];
};

export const DEFAULT_POLICY: CachePolicy = Object.freeze({
  maxDiskBytes: DEFAULT_MAX_DISK_BYTES,
  maxEntries: 100_000,
  maxAgeMs: 30 * DAY,
  compression: DEFAULT_CODEC,
  checksum: true,
  memoryMaxBytes: 256 * 2 ** 20,
  memoryMaxEntries: 4096,
  maintenanceIntervalMs: 3_600_000,
  lockWaitMs: 60_000,
  orphanGraceMs: 10 * 60_000,
  touchIntervalMs: 60_000,
  statsFlushMs: 10_000,
  frequencyWeightMs: DAY,
  saveSource: false,
  salt: '',
  sharing: 'private',
  debug: false,
});

// One parser per field: returns the value, or throws a message saying what is expected. A table rather than zod:
// importing zod cost 40–70 ms of every process's start (measured), for a dozen scalar fields.
type FieldParser = (v: unknown) => unknown;
const shown = (v: unknown): string =>
  typeof v === 'number' || typeof v === 'bigint' || v === undefined
    ? String(v)
    : (JSON.stringify(v) ?? String(v));
const expect = (ok: boolean, what: string, v: unknown): void => {
  if (!ok) throw new Error(`expected ${what}, got ${shown(v)}`);
};
const bytes: FieldParser = (v) => {
  if (typeof v === 'string') return parseByteSize(v);
  expect(
    typeof v === 'number' && Number.isSafeInteger(v) && v >= 0,
    'a byte count (integer ≥ 0) or a size like "5GB"',
    v,
  );
  return v;
};
const count =
  (min: number): FieldParser =>
  (v) => {
    expect(typeof v === 'number' && Number.isSafeInteger(v) && v >= min, `an integer ≥ ${min}`, v);
    return v;
  };
const ms: FieldParser = (v) => {
  expect(typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a finite number of milliseconds ≥ 0', v);
  return v;
};
const bool: FieldParser = (v) => {
  expect(typeof v === 'boolean', 'true or false', v);
  return v;
};
const text: FieldParser = (v) => {
  expect(
    typeof v === 'string' && v.length <= MAX_SALT_LENGTH,
    `a string of at most ${MAX_SALT_LENGTH} characters`,
    v,
  );
  return v;
};
const sharing: FieldParser = (v) => {
  expect(v === 'private' || v === 'group', `'private' or 'group'`, v);
  return v;
};
const codec: FieldParser = (v) => {
  expect(
    typeof v === 'string' && (CODECS as readonly string[]).includes(v),
    `one of ${CODECS.join(', ')}`,
    v,
  );
  if (v === 'zstd' && !zstdAvailable()) throw new Error(zstdUnavailableMessage());
  return v;
};

const FIELDS: Readonly<Record<keyof CachePolicy, FieldParser>> = {
  maxDiskBytes: bytes,
  maxEntries: count(0),
  maxAgeMs: ms,
  compression: codec,
  checksum: bool,
  memoryMaxBytes: bytes,
  memoryMaxEntries: count(1),
  maintenanceIntervalMs: ms,
  lockWaitMs: ms,
  orphanGraceMs: ms,
  touchIntervalMs: ms,
  statsFlushMs: ms,
  frequencyWeightMs: ms,
  saveSource: bool,
  salt: text,
  sharing,
  debug: bool,
};

export class CachePolicyError extends CuopError {
  override readonly name = 'CachePolicyError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`invalid cache policy field '${field}': ${message}`);
    attachDetails(this, { field });
  }
}
registerErrorClass('CachePolicyError', CachePolicyError);

/** A CUOP_* variable whose value could not be used: the default stands, and the cache warns once. */
export type EnvProblem = SettingsProblem;

// Each policy field the environment can set: its variable and its value in the settings (read, parsed and
// validated by src/settings, with the same rules and messages as the field's parser above).
interface FromEnv<F extends keyof CachePolicy = keyof CachePolicy> {
  readonly field: F;
  readonly variable: string;
  readonly value: (s: Settings) => CachePolicy[F];
}
const fromEnv = <F extends keyof CachePolicy>(
  field: F,
  variable: string,
  value: (s: Settings) => CachePolicy[F],
): FromEnv => ({ field, variable, value }) as FromEnv;
const FROM_ENV: readonly FromEnv[] = [
  fromEnv('maxDiskBytes', 'CUOP_CACHE_MAX_SIZE', (s) => s.cache.maxDiskBytes),
  fromEnv('salt', 'CUOP_CACHE_SALT', (s) => s.cache.salt),
  fromEnv('sharing', 'CUOP_CACHE_SHARED', (s) => s.cache.sharing),
  fromEnv('debug', 'CUOP_DEBUG', (s) => s.debug),
];

/**
 * Validates a policy. An explicit bad field throws a CachePolicyError naming it. A bad CUOP_* variable never
 * throws (the cache must not make a call fail): it is reported to `onEnvProblem` and the default stands.
 * Explicit fields win over the environment.
 */
export function resolvePolicy(
  input: Partial<CachePolicyInput> = {},
  env: NodeJS.ProcessEnv = process.env,
  onEnvProblem: (p: EnvProblem) => void = () => {},
): CachePolicy {
  const out: Record<string, unknown> = { ...DEFAULT_POLICY };
  const settings = getSettings(env);
  for (const { field, variable, value } of FROM_ENV) {
    if ((input as Record<string, unknown>)[field] !== undefined) continue; // explicit wins, unchecked env
    const problem = settingsProblem(settings, variable);
    if (problem) onEnvProblem(problem);
    else out[field] = value(settings); // the default when unset: the same as DEFAULT_POLICY's
  }
  // Not a policy field, but read by the cache (cacheDisabled): a bad value is said too, and the disk cache stays on.
  const disable = settingsProblem(settings, 'CUOP_CACHE_DISABLE');
  if (disable) onEnvProblem(disable);
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    const parse = (FIELDS as Record<string, FieldParser | undefined>)[k];
    if (!parse) throw new CachePolicyError(k, `unknown field (known: ${Object.keys(FIELDS).join(', ')})`);
    try {
      out[k] = parse(v);
    } catch (e) {
      throw new CachePolicyError(k, (e as Error).message);
    }
  }
  return Object.freeze(out) as unknown as CachePolicy;
}

/**
 * The cache directory: CUOP_CACHE_DIR, else $XDG_CACHE_HOME/cuop, else ~/.cache/cuop; null when
 * CUOP_CACHE_DISABLE=1 (memory tier only). Relative paths are resolved against the working directory.
 */
export function resolveCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const { disabled, dir } = getSettings(env).cache;
  if (disabled) return null;
  if (dir) return resolve(dir);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'cuop');
  return join(env.HOME || homedir(), '.cache', 'cuop');
}

/** CUOP_CACHE_DISABLE=1|true: no disk tier at all, whatever directory is asked for. */
export function cacheDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return getSettings(env).cache.disabled;
}
