// Bindings to NVRTC (libnvrtc.so.*). Opened on first use. NVRTC has no CUDA context, so the compile call runs
// through koffi's async worker and keeps the event loop free while a kernel compiles.
import { existsSync } from 'node:fs';
import { koffi } from './ffi.js';
import type * as Koffi from 'koffi';

import { NvrtcBuiltinsError, NvrtcError } from './errors.js';
import { LazyLibrary } from './lazy-library.js';
import {
  candidates,
  NVRTC_LIBRARY,
  nvrtcBuiltinsFor,
  openFirst,
  toolkitIncludeDirsFor,
  type NvrtcBuiltinsSearch,
  type ToolkitIncludes,
} from './library-discovery.js';

type Fn = ReturnType<Koffi.LibraryHandle['func']>;
type Handle = bigint;

interface RawNvrtc {
  path: string;
  nvrtcVersion: Fn;
  nvrtcGetErrorString: Fn;
  nvrtcGetNumSupportedArchs: Fn;
  nvrtcGetSupportedArchs: Fn;
  nvrtcCreateProgram: Fn;
  nvrtcDestroyProgram: Fn;
  nvrtcAddNameExpression: Fn;
  nvrtcCompileProgram: Fn;
  nvrtcGetProgramLogSize: Fn;
  nvrtcGetProgramLog: Fn;
  nvrtcGetPTXSize: Fn;
  nvrtcGetPTX: Fn;
  nvrtcGetCUBINSize: Fn;
  nvrtcGetCUBIN: Fn;
  nvrtcGetLoweredName: Fn;
  nvrtcGetLTOIRSize: Fn | undefined;
  nvrtcGetLTOIR: Fn | undefined;
}

const library = new LazyLibrary(bindLibrary);
const bind = (): RawNvrtc => library.get();

function bindLibrary(): RawNvrtc {
  const { handle: lib, path } = openFirst(NVRTC_LIBRARY, (p) => koffi.load(p));
  const f = (proto: string): Fn => lib.func(proto);
  return {
    path,
    nvrtcVersion: f('int nvrtcVersion(_Out_ int *major, _Out_ int *minor)'),
    nvrtcGetErrorString: f('const char *nvrtcGetErrorString(int result)'),
    nvrtcGetNumSupportedArchs: f('int nvrtcGetNumSupportedArchs(_Out_ int *count)'),
    nvrtcGetSupportedArchs: f('int nvrtcGetSupportedArchs(int *archs)'),
    nvrtcCreateProgram: f(
      'int nvrtcCreateProgram(_Out_ void **prog, const char *src, const char *name, int numHeaders, ' +
        'const char **headers, const char **includeNames)',
    ),
    nvrtcDestroyProgram: f('int nvrtcDestroyProgram(_Inout_ void **prog)'),
    nvrtcAddNameExpression: f('int nvrtcAddNameExpression(void *prog, const char *nameExpression)'),
    nvrtcCompileProgram: f('int nvrtcCompileProgram(void *prog, int numOptions, const char **options)'),
    nvrtcGetProgramLogSize: f('int nvrtcGetProgramLogSize(void *prog, _Out_ size_t *size)'),
    nvrtcGetProgramLog: f('int nvrtcGetProgramLog(void *prog, char *log)'),
    nvrtcGetPTXSize: f('int nvrtcGetPTXSize(void *prog, _Out_ size_t *size)'),
    nvrtcGetPTX: f('int nvrtcGetPTX(void *prog, char *ptx)'),
    nvrtcGetCUBINSize: f('int nvrtcGetCUBINSize(void *prog, _Out_ size_t *size)'),
    nvrtcGetCUBIN: f('int nvrtcGetCUBIN(void *prog, char *cubin)'),
    nvrtcGetLoweredName: f(
      'int nvrtcGetLoweredName(void *prog, const char *nameExpression, _Out_ const char **loweredName)',
    ),
    // NVRTC 12.0 and later; absent before, when LTO IR cannot be asked for.
    nvrtcGetLTOIRSize: optional(() => f('int nvrtcGetLTOIRSize(void *prog, _Out_ size_t *size)')),
    nvrtcGetLTOIR: optional(() => f('int nvrtcGetLTOIR(void *prog, char *ltoir)')),
  };
}

function optional(bindFn: () => Fn): Fn | undefined {
  try {
    return bindFn();
  } catch {
    return undefined;
  }
}

const NVRTC_ERROR_NAMES = [
  'NVRTC_SUCCESS',
  'NVRTC_ERROR_OUT_OF_MEMORY',
  'NVRTC_ERROR_PROGRAM_CREATION_FAILURE',
  'NVRTC_ERROR_INVALID_INPUT',
  'NVRTC_ERROR_INVALID_PROGRAM',
  'NVRTC_ERROR_INVALID_OPTION',
  'NVRTC_ERROR_COMPILATION',
  'NVRTC_ERROR_BUILTIN_OPERATION_FAILURE',
  'NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION',
  'NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION',
  'NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID',
  'NVRTC_ERROR_INTERNAL_ERROR',
  'NVRTC_ERROR_TIME_FILE_WRITE_FAILED',
];
export const NVRTC_ERROR_COMPILATION = 6;

export const NVRTC_ERROR_BUILTIN_OPERATION_FAILURE = 7;

function check(code: number, call: string): void {
  if (code === 0) return;
  if (code === NVRTC_ERROR_BUILTIN_OPERATION_FAILURE) {
    const b = nvrtcBuiltins();
    throw new NvrtcBuiltinsError(call, bind().path, b.name, b.looked, b.found, b.loadError);
  }
  const symbol =
    NVRTC_ERROR_NAMES[code] ?? (bind().nvrtcGetErrorString(code) as string | null) ?? `nvrtcResult ${code}`;
  throw new NvrtcError(code, symbol, call);
}

/** True when libnvrtc can be opened; never throws. */
export function nvrtcAvailable(): boolean {
  try {
    bind();
    return true;
  } catch {
    return false;
  }
}

/**
 * Where libnvrtc is, without loading it: the loaded library's path, else the first candidate file that exists
 * (what loading would try first). Undefined when only the dynamic loader could tell. Loading NVRTC costs ~12 ms,
 * which a process whose kernels all come from the cache need not pay.
 */
export function nvrtcLibraryLocation(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (library.loaded) return library.loaded.path;
  if (library.failed) return undefined;
  for (const c of candidates(NVRTC_LIBRARY, env)) {
    if (c.path.includes('/') && !c.path.includes('*') && existsSync(c.path)) return c.path;
  }
  return undefined;
}

export function nvrtcLibraryPath(): string {
  return bind().path;
}

export function nvrtcVersion(): { major: number; minor: number } {
  const major = [0];
  const minor = [0];
  check(bind().nvrtcVersion(major, minor), 'nvrtcVersion');
  return { major: major[0] ?? 0, minor: minor[0] ?? 0 };
}

/** Compute capabilities NVRTC can target, as numbers like 90 for sm_90. */
export function nvrtcSupportedArchs(): number[] {
  const count = [0];
  check(bind().nvrtcGetNumSupportedArchs(count), 'nvrtcGetNumSupportedArchs');
  const archs = new Int32Array(count[0] ?? 0);
  check(bind().nvrtcGetSupportedArchs(archs), 'nvrtcGetSupportedArchs');
  return [...archs];
}

/**
 * The toolkit include directories that belong to this NVRTC (cuda_fp16.h, cuda_bf16.h, mma.h, cccl/), found from the
 * library's own location in a toolkit or a CUDA 12 or 13 pip wheel (see toolkitIncludeDirsFor): NVRTC searches no
 * directory by default.
 */
export function nvrtcToolkitIncludeDirs(): string[] {
  return nvrtcToolkitIncludes().dirs;
}

/** The same, with every directory considered (for `cuop doctor` and the hint on a missing header). */
export function nvrtcToolkitIncludes(): ToolkitIncludes {
  return toolkitIncludeDirsFor(bind().path);
}

/** NVRTC's builtins library: where it was looked for and found, and whether loading it failed. */
export interface NvrtcBuiltins extends NvrtcBuiltinsSearch {
  /** Why the found copy would not load; absent when it loaded (or none was found). */
  readonly loadError?: string;
}

let builtins: NvrtcBuiltins | undefined;
/** Held so that the builtins library stays loaded. */
const keptLoaded: unknown[] = [];

/**
 * Finds NVRTC's builtins library beside libnvrtc and loads it, once: libnvrtc loads it by soname at the first
 * compile, and the dynamic loader then takes the copy already in the process. Without this, a libnvrtc opened
 * from a pip wheel by path fails every compile with NVRTC_ERROR_BUILTIN_OPERATION_FAILURE unless its directory is
 * on LD_LIBRARY_PATH. Throws only when libnvrtc itself cannot be opened.
 */
export function nvrtcBuiltins(): NvrtcBuiltins {
  if (builtins) return builtins;
  const { major, minor } = nvrtcVersion();
  const search = nvrtcBuiltinsFor(bind().path, major, minor);
  let loadError: string | undefined;
  if (search.found) {
    try {
      keptLoaded.push(koffi.load(search.found));
    } catch (e) {
      loadError = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    }
  }
  builtins = { ...search, ...(loadError !== undefined ? { loadError } : {}) };
  return builtins;
}

export interface NvrtcProgramInput {
  source: string;
  name: string;
  headers: ReadonlyArray<readonly [name: string, contents: string]>;
  nameExpressions: readonly string[];
  options: readonly string[];
  /** The image to read back. */
  want: 'cubin' | 'ptx' | 'ltoir';
}

export interface NvrtcProgramOutput {
  ok: boolean;
  log: string;
  image?: Buffer;
  /** The PTX text (without its NUL), also for cubin compiles: the kernels' parameter declarations are read from it. */
  ptx?: string;
  loweredNames: Record<string, string>;
}

/** Create, compile (off the event loop) and read back one NVRTC program; always destroys it. */
export async function nvrtcCompile(input: NvrtcProgramInput): Promise<NvrtcProgramOutput> {
  const r = bind();
  nvrtcBuiltins();
  const prog: (Handle | null)[] = [null];
  const headerSources = input.headers.map(([, c]) => c);
  const headerNames = input.headers.map(([n]) => n);
  check(
    r.nvrtcCreateProgram(
      prog,
      input.source,
      input.name,
      input.headers.length,
      headerSources.length ? headerSources : null,
      headerNames.length ? headerNames : null,
    ),
    'nvrtcCreateProgram',
  );
  const p = prog[0] as Handle;
  try {
    for (const expr of input.nameExpressions)
      check(r.nvrtcAddNameExpression(p, expr), 'nvrtcAddNameExpression');
    const options = [...input.options];
    const code = await new Promise<number>((resolve, reject) => {
      r.nvrtcCompileProgram.async(
        p,
        options.length,
        options.length ? options : null,
        (err: unknown, res: number) =>
          err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res),
      );
    });
    const logSize = [0];
    check(r.nvrtcGetProgramLogSize(p, logSize), 'nvrtcGetProgramLogSize');
    const logBuf = Buffer.alloc(Number(logSize[0]));
    if (logBuf.length > 0) check(r.nvrtcGetProgramLog(p, logBuf), 'nvrtcGetProgramLog');
    const log = logBuf.toString('utf8').replace(/\0+$/, '').trim();
    if (code === NVRTC_ERROR_COMPILATION) return { ok: false, log, loweredNames: {} };
    check(code, 'nvrtcCompileProgram');

    const size = [0];
    let image: Buffer;
    // Some option sets (LTO IR, say) leave no PTX: then there is nothing to read parameters from, which is no error.
    let ptxBytes: Buffer | undefined;
    if (r.nvrtcGetPTXSize(p, size) === 0 && Number(size[0]) > 0) {
      ptxBytes = Buffer.alloc(Number(size[0])); // includes the trailing NUL the driver expects
      if (r.nvrtcGetPTX(p, ptxBytes) !== 0) ptxBytes = undefined;
    }
    const ptx = ptxBytes?.toString('utf8').replace(/\0+$/, '');
    if (input.want === 'cubin') {
      check(r.nvrtcGetCUBINSize(p, size), 'nvrtcGetCUBINSize');
      image = Buffer.alloc(Number(size[0]));
      check(r.nvrtcGetCUBIN(p, image), 'nvrtcGetCUBIN');
    } else if (input.want === 'ltoir') {
      if (!r.nvrtcGetLTOIRSize || !r.nvrtcGetLTOIR)
        throw new NvrtcError(-1, 'this NVRTC cannot emit LTO IR (needs CUDA 12.0 or later)', 'nvrtcGetLTOIR');
      check(r.nvrtcGetLTOIRSize(p, size), 'nvrtcGetLTOIRSize');
      image = Buffer.alloc(Number(size[0]));
      check(r.nvrtcGetLTOIR(p, image), 'nvrtcGetLTOIR');
    } else {
      if (!ptxBytes) check(r.nvrtcGetPTXSize(p, size), 'nvrtcGetPTX');
      image = ptxBytes ?? Buffer.alloc(0);
    }
    const loweredNames: Record<string, string> = {};
    for (const expr of input.nameExpressions) {
      const lowered: (string | null)[] = [null];
      check(r.nvrtcGetLoweredName(p, expr, lowered), 'nvrtcGetLoweredName');
      if (lowered[0]) loweredNames[expr] = lowered[0];
    }
    return { ok: true, log, image, loweredNames, ...(ptx !== undefined ? { ptx } : {}) };
  } finally {
    r.nvrtcDestroyProgram([p]);
  }
}
