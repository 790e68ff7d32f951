import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

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
  /** Python wheel subfolder under site-packages/nvidia/ (e.g. "cuda_nvrtc"), if any. */
  readonly wheelPackage?: string;
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
  wheelPackage: 'cuda_nvrtc',
};

export const NVJITLINK_LIBRARY: LibrarySpec = {
  label: 'libnvJitLink',
  envVar: 'CUOP_NVJITLINK_PATH',
  pathSetting: 'nvJitLinkPath',
  fileNames: (dir) => versionedFilesIn(dir, 'libnvJitLink.so'),
  bareNames: ['libnvJitLink.so.13', 'libnvJitLink.so.12', 'libnvJitLink.so'],
  ldconfigPrefix: 'libnvJitLink.so',
  wheelPackage: 'nvjitlink',
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

const wheelDirs = (pkg: string): string[] => {
  const roots: string[] = [];
  const pythonPath = process.env['PYTHONPATH'];
  if (pythonPath) roots.push(...pythonPath.split(':').filter(Boolean));
  for (const base of ['/usr/lib', '/usr/local/lib', join(homedir(), '.local', 'lib')]) {
    try {
      for (const py of readdirSync(base).filter((n) => n.startsWith('python3'))) {
        roots.push(join(base, py, 'site-packages'), join(base, py, 'dist-packages'));
      }
    } catch {
      // base does not exist
    }
  }
  return roots.map((r) => join(r, 'nvidia', pkg, 'lib'));
};

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
  if (spec.wheelPackage) {
    for (const dir of wheelDirs(spec.wheelPackage)) {
      const files = spec.fileNames(dir);
      for (const f of files) yield { path: join(dir, f), source: 'python wheel' };
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
