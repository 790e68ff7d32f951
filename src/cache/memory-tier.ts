import { LRUCache } from 'lru-cache';
import type { EntryMetadata } from './metadata.js';
import { noHooks, type CacheTier, type TierHooks, type TierRecord } from './tier.js';

/** A resident entry. `attached` holds opaque per-context values of the JIT layer (loaded modules). */
export interface CacheEntry {
  readonly key: string;
  readonly image: Buffer;
  readonly meta: EntryMetadata;
  /**
   * Opaque per-context values the JIT layer hangs here (loaded modules). Cleared when the entry leaves memory; a
   * value with a `dispose()` method gets it called then (e.g. to unload the module).
   */
  readonly attached: Map<string, unknown>;
}

function disposeAttached(entry: CacheEntry): void {
  for (const v of entry.attached.values()) {
    if (
      v &&
      typeof v === 'object' &&
      'dispose' in v &&
      typeof (v as { dispose: unknown }).dispose === 'function'
    ) {
      try {
        (v as { dispose: () => void }).dispose();
      } catch {
        // A failing unload must not break eviction.
      }
    }
  }
  entry.attached.clear();
}

/** The in-process tier: an LRU bounded by image bytes and entry count. */
export class MemoryTier implements CacheTier {
  readonly name = 'memory';
  private readonly lru: LRUCache<string, CacheEntry>;

  constructor(opts: {
    maxBytes: number;
    maxEntries: number;
    hooks?: TierHooks;
    /** Called with each entry the LRU pushes out (not for delete or clear). */
    onEvict?: (entry: CacheEntry) => void;
  }) {
    const hooks = opts.hooks ?? noHooks;
    const onEvict = opts.onEvict;
    this.lru = new LRUCache<string, CacheEntry>({
      max: Math.max(1, opts.maxEntries),
      maxSize: Math.max(1, opts.maxBytes),
      sizeCalculation: (e) => Math.max(1, e.image.length),
      dispose: (entry, key, reason) => {
        disposeAttached(entry);
        if (reason === 'evict') {
          hooks.eviction('memory', key);
          onEvict?.(entry);
        }
      },
    });
  }

  /** Synchronous, no I/O: the hot path. Refreshes recency. */
  peek(key: string): CacheEntry | undefined {
    return this.lru.get(key);
  }

  /** Inserts (or returns the already resident entry for the key, keeping its attached values). */
  insert(record: TierRecord): CacheEntry {
    const cur = this.lru.get(record.key);
    if (cur) return cur;
    const entry: CacheEntry = {
      key: record.key,
      image: record.image,
      meta: record.meta,
      attached: new Map(),
    };
    this.lru.set(record.key, entry);
    return entry;
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  async get(key: string): Promise<TierRecord | undefined> {
    return this.lru.get(key);
  }

  async put(record: TierRecord): Promise<void> {
    this.insert(record);
  }

  async has(key: string): Promise<boolean> {
    return this.lru.has(key);
  }

  async delete(key: string): Promise<boolean> {
    return this.lru.delete(key);
  }

  async *keys(): AsyncIterable<string> {
    for (const k of [...this.lru.keys()]) yield k;
  }

  async clear(): Promise<void> {
    this.lru.clear();
  }
}
