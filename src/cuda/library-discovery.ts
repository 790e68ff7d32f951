import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';

import { getSettings, type Settings } from '../settings/index.js';
import { LibraryNotFoundError } from './errors.js';

/** Which CUDA shared library to find. */
export interface LibrarySpec {
  /** Human name used in errors, e.g. "libnvrtc". */
  readonly label: string;
  /** Env var holding an explicit path; checked first (named in sources and errors). */
  readonly envVar: string;
  /** Where the settings hold that variable's path (read and parsed by src/settings). */
  readonly pathSetting: keyof Settings['libraries'];
  /** File names tried in each directory, best first (e.g. libnvrtc.so.13, libnvrtc.so). */
  readonly fileNames: (dir: string) => string[];
  /** Sonames the dynamic loader may resolve by itself (LD_LIBRARY_PATH, rpath), tried last. */
  readonly bareNames: readonly string[];
  /** Soname prefix looked up in `ldconfig -p`. */
  readonly ldconfigPrefix: string;
  /**
   * Python wheel folders under site-packages/nvidia/ holding the library in their lib/, newest layout first: the
   * CUDA 13 wheels all install to nvidia/cu13/, the CUDA 12 ones to one folder per component (nvidia/cuda_nvrtc/).
   */
  readonly wheelPackages?: readonly string[];
}

/** One place looked at, and what was there. */
export interface Candidate {
  readonly path: string;
  readonly source: string;
}

/** Names numericCompare orders without ICU: lowercase letters, digits, '.' and '-', no digit run with a leading 0. */
const SIMPLE_NAME = /^[a-z0-9.-]*$/;
const LEADING_ZERO = /(^|[^0-9])0[0-9]/;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/**
 * `a.localeCompare(b, undefined, { numeric: true })`, without ICU for the names discovery sorts (libnvrtc.so.13,
 * cuda-12.4, python3.11): a process's first numeric collation builds an ICU collator, 5-6 ms measured on the CPU
 * box, which every fresh process paid in a search that sorted two names. For names of lowercase letters, digits,
 * '.' and '-' (digit runs without leading zeros) that collation orders character by character as ASCII does
 * ('-' < '.' < digits < letters), a run of digits against a run of digits by value, a prefix first; any other name
 * goes to localeCompare itself.
 */
export function numericCompare(a: string, b: string): number {
  if (!SIMPLE_NAME.test(a) || !SIMPLE_NAME.test(b) || LEADING_ZERO.test(a) || LEADING_ZERO.test(b))
    return a.localeCompare(b, undefined, { numeric: true });
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (isDigit(ca) && isDigit(cb)) {
      let ei = i;
      while (ei < a.length && isDigit(a.charCodeAt(ei))) ei++;
      let ej = j;
      while (ej < b.length && isDigit(b.charCodeAt(ej))) ej++;
      // No leading zeros: the longer run is the larger number, and runs of one length compare as text.
      if (ei - i !== ej - j) return ei - i - (ej - j);
      const x = a.slice(i, ei);
      const y = b.slice(j, ej);
      if (x !== y) return x < y ? -1 : 1;
      i = ei;
      j = ej;
      continue;
    }
    if (ca !== cb) return ca - cb;
    i++;
    j++;
  }
  return a.length - i - (b.length - j);
}

/** Newest version first (b before a when b is higher), the order discovery tries names in. */
const newestFirst = (a: string, b: string): number => numericCompare(b, a);

const versionedFilesIn = (dir: string, stem: string): string[] => {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n === stem || n.startsWith(`${stem}.`));
  } catch {
    return [];
  }
  // Highest version first: libnvrtc.so.13 before libnvrtc.so.12 before libnvrtc.so.
  return names.filter((n) => !n.includes('alt') && !n.includes('builtins')).sort(newestFirst);
};

export const NVRTC_LIBRARY: LibrarySpec = {
  label: 'libnvrtc',
  envVar: 'CUOP_NVRTC_PATH',
  pathSetting: 'nvrtcPath',
  fileNames: (dir) => versionedFilesIn(dir, 'libnvrtc.so'),
  bareNames: ['libnvrtc.so.13', 'libnvrtc.so.12', 'libnvrtc.so'],
  ldconfigPrefix: 'libnvrtc.so',
  wheelPackages: ['cu13', 'cuda_nvrtc'],
};

export const NVJITLINK_LIBRARY: LibrarySpec = {
  label: 'libnvJitLink',
  envVar: 'CUOP_NVJITLINK_PATH',
  pathSetting: 'nvJitLinkPath',
  fileNames: (dir) => versionedFilesIn(dir, 'libnvJitLink.so'),
  bareNames: ['libnvJitLink.so.13', 'libnvJitLink.so.12', 'libnvJitLink.so'],
  ldconfigPrefix: 'libnvJitLink.so',
  wheelPackages: ['cu13', 'nvjitlink'],
};

export const DRIVER_LIBRARY: LibrarySpec = {
  label: 'libcuda',
  envVar: 'CUOP_LIBCUDA_PATH',
  pathSetting: 'libcudaPath',
  fileNames: () => ['libcuda.so.1', 'libcuda.so'],
  bareNames: ['libcuda.so.1', 'libcuda.so'],
  ldconfigPrefix: 'libcuda.so',
};

const libDirsOfToolkit = (root: string): string[] => [
  join(root, 'lib64'),
  join(root, 'lib'),
  join(root, 'targets', 'x86_64-linux', 'lib'),
  join(root, 'targets', 'sbsa-linux', 'lib'),
];

/** The dynamic loader's cache, which `ldconfig -p` prints (glibc). */
export const LD_SO_CACHE = '/etc/ld.so.cache';

const LD_CACHE_MAGIC = 'glibc-ld.so.cache1.1';
const LD_CACHE_HEADER_BYTES = 48;
const LD_CACHE_ENTRY_BYTES = 24;

/**
 * The (soname, path) entries of a glibc loader cache in the new format (`glibc-ld.so.cache1.1`, what glibc has
 * written since 2.32; 2.22-2.31 could also write it), in the order `ldconfig -p` prints them; undefined for any
 * other layout (the old or the combined format, another byte order, a truncated or damaged file), which callers
 * then leave to `ldconfig -p` itself. Layout (glibc's dl-cache.h): a 48-byte header (magic and version, nlibs,
 * len_strings, flags, extension offset), nlibs entries of 24 bytes (flags, key, value, osversion, hwcap), and the
 * strings, NUL-terminated, the offsets counted from the file's start. With `prefix`, only the entries of sonames
 * that start with it.
 */
export function parseLdCache(buf: Buffer, prefix = ''): Array<[string, string]> | undefined {
  if (buf.length < LD_CACHE_HEADER_BYTES) return undefined;
  if (buf.toString('latin1', 0, LD_CACHE_MAGIC.length) !== LD_CACHE_MAGIC) return undefined;
  const nlibs = buf.readUInt32LE(20);
  // flags bits 0-1: the byte order (0 unknown, 2 little-endian, 3 big-endian); only the little-endian layout is read.
  const endian = buf.readUInt8(28) & 3;
  if (endian !== 0 && endian !== 2) return undefined;
  if (LD_CACHE_HEADER_BYTES + nlibs * LD_CACHE_ENTRY_BYTES > buf.length) return undefined;
  const str = (at: number): string | undefined => {
    if (at >= buf.length) return undefined;
    const end = buf.indexOf(0, at);
    return end < 0 ? undefined : buf.toString('utf8', at, end);
  };
  const want = Buffer.from(prefix, 'utf8');
  const out: Array<[string, string]> = [];
  for (let i = 0; i < nlibs; i++) {
    const e = LD_CACHE_HEADER_BYTES + i * LD_CACHE_ENTRY_BYTES;
    const keyAt = buf.readUInt32LE(e + 4);
    const valueAt = buf.readUInt32LE(e + 8);
    if (keyAt >= buf.length || valueAt >= buf.length) return undefined;
    // Only the entries of sonames starting with `prefix` are decoded (a few of several hundred).
    if (want.length > 0 && buf.compare(want, 0, want.length, keyAt, keyAt + want.length) !== 0) continue;
    const key = str(keyAt);
    const value = str(valueAt);
    if (key === undefined || value === undefined) return undefined;
    out.push([key, value]);
  }
  return out;
}

/**
 * What `ldconfig -p` lists for sonames starting with `prefix`, in its order. Read from the loader's cache file
 * itself when it is in the format parseLdCache knows (one small read, against ~5-15 ms for the subprocess, which a
 * fresh process on a host without NVRTC paid at every search), else from `ldconfig -p`.
 */
export function ldconfigPaths(prefix: string, cacheFile: string = LD_SO_CACHE): string[] {
  let buf: Buffer | undefined;
  try {
    buf = readFileSync(cacheFile);
  } catch {
    buf = undefined;
  }
  // No soname starting with the prefix anywhere in the file (the usual case without NVRTC): nothing to decode.
  if (buf && !buf.includes(prefix)) return [];
  const entries = buf && parseLdCache(buf, prefix);
  if (entries)
    return entries.filter(([key, path]) => key.startsWith(prefix) && path.length > 0).map((e) => e[1]);
  try {
    const out = execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.startsWith(prefix))
      .map((line) => line.split('=>')[1]?.trim() ?? '')
      .filter((p) => p.length > 0);
  } catch {
    return [];
  }
}

/**
 * The site-packages (and Debian's dist-packages) directories where pip may have put NVIDIA's wheels, most specific
 * first: PYTHONPATH, the active virtual or conda environment, the prefix of each python3 on PATH, the user's
 * site (PYTHONUSERBASE or ~/.local), the system's. Only directories that exist; nothing is run.
 */
export function sitePackagesDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const roots: string[] = [];
  const pythonPath = env['PYTHONPATH'];
  if (pythonPath) roots.push(...pythonPath.split(delimiter).filter(Boolean));
  const prefixes: string[] = [];
  for (const v of ['VIRTUAL_ENV', 'CONDA_PREFIX'] as const) {
    const p = env[v];
    if (p) prefixes.push(p);
  }
  // A venv's or conda's bin/ on PATH without VIRTUAL_ENV (an activated shell that was not exported, a service unit).
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir && basename(dir) === 'bin' && existsSync(join(dir, 'python3'))) prefixes.push(dirname(dir));
  }
  prefixes.push(env['PYTHONUSERBASE'] || join(env['HOME'] || homedir(), '.local'), '/usr/local', '/usr');
  for (const prefix of prefixes) {
    const lib = join(prefix, 'lib');
    let pythons: string[];
    try {
      pythons = readdirSync(lib).filter((n) => n.startsWith('python3'));
    } catch {
      continue; // no such prefix
    }
    // Newest python first: python3.13 before python3.9.
    pythons.sort(newestFirst);
    for (const py of pythons) roots.push(join(lib, py, 'site-packages'), join(lib, py, 'dist-packages'));
  }
  return [...new Set(roots)].filter((r) => existsSync(r));
}

/**
 * Ordered list of places to look for a library. Pure apart from reading directories and `ldconfig -p`,
 * so tests can check the order and the "where I looked" message.
 */
export function candidatePaths(spec: LibrarySpec, env: NodeJS.ProcessEnv = process.env): Candidate[] {
  return [...candidates(spec, env)];
}

/**
 * The same places, produced lazily: a search that succeeds early never runs `ldconfig -p` (a subprocess, ~5 ms).
 */
export function* candidates(spec: LibrarySpec, env: NodeJS.ProcessEnv = process.env): Generator<Candidate> {
  const explicit = getSettings(env).libraries[spec.pathSetting];
  if (explicit) yield { path: explicit, source: spec.envVar };
  for (const v of ['CUDA_PATH', 'CUDA_HOME'] as const) {
    const root = env[v];
    if (!root) continue;
    for (const dir of libDirsOfToolkit(root)) {
      for (const f of spec.fileNames(dir)) yield { path: join(dir, f), source: v };
      if (spec.fileNames(dir).length === 0) yield { path: join(dir, spec.ldconfigPrefix), source: v };
    }
  }
  let toolkits: string[] = [];
  try {
    toolkits = readdirSync('/usr/local')
      .filter((n) => n === 'cuda' || n.startsWith('cuda-'))
      .sort((a, b) => (a === 'cuda' ? -1 : b === 'cuda' ? 1 : newestFirst(a, b)))
      .map((n) => join('/usr/local', n));
  } catch {
    // no /usr/local
  }
  for (const root of toolkits) {
    for (const dir of libDirsOfToolkit(root)) {
      const files = spec.fileNames(dir);
      for (const f of files) yield { path: join(dir, f), source: 'toolkit' };
      // Name the directory even when it holds no match, so "where I looked" is complete.
      if (files.length === 0 && existsSync(dir))
        yield { path: join(dir, spec.ldconfigPrefix), source: 'toolkit' };
    }
  }
  if (toolkits.length === 0) yield { path: '/usr/local/cuda*/', source: 'toolkit (none installed)' };
  const fromLdconfig = ldconfigPaths(spec.ldconfigPrefix);
  for (const p of fromLdconfig) yield { path: p, source: 'ldconfig -p' };
  if (fromLdconfig.length === 0) yield { path: `${spec.ldconfigPrefix}*`, source: 'ldconfig -p (no entry)' };
  if (spec.wheelPackages) {
    for (const site of sitePackagesDirs(env)) {
      let found = false;
      for (const pkg of spec.wheelPackages) {
        const dir = join(site, 'nvidia', pkg, 'lib');
        for (const f of spec.fileNames(dir)) {
          found = true;
          yield { path: join(dir, f), source: 'python wheel' };
        }
      }
      // Name the site-packages looked at, so "where I looked" says which Python environments were searched.
      if (!found) {
        const where = join(
          site,
          'nvidia',
          `{${spec.wheelPackages.join(',')}}`,
          'lib',
          `${spec.ldconfigPrefix}*`,
        );
        yield { path: where, source: 'python wheel (none)' };
      }
    }
  }
  // Last resort: let the dynamic loader resolve the bare soname (LD_LIBRARY_PATH, rpath).
  for (const f of spec.bareNames) yield { path: f, source: 'dynamic loader' };
}

/**
 * Try each candidate with `open` until one loads. Returns what `open` returned and the path; throws a
 * LibraryNotFoundError listing every place looked at otherwise.
 */
export function openFirst<T>(
  spec: LibrarySpec,
  open: (path: string) => T,
  env: NodeJS.ProcessEnv = process.env,
): { handle: T; path: string } {
  const tried: string[] = [];
  const seen = new Set<string>();
  for (const c of candidates(spec, env)) {
    if (seen.has(c.path)) continue;
    seen.add(c.path);
    const isBareName = !c.path.includes('/');
    if (!isBareName && !c.path.includes('*') && !existsSync(c.path)) {
      tried.push(`${c.path} (${c.source}: not found)`);
      continue;
    }
    if (c.path.includes('*')) {
      tried.push(`${c.path} (${c.source})`);
      continue;
    }
    try {
      return { handle: open(c.path), path: c.path };
    } catch (err) {
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      tried.push(`${c.path} (${c.source}: ${why})`);
    }
  }
  throw new LibraryNotFoundError(spec.label, tried, spec.envVar);
}

/** The directories a library lives in: where it was named, and where its links lead (one entry when the same). */
function libraryDirs(libraryPath: string): string[] {
  const dirs = [dirname(libraryPath)];
  try {
    dirs.push(dirname(realpathSync(libraryPath)));
  } catch {
    // not there (or a bare soname): only the named directory
  }
  return [...new Set(dirs)];
}

/** The header whose directory is the toolkit's include dir (cuda_bf16.h, mma.h and the rest sit beside it). */
export const TOOLKIT_MARKER_HEADER = 'cuda_fp16.h';

/** A toolkit's include directories as found from one of its libraries. */
export interface ToolkitIncludes {
  /** The -I directories, in order: the one holding cuda_fp16.h, then CCCL's when it is separate. Empty: none. */
  readonly dirs: string[];
  /** Every include directory considered, in order, for "where I looked". */
  readonly looked: string[];
}

/**
 * The include directories that belong to the toolkit a library (libnvrtc, libnvJitLink) comes from, found from the
 * library's path (and where its links lead): NVRTC searches none by default, so cuda_fp16.h and cuda_bf16.h need
 * them. Knows the three layouts: a toolkit (`lib64/`, `lib/`, `targets/<triple>/lib/` beside `include/`); the
 * CUDA 13 pip wheels (`nvidia/cu13/lib/` beside `nvidia/cu13/include/`, CCCL in its `cccl/`); the CUDA 12 wheels
 * (`nvidia/cuda_nvrtc/lib/`, the headers from the runtime's wheel in `nvidia/cuda_runtime/include/`, CCCL's in
 * `nvidia/cuda_cccl/include/`). Also Debian's `/usr/lib/<triple>/` beside `/usr/include/`. Reads only directories.
 */
export function toolkitIncludeDirsFor(libraryPath: string): ToolkitIncludes {
  const looked: string[] = [];
  for (const libDir of libraryDirs(libraryPath)) {
    const component = dirname(libDir); // nvidia/cuda_nvrtc in a CUDA 12 wheel
    const nvidia = dirname(component);
    const isCuda12Wheel = basename(nvidia) === 'nvidia' && /^(cuda_|nvjitlink$)/.test(basename(component));
    // [include dir, its CCCL dir]: a CUDA 12 wheel's CCCL is a wheel of its own; a toolkit's sits in include/cccl.
    const includes: [string, string][] = [
      join(libDir, '..', 'include'),
      join(libDir, '..', '..', 'include'),
    ].map((d) => [join(d), join(d, 'cccl')]);
    if (isCuda12Wheel)
      includes.unshift([join(nvidia, 'cuda_runtime', 'include'), join(nvidia, 'cuda_cccl', 'include')]);
    for (const [include, cccl] of includes) {
      if (looked.includes(include)) continue;
      looked.push(include);
      if (!existsSync(join(include, TOOLKIT_MARKER_HEADER))) continue;
      return { dirs: existsSync(cccl) ? [include, cccl] : [include], looked };
    }
  }
  return { dirs: [], looked };
}

/** Where NVRTC's builtins library was looked for, and whether it is there. */
export interface NvrtcBuiltinsSearch {
  /** The soname libnvrtc loads at its first compile: libnvrtc-builtins.so.MAJOR.MINOR, of its own release. */
  readonly name: string;
  /** The file found, if any. */
  readonly found?: string;
  /** The directories looked in: libnvrtc's own (named and real). */
  readonly looked: string[];
}

/**
 * NVRTC loads `libnvrtc-builtins.so.MAJOR.MINOR` by soname at its first compile, through the dynamic loader. A
 * libnvrtc opened by path from a wheel (no RUNPATH, its directory not on LD_LIBRARY_PATH) does not find the copy
 * beside it. This finds that copy (the exact soname, else a fuller version of it), so it can be loaded first.
 */
export function nvrtcBuiltinsFor(libraryPath: string, major: number, minor: number): NvrtcBuiltinsSearch {
  // The alternative build (libnvrtc.alt.so.13) has builtins of its own.
  const alt = basename(libraryPath).includes('.alt.') ? '.alt' : '';
  const name = `libnvrtc-builtins${alt}.so.${major}.${minor}`;
  // A bare soname was resolved by the dynamic loader, which finds the builtins the same way: nothing to look at
  // here (and never the working directory).
  const looked = libraryPath.includes('/') ? libraryDirs(libraryPath) : [];
  for (const dir of looked) {
    if (existsSync(join(dir, name))) return { name, found: join(dir, name), looked };
    let fuller: string[] = [];
    try {
      fuller = readdirSync(dir).filter((n) => n.startsWith(`${name}.`));
    } catch {
      // unreadable directory: looked at, nothing found
    }
    fuller.sort(newestFirst);
    if (fuller[0]) return { name, found: join(dir, fuller[0]), looked };
  }
  return { name, looked };
}
