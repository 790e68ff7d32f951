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
  kernel(spec: KernelSpec, device?: Device): Promise<Kernel>;
}
