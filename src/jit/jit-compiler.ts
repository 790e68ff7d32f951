// The façade: KernelSpec → launch-ready Kernel, through the loaded-kernel map, the cache tiers and (on a miss)
// one compile per key. Picks NVRTC and falls back to nvcc; fills in the device's arch.
import {
  KernelCache,
  memoizedCacheKey,
  type CacheEntry,
  type CacheExplanation,
  type CacheLookup,
  type CompileExtras,
  type KeySpec,
} from '../cache/index.js';
import type { CacheStats } from '../cache/index.js';
import type {
  CompileRequest,
  CompileResult,
  Compiler,
  CompilerInfo,
  CompilerPreference,
  ImageKind,
  Linker,
  LinkerInfo,
  LinkerPreference,
  LinkInput,
  KernelParam,
} from '../compiler/index.js';
import {
  absolutizePathOptions,
  archFromOptions,
  canonicalKernelName,
  isRelocatable,
  KernelNameError,
  selectLinker,
  NVCC_DIALECT,
  NVRTC_DIALECT,
  selectCompiler,
  sourceFileName,
} from '../compiler/index.js';
import {
  attachDetails,
  CudaError,
  CuopError,
  driver,
  registerErrorClass,
  type ParamType,
} from '../cuda/index.js';
import { Device, type Kernel, type Module } from '../runtime/index.js';
import { compilerFingerprint, recallIdentity, rememberIdentity } from './compiler-identity.js';
import { getSettings } from '../settings/index.js';
import { prepareKernelSpec, prepareModuleSpec, stillAsPrepared, type PreparedSpec } from './prepared-spec.js';
import { SpecRecorder, type SpecEntry } from './spec-manifest.js';
import {
  linkKeySpec,
  linkStillAsPrepared,
  mergeDependencies,
  prepareLinkSpec,
  readObjectFile,
  type PreparedLink,
} from './link-spec.js';
import type { KernelProvider, KernelSpec, LinkSpec, ModuleSpec } from './types.js';

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
export class JitDisabledError extends CuopError {
  override readonly name = 'JitDisabledError';
  /** The kernels that were missing (name and arch), when several were checked at once (assertWarm). */
  declare readonly missing: readonly string[];
  constructor(message: string, missing: readonly string[] = []) {
    super(message);
    attachDetails(this, { missing: [...missing] });
  }
}
registerErrorClass('JitDisabledError', JitDisabledError);

/** How a JitCompiler gets its cache, compiler and linker, and whether it may compile at all. */
export interface JitCompilerOptions {
  /** The cache to use. Default: a KernelCache over the default cache dir (CUOP_CACHE_DIR / XDG / ~/.cache/cuop). */
  readonly cache?: KernelCache;
  /** A Compiler, or which backend to pick (default 'auto': NVRTC, else nvcc; CUOP_COMPILER overrides). */
  readonly compiler?: Compiler | CompilerPreference;
  /** false: serve kernels only from the cache, never compile (a miss throws JitDisabledError). Default true. */
  readonly allowCompile?: boolean;
  /** A manifest file every looked-up spec is appended to (default: CUOP_RECORD; null: none). */
  readonly record?: string | null;
  /** The device linker for jit.link() and -rdc programs, or which (default 'auto': nvJitLink, else nvlink). */
  readonly linker?: Linker | LinkerPreference;
}

/** What `jit.check()` says of one manifest entry. */
export interface CheckResult {
  readonly entry: SpecEntry;
  readonly explanation: JitExplanation;
}

/** How `JitCompiler.warm` fills the cache: for which arch or device, how many compiles at once, progress. */
export interface WarmOptions {
  /** Target arch when no device is given, e.g. 'sm_90' (lets a CPU-only build machine fill a cache). */
  readonly arch?: string;
  readonly device?: Device;
  /** Compiles running at once (default: 4). */
  readonly concurrency?: number;
  /** Called after each spec: how far along, the tier it came from, or the error it failed with. */
  readonly onProgress?: (p: {
    done: number;
    total: number;
    spec: KernelSpec;
    tier?: string;
    error?: Error;
  }) => void;
}

/** What `JitCompiler.warm` did: how many specs, where each came from, and which failed. */
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

/** One spec object's prepared copy, its key specs (per arch and compiler) and its ready kernels (per device). */
interface SpecState {
  readonly prepared: PreparedSpec;
  readonly keySpecs: Map<string, KeySpec>;
  readonly resident: Map<number, Resident>;
  /** For a relocatable (-rdc) spec: the link of its one program that makes it loadable. */
  linkSpec?: LinkSpec;
}

/** One link spec object's prepared copy, its key specs (per arch, compiler and linker) and its modules. */
interface LinkState {
  readonly prepared: PreparedLink;
  readonly keySpecs: Map<string, KeySpec>;
  readonly resident: Map<number, { module: JitModule; contextId: string }>;
}

/** Several kernels of one source in one image, loaded on one device. */
export class JitModule {
  /** @internal use jit.module() */
  constructor(
    readonly module: Module,
    /** Canonical names of the kernels it holds. */
    readonly names: readonly string[],
    /** @internal the cache entry of its image */
    readonly entry: CacheEntry,
    private readonly signatures: Readonly<Record<string, readonly ParamType[]>>,
    /** A linked module also hands out kernels by symbol (those of prebuilt objects, which no spec names). */
    private readonly anySymbol = false,
  ) {}

  /**
   * The kernel `name` (spelled as in the spec or any equivalent spelling); throws for a name the module lacks.
   * A linked module takes any symbol too (KernelNotFoundError when the image has none by that name).
   */
  kernel(name: string, signature?: readonly ParamType[]): Kernel {
    const canonical = canonicalKernelName(name);
    if (!this.names.includes(canonical) && !this.anySymbol) {
      throw new KernelNameError(
        `the module holds no kernel ${JSON.stringify(name)}; it holds ${this.names.join(', ')}`,
      );
    }
    const symbol = this.entry.meta.loweredNames[canonical] ?? canonical;
    return this.module.getKernel(
      symbol,
      signature ?? this.signatures[name] ?? this.signatures[canonical],
      this.entry.meta.signatures?.[symbol],
    );
  }
}

/** What `jit.explain()` says about a spec on this host. */
export interface JitExplanation extends CacheExplanation {
  readonly arch: string;
  readonly compiler: CompilerInfo;
}

/** Turns kernel specs into ready kernels through the cache. */
export class JitCompiler implements KernelProvider {
  readonly cache: KernelCache;
  readonly allowCompile: boolean;
  private readonly compilerChoice: Compiler | CompilerPreference;
  private compilerValue: Compiler | undefined;
  private infoValue: Promise<CompilerInfo> | undefined;
  private infoResolved: CompilerInfo | undefined; // infoValue's value once settled: lookups need not await it
  // spec object → its prepared copy, key specs and ready kernels (the "loaded kernels" level: no hashing, no I/O).
  private readonly specs = new WeakMap<object, SpecState>();
  private driverVersionValue: string | undefined;
  // Set when the compiler identity came from the memo: checked against the real compiler before any compile.
  private identityMemo: { fingerprint: string } | undefined;
  private recorder: SpecRecorder | undefined;
  private readonly recorded = new WeakSet<KeySpec>();
  private readonly linkerChoice: Linker | LinkerPreference;
  private linkerValue: Linker | undefined;
  private linkerInfoValue: Promise<LinkerInfo> | undefined;
  private readonly links = new WeakMap<object, LinkState>();

  constructor(options: JitCompilerOptions = {}) {
    this.cache = options.cache ?? new KernelCache();
    this.compilerChoice = options.compiler ?? 'auto';
    this.linkerChoice = options.linker ?? 'auto';
    this.allowCompile = options.allowCompile ?? true;
    const record = options.record === undefined ? getSettings().jit.record : options.record;
    if (record) this.record(record);
  }

  /**
   * Appends every spec this JIT looks up from now on (once each, with its arch and compiler) to the manifest at
   * `path` (JSON Lines, see spec-manifest.ts), for `cuop cache warm`, `check` and `export --manifest`. undefined
   * stops recording.
   */
  record(path: string | undefined): void {
    this.recorder = path ? new SpecRecorder(path, (m) => process.emitWarning(m, 'CuopWarning')) : undefined;
  }

  /**
   * For each entry: would it hit here (no compile, no load), and on a miss what differs from the nearest entries.
   * An entry's own arch wins over `options.arch`; without either, device 0's.
   */
  async check(entries: readonly SpecEntry[], options: { arch?: string } = {}): Promise<CheckResult[]> {
    const out: CheckResult[] = [];
    for (const entry of entries) {
      const arch = entry.arch ?? options.arch;
      out.push({ entry, explanation: await this.explain(entry.spec, arch ? { arch } : {}) });
    }
    return out;
  }

  /**
   * Throws a JitDisabledError naming every entry that would not hit (what a service with enableJit: false calls at
   * start, instead of failing on the first request or compiling for minutes).
   */
  async assertWarm(entries: readonly SpecEntry[], options: { arch?: string } = {}): Promise<void> {
    const missing = (await this.check(entries, options)).filter((r) => !r.explanation.found);
    if (missing.length === 0) return;
    const names = missing.map(
      (r) =>
        `${'names' in r.entry.spec ? r.entry.spec.names.join(', ') : r.entry.spec.name} (${r.explanation.arch})`,
    );
    throw new JitDisabledError(
      `${missing.length} of ${entries.length} kernels are not in the cache: ${names.join('; ')}. Warm them with ` +
        '`cuop cache warm <manifest>` or import a bundle (`cuop cache import`); `cuop cache check` says why each misses.',
      names,
    );
  }

  /** The compiler backend (selected on first use). */
  get compiler(): Compiler {
    if (!this.compilerValue) {
      const c = this.compilerChoice;
      this.compilerValue = typeof c === 'string' ? selectCompiler(c) : c;
    }
    return this.compilerValue;
  }

  /** The device linker (selected on first use). */
  get linker(): Linker {
    if (!this.linkerValue) {
      const c = this.linkerChoice;
      this.linkerValue = typeof c === 'string' ? selectLinker(c) : c;
    }
    return this.linkerValue;
  }

  /** The linker's identity, asked once per JitCompiler (a library call, or `nvlink --version`). */
  linkerInfo(): Promise<LinkerInfo> {
    this.linkerInfoValue ??= this.linker.info().catch((err: unknown) => {
      this.linkerInfoValue = undefined;
      throw err;
    });
    return this.linkerInfoValue;
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
    const fp = typeof this.compilerChoice === 'string' ? compilerFingerprint(this.compilerChoice) : undefined;
    const known = this.cache.dir && fp ? recallIdentity(this.cache, fp) : undefined;
    if (known) {
      this.identityMemo = { fingerprint: fp as string };
      return known;
    }
    const info = await this.compiler.info();
    if (this.cache.dir && fp) rememberIdentity(this.cache, fp, info);
    return info;
  }

  /** A launch-ready kernel on `device` (default: device 0). Repeat calls with the same spec object cost a map lookup. */
  async kernel(spec: KernelSpec, device?: Device): Promise<Kernel> {
    const dev = device ?? Device.get(0);
    const r = this.residentFor(spec, dev);
    if (r) {
      this.cache.noteMemoryHit(r.entry);
      return r.kernel;
    }
    return this.kernelSlow(spec, dev);
  }

  /** The kernel if it is already resident for this spec object and device; never compiles, loads or awaits. */
  peekKernel(spec: KernelSpec, device: Device): Kernel | undefined {
    const r = this.residentFor(spec, device);
    if (!r) return undefined;
    this.cache.noteMemoryHit(r.entry);
    return r.kernel;
  }

  /**
   * The resident kernel of an unchanged spec whose module is still loaded (eviction clears `attached`) and whose
   * headers on disk, if it read any, are as they were compiled.
   */
  private residentFor(spec: KernelSpec, dev: Device): Resident | undefined {
    const s = this.specs.get(spec);
    if (s === undefined || !stillAsPrepared(spec, s.prepared)) return undefined;
    const r = s.resident.get(dev.ordinal);
    if (!r || !r.entry.attached.has(r.contextId)) return undefined;
    if (r.entry.meta.dependencies !== undefined && !this.cache.isCurrent(r.entry)) return undefined;
    return r;
  }

  /**
   * Several kernels of one source compiled once into one image (CuPy's RawModule), loaded on `device`. The module's
   * kernels are handed out by name; `jit.kernel()` with the same source and options for any of them is a hit.
   */
  async module(spec: ModuleSpec, device?: Device): Promise<JitModule> {
    const dev = device ?? Device.get(0);
    const state = this.stateOf(spec, 'module');
    const link = this.relocatableLink(state);
    if (link) return this.link(link, dev);
    const { entry, loaded } = await this.loadFor(spec, state, dev);
    return new JitModule(loaded.module, state.prepared.names, entry, spec.signatures ?? {});
  }

  /** Compile (or fetch from the cache) without loading: for precompiling on hosts without a GPU. */
  async compile(spec: KernelSpec | ModuleSpec, arch: string, device?: Device): Promise<CacheLookup> {
    const state = this.stateOf(spec, 'names' in spec ? 'module' : 'kernel');
    const link = this.relocatableLink(state);
    if (link) {
      this.recordOnce(state, arch, this.infoResolved ?? (await this.compilerInfo()));
      return this.linkLookup(this.linkStateOf(link), arch, device);
    }
    return this.lookup(spec, state, arch, device);
  }

  /** Link (or fetch from the cache) without loading: for precompiling links on hosts without a GPU. */
  async compileLink(spec: LinkSpec, arch: string): Promise<CacheLookup> {
    return this.linkLookup(this.linkStateOf(spec), arch, undefined);
  }

  /**
   * Programs and prebuilt objects linked into one image on `device`, through the cache: the linked image is keyed
   * by every input (each program's own key, each object's bytes or file), the linker and its options, so a
   * fresh process with a warm cache neither compiles nor links. Kernels are handed out by the programs' names, or
   * by symbol for kernels of prebuilt objects. A link error is a LinkError carrying the linker's log.
   */
  async link(spec: LinkSpec, device?: Device): Promise<JitModule> {
    const dev = device ?? Device.get(0);
    const state = this.linkStateOf(spec);
    const r = state.resident.get(dev.ordinal);
    if (r && r.module.entry.attached.has(r.contextId) && this.cache.isCurrent(r.module.entry)) {
      this.cache.noteMemoryHit(r.module.entry);
      return r.module;
    }
    let lookup = await this.linkLookup(state, dev.arch, dev);
    let loaded: LoadedModule;
    try {
      loaded = this.loadOnce(lookup.entry, dev);
    } catch (e) {
      if (lookup.tier === 'compiled' || !isImageError(e)) throw e;
      await this.cache.invalidate(lookup.key, e instanceof Error ? e.message : String(e));
      lookup = await this.linkLookup(state, dev.arch, dev);
      loaded = this.loadOnce(lookup.entry, dev);
    }
    const module = new JitModule(
      loaded.module,
      state.prepared.names,
      lookup.entry,
      spec.signatures ?? {},
      true,
    );
    if (!lookup.transient) state.resident.set(dev.ordinal, { module, contextId: dev.contextId });
    return module;
  }

  /**
   * What a lookup of `spec` would find on this host (no compile, no load, no stats), and on a miss the nearest
   * cached entries for the same kernel names with the inputs that differ: a header edited, an option changed,
   * another compiler version or arch.
   */
  async explain(
    spec: KernelSpec | ModuleSpec,
    options: { arch?: string; device?: Device } = {},
  ): Promise<JitExplanation> {
    const arch = options.arch ?? (options.device ?? Device.get(0)).arch;
    const info = this.infoResolved ?? (await this.compilerInfo());
    const state = this.stateOf(spec, 'names' in spec ? 'module' : 'kernel');
    const explanation = await this.cache.explain(this.keySpecFor(state, arch, info));
    return { ...explanation, arch, compiler: info };
  }

  private async lookup(
    spec: KernelSpec | ModuleSpec,
    state: SpecState,
    arch: string,
    device: Device | undefined,
    imageKind: ImageKind = 'cubin',
    record = true,
  ): Promise<CacheLookup> {
    const info = this.infoResolved ?? (await this.compilerInfo());
    const keySpec = this.keySpecFor(state, arch, info, imageKind);
    if (record) this.recordOnce(state, arch, info, keySpec);
    const hit = this.cache.lookupSync(keySpec);
    if (hit) return hit;
    try {
      return await this.cache.getOrCompile(
        keySpec,
        () => this.runCompile(state.prepared, keySpec, info),
        this.extraFor(state.prepared, device),
      );
    } catch (e) {
      if (!(e instanceof CompilerIdentityChanged)) throw e;
      // The remembered identity was stale (compiler replaced in place): forget it and look up under the real one.
      this.infoValue = Promise.resolve(e.actual);
      this.infoResolved = e.actual;
      return this.lookup(spec, state, arch, device, imageKind, record);
    }
  }

  /** Appends the spec to the manifest being recorded, once per key spec. */
  private recordOnce(state: SpecState, arch: string, info: CompilerInfo, keySpec?: KeySpec): void {
    if (!this.recorder) return;
    const ks = keySpec ?? this.keySpecFor(state, arch, info);
    if (this.recorded.has(ks)) return;
    this.recorded.add(ks);
    this.recorder.record(recordedEntry(state.prepared, arch, info.id));
  }

  /** The link that makes a relocatable (-rdc) kernel or module spec loadable; undefined for any other spec. */
  private relocatableLink(state: SpecState): LinkSpec | undefined {
    const p = state.prepared;
    if (!isRelocatable(p.options)) return undefined;
    state.linkSpec ??= {
      programs: [
        {
          source: p.source,
          names: p.names,
          options: p.options,
          ...(p.headers ? { headers: p.headers } : {}),
          ...(p.programName ? { programName: p.programName } : {}),
        },
      ],
    };
    return state.linkSpec;
  }

  private linkStateOf(spec: LinkSpec): LinkState {
    const known = this.links.get(spec);
    if (known && linkStillAsPrepared(spec, known.prepared)) return known;
    const state: LinkState = { prepared: prepareLinkSpec(spec), keySpecs: new Map(), resident: new Map() };
    this.links.set(spec, state);
    return state;
  }

  /** The linked image through the cache: a hit needs only the programs' keys, never their images. */
  private async linkLookup(state: LinkState, arch: string, device: Device | undefined): Promise<CacheLookup> {
    const info = this.infoResolved ?? (await this.compilerInfo());
    const linker = await this.linkerInfo();
    const p = state.prepared;
    const imageKind: ImageKind = p.lto ? 'ltoir' : 'cubin';
    const id = `${arch}|${info.id}|${info.version}|${linker.id}|${linker.version}`;
    let keySpec = state.keySpecs.get(id);
    if (!keySpec) {
      const programKeys = p.programs.map((m) =>
        memoizedCacheKey(this.keySpecFor(this.stateOf(m, 'program'), arch, info, imageKind)),
      );
      keySpec = linkKeySpec(p, programKeys, linker, arch, this.cache.policy.salt);
      memoizedCacheKey(keySpec);
      state.keySpecs.set(id, keySpec);
    }
    const hit = this.cache.lookupSync(keySpec);
    if (hit) return hit;
    const ks = keySpec;
    const extras: CompileExtras = { ...this.extraForNames(p.names, device) };
    return this.cache.getOrCompile(ks, () => this.runLink(state, arch, device, imageKind), extras);
  }

  /** Compiles (through the cache) or reads every input, then links them. */
  private async runLink(
    state: LinkState,
    arch: string,
    device: Device | undefined,
    imageKind: ImageKind,
  ): Promise<CompileResult> {
    if (!this.allowCompile) {
      throw new JitDisabledError(
        `JIT compilation is disabled (enableJit: false) and the link of ${state.prepared.names.join(', ') || 'these inputs'} ` +
          `for ${arch} is not in the cache. Precompile it, or enable the JIT.`,
      );
    }
    const p = state.prepared;
    const inputs: LinkInput[] = [];
    const deps: CompileResult['dependencies'][] = [];
    const loweredNames: Record<string, string> = {};
    // Metadata holds what the compiler declared; its kinds are the compiler layer's ParamKind strings.
    const signatures: Record<string, readonly KernelParam[]> = {};
    let compileMs = 0;
    for (const m of p.programs) {
      const look = await this.lookup(m, this.stateOf(m, 'program'), arch, device, imageKind, false);
      const meta = look.entry.meta;
      inputs.push({
        kind: meta.imageKind === 'ltoir' ? 'ltoir' : meta.imageKind === 'ptx' ? 'ptx' : 'cubin',
        data: look.entry.image,
        name: m.programName ?? 'program.cu',
      });
      Object.assign(loweredNames, meta.loweredNames);
      Object.assign(signatures, (meta.signatures ?? {}) as Record<string, readonly KernelParam[]>);
      compileMs += look.tier === 'compiled' ? meta.compileMs : 0;
      const d = meta.dependencies;
      deps.push({
        files: d?.files ?? [],
        absent: d?.absent ?? [],
        untracked: look.transient
          ? [
              {
                file: m.programName ?? 'program.cu',
                line: 0,
                text: '(a program whose includes cannot all be tracked)',
              },
            ]
          : [],
        stable: true,
        ...(d?.cwd !== undefined ? { workingDirectory: d.cwd } : {}),
      });
    }
    for (const o of p.objects) {
      if (o.bytes) {
        inputs.push({ kind: o.kind as LinkInput['kind'], data: o.bytes, name: o.name });
        continue;
      }
      const f = readObjectFile(o);
      inputs.push({ kind: f.kind, data: f.data, name: o.name });
      deps.push({ files: [f.dependency], absent: [], untracked: [], stable: f.stable });
    }
    const linked = await this.linker.link({
      arch,
      inputs,
      lto: p.lto,
      deviceRuntime: p.deviceRuntime,
      options: p.options,
    });
    const info = this.infoResolved ?? (await this.compilerInfo());
    return {
      image: linked.image,
      imageKind: 'cubin',
      target: arch,
      log: linked.log,
      loweredNames,
      compileMs: compileMs + linked.linkMs,
      compiler: info,
      dependencies: mergeDependencies(deps),
      signatures,
    };
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

  /** The counters of this JIT's cache (see KernelCache.getStats). */
  getStats(): CacheStats {
    return this.cache.getStats();
  }

  /** The spec object's state, prepared anew (checked, copied) on first use and whenever the object changed. */
  private stateOf(spec: KernelSpec | ModuleSpec, kind: 'kernel' | 'module' | 'program'): SpecState {
    const known = this.specs.get(spec);
    if (known && stillAsPrepared(spec, known.prepared)) return known;
    const prepared =
      kind === 'kernel'
        ? prepareKernelSpec(spec as KernelSpec)
        : prepareModuleSpec(spec as ModuleSpec, kind === 'program');
    const state: SpecState = { prepared, keySpecs: new Map(), resident: new Map() };
    this.specs.set(spec, state);
    return state;
  }

  private async kernelSlow(spec: KernelSpec, device: Device): Promise<Kernel> {
    const state = this.stateOf(spec, 'kernel');
    const name = state.prepared.names[0] as string;
    const link = this.relocatableLink(state);
    if (link) {
      this.recordOnce(state, device.arch, this.infoResolved ?? (await this.compilerInfo()));
      const module = await this.link(link, device);
      const kernel = module.kernel(name, spec.signature);
      state.resident.set(device.ordinal, { kernel, entry: module.entry, contextId: device.contextId });
      return kernel;
    }
    const { entry, loaded, lookup } = await this.loadFor(spec, state, device);
    const symbol = entry.meta.loweredNames[name] ?? name;
    const kernel = loaded.module.getKernel(symbol, spec.signature, entry.meta.signatures?.[symbol]);
    // A transient compile (headers that cannot be tracked) is used once and looked up again next time.
    if (!lookup.transient) state.resident.set(device.ordinal, { kernel, entry, contextId: device.contextId });
    return kernel;
  }

  /** The spec's entry through the cache, its image loaded on the device (recompiled once if the driver refuses it). */
  private async loadFor(
    spec: KernelSpec | ModuleSpec,
    state: SpecState,
    device: Device,
  ): Promise<{ entry: CacheEntry; loaded: LoadedModule; lookup: CacheLookup }> {
    let lookup = await this.lookup(spec, state, device.arch, device);
    let loaded: LoadedModule;
    try {
      loaded = this.loadOnce(lookup.entry, device);
    } catch (e) {
      // A cached image the driver refuses (damaged in a way its checksum could not show, or built for another
      // driver) must not fail the caller: drop it everywhere and compile afresh. A fresh compile that fails to
      // load is a real error and propagates.
      if (lookup.tier === 'compiled' || !isImageError(e)) throw e;
      await this.cache.invalidate(lookup.key, e instanceof Error ? e.message : String(e));
      lookup = await this.lookup(spec, state, device.arch, device);
      loaded = this.loadOnce(lookup.entry, device);
    }
    return { entry: lookup.entry, loaded, lookup };
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

  private keySpecFor(
    state: SpecState,
    arch: string,
    info: CompilerInfo,
    imageKind: ImageKind = 'cubin',
  ): KeySpec {
    const id = `${arch}|${info.id}|${info.version}|${imageKind}`;
    let ks = state.keySpecs.get(id);
    if (!ks) {
      const p = state.prepared;
      // Keyed with absolute include paths, spelled as this compiler reads them (nvcc splits lists at commas).
      const dialect = info.id === 'nvcc' ? NVCC_DIALECT : NVRTC_DIALECT;
      // An arch-specific target in the options (-arch=sm_90a) becomes the key's and the compile's target.
      const target = archFromOptions(arch, p.options);
      ks = {
        source: p.source,
        headers: p.headers ?? {},
        nameExpressions: p.names,
        options: absolutizePathOptions(target.options, p.cwd, dialect),
        compiler: { id: info.id, version: info.version },
        target: target.arch,
        imageKind,
        salt: this.cache.policy.salt,
        fileName: sourceFileName(p.programName ?? 'program.cu', new Set(Object.keys(p.headers ?? {}))),
      };
      memoizedCacheKey(ks);
      state.keySpecs.set(id, ks);
    }
    return ks;
  }

  /** Metadata extras; the driver version is recorded when a device is in use (the driver is loaded then). */
  private extraFor(p: PreparedSpec, device?: Device): CompileExtras {
    return this.extraForNames(p.names, device);
  }

  private extraForNames(names: readonly string[], device?: Device): CompileExtras {
    if (device && this.driverVersionValue === undefined)
      this.driverVersionValue = String(driver.driverVersion());
    return this.driverVersionValue
      ? { kernelNames: [...names], driverVersion: this.driverVersionValue }
      : { kernelNames: [...names] };
  }

  private async runCompile(p: PreparedSpec, keySpec: KeySpec, keyInfo: CompilerInfo): Promise<CompileResult> {
    const arch = keySpec.target;
    if (!this.allowCompile) {
      throw new JitDisabledError(
        `JIT compilation is disabled (enableJit: false) and ${p.programName ?? p.names.join(', ')} for ${arch} ` +
          `is not in the cache. Precompile it with jit.warm() or enable the JIT.`,
      );
    }
    // Every compile checks the identity its key was made with against the real compiler (both backends memoize
    // info(), so this is free after the first): a remembered identity that went stale must never label an image.
    const actual = await this.compiler.info();
    if (actual.id !== keyInfo.id || actual.version !== keyInfo.version) {
      if (this.identityMemo) rememberIdentity(this.cache, this.identityMemo.fingerprint, actual);
      throw new CompilerIdentityChanged(actual);
    }
    const req: CompileRequest = {
      source: p.source,
      arch,
      nameExpressions: p.names,
      imageKind: keySpec.imageKind,
      options: keySpec.options,
      ...(p.headers ? { headers: p.headers } : {}),
      ...(p.programName ? { programName: p.programName } : {}),
    };
    return this.compiler.compile(req);
  }
}

/** A prepared spec as a manifest entry: as given, include paths absolute, with the arch and compiler it ran with. */
function recordedEntry(p: PreparedSpec, arch: string, compiler: string): SpecEntry {
  const common = {
    source: p.source,
    options: absolutizePathOptions(p.options, p.cwd),
    ...(p.headers ? { headers: p.headers } : {}),
    ...(p.programName ? { programName: p.programName } : {}),
  };
  const spec = p.given.name !== undefined ? { ...common, name: p.names[0]! } : { ...common, names: p.names };
  return { spec, arch, ...(compiler === 'nvrtc' || compiler === 'nvcc' ? { compiler } : {}) };
}
