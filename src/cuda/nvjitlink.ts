// Bindings to nvJitLink (libnvJitLink.so.*), the toolkit's device linker: relocatable cubins, PTX, objects, static
// libraries, fatbins and LTO IR in, one linked cubin out. Opened on first use, preferably from the directory NVRTC
// came from (the same toolkit). The link runs on the calling thread (see nvJitLink below).
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { koffi } from './ffi.js';
import type * as Koffi from 'koffi';

import { CuopError, LibraryNotFoundError, attachDetails, registerErrorClass } from './errors.js';
import { LazyLibrary } from './lazy-library.js';
import { NVJITLINK_LIBRARY, openFirst } from './library-discovery.js';
import { nvrtcLibraryLocation } from './nvrtc.js';

type Fn = ReturnType<Koffi.LibraryHandle['func']>;

/** nvJitLinkInputType: what one input of a link is. */
export const LinkInputType = {
  cubin: 1,
  ptx: 2,
  ltoir: 3,
  fatbin: 4,
  object: 5,
  library: 6,
} as const;
export type LinkInputKind = keyof typeof LinkInputType;

const RESULT_NAMES = [
  'NVJITLINK_SUCCESS',
  'NVJITLINK_ERROR_UNRECOGNIZED_OPTION',
  'NVJITLINK_ERROR_MISSING_ARCH',
  'NVJITLINK_ERROR_INVALID_INPUT',
  'NVJITLINK_ERROR_PTX_COMPILE',
  'NVJITLINK_ERROR_NVVM_COMPILE',
  'NVJITLINK_ERROR_INTERNAL',
  'NVJITLINK_ERROR_THREADPOOL',
  'NVJITLINK_ERROR_UNRECOGNIZED_INPUT',
  'NVJITLINK_ERROR_FINALIZE',
  'NVJITLINK_ERROR_NULL_INPUT',
  'NVJITLINK_ERROR_INCOMPATIBLE_OPTIONS',
  'NVJITLINK_ERROR_INCORRECT_INPUT_TYPE',
  'NVJITLINK_ERROR_ARCH_MISMATCH',
  'NVJITLINK_ERROR_OUTDATED_LIBRARY',
  'NVJITLINK_ERROR_MISSING_FATBIN',
];

/** An nvJitLink call failed for a reason other than the inputs (those are LinkError, in the compiler layer). */
export class NvJitLinkError extends CuopError {
  override readonly name = 'NvJitLinkError';
  constructor(
    readonly code: number,
    readonly symbol: string,
    readonly call: string,
    /** The linker's error log, when it wrote one. */
    readonly log: string,
  ) {
    super(`${call} failed: ${symbol} (${code})${log ? `:\n${log}` : ''}`);
    attachDetails(this, { code, symbol, call, log });
  }
}
registerErrorClass('NvJitLinkError', NvJitLinkError);

interface RawNvJitLink {
  path: string;
  version: { major: number; minor: number };
  create: Fn;
  destroy: Fn;
  addData: Fn;
  addFile: Fn;
  complete: Fn;
  cubinSize: Fn;
  cubin: Fn;
  errorLogSize: Fn;
  errorLog: Fn;
  infoLogSize: Fn;
  infoLog: Fn;
}

const library = new LazyLibrary(bindLibrary);

/** The library next to NVRTC's first (one toolkit links what it compiled), then the usual search. */
function openLibrary(): { handle: Koffi.LibraryHandle; path: string } {
  const near = nvrtcLibraryLocation();
  if (near) {
    const dir = dirname(near);
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((n) => n.startsWith('libnvJitLink.so'));
    } catch {
      // unreadable: fall through to the search
    }
    names.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
    for (const n of names) {
      const path = join(dir, n);
      try {
        if (existsSync(path)) return { handle: koffi.load(path), path };
      } catch {
        // try the next, then the search
      }
    }
  }
  return openFirst(NVJITLINK_LIBRARY, (p) => koffi.load(p));
}

function bindLibrary(): RawNvJitLink {
  const { handle: lib, path } = openLibrary();
  const versionFn = lib.func('int nvJitLinkVersion(_Out_ unsigned int *major, _Out_ unsigned int *minor)');
  const major = [0];
  const minor = [0];
  if (versionFn(major, minor) !== 0)
    throw new NvJitLinkError(-1, 'version query failed', 'nvJitLinkVersion', '');
  const version = { major: major[0] ?? 0, minor: minor[0] ?? 0 };
  // The header maps each entry point to a versioned symbol (__nvJitLinkCreate_13_0); a library exports those of its
  // own version and the older minors of its major. Try the plain name, then this version's minors downwards.
  const suffixes = [''];
  for (let m = version.minor; m >= 0; m--) suffixes.push(`_${version.major}_${m}`);
  const f = (name: string, rest: string): Fn => {
    for (const s of suffixes) {
      const symbol = s ? `__${name}${s}` : name;
      try {
        return lib.func(`int ${symbol}(${rest})`);
      } catch {
        // not exported under this name
      }
    }
    throw new LibraryNotFoundError(
      `${name} in ${path}`,
      [`${path}: no symbol ${name} or __${name}_${version.major}_N`],
      NVJITLINK_LIBRARY.envVar,
    );
  };
  return {
    path,
    version,
    // Strings go in as caller-owned buffers (see cString): the linker may read them after the call returns.
    create: f('nvJitLinkCreate', '_Out_ void **handle, uint32_t numOptions, void *options'),
    destroy: f('nvJitLinkDestroy', '_Inout_ void **handle'),
    addData: f(
      'nvJitLinkAddData',
      'void *handle, int inputType, const void *data, size_t size, const char *name',
    ),
    addFile: f('nvJitLinkAddFile', 'void *handle, int inputType, const char *fileName'),
    complete: f('nvJitLinkComplete', 'void *handle'),
    cubinSize: f('nvJitLinkGetLinkedCubinSize', 'void *handle, _Out_ size_t *size'),
    cubin: f('nvJitLinkGetLinkedCubin', 'void *handle, void *cubin'),
    errorLogSize: f('nvJitLinkGetErrorLogSize', 'void *handle, _Out_ size_t *size'),
    errorLog: f('nvJitLinkGetErrorLog', 'void *handle, char *log'),
    infoLogSize: f('nvJitLinkGetInfoLogSize', 'void *handle, _Out_ size_t *size'),
    infoLog: f('nvJitLinkGetInfoLog', 'void *handle, char *log'),
  };
}

/** True when libnvJitLink opens; never throws. */
export function nvJitLinkAvailable(): boolean {
  try {
    library.get();
    return true;
  } catch {
    return false;
  }
}

/** The loaded library's path (opening it). */
export function nvJitLinkLibraryPath(): string {
  return library.get().path;
}

export function nvJitLinkVersion(): { major: number; minor: number } {
  return library.get().version;
}

export interface NvJitLinkInput {
  readonly kind: LinkInputKind;
  /** The bytes, or a file (the device runtime library, say). */
  readonly data?: Uint8Array;
  readonly file?: string;
  /** Named in the linker's messages. */
  readonly name: string;
}

export interface NvJitLinkOutput {
  readonly ok: boolean;
  readonly cubin?: Buffer;
  /** Error log on failure, info log (warnings) on success. */
  readonly log: string;
}

function readLog(r: RawNvJitLink, h: bigint, which: 'error' | 'info'): string {
  const size = [0];
  const sizeFn = which === 'error' ? r.errorLogSize : r.infoLogSize;
  if (sizeFn(h, size) !== 0 || Number(size[0]) <= 1) return '';
  const buf = Buffer.alloc(Number(size[0]));
  if ((which === 'error' ? r.errorLog : r.infoLog)(h, buf) !== 0) return '';
  return buf.toString('utf8').replace(/\0+$/, '').trim();
}

const resultName = (code: number): string => RESULT_NAMES[code] ?? `nvJitLinkResult ${code}`;

/** A NUL-terminated copy that stays alive as long as the caller holds it (koffi's own copies die with the call). */
const cString = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');

/** A `const char *[]` over `strings`, whose buffers the caller keeps alive with it. */
function cStringArray(strings: readonly Buffer[]): Buffer {
  const arr = Buffer.alloc(Math.max(8, strings.length * 8));
  strings.forEach((b, i) => arr.writeBigUInt64LE(koffi.address(b), i * 8));
  return arr;
}

/**
 * Link `inputs` with `options` (`-arch=sm_90`, `-lto`, …). Problems with the inputs (an undefined symbol, an arch
 * mismatch, bad IR) come back as `ok: false` with the linker's log; a bad option or a broken library throws.
 */
export async function nvJitLink(
  options: readonly string[],
  inputs: readonly NvJitLinkInput[],
): Promise<NvJitLinkOutput> {
  const r = library.get();
  const handle: (bigint | null)[] = [null];
  // Everything handed to the linker stays referenced here until the handle is destroyed.
  const keep: Buffer[] = options.map(cString);
  const optionArray = cStringArray(keep);
  keep.push(optionArray);
  const created = r.create(handle, options.length, options.length ? optionArray : null) as number;
  if (created !== 0) throw new NvJitLinkError(created, resultName(created), 'nvJitLinkCreate', '');
  const h = handle[0] as bigint;
  try {
    for (const input of inputs) {
      const type = LinkInputType[input.kind];
      const name = cString(input.file ?? input.name);
      keep.push(name);
      if (input.data) keep.push(Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength));
      const code = (
        input.file !== undefined
          ? r.addFile(h, type, name)
          : r.addData(h, type, input.data, input.data?.byteLength ?? 0, name)
      ) as number;
      if (code !== 0)
        return { ok: false, log: readLog(r, h, 'error') || `${input.name}: ${resultName(code)}` };
    }
    // Synchronous on purpose: after one nvJitLinkComplete on koffi's async worker, the next link of the process
    // crashed (SIGSEGV, or nvJitLinkCreate failing) on the H200 host, every time, with or without the device
    // runtime; six sync links in a row ran clean (notes/measurements/2026-12-02-h200-link-fault.txt). A link takes
    // milliseconds to a few hundred; it blocks the event loop for that long, once per linked image (then cached).
    const code = r.complete(h) as number;
    if (code !== 0) {
      const log = readLog(r, h, 'error');
      if (code === 1 || code === 11)
        throw new NvJitLinkError(code, resultName(code), 'nvJitLinkComplete', log);
      return { ok: false, log: log || resultName(code) };
    }
    const size = [0];
    let c = r.cubinSize(h, size) as number;
    if (c !== 0) throw new NvJitLinkError(c, resultName(c), 'nvJitLinkGetLinkedCubinSize', '');
    const cubin = Buffer.alloc(Number(size[0]));
    c = r.cubin(h, cubin) as number;
    if (c !== 0) throw new NvJitLinkError(c, resultName(c), 'nvJitLinkGetLinkedCubin', '');
    return { ok: true, cubin, log: readLog(r, h, 'info') };
  } finally {
    r.destroy([h]);
    keep.length = 0; // only now may the buffers go
  }
}
