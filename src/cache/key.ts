import { sha256Hex } from './sha256.js';

/**
 * Version of the on-disk layout and of the key encoding. Part of every key, so entries written by another format
 * can never be hit; bump it whenever either changes (maintenance then reclaims the old entries).
 * 2: code-generation epoch, salt and dependency manifests.
 */
export const CACHE_FORMAT_VERSION = 2;

/**
 * cuop's code-generation epoch, part of every key. Bump it whenever what cuop itself adds to a compile changes the
 * machine code without showing in a spec: the operators' generated sources (they are in the key as text anyway, so
 * this is belt and braces), the JIT's default options, or how a compiler backend is driven (flags it adds).
 */
export const CODEGEN_EPOCH = 1;

/** Everything that can change the machine code of one compilation. Copied on first use; mutating it later is safe. */
export interface KeySpec {
  source: string;
  headers?: Readonly<Record<string, string>>;
  /** Canonical kernel names / name expressions (see compiler/names.ts); a module's are sorted. */
  nameExpressions: readonly string[];
  options: readonly string[];
  compiler: { id: string; version: string };
  /** Target arch, `sm_90` style. */
  target: string;
  imageKind: 'cubin' | 'ptx' | 'ltoir';
  /** The user's salt (policy `salt`, CUOP_CACHE_SALT): for inputs cuop cannot see. '' or absent: none. */
  salt?: string;
  /** The program's file name in the compile: it is `__FILE__` in the code (asserts embed it). '' or absent: none. */
  fileName?: string;
}

const KEY_DOMAIN = 'cuop-kernel-cache-key';
const DEPENDENT_DOMAIN = 'cuop-kernel-cache-dependent-key';

/**
 * The canonical encoding of a key's inputs, collected as text and hashed with one update: each update() crosses into
 * C++, and a fresh process's first key paid ~45 of them (0.6 ms on the H200 host). The bytes hashed are the same as
 * hashing each piece in turn, so keys do not change (test/cache/key.test.ts pins them).
 */
class KeyText {
  private readonly parts: string[];

  constructor(domain: string) {
    this.parts = [`${domain}\n`];
  }

  raw(text: string): void {
    this.parts.push(text);
  }

  field(tag: string, value: string): void {
    // Length-prefixed (UTF-8 byte length), so no two different inputs share an encoding: ["-a","b"] ≠ ["-ab"]. A
    // non-string (from untyped JS) would be encoded as something else entirely, so two specs could share a key.
    if (typeof value !== 'string')
      throw new TypeError(`cache key: ${tag} must be a string, got ${typeof value}`);
    this.parts.push(`${tag}=${Buffer.byteLength(value, 'utf8')}:`, value, '\n');
  }

  list(tag: string, values: readonly string[]): void {
    this.parts.push(`${tag}#${values.length}\n`);
    for (const v of values) this.field('-', v);
  }

  digest(): string {
    return sha256Hex(this.parts.join(''));
  }
}

/** Everything but the kernel names: the inputs one source compiled with one configuration shares. */
function hashFamily(h: KeyText, spec: KeySpec): void {
  h.raw(`format=${CACHE_FORMAT_VERSION}\nepoch=${CODEGEN_EPOCH}\n`);
  h.field('source', spec.source);
  const headers = spec.headers ?? {};
  const names = Object.keys(headers).sort();
  h.raw(`headers#${names.length}\n`);
  for (const name of names) {
    h.field('name', name);
    h.field('content', headers[name] ?? '');
  }
  h.list('options', spec.options);
  h.field('compiler.id', spec.compiler.id);
  h.field('compiler.version', spec.compiler.version);
  h.field('target', spec.target);
  h.field('imageKind', spec.imageKind);
  h.field('salt', spec.salt ?? '');
  if (spec.fileName) h.field('fileName', spec.fileName);
}

/**
 * The cache key of a compilation: 64 lowercase hex digits, the SHA-256 of a canonical, length-prefixed encoding of
 * the format version, cuop's code-generation epoch, source, every header's name and content (sorted by name),
 * options (in their given order: order can change the machine code), compiler id + version, target, image kind,
 * salt and the kernel names. A compile that read files from disk is stored under dependentKey(key, files) instead.
 * Public and stable: test/cache/key.test.ts pins known keys.
 */
export function cacheKey(spec: KeySpec): string {
  const h = new KeyText(KEY_DOMAIN);
  hashFamily(h, spec);
  h.list('names', spec.nameExpressions);
  return h.digest();
}

/**
 * The key of the spec's family: every input except the kernel names. Manifests live under it: they say which
 * entries of the family exist, with which names and, for compiles that read headers from disk, which files.
 */
export function familyKey(spec: KeySpec): string {
  const h = new KeyText(`${KEY_DOMAIN}-family`);
  hashFamily(h, spec);
  return h.digest();
}

/** One file a compile read: its path and content hash, the part of a dependency that goes into a key. */
export interface DependencyDigest {
  readonly path: string;
  readonly sha256: string;
}

/**
 * The key of a compile whose result also depends on files on disk: the spec's key, every file it read (path and
 * content hash) and every path that had to stay absent (a file created there would have been read instead).
 */
export function dependentKey(
  key: string,
  files: readonly DependencyDigest[],
  absent: readonly string[],
  cwd?: string,
): string {
  const h = new KeyText(DEPENDENT_DOMAIN);
  h.field('key', key);
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  h.raw(`files#${sorted.length}\n`);
  for (const f of sorted) {
    h.field('path', f.path);
    h.field('sha256', f.sha256);
  }
  h.list('absent', [...absent].sort());
  if (cwd !== undefined) h.field('cwd', cwd);
  return h.digest();
}

/** The fields a key was computed from, copied, so a later mutation of the spec object is seen. */
interface Snapshot {
  readonly key: string;
  readonly family: string | undefined;
  readonly source: string;
  readonly headerEntries: readonly (readonly [string, string])[];
  readonly names: readonly string[];
  readonly options: readonly string[];
  readonly compilerId: string;
  readonly compilerVersion: string;
  readonly target: string;
  readonly imageKind: string;
  readonly salt: string | undefined;
  readonly fileName: string | undefined;
}

export function sameStrings(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Header records hold the same names and contents as the copied entries (which are in key order). */
export function sameHeaders(
  h: Readonly<Record<string, string>> | undefined,
  entries: readonly (readonly [string, string])[],
): boolean {
  if (h === undefined) return entries.length === 0;
  let n = 0;
  for (const _ in h) if (++n > entries.length) return false;
  if (n !== entries.length) return false;
  for (const [name, content] of entries) if (h[name] !== content) return false;
  return true;
}

function snapshotOf(spec: KeySpec, key: string): Snapshot {
  const headerEntries = Object.entries(spec.headers ?? {}).map(([n, c]) => [n, c] as const);
  return {
    key,
    family: undefined,
    source: spec.source,
    headerEntries,
    names: [...spec.nameExpressions],
    options: [...spec.options],
    compilerId: spec.compiler.id,
    compilerVersion: spec.compiler.version,
    target: spec.target,
    imageKind: spec.imageKind,
    salt: spec.salt,
    fileName: spec.fileName,
  };
}

function unchanged(spec: KeySpec, s: Snapshot): boolean {
  return (
    spec.source === s.source &&
    spec.target === s.target &&
    spec.imageKind === s.imageKind &&
    spec.salt === s.salt &&
    spec.fileName === s.fileName &&
    spec.compiler.id === s.compilerId &&
    spec.compiler.version === s.compilerVersion &&
    sameStrings(spec.nameExpressions, s.names) &&
    sameStrings(spec.options, s.options) &&
    sameHeaders(spec.headers, s.headerEntries)
  );
}

const memo = new WeakMap<KeySpec, Snapshot>();

function snapshotFor(spec: KeySpec): Snapshot {
  const s = memo.get(spec);
  if (s !== undefined && unchanged(spec, s)) return s;
  const fresh = snapshotOf(spec, cacheKey(spec));
  memo.set(spec, fresh);
  return fresh;
}

/**
 * `cacheKey`, memoized on the spec object (a WeakMap), so a repeat lookup with the same spec compares a few fields
 * instead of rehashing the source (SHA-256 of 20 KB ≈ 12 µs). The fields are compared with a copy taken when the
 * key was made, so a spec mutated after its first use gets its new key, never the old kernel.
 */
export function memoizedCacheKey(spec: KeySpec): string {
  return snapshotFor(spec).key;
}

/** `familyKey`, memoized like memoizedCacheKey. */
export function memoizedFamilyKey(spec: KeySpec): string {
  const s = snapshotFor(spec);
  if (s.family !== undefined) return s.family;
  const family = familyKey(spec);
  memo.set(spec, { ...s, family });
  return family;
}

const KEY_RE = /^[0-9a-f]{64}$/;
export function isCacheKey(s: string): boolean {
  return KEY_RE.test(s);
}
