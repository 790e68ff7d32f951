// Opening a cache directory: creating it, checking it is safe to load GPU code from (trust.ts), adopting it only
// when it is empty or cuop's (its marker), refusing a newer format. The disk tier gets a directory that passed.
import * as fs from 'node:fs';
import { join } from 'node:path';

import { CACHE_FORMAT_VERSION } from './key.js';
import {
  CACHEDIR_TAG,
  CACHEDIR_TAG_FILE,
  CACHEDIR_TAG_MARK,
  CacheLayout,
  FORMAT_FILE,
  NODE_COMPILE_CACHE,
} from './layout.js';
import { errorCode, errorText, writeFailureKind, type CacheLog } from './logger.js';
import {
  createFileSync,
  ensureTrustedDir,
  readTrustedTextOrUndefined,
  removePath,
  UntrustedPathError,
} from './safe-fs.js';
import { dirMode, dirProblem, trustRule, type TrustRule } from './trust.js';

const MAX_SMALL_FILE_BYTES = 4096;

/** Why a directory is not safe to load GPU code from under `rule`, or undefined when it is (links followed). */
export function unsafeDirReason(dir: string, rule: TrustRule = trustRule('private')): string | undefined {
  return dirProblem(fs.statSync(dir), rule);
}

/** A top-level file of ours, replaced atomically (temp + rename): a FIFO or directory there is replaced too. */
export function replaceRootFile(layout: CacheLayout, name: string, text: string, rule: TrustRule): void {
  const tmp = layout.rootTemp(name);
  createFileSync(tmp, text, rule);
  const dest = layout.rootFile(name);
  if (fs.lstatSync(dest, { throwIfNoEntry: false })?.isDirectory()) removePath(dest);
  fs.renameSync(tmp, dest);
}

/**
 * True when `root` holds nothing, or carries cuop's marker (its CACHEDIR.TAG and format file), or holds only the
 * marker's files while another process is writing them (format file first, then the tag: see markNew).
 */
function adoptable(root: string, rule: TrustRule): boolean {
  const names = fs.readdirSync(root);
  if (names.length === 0) return true;
  // Both marker files beside cuop's directories: a cuop cache (the tag's text is read only while it is young).
  if (names.includes(FORMAT_FILE) && names.includes(CACHEDIR_TAG_FILE) && names.includes('kernels'))
    return true;
  const tag = readTrustedTextOrUndefined(join(root, CACHEDIR_TAG_FILE), rule, MAX_SMALL_FILE_BYTES);
  // The tag may be half written by another process opening the directory at the same moment (see markNew).
  const marked = tag !== undefined && (tag.includes(CACHEDIR_TAG_MARK) || CACHEDIR_TAG.startsWith(tag));
  if (marked && names.includes(FORMAT_FILE)) return true;
  // Only names cuop makes before the marker is complete: the marker's files and the CLI's compile cache, which it
  // may make in an empty directory first.
  const early = names.every((n) => n === FORMAT_FILE || n === CACHEDIR_TAG_FILE || n === NODE_COMPILE_CACHE);
  return early && (tag === undefined || marked);
}

/**
 * Marks a directory as cuop's before anything else goes into it, so that a process opening it at the same moment
 * sees a cuop cache in the making rather than a foreign directory. Exclusive creates: the first writer wins.
 */
function markNew(root: string, rule: TrustRule): void {
  for (const [name, text] of [
    [FORMAT_FILE, `${CACHE_FORMAT_VERSION}\n`],
    [CACHEDIR_TAG_FILE, CACHEDIR_TAG],
  ] as const) {
    try {
      createFileSync(join(root, name), text, rule);
    } catch (e) {
      if (errorCode(e) !== 'EEXIST') throw e;
    }
  }
}

/**
 * Creates and checks the directory tree. Returns undefined, after one warning, when it cannot be used: unsafe (a
 * directory of another user, writable by others, a link inside the tree: a planted cubin is code on the GPU),
 * not cuop's (a non-empty directory without cuop's marker: its files are not cuop's to manage), uncreatable, or
 * written by a newer cache format. The cache then runs memory-only. Returns the directory's layout otherwise (also
 * when it is read-only: entries are still read).
 */
export function openCacheDir(
  given: string,
  opts: { rule: TrustRule; log: CacheLog },
): CacheLayout | undefined {
  const { log, rule } = opts;
  const refuse = (kind: string, message: string): undefined => {
    log.warnOnce(kind, message);
    return undefined;
  };
  let root: string;
  try {
    if (!fs.existsSync(given)) {
      fs.mkdirSync(given, { recursive: true, mode: dirMode(rule) });
      fs.chmodSync(given, dirMode(rule));
    }
    // The root itself may be reached through a link (~/.cache on another disk); nothing below it is followed.
    root = fs.realpathSync(given);
  } catch (e) {
    return refuse(
      'dir-unusable',
      `cannot create the cache directory ${given} (${errorCode(e)}); running with the in-memory cache only. ` +
        `Set CUOP_CACHE_DIR to a writable directory, or CUOP_CACHE_DISABLE=1 to silence this.`,
    );
  }
  const fix =
    rule.sharing === 'group'
      ? `Fix: chgrp it to your team's group and chmod 2770 (group mode is on), or use a private directory.`
      : `Fix: chown it to yourself and chmod 700, point CUOP_CACHE_DIR at a private directory, or share it on ` +
        `purpose with CUOP_CACHE_SHARED=group.`;
  const unsafe = (path: string, reason: string): undefined =>
    refuse(
      'dir-unsafe',
      `refusing the cache directory ${given}: ${path === root ? '' : `${path}: `}${reason}. Cached GPU code ` +
        `loaded from it could have been planted by another user, so the disk cache is off and kernels are ` +
        `cached in memory only. ${fix}`,
    );
  let reason: string | undefined;
  try {
    reason = dirProblem(fs.lstatSync(root), rule);
  } catch (e) {
    reason = `it cannot be inspected (${errorCode(e)})`;
  }
  if (reason) return unsafe(root, reason);
  const fmtText = readTrustedTextOrUndefined(join(root, FORMAT_FILE), rule, MAX_SMALL_FILE_BYTES);
  const onDisk = fmtText === undefined ? undefined : Number.parseInt(fmtText.trim(), 10);
  if (onDisk !== undefined && Number.isFinite(onDisk) && onDisk > CACHE_FORMAT_VERSION) {
    return refuse(
      'dir-future-format',
      `the cache directory ${given} uses cache format ${onDisk}, newer than this cuop's (${CACHE_FORMAT_VERSION}); ` +
        `leaving it alone and caching in memory only. Upgrade cuop or use another CUOP_CACHE_DIR.`,
    );
  }
  let unmarked: unknown;
  try {
    // Empty, or only what cuop makes first: complete the marker before anything else (another process may be
    // opening the directory at this moment and must see a cuop cache in the making).
    if (
      fs
        .readdirSync(root)
        .every((n) => n === NODE_COMPILE_CACHE || n === FORMAT_FILE || n === CACHEDIR_TAG_FILE)
    ) {
      try {
        markNew(root, rule);
      } catch (e) {
        // Unwritable (read-only, no space left): it stays as it was, with nothing to read; said below.
        unmarked = e;
      }
    }
    if (!adoptable(root, rule)) {
      return refuse(
        'dir-foreign',
        `refusing the cache directory ${given}: it is not empty and is not a cuop cache (no ${CACHEDIR_TAG_FILE} ` +
          `by cuop and ${FORMAT_FILE}), so its files are not cuop's to manage. Point CUOP_CACHE_DIR at an empty ` +
          `or new directory; kernels are cached in memory only for now.`,
      );
    }
  } catch (e) {
    return unsafe(root, `it cannot be listed (${errorCode(e)})`);
  }
  if (unmarked !== undefined) {
    // No marker could be written, so no directories are made either: a tree without the marker would read as a
    // foreign directory to every later process, long after the disk has room again.
    return refuse(
      writeFailureKind('disk'),
      `cannot initialise the cache directory ${given} (${errorCode(unmarked)}: ${errorText(unmarked)}); ` +
        `kernels are cached in memory only.`,
    );
  }
  const layout = new CacheLayout(root);
  const readOnly = (e: unknown): CacheLayout => {
    // Read-only but otherwise fine: keep serving reads; writes will fail and be counted, and not warned again
    // (the same kind as the publish's write failure).
    log.warnOnce(
      writeFailureKind('disk'),
      `cannot initialise the cache directory ${given} (${errorCode(e)}: ${errorText(e)}); ` +
        `existing entries are still read, new ones are kept in memory only.`,
    );
    return layout;
  };
  try {
    for (const d of layout.subdirs()) ensureTrustedDir(d, rule);
  } catch (e) {
    if (e instanceof UntrustedPathError) return unsafe(e.path, e.reason);
    return readOnly(e);
  }
  try {
    if (onDisk !== CACHE_FORMAT_VERSION) {
      // A new or older-format cache (or a format file that is not one: a FIFO, a directory): written anew, tag too.
      replaceRootFile(layout, FORMAT_FILE, `${CACHE_FORMAT_VERSION}\n`, rule);
      replaceRootFile(layout, CACHEDIR_TAG_FILE, CACHEDIR_TAG, rule);
    }
  } catch (e) {
    return readOnly(e);
  }
  return layout;
}
