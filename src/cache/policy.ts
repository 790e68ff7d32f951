import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { CODECS, zstdAvailable, zstdUnavailableMessage, type Codec } from './codec.js';

const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** '5GB' → 5e9, '512MiB' → 536870912, '1.5 g' → 1.5e9, '4096' → 4096. Throws on anything else. */
export function parseByteSize(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new Error(`not a byte size: ${text}`);
    return Math.floor(text);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = UNITS[(m?.[2] ?? '').toLowerCase() || 'b'];
  if (!m || unit === undefined) {
    throw new Error(`not a byte size: ${JSON.stringify(text)} (use e.g. 1073741824, 512MB, 5GB, 1GiB)`);
  }
  return Math.floor(Number(m[1]) * unit);
}

const bytes = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  try {
    return parseByteSize(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});
const count = z.number().int().nonnegative();
const ms = z.number().nonnegative().finite();

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

export const CachePolicySchema = z
  .object({
    /** Upper bound of the disk tier, bytes (kernel + metadata files). Accepts '5GB'-style strings. */
    maxDiskBytes: bytes.default(2 ** 30),
    /** Upper bound of the disk tier, entries. */
    maxEntries: count.default(100_000),
    /** An entry unused (no hit, no publish) for longer than this expires. */
    maxAgeMs: ms.default(30 * DAY),
    compression: z.enum(CODECS as [Codec, ...Codec[]]).default(DEFAULT_CODEC),
    /** Verify size + SHA-256 of every disk hit (the checksum is always written). */
    checksum: z.boolean().default(true),
    memoryMaxBytes: bytes.default(256 * 2 ** 20),
    memoryMaxEntries: count.min(1).default(4096),
    /** Background maintenance period; 0 turns it off. */
    maintenanceIntervalMs: ms.default(3_600_000),
    /** How long a process waits for another one compiling the same key before compiling itself. */
    lockWaitMs: ms.default(60_000),
    /** Temp files and kernels without metadata younger than this are left alone (a publish may be under way). */
    orphanGraceMs: ms.default(10 * 60_000),
    /** At most one LRU touch (utimes of the kernel file) per key per process per this period. */
    touchIntervalMs: ms.default(60_000),
    /** How often this process's stats deltas are persisted (also at close() and at exit). */
    statsFlushMs: ms.default(10_000),
    /**
     * Eviction weight: score = lastUseMs + frequencyWeightMs · log2(1 + useCount); lowest score goes first.
     * With the default (1 day), an entry used 7 times outlives one used once that is up to 3 days more recent.
     */
    frequencyWeightMs: ms.default(DAY),
    /** Store the source text in the metadata (off: only its SHA-256). */
    saveSource: z.boolean().default(false),
    debug: z.boolean().default(false),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.compression === 'zstd' && !zstdAvailable()) {
      ctx.addIssue({ code: 'custom', path: ['compression'], message: zstdUnavailableMessage() });
    }
  });

export type CachePolicy = Readonly<z.output<typeof CachePolicySchema>>;
export type CachePolicyInput = z.input<typeof CachePolicySchema>;

export class CachePolicyError extends Error {
  override readonly name = 'CachePolicyError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`invalid cache policy field '${field}': ${message}`);
  }
}

/** Validates a policy; the error names the first bad field. Env: CUOP_CACHE_MAX_SIZE, CUOP_DEBUG=1. */
export function resolvePolicy(
  input: Partial<CachePolicyInput> = {},
  env: NodeJS.ProcessEnv = process.env,
): CachePolicy {
  const merged: Record<string, unknown> = {};
  // Environment fills in over the defaults; explicit options win over the environment.
  if (env.CUOP_CACHE_MAX_SIZE) merged.maxDiskBytes = env.CUOP_CACHE_MAX_SIZE;
  if (env.CUOP_DEBUG === '1') merged.debug = true;
  for (const [k, v] of Object.entries(input)) if (v !== undefined) merged[k] = v;
  const r = CachePolicySchema.safeParse(merged);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue?.path.join('.') || (issue && 'keys' in issue ? String(issue.keys) : '(policy)');
    const field =
      env.CUOP_CACHE_MAX_SIZE && path === 'maxDiskBytes' && input.maxDiskBytes === undefined
        ? 'maxDiskBytes (from CUOP_CACHE_MAX_SIZE)'
        : path;
    throw new CachePolicyError(field, issue?.message ?? r.error.message);
  }
  return Object.freeze(r.data);
}

/**
 * The cache directory: CUOP_CACHE_DIR, else $XDG_CACHE_HOME/cuop, else ~/.cache/cuop; null when
 * CUOP_CACHE_DISABLE=1 (memory tier only). Relative paths are resolved against the working directory.
 */
export function resolveCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.CUOP_CACHE_DISABLE === '1' || env.CUOP_CACHE_DISABLE === 'true') return null;
  if (env.CUOP_CACHE_DIR) return resolve(env.CUOP_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'cuop');
  return join(env.HOME || homedir(), '.cache', 'cuop');
}
