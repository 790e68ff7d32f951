// The names cuop gives files in a cache directory. Maintenance removes only what matches one of them: a cache dir
// pointed at a project's folder by mistake must never lose the project's files.
export const FORMAT_FILE = 'format-version';
export const CACHEDIR_TAG_FILE = 'CACHEDIR.TAG';
export const CACHEDIR_TAG =
  'Signature: 8a477f597d28d172789f06886806bc55\n' +
  '# This file is a cache directory tag created by cuop (CUDA kernel cache).\n' +
  '# For information about cache directory tags, see https://bford.info/cachedir/\n';
/** What marks a directory as cuop's (with the format file): the tag's cuop line. */
export const CACHEDIR_TAG_MARK = 'created by cuop';

export const SUBDIRS = ['kernels', 'metadata', 'manifests', 'temp', 'locks', 'stats'] as const;
/** Where the `cuop` CLI keeps Node's compile cache of its own code (see cli/main.ts). */
export const NODE_COMPILE_CACHE = 'node-compile-cache';

const KEY = '[0-9a-f]{64}';
const SHARD_RE = /^[0-9a-f]{2}$/;
const KERNEL_RE = new RegExp(`^${KEY}\\.(cubin|ptx)(\\.(gz|br|zst))?$`);
const JSON_RE = new RegExp(`^${KEY}\\.json$`);
const TEMP_RE = new RegExp(
  `^(${KEY}\\.\\d+\\.\\d+\\.[0-9a-f]{8}\\.(kernel|json|manifest)|(compilers\\.json|format-version|CACHEDIR\\.TAG|maintenance\\.stamp)\\.\\d+\\.[0-9a-f]{8})$`,
);
const LOCK_RE = new RegExp(
  `^(${KEY}|maintenance)\\.lock(\\.\\d+\\.\\d+\\.[0-9a-z]+\\.tmp|\\.(stale|release)\\.\\d+\\.\\d+\\.[0-9a-z]+)?$`,
);
const STATS_RE = /^(total\.json(\.\d+\.tmp)?|[^/]+\.\d+\.\d+\.[0-9a-z]+-\d+-[0-9a-z]+\.json(\.tmp)?)$/;

export const isShardName = (n: string): boolean => SHARD_RE.test(n);
export const isKernelFileName = (n: string): boolean => KERNEL_RE.test(n);
export const isEntryJsonName = (n: string): boolean => JSON_RE.test(n);
export const isTempName = (n: string): boolean => TEMP_RE.test(n);
export const isLockName = (n: string): boolean => LOCK_RE.test(n);
export const isStatsName = (n: string): boolean => STATS_RE.test(n);
