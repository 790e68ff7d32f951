// The seed's process-wide managers: one JIT configuration and one persistent cache per process.
import { resolve } from 'node:path';

import {
  KernelCache,
  parseByteSize,
  resolveCacheDir,
  type CacheLogger,
  type CacheStats,
  type IntegrityReport,
  type MaintenanceReport,
} from '../cache/index.js';
import type { CompilerPreference } from '../compiler/index.js';
import { setDefaultKernelProvider } from '../jit/default-provider.js';
import { JitCompiler } from '../jit/index.js';
import { CachePolicy, type CachePolicyFields } from './cache-policy.js';

/** The process-wide JIT configuration (`GlobalJitManager.setGlobalConfig`); every field has a default. */
export interface GlobalJitConfig {
  /** false: never compile at run time; kernels come only from the cache (warm it ahead). Default true. */
  enableJit: boolean;
  /** false: memory tier only, nothing read from or written to disk. Default true. */
  enableCaching: boolean;
  /** Cache directory; undefined = CUOP_CACHE_DIR, else $XDG_CACHE_HOME/cuop, else ~/.cache/cuop. */
  cacheDir: string | undefined;
  /** Compiler backend (CUOP_COMPILER overrides 'auto'). */
  compiler: CompilerPreference;
  /** Log every cache decision to stderr (same as CUOP_DEBUG=1). */
  debug: boolean;
}

const DEFAULT_CONFIG: GlobalJitConfig = {
  enableJit: true,
  enableCaching: true,
  cacheDir: undefined,
  compiler: 'auto',
  debug: false,
};

/**
 * Owns the process's persistent kernel cache and its maintenance calls. `initialize(dir, policy)` replaces the
 * cache (closing the old one); everything else initializes lazily with the defaults.
 */
export class GlobalPersistentCacheManager {
  private static singleton: GlobalPersistentCacheManager | undefined;
  private cacheValue: KernelCache | undefined;
  private dirValue: string | null | undefined;
  private policyValue: CachePolicy = new CachePolicy();
  private logger: CacheLogger | undefined;

  /** The one manager of this process (created on first call). */
  static instance(): GlobalPersistentCacheManager {
    this.singleton ??= new GlobalPersistentCacheManager();
    return this.singleton;
  }

  /**
   * Use `dir` (null: memory only; undefined: the default dir) with `policy` for this process's cache.
   * Throws a CachePolicyError naming the field when the policy is invalid.
   */
  initialize(
    dir?: string | null,
    policy: CachePolicy | CachePolicyFields = new CachePolicy(),
    logger?: CacheLogger,
  ) {
    const p = policy instanceof CachePolicy ? policy : new CachePolicy(policy);
    const next = makeCache(dir, p, logger);
    void this.cacheValue?.close();
    this.cacheValue = next;
    this.dirValue = dir;
    this.policyValue = p;
    this.logger = logger;
    return this;
  }

  /** The cache (created with the defaults on first use). */
  get cache(): KernelCache {
    this.cacheValue ??= makeCache(this.dirValue, this.policyValue, this.logger);
    return this.cacheValue;
  }

  /** True once the cache exists (after initialize() or the first use of `cache`). */
  get isInitialized(): boolean {
    return this.cacheValue !== undefined;
  }

  /** The directory given to initialize() (undefined: the default dir; null: memory only). */
  get directory(): string | null | undefined {
    return this.dirValue;
  }

  /** The policy given to initialize() (the seed's fields). */
  get policy(): CachePolicy {
    return this.policyValue;
  }

  /** The managed cache's counters (this process, and every process of its directory) and the kernels it holds. */
  getStats(): CacheStats {
    return this.cache.getStats();
  }
  /** Remove the entries unused for longer than the policy's maximum age. */
  cleanupExpiredCache(): Promise<MaintenanceReport> {
    return this.cache.cleanupExpiredCache();
  }
  /** Check every disk entry (schema, identity, size, SHA-256); with `repair` (default here) remove broken ones. */
  validateCacheIntegrity(options: { repair?: boolean } = { repair: true }): Promise<IntegrityReport> {
    return this.cache.validateCacheIntegrity(options);
  }
  /**
   * Remove expired entries, then evict the least valuable ones until the disk tier holds at most `target` (bytes,
   * or a size such as '2GB').
   */
  cleanupBySize(target: number | string): Promise<MaintenanceReport> {
    return this.cache.cleanupBySize(typeof target === 'string' ? parseByteSize(target) : target);
  }
  /**
   * Reclaim orphans, stale temp files and entries of other format versions; with `compiler`, also the entries
   * another compiler (e.g. the toolkit before an upgrade) built.
   */
  pruneStale(options: { compiler?: { id: string; version: string } } = {}): Promise<MaintenanceReport> {
    return this.cache.pruneStale(options);
  }
  /** Removes every entry; false when a tier could not be cleared (a warning says why). */
  clear(): Promise<boolean> {
    return this.cache.clear();
  }
  /** Flush stats and stop background maintenance (the timers never keep a process alive anyway). */
  async shutdown(): Promise<void> {
    await this.cacheValue?.close();
    this.cacheValue = undefined;
  }
}

/** Where the managed cache will live once created, without creating it (undefined dir: the default one). */
function resolveManagedDefault(cm: GlobalPersistentCacheManager): string | null {
  const dir = cm.directory;
  if (dir === null) return null;
  const d = dir === undefined ? resolveCacheDir() : dir;
  return d === null ? null : resolve(d);
}

function makeCache(dir: string | null | undefined, policy: CachePolicy, logger?: CacheLogger): KernelCache {
  return new KernelCache({
    ...(dir === undefined ? {} : { dir: dir === null ? null : resolve(dir) }),
    policy: policy.toCachePolicyInput(),
    ...(logger ? { logger } : {}),
  });
}

/** Owns the process-wide JIT configuration and the JitCompiler operators use by default. */
export class GlobalJitManager {
  private static singleton: GlobalJitManager | undefined;
  private config: GlobalJitConfig = { ...DEFAULT_CONFIG };
  private jitValue: JitCompiler | undefined;
  private readonly jits = new Map<string | null, { jit: JitCompiler; policy: CachePolicy }>();
  private initialized = false;

  /** The one manager of this process (created on first call). */
  static instance(): GlobalJitManager {
    this.singleton ??= new GlobalJitManager();
    return this.singleton;
  }

  /** Apply the defaults (and CUOP_* environment). Idempotent; other calls initialize lazily too. */
  initialize(): this {
    this.initialized = true;
    return this;
  }

  /** True once initialize() or setGlobalConfig() ran. */
  get isInitialized(): boolean {
    return this.initialized;
  }

  /**
   * Change part of the configuration; JITs are rebuilt on next use (kernels already handed out stay valid).
   * The cache keeps its policy and directory unless this call changes `cacheDir`, `enableCaching` or `debug`.
   */
  setGlobalConfig(config: Partial<GlobalJitConfig>): void {
    const prev = this.config;
    const next = { ...prev, ...config };
    this.config = next;
    const cm = GlobalPersistentCacheManager.instance();
    const dirChanged = 'cacheDir' in config || next.enableCaching !== prev.enableCaching;
    if (dirChanged || next.debug !== prev.debug) {
      const dir = !next.enableCaching ? null : dirChanged ? next.cacheDir : cm.directory;
      cm.initialize(dir, new CachePolicy({ ...cm.policy, enableDebug: next.debug }));
    }
    for (const j of this.jits.values()) void j.jit.cache.close(); // kernels handed out stay loaded
    this.jits.clear();
    this.jitValue = undefined;
    this.initialized = true;
  }

  /** A copy of the configuration in force. */
  getGlobalConfig(): Readonly<GlobalJitConfig> {
    return { ...this.config };
  }

  /** The process's JitCompiler, over GlobalPersistentCacheManager's cache (rebuilt if that cache was replaced). */
  jit(): JitCompiler {
    const cache = GlobalPersistentCacheManager.instance().cache;
    if (this.jitValue?.cache !== cache) {
      this.jitValue = new JitCompiler({
        cache,
        compiler: this.config.compiler,
        allowCompile: this.config.enableJit,
      });
    }
    return this.jitValue;
  }

  /**
   * A JIT over another cache, following this configuration (enableJit, compiler) and the policy given to
   * GlobalPersistentCacheManager.initialize(): `dir` a directory of its own, `null` memory only. The managed
   * cache's own directory gives the process's JIT itself (one cache object, one set of stats); other directories
   * get one JIT each, so wrappers of one directory share a memory tier.
   */
  jitFor(dir: string | null): JitCompiler {
    const cm = GlobalPersistentCacheManager.instance();
    const wanted = dir === null ? null : resolve(dir);
    const managedDir = cm.isInitialized ? cm.cache.dir : resolveManagedDefault(cm);
    const held = this.jits.get(wanted);
    if (wanted !== null && wanted === managedDir) {
      if (held) this.forget(wanted, held.jit); // the directory became the managed one
      return this.jit();
    }
    // Built under the manager's policy of the moment: a later initialize() with another policy rebuilds it.
    if (held && held.policy === cm.policy) return held.jit;
    if (held) this.forget(wanted, held.jit);
    const policy = new CachePolicy({ ...cm.policy, enableDebug: cm.policy.enableDebug || this.config.debug });
    const cache = new KernelCache({ dir: wanted, policy: policy.toCachePolicyInput() });
    const jit = new JitCompiler({
      cache,
      compiler: this.config.compiler,
      allowCompile: this.config.enableJit,
    });
    this.jits.set(wanted, { jit, policy: cm.policy });
    return jit;
  }

  private forget(dir: string | null, jit: JitCompiler): void {
    this.jits.delete(dir);
    void jit.cache.close(); // kernels handed out stay loaded
  }

  /** Forget configuration and JIT (tests). */
  static async reset(): Promise<void> {
    await GlobalPersistentCacheManager.instance().shutdown();
    if (this.singleton) await Promise.all([...this.singleton.jits.values()].map((j) => j.jit.cache.close()));
    this.singleton = undefined;
  }
}

// Operators called without a `jit` get theirs from the jit layer's defaultKernelProvider(), which cannot import this
// file (it sits above the operators): from here on, that default is this manager's JIT.
setDefaultKernelProvider(() => GlobalJitManager.instance().jit());
