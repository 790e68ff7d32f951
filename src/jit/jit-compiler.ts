// The façade: KernelSpec → launch-ready Kernel, through the loaded-kernel map, the cache tiers and (on a miss)
// one compile per key. Picks NVRTC and falls back to nvcc; fills in the device's arch.
import {
  KernelCache,
  memoizedCacheKey,
  type CacheEntry,
  type CacheLookup,
  type KeySpec,
} from '../cache/index.js';
import type { CacheStats } from '../cache/index.js';
import type {
  CompileRequest,
  CompileResult,
  Compiler,
  CompilerInfo,
  CompilerPreference,
} from '../compiler/index.js';
import { selectCompiler } from '../compiler/index.js';
import { CudaError, driver } from '../cuda/index.js';
import { Device, type Kernel, type Module } from '../runtime/index.js';
import { compilerFingerprint, recallIdentity, rememberIdentity } from './compiler-identity.js';
import type { KernelProvider, KernelSpec } from './types.js';

// Driver errors that condemn the image itself; anything else (out of memory, a context broken by an earlier fault)
// says nothing about the cache entry and must not delete it.
const IMAGE_ERRORS = new Set([
  'CUDA_ERROR_INVALID_IMAGE',
  'CUDA_ERROR_INVALID_PTX',
  'CUDA_ERROR_NO_BINARY_FOR_GPU',
  'CUDA_ERROR_UNSUPPORTED_PTX_VERSION',
  'CUDA_ERROR_INVALID_SOURCE',
  'CUDA_ERROR_JIT_COMPILATION_DISABLED',
  'CUDA_ERROR_NOT_FOUND',
]);
const isImageError = (e: unknown): boolean => e instanceof CudaError && IMAGE_ERRORS.has(e.symbol);

/** Internal: the memoized compiler identity differed from the real one; the lookup is redone. */
class CompilerIdentityChanged extends Error {
  constructor(readonly actual: CompilerInfo) {
    super(`compiler identity changed to ${actual.id} ${actual.version}`);
  }
}

/** The JIT is configured not to compile (enableJit: false) and the kernel is in no cache tier. */
export class JitDisabledError extends Error {
  override readonly name = 'JitDisabledError';
}

export interface JitCompilerOptions {
  /** The cache to use. Default: a KernelCache over the default cache dir (CUOP_CACHE_DIR / XDG / ~/.cache/cuop). */
  readonly cache?: KernelCache;
  /** A Compiler, or which backend to pick (default 'auto': NVRTC, else nvcc; CUOP_COMPILER overrides). */
  readonly compiler?: Compiler | CompilerPreference;
  /** false: serve kernels only from the cache, never compile (a miss throws JitDisabledError). Default true. */
  readonly allowCompile?: boolean;
}

export interface WarmOptions {
  /** Target arch when no device is given, e.g. 'sm_90' (lets a CPU-only build machine fill a cache). */
  readonly arch?: string;
  readonly device?: Device;
  /** Compiles running at once (default: 4). */
  readonly concurrency?: number;
  readonly onProgress?: (p: {
    done: number;
    total: number;
    spec: KernelSpec;
    tier?: string;
    error?: Error;
  }) => void;
}

export interface WarmReport {
  readonly total: number;
  /** How many came from each tier ('compiled' = compiled now). */
  readonly byTier: Readonly<Record<string, number>>;
  readonly failed: ReadonlyArray<{ spec: KernelSpec; error: Error }>;
}

/**
 * What the JIT hangs on a memory-tier entry per context. No dispose(): kernels handed out hold their module, so when
 * the entry leaves memory the module is only forgotten here, and unloaded by its finalizer once nothing uses it.
 */
interface LoadedModule {
  readonly module: Module;
}

interface Resident {
  readonly kernel: Kernel;
  readonly entry: CacheEntry;
  readonly contextId: string;
}

/** Turns kernel specs into ready kernels through the cache. */
export class JitCompiler implements KernelProvider {
  readonly cache: KernelCache;
  readonly allowCompile: boolean;
  private readonly compilerChoice: Compiler | CompilerPreference;
  private compilerValue: Compiler | undefined;
  private infoValue: Promise<CompilerInfo> | undefined;
  private infoResolved: CompilerInfo | undefined; // infoValue's value once settled: lookups need not await it
  // spec object → device ordinal → ready kernel (the "loaded kernels" level: no hashing, no I/O, no driver call).
  private readonly resident = new WeakMap<KernelSpec, Map<number, Resident>>();
  // spec object → arch + compiler → key spec (so the key, memoized on the key spec object, is hashed once).
  private readonly keySpecs = new WeakMap<KernelSpec, Map<string, KeySpec>>();
  private driverVersionValue: string | undefined;
  // Set when the compiler identity came from the memo: checked against the real compiler before any compile.
  private identityMemo: { dir: string; fingerprint: string } | undefined;

  constructor(options: JitCompilerOptions = {}) {
    this.cache = options.cache ?? new KernelCache();
    this.compilerChoice = options.compiler ?? 'auto';
    this.allowCompile = options.allowCompile ?? true;
  }

  /** The compiler backend (selected on first use). */
  get compiler(): Compiler {
    if (!this.compilerValue) {
      const c = this.compilerChoice;
      this.compilerValue = typeof c === 'string' ? selectCompiler(c) : c;
    }
    return this.compilerValue;
  }

  /**
   * The identity that goes into cache keys. Remembered in the cache dir per compiler file, so a process whose kernels
   * all hit neither loads NVRTC nor runs nvcc.
   */
  compilerInfo(): Promise<CompilerInfo> {
    this.infoValue ??= this.resolveCompilerInfo().then((info) => (this.infoResolved = info));
    return this.infoValue;
  }

  private async resolveCompilerInfo(): Promise<CompilerInfo> {
    const dir = this.cache.dir;
    const fp = typeof this.compilerChoice === 'string' ? compilerFingerprint(this.compilerChoice) : undefined;
    const known = dir && fp ? recallIdentity(dir, fp) : undefined;
    if (known) {
      this.identityMemo = { dir: dir as string, fingerprint: fp as string };
      return known;
    }
    const info = await this.compiler.info();
    if (dir && fp) rememberIdentity(dir, fp, info);
    return info;
  }

  /** A launch-ready kernel on `device` (default: device 0). Repeat calls with the same spec object cost a map lookup. */
  async kernel(spec: KernelSpec, device?: Device): Promise<Kernel> {
    const dev = device ?? Device.get(0);
    const r = this.resident.get(spec)?.get(dev.ordinal);
    // The module stays loaded while the image is in the memory tier; eviction clears `attached`.
    if (r && r.entry.attached.has(r.contextId)) {
      this.cache.noteMemoryHit(r.entry);
      return r.kernel;
    }
    return this.kernelSlow(spec, dev);
  }

  /** The kernel if it is already resident for this spec object and device; never compiles, loads or awaits. */
  peekKernel(spec: KernelSpec, device: Device): Kernel | undefined {
    const r = this.resident.get(spec)?.get(device.ordinal);
    if (!r || !r.entry.attached.has(r.contextId)) return undefined;
    this.cache.noteMemoryHit(r.entry);
    return r.kernel;
  }

  /** Compile (or fetch from the cache) without loading: for precompiling on hosts without a GPU. */
  async compile(spec: KernelSpec, arch: string, device?: Device): Promise<CacheLookup> {
    const info = this.infoResolved ?? (await this.compilerInfo());
    const keySpec = this.keySpecFor(spec, arch, info);
    const hit = this.cache.lookupSync(keySpec);
    if (hit) return hit;
    try {
      return await this.cache.getOrCompile(
        keySpec,
        () => this.runCompile(spec, arch, info),
        this.extraFor(spec, device),
      );
    } catch (e) {
      if (!(e instanceof CompilerIdentityChanged)) throw e;
      // The remembered identity was stale (compiler replaced in place): forget it and look up under the real one.
      this.infoValue = Promise.resolve(e.actual);
      this.infoResolved = e.actual;
      return this.compile(spec, arch, device);
    }
  }

  /**
   * Precompile a list of kernels, `concurrency` at a time, through the same single-flight path as kernel():
   * concurrent warmers (threads, processes) of one key still compile it once.
   */
  async warm(specs: readonly KernelSpec[], options: WarmOptions = {}): Promise<WarmReport> {
    const arch = options.arch ?? (options.device ?? Device.get(0)).arch;
    const limit = Math.max(1, options.concurrency ?? 4);
    const byTier: Record<string, number> = {};
    const failed: { spec: KernelSpec; error: Error }[] = [];
    let next = 0;
    let done = 0;
    const worker = async (): Promise<void> => {
      while (next < specs.length) {
        const spec = specs[next++] as KernelSpec;
        try {
          const { tier } = await this.compile(spec, arch, options.device);
          byTier[tier] = (byTier[tier] ?? 0) + 1;
          options.onProgress?.({ done: ++done, total: specs.length, spec, tier });
        } catch (e) {
          const error = e instanceof Error ? e : new Error(String(e));
          failed.push({ spec, error });
          options.onProgress?.({ done: ++done, total: specs.length, spec, error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, specs.length) }, worker));
    return { total: specs.length, byTier, failed };
  }

  getStats(): CacheStats {
    return this.cache.getStats();
  }

  private async kernelSlow(spec: KernelSpec, device: Device): Promise<Kernel> {
    let lookup = await this.compile(spec, device.arch, device);
    let loaded: LoadedModule;
    try {
      loaded = this.loadOnce(lookup.entry, device);
    } catch (e) {
      // A cached image the driver refuses (damaged in a way its checksum could not show, or built for another
      // driver) must not fail the caller: drop it everywhere and compile afresh. A fresh compile that fails to
      // load is a real error and propagates.
      if (lookup.tier === 'compiled' || !isImageError(e)) throw e;
      await this.cache.invalidate(lookup.key, e instanceof Error ? e.message : String(e));
      lookup = await this.compile(spec, device.arch, device);
      loaded = this.loadOnce(lookup.entry, device);
    }
    const { entry } = lookup;
    const symbol = entry.meta.loweredNames[spec.name] ?? spec.name;
    const kernel = loaded.module.getKernel(symbol, spec.signature);
    let perDevice = this.resident.get(spec);
    if (!perDevice) this.resident.set(spec, (perDevice = new Map()));
    perDevice.set(device.ordinal, { kernel, entry, contextId: device.contextId });
    return kernel;
  }

  /** The image's module in this device's context, loading it on first use. */
  private loadOnce(entry: CacheEntry, device: Device): LoadedModule {
    const ctx = device.contextId;
    let loaded = entry.attached.get(ctx) as LoadedModule | undefined;
    if (!loaded) {
      loaded = { module: device.loadModule(entry.image) };
      entry.attached.set(ctx, loaded);
    }
    return loaded;
  }

  private keySpecFor(spec: KernelSpec, arch: string, info: CompilerInfo): KeySpec {
    let perArch = this.keySpecs.get(spec);
    if (!perArch) this.keySpecs.set(spec, (perArch = new Map()));
    const id = `${arch}|${info.id}|${info.version}`;
    let ks = perArch.get(id);
    if (!ks) {
      ks = {
        source: spec.source,
        headers: spec.headers ?? {},
        nameExpressions: [spec.name],
        options: spec.options ?? [],
        compiler: { id: info.id, version: info.version },
        target: arch,
        imageKind: 'cubin',
      };
      memoizedCacheKey(ks);
      perArch.set(id, ks);
    }
    return ks;
  }

  /** Metadata extras; the driver version is recorded when a device is in use (the driver is loaded then). */
  private extraFor(spec: KernelSpec, device?: Device): { kernelNames: string[]; driverVersion?: string } {
    if (device && this.driverVersionValue === undefined)
      this.driverVersionValue = String(driver.driverVersion());
    return this.driverVersionValue
      ? { kernelNames: [spec.name], driverVersion: this.driverVersionValue }
      : { kernelNames: [spec.name] };
  }

  private async runCompile(spec: KernelSpec, arch: string, keyInfo: CompilerInfo): Promise<CompileResult> {
    if (!this.allowCompile) {
      throw new JitDisabledError(
        `JIT compilation is disabled (enableJit: false) and ${spec.programName ?? spec.name} for ${arch} ` +
          `is not in the cache. Precompile it with jit.warm() or enable the JIT.`,
      );
    }
    // Every compile checks the identity its key was made with against the real compiler (both backends memoize
    // info(), so this is free after the first): a remembered identity that went stale must never label an image.
    const actual = await this.compiler.info();
    if (actual.id !== keyInfo.id || actual.version !== keyInfo.version) {
      if (this.identityMemo) rememberIdentity(this.identityMemo.dir, this.identityMemo.fingerprint, actual);
      throw new CompilerIdentityChanged(actual);
    }
    const req: CompileRequest = {
      source: spec.source,
      arch,
      nameExpressions: [spec.name],
      imageKind: 'cubin',
      ...(spec.headers ? { headers: spec.headers } : {}),
      ...(spec.options ? { options: spec.options } : {}),
      ...(spec.programName ? { programName: spec.programName } : {}),
    };
    return this.compiler.compile(req);
  }
}
