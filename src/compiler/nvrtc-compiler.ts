// NVRTC in-process: the default backend wherever libnvrtc opens. The compile itself runs off the event loop.
import { lstatSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, sep } from 'node:path';
import { performance } from 'node:perf_hooks';

import { LibraryNotFoundError, NvrtcError } from '../cuda/errors.js';
import {
  nvrtcCompile,
  nvrtcLibraryPath,
  nvrtcSupportedArchs,
  nvrtcToolkitIncludes,
  nvrtcVersion,
} from '../cuda/nvrtc.js';
import { compileDependencies, scanRequest, unchangedSinceScan } from './dependencies.js';
import { CompileError, CompilerUnavailableError } from './errors.js';
import { signaturesOf } from './signatures.js';
import { absolutizePathOptions, NVRTC_DIALECT } from './options.js';
import { checkRequest, resolveTarget, sourceFileName } from './select.js';
import type { CompileRequest, CompileResult, Compiler, CompilerInfo } from './types.js';

/** How NvrtcCompiler sets up NVRTC. */
export interface NvrtcCompilerOptions {
  /**
   * Add `-I` for the toolkit's own include dirs (cuda_fp16.h, mma.h, cccl/), found next to libnvrtc; NVRTC searches
   * none by default. Default true.
   */
  readonly toolkitIncludes?: boolean;
}

const DEFAULT_PROGRAM_NAME = 'program.cu';

let home: string | undefined;
/**
 * The programs' directory: private (0700), empty, one per process and reused. NVRTC looks for a program's quoted
 * includes there; a new directory for each compile measured +40 ms a compile on the H200 host (NVRTC 13.0: 57-83 ms
 * against 15-31 ms for a directory it has seen), so it is made once and removed at exit.
 */
function programHome(): string {
  // Made again if something (a tmp cleaner) removed it, or it is no longer this user's private directory: a header
  // planted there would be found before the include path.
  const st = home === undefined ? undefined : lstatSync(home, { throwIfNoEntry: false });
  const mine =
    st !== undefined && st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o077) === 0;
  if (home === undefined || !mine) {
    const dir = mkdtempSync(join(tmpdir(), 'cuop-nvrtc-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    home = dir;
  }
  return home;
}

export class NvrtcCompiler implements Compiler {
  readonly id = 'nvrtc' as const;
  private readonly toolkitIncludes: boolean;
  private cachedInfo: CompilerInfo | undefined;
  private cachedArchs: number[] | undefined;
  private cachedIncludes: { dirs: string[]; looked: string[] } | undefined;

  constructor(options: NvrtcCompilerOptions = {}) {
    this.toolkitIncludes = options.toolkitIncludes ?? true;
  }

  /** `{ id: 'nvrtc', version: '13.0.88' }` (see fullVersion). Throws CompilerUnavailableError when libnvrtc cannot be opened. */
  async info(): Promise<CompilerInfo> {
    if (!this.cachedInfo) {
      const { major, minor } = unavailableIfMissing(() => nvrtcVersion());
      this.cachedInfo = { id: 'nvrtc', version: fullVersion(major, minor, nvrtcLibraryPath()) };
    }
    return this.cachedInfo;
  }

  async supportedArchs(): Promise<number[]> {
    this.cachedArchs ??= unavailableIfMissing(() => nvrtcSupportedArchs()).sort((a, b) => a - b);
    return [...this.cachedArchs];
  }

  async compile(request: CompileRequest): Promise<CompileResult> {
    checkRequest(request);
    const compiler = await this.info();
    const archs = await this.supportedArchs();
    const programName = request.programName ?? DEFAULT_PROGRAM_NAME;
    const { imageKind, target } = resolveTarget(
      request.arch,
      request.imageKind ?? 'cubin',
      archs,
      `NVRTC ${compiler.version}`,
    );
    if (this.toolkitIncludes) this.cachedIncludes ??= nvrtcToolkitIncludes();
    const toolkit = this.toolkitIncludes ? (this.cachedIncludes?.dirs ?? []) : [];
    const userOptions = absolutizePathOptions(request.options ?? [], process.cwd(), NVRTC_DIALECT);
    // LTO IR: NVRTC takes the virtual arch with -dlto (which implies relocatable code) and hands out the IR.
    const archFlags =
      imageKind === 'ltoir'
        ? [`--gpu-architecture=${target.replace(/^lto_/, 'compute_')}`, '-dlto']
        : [`--gpu-architecture=${target}`];
    const options = [...archFlags, ...toolkit.map((d) => `-I${d}`), ...userOptions];
    const nameExpressions = request.nameExpressions ?? [];
    // NVRTC looks for the main source's quoted includes in the directory of its program name (the working
    // directory for a bare name), and for those of in-memory headers in the working directory. The program gets a
    // private empty directory, so its includes resolve the same in every process; the in-memory headers' case is
    // recorded as a dependency on the working directory (see the scan).
    const scan = await scanRequest(
      { ...request, options: userOptions },
      NVRTC_DIALECT,
      toolkit,
      true,
      process.cwd(),
    );
    const home = programHome();
    const fileName = sourceFileName(programName, new Set(Object.keys(request.headers ?? {})));

    const started = performance.now();
    let out;
    try {
      out = await nvrtcCompile({
        source: request.source,
        name: join(home, fileName),
        headers: Object.entries(request.headers ?? {}),
        nameExpressions,
        options,
        want: imageKind,
      });
    } catch (err) {
      // A bad flag is the request's fault, like a syntax error: report it the same way.
      if (err instanceof NvrtcError && err.symbol === 'NVRTC_ERROR_INVALID_OPTION') {
        throw new CompileError(
          'nvrtc',
          programName,
          `${err.message}; options: ${options.join(' ')}`,
          options,
        );
      }
      throw err;
    }
    const compileMs = performance.now() - started;
    const log = out.log.split(`${home}${sep}${fileName}`).join(programName).split(`${home}${sep}`).join('');
    if (!out.ok || !out.image)
      throw new CompileError('nvrtc', programName, withToolkitHint(log, this.cachedIncludes), options);

    let image = out.image;
    if (imageKind === 'ptx' && (image.length === 0 || image[image.length - 1] !== 0)) {
      image = Buffer.concat([image, Buffer.from([0])]);
    }
    const loweredNames: Record<string, string> = {};
    for (const expr of nameExpressions) {
      const name = out.loweredNames[expr];
      if (!name)
        throw new Error(`NVRTC returned no lowered name for name expression ${JSON.stringify(expr)}`);
      loweredNames[expr] = name;
    }
    return {
      image,
      imageKind,
      target,
      log,
      loweredNames,
      compileMs,
      compiler,
      dependencies: compileDependencies(scan, unchangedSinceScan(scan)),
      signatures: out.ptx ? await signaturesOf(out.ptx) : {},
    };
  }
}

/**
 * A compile that could not open a toolkit header (cuda_bf16.h, ...) while no toolkit include dir was found beside
 * libnvrtc: the log says where cuop looked and what to install, after NVRTC's own lines.
 */
function withToolkitHint(log: string, includes: { dirs: string[]; looked: string[] } | undefined): string {
  if (!includes || includes.dirs.length > 0) return log;
  const m =
    /(?:cannot|could not) open source file "((?:cuda_|cooperative_groups|mma|sm_\d+_|crt\/)[^"]*)"/.exec(log);
  if (!m) return log;
  return (
    `${log}\ncuop: ${m[1]} is a CUDA toolkit header, and no toolkit include directory was found beside ` +
    `libnvrtc (${nvrtcLibraryPath()}; looked in ${includes.looked.join(', ') || 'nothing'}). Install the CUDA ` +
    `runtime headers of the same release (pip install nvidia-cuda-runtime for the CUDA 13 wheels, ` +
    `nvidia-cuda-runtime-cu12 for CUDA 12) or pass -I<toolkit>/include in the options.`
  );
}

function unavailableIfMissing<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    if (err instanceof LibraryNotFoundError) throw new CompilerUnavailableError(err.message, { cause: err });
    throw err;
  }
}

/**
 * nvrtcVersion() says only MAJOR.MINOR, but patch releases change code generation too (ptxas fixes), and the
 * version is part of every cache key. The library's real file name carries the patch (libnvrtc.so.13.0.88); when it
 * does not, the file's size stands in for it.
 */
export function fullVersion(major: number, minor: number, libraryPath: string): string {
  const base = `${major}.${minor}`;
  try {
    const real = realpathSync(libraryPath);
    const m = /\.so\.(\d+)\.(\d+)\.(\d+)$/.exec(basename(real));
    if (m && Number(m[1]) === major && Number(m[2]) === minor) return `${base}.${m[3]}`;
    return `${base}+${statSync(real).size}`;
  } catch {
    return base;
  }
}
