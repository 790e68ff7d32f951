// Which files on disk a compile reads, for both backends: the static include scan before the compile (NVRTC 13
// reports no dependencies: it has no -M/-MD/-E), the compiler's own list where it has one (nvcc -MMD), and the check
// that nothing listed changed while the compiler ran.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';

import type { FileDependency, IncludeScan } from './include-scan.js';
import { includeOptions, NVCC_DIALECT, type OptionDialect } from './options.js';
import type { CompileDependencies, CompileRequest } from './types.js';

export const NO_DEPENDENCIES: CompileDependencies = Object.freeze({
  files: [],
  absent: [],
  untracked: [],
  stable: true,
});

/**
 * The scan of everything `request` may include from disk. Throws an IncludeScanError for unreadable files. The
 * scanner is loaded on the first compile: a process whose kernels all come from the cache never parses it.
 */
export async function scanRequest(
  request: CompileRequest,
  dialect: OptionDialect,
  coveredDirs: readonly string[],
  coveredFirst: boolean,
  memoryHeaderDir?: string,
): Promise<IncludeScan> {
  const inc = includeOptions(request.options ?? [], dialect);
  const { scanIncludes } = await import('./include-scan.js');
  const scan = scanIncludes({
    ...(memoryHeaderDir !== undefined ? { memoryHeaderDir } : {}),
    source: request.source,
    headers: request.headers ?? {},
    includeDirs: inc.includeDirs,
    preIncludes: inc.preIncludes,
    coveredDirs,
    coveredFirst,
    defines: inc.defines,
  });
  const untrackable = untrackableOptions(request.options ?? [], dialect);
  return untrackable.length === 0 ? scan : { ...scan, untracked: [...scan.untracked, ...untrackable] };
}

/**
 * Options that read files or steer the preprocessor in ways the scan cannot follow (nvcc's options files, host
 * compiler flags that add include paths): such a compile is used but never cached.
 */
function untrackableOptions(options: readonly string[], dialect: OptionDialect) {
  if (dialect !== NVCC_DIALECT) return [];
  const out: { file: string; line: number; text: string }[] = [];
  options.forEach((o, i) => {
    const value = o.includes('=') ? o.slice(o.indexOf('=') + 1) : (options[i + 1] ?? '');
    const flag = o.split('=')[0] as string;
    const optionsFile = ['--options-file', '-optf'].includes(flag);
    const hostIncludes =
      ['-Xcompiler', '--compiler-options'].includes(flag) &&
      /(^|[\s,])-(I|include|isystem|iquote|idirafter|imacros)/.test(value);
    if (optionsFile || hostIncludes)
      out.push({ file: '<options>', line: i + 1, text: o === flag ? `${o} ${value}` : o });
  });
  return out;
}

/** False when a scanned file or absent path changed since the scan (an edit during the compile). */
export function unchangedSinceScan(scan: Pick<IncludeScan, 'files' | 'absent'>): boolean {
  for (const f of scan.files) {
    const st = fs.statSync(f.path, { throwIfNoEntry: false });
    if (!st || st.size !== f.size || st.mtimeMs !== f.mtimeMs || st.ctimeMs !== f.ctimeMs || st.ino !== f.ino)
      return false;
  }
  for (const p of scan.absent) if (fs.existsSync(p)) return false;
  return true;
}

function inside(dir: string, p: string): boolean {
  const r = relative(dir, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/** A file the compiler reported reading, hashed like the scan's files. */
function fileDependency(path: string): FileDependency | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return undefined;
    const buf = fs.readFileSync(fd);
    return {
      path,
      sha256: createHash('sha256').update(buf).digest('hex'),
      size: st.size,
      mtimeMs: st.mtimeMs,
      ctimeMs: st.ctimeMs,
      ino: st.ino,
    };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Adds what the compiler itself reported reading (nvcc -MMD) to the scan: a file the scan did not predict (an
 * include path from the environment, a form the scanner cannot follow) is still a dependency. Files under `ignore`
 * (the compile's private dir: in-memory headers, already in the key) and under `covered` are skipped.
 */
export function withReportedFiles(
  scan: IncludeScan,
  reported: readonly string[],
  cwd: string,
  covered: readonly string[],
  ignore: readonly string[],
  compileStartMs: number,
): { scan: IncludeScan; fresh: boolean } {
  const known = new Set(scan.files.map((f) => f.path));
  const extra: FileDependency[] = [];
  let fresh = false;
  for (const r of reported) {
    const p = resolve(cwd, r);
    if (known.has(p) || ignore.some((d) => inside(d, p)) || covered.some((d) => inside(d, p))) continue;
    if (isHostSystemHeader(p)) continue;
    known.add(p);
    const dep = fileDependency(p);
    if (!dep) continue;
    extra.push(dep);
    // Hashed after the compile: only trusted when it cannot have changed since the compile began.
    if (Math.max(dep.mtimeMs, dep.ctimeMs) >= compileStartMs - TOO_NEW_MS) fresh = true;
  }
  if (extra.length === 0) return { scan, fresh };
  const files = [...scan.files, ...extra].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { scan: { ...scan, files, absent: scan.absent.filter((a) => !known.has(a)) }, fresh };
}

/** Within a timestamp tick or two of a compile, a file's stat proves nothing (filesystems with 1-2 s times). */
const TOO_NEW_MS = 2_000;

/**
 * The host toolchain's own headers (libc's, the C++ library's, the compiler's intrinsics): covered by the toolchain
 * staying what it is, like the CUDA toolkit's by its version, rather than hashed one by one (a device compile reads
 * a hundred of them). Headers anywhere else, /usr/local/include included, are tracked.
 */
export function isHostSystemHeader(p: string): boolean {
  return p.startsWith('/usr/include/') || /^\/usr\/lib(?:32|64|exec)?\/(?:gcc|clang|llvm[^/]*)\//.test(p);
}

/** The targets and prerequisites of a make-style dependency file (`out: a.cu b.h \` …), unescaped. */
export function parseDepfile(text: string): string[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  const paths: string[] = [];
  for (const line of joined.split(/\r?\n/)) {
    // The rule's colon: the first ': ' or ':' at the end (drive letters do not occur on Linux).
    const colon = line.search(/:(\s|$)/);
    if (colon < 0) continue;
    const rest = line.slice(colon + 1);
    let cur = '';
    for (let i = 0; i < rest.length; i++) {
      const c = rest[i] as string;
      if (c === '\\' && (rest[i + 1] === ' ' || rest[i + 1] === '#')) {
        cur += rest[++i];
      } else if (c === '$' && rest[i + 1] === '$') {
        cur += '$';
        i++;
      } else if (c === ' ' || c === '\t') {
        if (cur) paths.push(cur);
        cur = '';
      } else {
        cur += c;
      }
    }
    if (cur) paths.push(cur);
  }
  return paths;
}

/** The scan as the compile result's dependencies; `stable` from the re-check after the compile. */
export function compileDependencies(scan: IncludeScan, stable: boolean): CompileDependencies {
  if (
    scan.files.length === 0 &&
    scan.absent.length === 0 &&
    scan.untracked.length === 0 &&
    scan.workingDirectory === undefined &&
    stable
  )
    return NO_DEPENDENCIES;
  return {
    files: scan.files,
    absent: scan.absent,
    untracked: scan.untracked,
    stable,
    ...(scan.workingDirectory !== undefined ? { workingDirectory: scan.workingDirectory } : {}),
  };
}
