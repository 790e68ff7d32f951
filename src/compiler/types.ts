import type { FileDependency, UntrackedInclude } from './include-scan.js';
import type { KernelParam } from './kernel-signature.js';

/**
 * Machine code for one arch (cubin), the portable fallback the driver JIT-compiles (PTX), or LTO IR: the input of
 * a link-time-optimized link, never loaded by itself.
 */
export type ImageKind = 'cubin' | 'ptx' | 'ltoir';

/** The two compiler backends: NVRTC in-process, nvcc as a subprocess. */
export type CompilerId = 'nvrtc' | 'nvcc';

/** Everything that determines the machine code of one compilation. */
export interface CompileRequest {
  /** CUDA C++ source text. */
  readonly source: string;
  /** Program name used in diagnostics (file:line messages), e.g. "gemm.cu". Not part of the machine code. */
  readonly programName?: string;
  /** In-memory headers, name → contents, resolvable by `#include "name"`. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Kernel names or name expressions (e.g. `gemm<float, 64>`); each gets a lowered (mangled) name in the result,
   * which is what the driver's cuModuleGetFunction needs. Plain `extern "C"` kernel names map to themselves.
   */
  readonly nameExpressions?: readonly string[];
  /** Raw compiler flags, order kept (e.g. `-DBM=64`, `--use_fast_math`). */
  readonly options?: readonly string[];
  /** Target, `sm_90` style. */
  readonly arch: string;
  /** Wanted image kind; default cubin. A compiler that does not know `arch` may return PTX instead (see result). */
  readonly imageKind?: ImageKind;
}

/** Which compiler, of which toolkit version: part of every cache key. */
export interface CompilerInfo {
  readonly id: CompilerId;
  /** Toolkit version, e.g. "13.0" (NVRTC) or "13.0.88" (nvcc). */
  readonly version: string;
}

/** The image of one compile, with its log, lowered names, timing and what it read from disk. */
export interface CompileResult {
  /** The image: cubin (ELF) bytes, or PTX text including the trailing NUL the driver expects. */
  readonly image: Buffer;
  readonly imageKind: ImageKind;
  /** What the image is for: `sm_90` for a cubin, `compute_90` for PTX, `lto_90` for LTO IR. */
  readonly target: string;
  /** Compiler output (warnings); empty when silent. */
  readonly log: string;
  /** Name expression → lowered symbol name. */
  readonly loweredNames: Readonly<Record<string, string>>;
  /** Wall time of the compile itself. */
  readonly compileMs: number;
  readonly compiler: CompilerInfo;
  /** The files on disk the compile may have read (headers found through -I, -include, relative includes). */
  readonly dependencies?: CompileDependencies;
  /** Lowered kernel name → its parameters as the compiled code declares them (from the PTX and the mangled name). */
  readonly signatures?: Readonly<Record<string, readonly KernelParam[]>>;
}

/**
 * What the machine code depends on besides the request: a superset of the files the compiler read (outside the
 * toolkit's own headers, which its version covers) and the paths that had to stay absent.
 */
export interface CompileDependencies {
  readonly files: readonly FileDependency[];
  readonly absent: readonly string[];
  /** Includes through macros that could not be followed: the list above may be incomplete, so nothing is cached. */
  readonly untracked: readonly UntrackedInclude[];
  /** False when a listed file changed while the compiler ran: the image may be of either version. */
  readonly stable: boolean;
  /** Set when what the compile reads depends on the working directory (NVRTC: in-memory headers' includes). */
  readonly workingDirectory?: string;
}

/** Both backends (NVRTC in-process, nvcc subprocess) implement this and return the same shape. */
export interface Compiler {
  readonly id: CompilerId;
  /** Compiler identity; part of every cache key. Throws when the backend is not usable on this host. */
  info(): Promise<CompilerInfo>;
  /** Archs this compiler can emit cubins for, as numbers (90 = sm_90). */
  supportedArchs(): Promise<number[]>;
  /** Compiles one request; throws CompileError with the compiler's log when the source does not compile. */
  compile(request: CompileRequest): Promise<CompileResult>;
}
