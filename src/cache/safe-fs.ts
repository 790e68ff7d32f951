// Every file operation of the cache tree, made safe against what a hostile or broken directory can hold: a FIFO
// (open would block the event loop forever: O_NONBLOCK, then fstat), a symbolic link (O_NOFOLLOW: never followed),
// a file of another user (fstat's owner against the trust rule), a file far larger than it can be (bounded), and a
// directory squatting a file's path (removed, since every path cuop writes is one it generates).
import * as fs from 'node:fs';

import { dirMode, dirProblem, fileMode, fileProblem, type TrustRule } from './trust.js';

/** A file or directory of the cache tree that must not be used (wrong type, owner or mode, or too large). */
export class UntrustedPathError extends Error {
  override readonly name = 'UntrustedPathError';
  constructor(
    readonly path: string,
    readonly reason: string,
    readonly code: 'EUNTRUSTED' | 'ETOOBIG' = 'EUNTRUSTED',
  ) {
    super(`${path}: ${reason}`);
  }
}

const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW, O_WRONLY, O_CREAT, O_EXCL } = fs.constants;
const READ_FLAGS = O_RDONLY | O_NONBLOCK | (O_NOFOLLOW ?? 0);
const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | (O_NOFOLLOW ?? 0);

/** What readTrusted can report of the file it read, from the fstat it makes anyway. */
export interface TrustedReadStat {
  mtimeMs?: number;
}

/**
 * The bytes of a regular file of the tree, at most `maxBytes` (read up to maxBytes + 1, so a file that grew shows
 * up as longer). Throws the system error (ENOENT, ELOOP for a link, ...) or UntrustedPathError. `seen`, when given,
 * gets the file's mtime.
 */
export function readTrusted(path: string, rule: TrustRule, maxBytes: number, seen?: TrustedReadStat): Buffer {
  const fd = fs.openSync(path, READ_FLAGS);
  try {
    const st = fs.fstatSync(fd);
    if (seen) seen.mtimeMs = st.mtimeMs;
    const problem = fileProblem(st, rule);
    if (problem) throw new UntrustedPathError(path, problem);
    if (st.size > maxBytes)
      throw new UntrustedPathError(
        path,
        `it is ${st.size} bytes, more than the ${maxBytes} it can be`,
        'ETOOBIG',
      );
    const buf = Buffer.allocUnsafeSlow(Math.min(st.size, maxBytes) + 1);
    let n = 0;
    for (;;) {
      const r = fs.readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
      if (n === buf.length) break;
    }
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

export function readTrustedText(path: string, rule: TrustRule, maxBytes: number): string {
  return readTrusted(path, rule, maxBytes).toString('utf8');
}

/** readTrustedText, or undefined for any failure (a missing or unusable file reads as absent). */
export function readTrustedTextOrUndefined(
  path: string,
  rule: TrustRule,
  maxBytes: number,
): string | undefined {
  try {
    return readTrustedText(path, rule, maxBytes);
  } catch {
    return undefined;
  }
}

/**
 * Creates a new file (never through a link, never over an existing one) with the tree's file mode set exactly
 * (the umask would otherwise strip the group bits of group mode), writes `data`, optionally fsyncs.
 */
export function createFileSync(
  path: string,
  data: string | Buffer,
  rule: TrustRule,
  sync = false,
  mtimeMs?: number,
): void {
  const fd = fs.openSync(path, CREATE_FLAGS, fileMode(rule));
  try {
    fs.fchmodSync(fd, fileMode(rule));
    fs.writeFileSync(fd, data);
    if (sync) fs.fsyncSync(fd);
    if (mtimeMs !== undefined) fs.futimesSync(fd, mtimeMs / 1000, mtimeMs / 1000);
  } catch (e) {
    // The file is this call's own (O_EXCL): a write that failed (ENOSPC, EDQUOT) leaves no empty or partial file.
    fs.closeSync(fd);
    fs.rmSync(path, { force: true });
    throw e;
  }
  fs.closeSync(fd);
}

export async function createFile(
  path: string,
  data: string | Buffer,
  rule: TrustRule,
  mtimeMs?: number,
): Promise<void> {
  const fh = await fs.promises.open(path, CREATE_FLAGS, fileMode(rule));
  try {
    await fh.chmod(fileMode(rule));
    await fh.writeFile(data);
    // No fsync: a publish is temp + rename, atomic against a crashed process without one, and every read checks the
    // image's size and SHA-256 against its metadata (and the metadata's schema), so what a power loss could leave
    // (an empty or partial file) is a miss and a recompile, never a wrong kernel. The four syncs of a publish were
    // 3.5-8.5 ms of a 16-18 ms NVRTC compile on the H200 host.
    if (mtimeMs !== undefined) await fh.utimes(mtimeMs / 1000, mtimeMs / 1000);
  } catch (e) {
    // As createFileSync: a write that failed leaves no empty or partial file of this call's behind.
    await fh.close();
    await fs.promises.rm(path, { force: true });
    throw e;
  }
  await fh.close();
}

/**
 * A directory of the tree, made when missing (mode set exactly), checked when present. A file at the path (a name
 * cuop generates) is removed and the directory made; a link, or a directory that fails the trust rule, throws
 * UntrustedPathError.
 */
export function ensureTrustedDir(path: string, rule: TrustRule, repair = true): void {
  let st = fs.lstatSync(path, { throwIfNoEntry: false });
  // A link is refused, not repaired: someone made the tree point elsewhere, and that is worth a warning.
  if (st?.isSymbolicLink())
    throw new UntrustedPathError(path, dirProblem(st, rule) ?? 'it is a symbolic link');
  if (st && !st.isDirectory() && repair) {
    fs.rmSync(path, { force: true }); // a file or a link (never its target) where a directory belongs
    st = undefined;
  }
  if (!st) {
    try {
      fs.mkdirSync(path, { mode: dirMode(rule) });
      fs.chmodSync(path, dirMode(rule));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    st = fs.lstatSync(path);
  }
  const problem = dirProblem(st, rule);
  if (problem) throw new UntrustedPathError(path, problem);
}

/**
 * Removes whatever is at `path` (a generated name): a file, a link (not its target) or a squatting directory.
 * True when nothing is there afterwards.
 */
export function removePath(path: string): boolean {
  try {
    const st = fs.lstatSync(path, { throwIfNoEntry: false });
    if (!st) return true;
    if (st.isDirectory()) fs.rmSync(path, { recursive: true, force: true });
    else fs.unlinkSync(path);
    return fs.lstatSync(path, { throwIfNoEntry: false }) === undefined;
  } catch {
    return false;
  }
}

export async function removePathAsync(path: string): Promise<boolean> {
  try {
    const st = await fs.promises.lstat(path).catch(() => undefined);
    if (!st) return true;
    if (st.isDirectory()) await fs.promises.rm(path, { recursive: true, force: true });
    else await fs.promises.unlink(path);
    return (await fs.promises.lstat(path).catch(() => undefined)) === undefined;
  } catch {
    return false;
  }
}
