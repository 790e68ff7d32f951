// Which backend compiles, and the arch arithmetic both backends share.
import { LibraryNotFoundError } from '../cuda/errors.js';
import { nvrtcLibraryPath } from '../cuda/nvrtc.js';
import { CompilerUnavailableError } from './errors.js';
import { NvccCompiler, findNvcc } from './nvcc-compiler.js';
import { NvrtcCompiler } from './nvrtc-compiler.js';
import { canonicalKernelName } from './names.js';
import type { CompileRequest, Compiler, ImageKind } from './types.js';
import {
  COMPILER_PREFERENCES as PREFERENCES,
  getSettings,
  settingsProblem,
  type CompilerPreference,
  type Settings,
} from '../settings/index.js';

export type { CompilerPreference };

/** What selectCompiler passes to the backend it picks. */
export interface SelectCompilerOptions {
  /** Environment read for CUOP_COMPILER and the nvcc search; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Explicit nvcc path, passed to NvccCompiler. */
  readonly nvccPath?: string;
  /** Passed to NvrtcCompiler: add the toolkit's include dirs (default true). */
  readonly toolkitIncludes?: boolean;
}

/**
 * Pick a compiler backend. `auto` (the default) takes NVRTC when libnvrtc opens, else nvcc when it is found, else
 * throws a CompilerUnavailableError listing both failures. `CUOP_COMPILER=nvrtc|nvcc|auto` replaces `auto`; an
 * explicit `nvrtc` or `nvcc` argument wins over it. Opening the library and finding nvcc are synchronous and run
 * nothing; a named backend that is not usable throws here, with the places looked at.
 */
export function selectCompiler(
  preference: CompilerPreference = 'auto',
  options: SelectCompilerOptions = {},
): Compiler {
  const env = options.env ?? process.env;
  let choice = checkPreference(preference, 'selectCompiler preference');
  if (choice === 'auto') choice = preferenceFromEnv(getSettings(env));

  const tryNvrtc = (): Compiler => {
    try {
      nvrtcLibraryPath();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CompilerUnavailableError(`NVRTC is not usable: ${why}`, { cause: err });
    }
    return new NvrtcCompiler(
      options.toolkitIncludes === undefined ? {} : { toolkitIncludes: options.toolkitIncludes },
    );
  };
  const tryNvcc = (): Compiler =>
    new NvccCompiler({ nvccPath: findNvcc({ nvccPath: options.nvccPath, env }), env });

  if (choice === 'nvrtc') return tryNvrtc();
  if (choice === 'nvcc') return tryNvcc();
  const failures: string[] = [];
  for (const attempt of [tryNvrtc, tryNvcc]) {
    try {
      return attempt();
    } catch (err) {
      if (!(err instanceof CompilerUnavailableError || err instanceof LibraryNotFoundError)) throw err;
      failures.push(err.message);
    }
  }
  throw new CompilerUnavailableError(
    `no CUDA compiler is usable on this host (set CUOP_COMPILER=nvrtc|nvcc to force one):\n` +
      failures.map((f) => `* ${f.replace(/\n/g, '\n  ')}`).join('\n'),
  );
}

/**
 * CUOP_COMPILER (default 'auto'). A value that is not a backend throws a RangeError naming it: a compile must not
 * quietly run on another compiler than the one asked for.
 */
function preferenceFromEnv(settings: Settings): CompilerPreference {
  const problem = settingsProblem(settings, 'CUOP_COMPILER');
  if (problem) checkPreference(problem.value.trim().toLowerCase(), 'CUOP_COMPILER');
  return settings.compiler.preference;
}

function checkPreference(value: string, what: string): CompilerPreference {
  if ((PREFERENCES as readonly string[]).includes(value)) return value as CompilerPreference;
  throw new RangeError(`${what} must be one of ${PREFERENCES.join(', ')}; got "${value}"`);
}

const ARCH_RE = /^sm_(\d{2,3})([af]?)$/;

/**
 * `sm_90` → 90. Also accepts the arch-specific (`sm_90a`) and family (`sm_100f`) forms, returning their number.
 * Throws a RangeError for anything else.
 */
export function parseArch(arch: string): number {
  return splitArch(arch).number;
}

/** 90 → `sm_90`. Throws a RangeError for anything that is not a compute capability number (10–999). */
export function archName(arch: number): string {
  if (!Number.isInteger(arch) || arch < 10 || arch > 999) {
    throw new RangeError(`invalid arch number ${arch}: expected a compute capability such as 90 (for sm_90)`);
  }
  return `sm_${arch}`;
}

function splitArch(arch: string): { number: number; suffix: string } {
  const m = typeof arch === 'string' ? ARCH_RE.exec(arch) : null;
  const n = m ? Number(m[1]) : NaN;
  if (!m || n < 10) {
    throw new RangeError(
      `invalid arch ${JSON.stringify(arch)}: expected "sm_" followed by the compute capability, e.g. "sm_90"`,
    );
  }
  return { number: n, suffix: m[2] ?? '' };
}

const ARCH_OPTION_RE = /^(?:-arch|--gpu-architecture)=(sm_\d{2,3}[af])$/;

/**
 * The arch a spec compiles for on a device of `arch`: an arch-specific or family target named in the options
 * (`-arch=sm_90a` or `--gpu-architecture=sm_90a`, needed for wgmma, TMA multicast, setmaxnreg) replaces the
 * device's plain one when it is for the same compute capability, and leaves the options (the compilers add their own
 * arch flag). Anything else is returned as it is. Throws a RangeError when the named target is for another device.
 */
export function archFromOptions(
  arch: string,
  options: readonly string[],
): { arch: string; options: readonly string[] } {
  const named = options.map((o) => ARCH_OPTION_RE.exec(o)?.[1]).filter((a): a is string => a !== undefined);
  if (named.length === 0) return { arch, options };
  const wanted = named[named.length - 1] as string;
  if (parseArch(wanted) !== parseArch(arch)) {
    throw new RangeError(
      `the kernel is compiled for ${wanted} (its options say so), which cannot run on a ${arch} device: ` +
        'arch-specific targets run only on their own compute capability',
    );
  }
  return { arch: wanted, options: options.filter((o) => !ARCH_OPTION_RE.test(o)) };
}

/** What a compiler is asked to emit for one request. */
export interface ResolvedTarget {
  readonly imageKind: ImageKind;
  /** `sm_90` (cubin), `compute_90` (PTX) or `lto_90` (LTO IR); also the value of the compiler's arch flag. */
  readonly target: string;
  /** True when the compiler did not know the arch and PTX for an older one was chosen instead. */
  readonly fallback: boolean;
}

/**
 * Decide the image for `arch`: a cubin (or the PTX asked for) when the compiler knows the arch; PTX for the highest
 * `compute_XX` it knows below the arch when it does not (the driver JIT-compiles PTX for any newer device). Throws a
 * RangeError for a malformed arch, and for one older than everything the compiler supports.
 */
export function resolveTarget(
  arch: string,
  wanted: ImageKind,
  supported: readonly number[],
  compilerName: string,
): ResolvedTarget {
  if (wanted !== 'cubin' && wanted !== 'ptx' && wanted !== 'ltoir') {
    throw new RangeError(`invalid imageKind ${JSON.stringify(wanted)}: expected "cubin", "ptx" or "ltoir"`);
  }
  const { number, suffix } = splitArch(arch);
  if (supported.includes(number)) {
    if (wanted === 'cubin') return { imageKind: 'cubin', target: `sm_${number}${suffix}`, fallback: false };
    if (wanted === 'ltoir') return { imageKind: 'ltoir', target: `lto_${number}${suffix}`, fallback: false };
    return { imageKind: 'ptx', target: `compute_${number}${suffix}`, fallback: false };
  }
  const older = supported.filter((a) => a < number);
  if (older.length === 0) {
    const sorted = [...supported].sort((a, b) => a - b);
    throw new RangeError(
      sorted.length === 0
        ? `${compilerName} reports no supported archs, so it cannot compile for ${arch}`
        : `${compilerName} cannot compile for ${arch}: the oldest arch it supports is sm_${sorted[0]} ` +
            `(it supports ${sorted.map((a) => `sm_${a}`).join(', ')})`,
    );
  }
  // LTO IR, like PTX, is compiled for the device at link time: IR for an older arch serves a newer device.
  if (wanted === 'ltoir') return { imageKind: 'ltoir', target: `lto_${Math.max(...older)}`, fallback: true };
  return { imageKind: 'ptx', target: `compute_${Math.max(...older)}`, fallback: true };
}

/**
 * The program's file name in the compile's private directory: the program name when it is a plain, safe file name
 * that no in-memory header takes, else a generated one (messages still say the program name).
 */
export function sourceFileName(programName: string, headerNames: ReadonlySet<string>): string {
  if (/^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,200}$/.test(programName) && !headerNames.has(programName))
    return programName;
  let name = 'cuop_program.cu';
  for (let i = 1; headerNames.has(name); i++) name = `cuop_program_${i}.cu`;
  return name;
}

/**
 * The request's fields have the shapes the compilers need (a TypeError naming the field otherwise), and every name
 * expression is a name (KernelNameError): from untyped JavaScript, `options: '-O3'` would be split into '-', 'O',
 * '3', and nvcc reads stdin for '-'.
 */
export function checkRequest(request: CompileRequest): void {
  const r = request as unknown as Record<string, unknown>;
  const fail = (what: string, got: unknown): never => {
    throw new TypeError(`compile request: ${what} (got ${Array.isArray(got) ? 'an array' : typeof got})`);
  };
  if (typeof r['source'] !== 'string') fail('source must be the CUDA source text, a string', r['source']);
  if (typeof r['arch'] !== 'string') fail('arch must be a string like "sm_90"', r['arch']);
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (r['options'] !== undefined && !strings(r['options']))
    fail('options must be an array of strings, one flag each (e.g. ["-O3"]), not one string', r['options']);
  if (r['nameExpressions'] !== undefined && !strings(r['nameExpressions']))
    fail('nameExpressions must be an array of strings', r['nameExpressions']);
  const h = r['headers'];
  if (
    h !== undefined &&
    (typeof h !== 'object' ||
      h === null ||
      Array.isArray(h) ||
      !Object.values(h).every((c) => typeof c === 'string'))
  )
    fail('headers must map include names to header text', h);
  if (r['programName'] !== undefined && typeof r['programName'] !== 'string')
    fail('programName must be a string', r['programName']);
  for (const [i, n] of (request.nameExpressions ?? []).entries())
    canonicalKernelName(n, `nameExpressions[${i}]`);
}
