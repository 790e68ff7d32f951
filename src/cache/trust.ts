// The one rule for what cuop trusts in a cache tree. A cubin is code that runs on the GPU with the user's rights,
// so every directory cuop reads from or writes to (root, kernels/, metadata/, their fan-out dirs, temp/, locks/,
// stats/, manifests/) and every file in them must be the user's own and writable by nobody else, or, in the explicit
// group mode (CUOP_CACHE_SHARED=group), belong to a group the user is in and not be writable by the world.
// Symbolic links are never followed inside the tree.
import type * as fs from 'node:fs';

/**
 * Who may write a cache directory cuop uses: this user only (`private`), or also this user's groups (`group`,
 * CUOP_CACHE_SHARED).
 */
export type CacheSharing = 'private' | 'group';

/** Whose files a cache trusts: the sharing mode and this process's uid and groups. */
export interface TrustRule {
  readonly sharing: CacheSharing;
  /** This process's uid (undefined where the platform has none: then ownership is not checked). */
  readonly uid: number | undefined;
  /** Groups this process is in (group mode). */
  readonly gids: ReadonlySet<number>;
}

export function trustRule(sharing: CacheSharing): TrustRule {
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  const gids = new Set<number>();
  if (typeof process.getgid === 'function') gids.add(process.getgid());
  if (typeof process.getgroups === 'function') for (const g of process.getgroups()) gids.add(g);
  return { sharing, uid, gids };
}

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

/** Why an entry (dir or file) with these stats may not be trusted, or undefined when it may. */
function ownershipProblem(st: fs.Stats, rule: TrustRule, what: string): string | undefined {
  if (st.mode & 0o002) return `${what} is world-writable (mode ${octal(st.mode)})`;
  if (rule.uid === undefined || st.uid === rule.uid) {
    if (rule.sharing === 'private' && st.mode & 0o020)
      return `${what} is group-writable (mode ${octal(st.mode)}; group sharing is off: CUOP_CACHE_SHARED=group)`;
    return undefined;
  }
  if (rule.sharing === 'group' && rule.gids.has(st.gid)) return undefined;
  return rule.sharing === 'group'
    ? `${what} is owned by uid ${st.uid} and group ${st.gid}, neither this user (uid ${rule.uid}) nor one of its groups`
    : `${what} is owned by uid ${st.uid}, not by this user (uid ${rule.uid})`;
}

/**
 * Why `st` (from lstat: links not followed) cannot be a directory of the cache tree, or undefined when it can. In
 * group mode a directory must also pass its group on to new entries (setgid), or members could not read them.
 */
export function dirProblem(st: fs.Stats, rule: TrustRule): string | undefined {
  if (st.isSymbolicLink()) return 'it is a symbolic link (links inside the cache are never followed)';
  if (!st.isDirectory()) return 'it is not a directory';
  const owner = ownershipProblem(st, rule, 'it');
  if (owner) return owner;
  if (rule.sharing === 'group' && !(st.mode & 0o2000) && st.uid !== rule.uid)
    return `it is not setgid (mode ${octal(st.mode)}): entries made in it would not be readable by the group`;
  return undefined;
}

/** Why a file (fstat of an opened descriptor) of the cache tree cannot be trusted, or undefined. */
export function fileProblem(st: fs.Stats, rule: TrustRule): string | undefined {
  if (!st.isFile()) return 'it is not a regular file';
  return ownershipProblem(st, rule, 'it');
}

/** Mode for directories and files cuop creates. */
export function dirMode(rule: TrustRule): number {
  return rule.sharing === 'group' ? 0o2770 : 0o700;
}
export function fileMode(rule: TrustRule): number {
  return rule.sharing === 'group' ? 0o660 : 0o600;
}
