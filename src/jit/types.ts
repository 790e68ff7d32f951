import type { KernelCache } from '../cache/index.js';
import type { LinkInputKind } from '../compiler/index.js';
import type { ParamType } from '../cuda/index.js';
import type { Device, Kernel } from '../runtime/index.js';

/** What a user (or an operator) asks the JIT for: one kernel of one source. */
export interface KernelSpec {
  /** CUDA C++ source text. */
  readonly source: string;
  /** Kernel name or name expression (e.g. `gemm<float, 128>`); plain names for `extern "C"` kernels. */
  readonly name: string;
  /** In-memory headers, name → contents. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Raw compiler flags, order kept. */
  readonly options?: readonly string[];
  /** Parameter types, so plain JS numbers can be passed to launch(). */
  readonly signature?: readonly ParamType[];
  /** Program name for diagnostics, e.g. "gemm_f32_128x128.cu". */
  readonly programName?: string;
}

/**
 * Several kernels of one source, compiled once into one image (the shape of CuPy's RawModule): `jit.module()`
 * hands out each by name, and `jit.kernel()` for any of these names with the same source and options is a hit.
 */
export interface ModuleSpec {
  readonly source: string;
  /** Kernel names or name expressions the module must hold. */
  readonly names: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  readonly options?: readonly string[];
  /** Parameter types per name (as written in `names`), for typing plain JS numbers. */
  readonly signatures?: Readonly<Record<string, readonly ParamType[]>>;
  readonly programName?: string;
}

/** Anything that can turn a KernelSpec into a launch-ready kernel on a device (the JitCompiler does, via the cache). */
export interface KernelProvider {
  /** The kernel of `spec`, loaded on `device` (default: device 0) and ready to launch. */
  kernel(spec: KernelSpec, device?: Device): Promise<Kernel>;
  /**
   * Where operators keep small non-kernel records (tuning results) beside the kernels: the provider's cache, when it
   * has one (a JitCompiler's). Without it, records live in the operator's process only.
   */
  readonly cache?: Pick<KernelCache, 'getRecord' | 'putRecord'>;
}

/** One program of a link: compiled relocatable (`-rdc=true` is added), or to LTO IR when the link is `lto`. */
export interface LinkProgram {
  readonly source: string;
  /** Kernels (names or name expressions) this program defines that the linked module hands out. */
  readonly names?: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  readonly options?: readonly string[];
  readonly programName?: string;
}

/**
 * A prebuilt input: a file (tracked like a header read from disk: an edit is a miss) or bytes. `kind` is detected
 * from the content when left out: cubin, host object (`nvcc -dc`), static library, fatbin, LTO IR or PTX.
 */
export type LinkObject =
  | { readonly path: string; readonly kind?: LinkInputKind }
  | { readonly bytes: Uint8Array; readonly name?: string; readonly kind?: LinkInputKind };

/**
 * Several programs and prebuilt objects linked into one image (`jit.link()`): separate compilation with
 * `extern __device__` functions across programs, dynamic parallelism (the device runtime is linked), LTO.
 * The linked image is cached under a key covering every input, the linker and its options.
 */
export interface LinkSpec {
  readonly programs?: readonly LinkProgram[];
  readonly objects?: readonly LinkObject[];
  /** Link-time optimization: programs compile to LTO IR, optimized together at link time (default false). */
  readonly lto?: boolean;
  /**
   * Link the device runtime, libcudadevrt (kernels launching kernels). Default `'auto'`: only when the program
   * needs it (a link without it fails, then one with it is tried), since it makes an image ~200 KB larger and
   * ~25× slower to load. `true` always links it, as nvcc -rdc does; `false` never.
   */
  readonly deviceRuntime?: boolean | 'auto';
  /** Linker options, passed as they are (nvJitLink: `-O3`, `-maxrregcount=N`; nvlink spells some differently). */
  readonly linkOptions?: readonly string[];
  /** Parameter types per kernel name, for typing plain JS numbers. */
  readonly signatures?: Readonly<Record<string, readonly ParamType[]>>;
}
