import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
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

const versionedFilesIn = (dir: string, stem: string): string[] => {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n === stem || n.startsWith(`${stem}.`));
  } catch {
    return [];
  }
  // Highest version first: libnvrtc.so.13 before libnvrtc.so.12 before libnvrtc.so.
  return names
    .filter((n) => !n.includes('alt') && !n.includes('builtins'))
    .sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
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

const ldconfigPaths = (prefix: string): string[] => {
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
};

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
    pythons.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
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
      .sort((a, b) =>
        a === 'cuda' ? -1 : b === 'cuda' ? 1 : b.localeCompare(a, undefined, { numeric: true }),
      )
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
    fuller.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
    if (fuller[0]) return { name, found: join(dir, fuller[0]), looked };
  }
  return { name, looked };
}
