// The files on disk a compile read, and the check that they are still what it read (ccache's "direct mode"):
// stat first (size, mtime, ctime, inode), hash only what changed; every path that had to stay absent still is.
import * as fs from 'node:fs';

import type { FileDependency } from '../compiler/index.js';
import { sha256Hex } from './sha256.js';

/** One file a compile read: what the compiler layer reports, plus how far its stat data can be trusted. */
export interface DependencyRecord extends FileDependency {
  /**
   * The file was modified within a timestamp tick of the compile (ccache's "too new" rule): a second change in
   * that tick could leave size and times as they are, so its stat data proves nothing and it is always hashed.
   */
  readonly hashAlways?: boolean;
}

/** What a compile's machine code depends on besides the key's own inputs. */
export interface Dependencies {
  readonly files: readonly DependencyRecord[];
  /**
   * Paths where no file may be (a directory is fine: compilers skip those): a file there would have been read
   * instead of, or as well as, the ones above.
   */
  readonly absent: readonly string[];
  /** The working directory the compile's includes were resolved in, when they depended on it. */
  readonly cwd?: string;
}

/** Timestamps closer than this to the compile are not trusted (filesystems with 1-2 s granularity exist). */
const TOO_NEW_MS = 2_000;

/** Marks the files changed too shortly before `compileStartMs` to be judged by their stat data later. */
export function dependencyRecords(
  files: readonly FileDependency[],
  compileStartMs: number,
): DependencyRecord[] {
  return files.map((f) => {
    const tooNew = Math.max(f.mtimeMs, f.ctimeMs) > compileStartMs - TOO_NEW_MS;
    const rec = {
      path: f.path,
      sha256: f.sha256,
      size: f.size,
      mtimeMs: f.mtimeMs,
      ctimeMs: f.ctimeMs,
      ino: f.ino,
    };
    return tooNew ? { ...rec, hashAlways: true } : rec;
  });
}

/**
 * SHA-256 of a regular file's bytes, or undefined when it is not one (gone, a directory, a FIFO, unreadable) or
 * is not `expectedSize` bytes long (when given).
 */
export function hashRegularFile(path: string, expectedSize?: number): string | undefined {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO planted at this path must not hang the lookup.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || (expectedSize !== undefined && st.size !== expectedSize)) return undefined;
    const buf = Buffer.allocUnsafe(st.size);
    let n = 0;
    while (n < buf.length) {
      const r = fs.readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
    }
    return n === buf.length ? sha256Hex(buf) : undefined;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Files this process hashed and found unchanged, with the stat they had then: a file "too new" at its compile, or
 * merely touched since, is hashed once more, not on every lookup. Only stat data older than the too-new window is
 * remembered (a second change within a timestamp tick could keep size and times).
 */
const hashedUnchanged = new Map<
  string,
  { sha256: string; size: number; mtimeMs: number; ctimeMs: number; ino: number }
>();
const MAX_HASHED = 65_536;

/**
 * Why the dependencies no longer hold, or undefined when every file is as it was read and every absent path holds
 * no file. Never throws: a path that cannot be inspected (EACCES, ELOOP, ...) counts as changed.
 */
export function dependencyChange(deps: Dependencies): string | undefined {
  try {
    return check(deps);
  } catch (e) {
    return `a header path cannot be inspected (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
  }
}

function check(deps: Dependencies): string | undefined {
  if (deps.cwd !== undefined && deps.cwd !== process.cwd()) {
    return `the working directory is ${process.cwd()}, not ${deps.cwd}`;
  }
  for (const f of deps.files) {
    const st = fs.statSync(f.path, { throwIfNoEntry: false });
    if (st === undefined) return `${f.path} was removed`;
    if (!st.isFile()) return `${f.path} is no longer a regular file`;
    if (
      !f.hashAlways &&
      st.size === f.size &&
      st.mtimeMs === f.mtimeMs &&
      st.ctimeMs === f.ctimeMs &&
      st.ino === f.ino
    ) {
      continue;
    }
    if (st.size !== f.size) return `${f.path} changed`;
    const known = hashedUnchanged.get(f.path);
    if (
      known &&
      known.sha256 === f.sha256 &&
      known.size === st.size &&
      known.mtimeMs === st.mtimeMs &&
      known.ctimeMs === st.ctimeMs &&
      known.ino === st.ino
    ) {
      continue;
    }
    if (hashRegularFile(f.path, f.size) !== f.sha256) return `${f.path} changed`;
    if (Math.max(st.mtimeMs, st.ctimeMs) < Date.now() - TOO_NEW_MS) {
      if (hashedUnchanged.size >= MAX_HASHED) hashedUnchanged.clear();
      hashedUnchanged.set(f.path, {
        sha256: f.sha256,
        size: st.size,
        mtimeMs: st.mtimeMs,
        ctimeMs: st.ctimeMs,
        ino: st.ino,
      });
    }
  }
  for (const p of deps.absent) if (fileAt(p)) return `${p} appeared`;
  return undefined;
}

/** Something other than a directory at `p`, following links as a compiler's open would (ENOTDIR: nothing). */
export function fileAt(p: string): boolean {
  try {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    return st !== undefined && !st.isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw e;
  }
}

export function isDependencyRecord(v: unknown): v is DependencyRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  return (
    typeof r['path'] === 'string' &&
    typeof r['sha256'] === 'string' &&
    /^[0-9a-f]{64}$/.test(r['sha256']) &&
    num(r['size']) &&
    num(r['mtimeMs']) &&
    num(r['ctimeMs']) &&
    num(r['ino']) &&
    (r['hashAlways'] === undefined || typeof r['hashAlways'] === 'boolean')
  );
}

export function isDependencies(v: unknown): v is Dependencies {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Record<string, unknown>;
  return (
    Array.isArray(d['files']) &&
    d['files'].every(isDependencyRecord) &&
    Array.isArray(d['absent']) &&
    d['absent'].every((p) => typeof p === 'string') &&
    (d['cwd'] === undefined || typeof d['cwd'] === 'string')
  );
}
