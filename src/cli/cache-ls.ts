// `cuop cache ls`: one line per disk entry (key prefix, kernels, arch, compiler, image kind, size, uses, last use,
// age), from the cache's own listing (KernelCache.listEntries: the maintenance index, so 10 000 entries read one
// file). Sorted by last use (most recent first) unless told otherwise.
import type { CacheEntryInfo, KernelCache } from '../cache/index.js';
import { formatBytes, formatDuration, formatTable } from './format.js';

export const SORT_KEYS = ['last-use', 'size', 'hits', 'age'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface LsOptions {
  sort?: string;
  reverse?: boolean;
  limit?: number;
  json?: boolean;
}

/** The key prefix shown for an entry: 12 hex digits, unique in practice and what `cuop cache show` takes. */
export const shortKey = (key: string): string => key.slice(0, 12);

/** Each order puts what a person looks for first: biggest, most recent, most used, oldest. Ties: by key. */
const ORDER: Record<SortKey, (a: CacheEntryInfo, b: CacheEntryInfo) => number> = {
  'last-use': (a, b) => b.lastUseMs - a.lastUseMs,
  size: (a, b) => b.bytes - a.bytes,
  hits: (a, b) => b.uses - a.uses,
  age: (a, b) => a.createdAt - b.createdAt,
};

export function sortEntries(entries: CacheEntryInfo[], sort: SortKey, reverse: boolean): CacheEntryInfo[] {
  const by = ORDER[sort];
  const sorted = [...entries].sort((a, b) => by(a, b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return reverse ? sorted.reverse() : sorted;
}

/** Kernel names as one cell, cut to `max` characters (templates can be long). */
export function namesCell(names: readonly string[], max = 40): string {
  const s = names.join(', ');
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export function parseSortKey(v: string | undefined): SortKey {
  const s = v ?? 'last-use';
  if (!(SORT_KEYS as readonly string[]).includes(s))
    throw new Error(`--sort: expected one of ${SORT_KEYS.join(', ')}, got ${s}`);
  return s as SortKey;
}

export async function runLs(cache: KernelCache, o: LsOptions): Promise<number> {
  const sort = parseSortKey(o.sort);
  const all = await cache.listEntries();
  const sorted = sortEntries(all, sort, o.reverse ?? false);
  const shown = o.limit !== undefined ? sorted.slice(0, o.limit) : sorted;
  const bytes = all.reduce((n, e) => n + e.bytes, 0);
  if (o.json) {
    console.log(
      JSON.stringify(
        { dir: cache.dir, sort, reverse: o.reverse ?? false, count: all.length, bytes, entries: shown },
        null,
        2,
      ),
    );
    return 0;
  }
  if (all.length === 0) {
    console.log(`no entries in ${cache.dir ?? '(no disk cache)'}`);
    return 0;
  }
  const now = Date.now();
  const rows = [
    ['KEY', 'KERNELS', 'ARCH', 'COMPILER', 'KIND', 'SIZE', 'USES', 'LAST USE', 'AGE'],
    ...shown.map((e) => [
      shortKey(e.key),
      namesCell(e.kernelNames),
      e.imageTarget === e.target ? e.target : `${e.target} (${e.imageTarget})`,
      `${e.compiler.id} ${e.compiler.version}`,
      e.imageKind,
      formatBytes(e.bytes),
      String(e.uses),
      `${formatDuration(now - e.lastUseMs)} ago`,
      formatDuration(now - e.createdAt),
    ]),
  ];
  console.log(formatTable(rows, new Set([5, 6])));
  const more = shown.length < all.length ? ` (${shown.length} shown)` : '';
  console.log(`${all.length} entries, ${formatBytes(bytes)}${more}`);
  return 0;
}
