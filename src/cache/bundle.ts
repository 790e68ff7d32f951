// A cuop bundle (.cuopbundle): verified cache entries in one gzip'd POSIX ustar file, so a warm cache can
// ship in a container image. Members, all regular files (mode 0644, mtime 0, uid/gid 0: the same entries and
// `now` give the same bytes):
//   cuop-bundle.json       the manifest (BundleManifest): every entry with the SHA-256 of its two members
//   signature.json         when signed: { kid, hmac }, HMAC-SHA256 over the manifest's exact bytes
//   meta/<key>.json        an entry's metadata
//   images/<sha256>.bin    an image, once per distinct content
// The signature covers the manifest and the manifest covers every member by hash: one HMAC signs it all.
//
// Refused whole (nothing of it is used): not gzip, not a tar, truncated; a bad header checksum; a member that
// is not a regular file (links, directories, devices, FIFOs, pax and GNU extension headers); a name other
// than the four forms above (so `../x`, `/x` or `a/b/c` cannot be expressed); a duplicate name; a member the
// manifest does not list, or a listed one missing; a missing or malformed manifest; an unknown key id or a
// wrong HMAC; no signature where one is required; more than maxBytes packed or unpacked.
// Refused per entry (the rest still import): a member whose SHA-256 differs from its listing; metadata that
// is not JSON, is of another cache format or fails parseEntryMetadata; metadata of another key or disagreeing
// with its listing; a record that fails recordProblem.
// Reading never writes to disk: the archive is unpacked in memory only.
import { constants as bufferConstants } from 'node:buffer';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';

import { CACHE_FORMAT_VERSION, isCacheKey } from './key.js';
import { parseEntryMetadata, type EntryMetadata } from './metadata.js';
import type { RemoteSecret } from './remote-value.js';
import { sha256Hex } from './sha256.js';
import type { TierRecord } from './tier.js';
import { recordProblem } from './verify.js';

export interface BundleEntryListing {
  key: string;
  metaSha256: string;
  imageSha256: string;
  imageBytes: number;
  target: string;
  compiler: { id: string; version: string };
  imageKind: string;
  kernelNames: string[];
}

export interface BundleManifest {
  format: 'cuop-bundle';
  version: 1;
  createdAt: number;
  cuopVersion: string;
  cacheFormatVersion: number;
  /** Sorted by key. */
  entries: BundleEntryListing[];
  /** Distinct, sorted; compilers as "id version". */
  targets: string[];
  compilers: string[];
  /** Distinct meta.driverVersion values present, sorted. */
  driverVersions: string[];
}

export interface BundleWriteOptions {
  /** Signs the bundle; unsigned without one. */
  signer?: RemoteSecret;
  cuopVersion: string;
  /** The manifest's createdAt (ms since the epoch); Date.now() by default. */
  now?: number;
}

export interface BundleReadOptions {
  /** Key ids and secrets a signature may be made with (rotation: list the new and the old). */
  secrets: readonly RemoteSecret[];
  requireSignature: boolean;
  /** Bound on the packed and the unpacked size; 4 GiB by default. */
  maxBytes?: number;
}

export type BundleRead =
  | { ok: false; rejected: string }
  | {
      ok: true;
      manifest: BundleManifest;
      signedBy: string | undefined;
      entries: ({ key: string; record: TierRecord } | { key: string; problem: string })[];
    };

const MANIFEST = 'cuop-bundle.json';
const SIGNATURE = 'signature.json';
const SIGN_DOMAIN = 'cuop-bundle-v1';
const DEFAULT_MAX_BYTES = 4 * 1024 ** 3;
const HEX64 = /^[0-9a-f]{64}$/;
const MEMBER_NAME =
  /^(?:cuop-bundle\.json|signature\.json|meta\/[0-9a-f]{64}\.json|images\/[0-9a-f]{64}\.bin)$/;

// ---- ustar, the few parts of it a bundle uses ----

const BLOCK = 512;

export interface TarMember {
  name: string;
  data: Buffer;
  /** The typeflag; '0' (regular file) by default. Others exist only so tests can build hostile archives. */
  type?: string;
  linkname?: string;
}

function writeField(h: Buffer, off: number, len: number, text: string): void {
  const b = Buffer.from(text, 'utf8');
  if (b.length > len) throw new RangeError(`tar: ${JSON.stringify(text)} does not fit ${len} bytes`);
  b.copy(h, off);
}

const octalField = (n: number, len: number): string => n.toString(8).padStart(len - 1, '0'); // then NUL

/** A ustar archive of `members` in order, ended by two zero blocks; no times or owners vary. */
export function tarMembers(members: readonly TarMember[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const h = Buffer.alloc(BLOCK);
    writeField(h, 0, 100, m.name);
    writeField(h, 100, 8, octalField(0o644, 8));
    writeField(h, 108, 8, octalField(0, 8));
    writeField(h, 116, 8, octalField(0, 8));
    writeField(h, 124, 12, octalField(m.data.length, 12));
    writeField(h, 136, 12, octalField(0, 12));
    writeField(h, 156, 1, m.type ?? '0');
    writeField(h, 157, 100, m.linkname ?? '');
    writeField(h, 257, 6, 'ustar'); // then NUL
    writeField(h, 263, 2, '00');
    h.fill(0x20, 148, 156);
    writeField(h, 148, 8, `${octalField(headerSum(h), 7)}\0 `.slice(0, 8));
    parts.push(h, m.data);
    const pad = (BLOCK - (m.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** The unsigned sum of a header's bytes with the checksum field counted as spaces. */
function headerSum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum;
}

/** A NUL-terminated text field; undefined when bytes follow the NUL (not something a tar writer makes). */
function textField(h: Buffer, off: number, len: number): string | undefined {
  const f = h.subarray(off, off + len);
  const end = f.indexOf(0);
  if (end >= 0 && f.subarray(end).some((b) => b !== 0)) return undefined;
  return f.subarray(0, end < 0 ? len : end).toString('latin1');
}

/** An octal number field (digits, then NUL or spaces); undefined for anything else, base-256 included. */
function octalValue(h: Buffer, off: number, len: number): number | undefined {
  const m = /^ *([0-7]{1,12})[ \0]*$/.exec(h.subarray(off, off + len).toString('latin1'));
  return m ? parseInt(m[1]!, 8) : undefined;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '5': 'a directory',
  '6': 'a FIFO',
  '7': 'a contiguous file',
  x: 'a pax extended header',
  g: 'a pax global header',
  L: 'a GNU long name',
  K: 'a GNU long link name',
};

/** The regular-file members of a ustar archive, or why it is not one cuop can read. */
export function untarMembers(tar: Buffer): { members: TarMember[] } | { bad: string } {
  if (tar.length % BLOCK !== 0) return { bad: 'its length is not a whole number of tar blocks (truncated?)' };
  const members: TarMember[] = [];
  let off = 0;
  for (;;) {
    if (off + BLOCK > tar.length) return { bad: 'it ends without the end-of-archive blocks (truncated?)' };
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) {
      // The end: a second zero block, then only zero padding.
      if (off + 2 * BLOCK > tar.length)
        return { bad: 'it lacks its second end-of-archive block (truncated?)' };
      if (tar.subarray(off + BLOCK).some((b) => b !== 0)) return { bad: 'it has data after its end' };
      return { members };
    }
    const where = `the header at byte ${off}`;
    if (octalValue(h, 148, 8) !== headerSum(h)) return { bad: `${where} has a bad checksum` };
    if (
      h.subarray(257, 263).toString('latin1') !== 'ustar\0' ||
      h.subarray(263, 265).toString('latin1') !== '00'
    )
      return { bad: `${where} is not POSIX ustar` };
    const name = textField(h, 0, 100);
    const prefix = textField(h, 345, 155);
    const size = octalValue(h, 124, 12);
    if (name === undefined || prefix === undefined || size === undefined)
      return { bad: `${where} has malformed fields` };
    const full = prefix ? `${prefix}/${name}` : name;
    const type = String.fromCharCode(h[156]!);
    if (type !== '0' && type !== '\0')
      return {
        bad: `member ${JSON.stringify(full)} is ${TYPE_NAMES[type] ?? `of type ${JSON.stringify(type)}`}`,
      };
    const start = off + BLOCK;
    if (start + size > tar.length) return { bad: `member ${JSON.stringify(full)} is truncated` };
    members.push({ name: full, data: tar.subarray(start, start + size) });
    off = start + Math.ceil(size / BLOCK) * BLOCK;
  }
}

// ---- the bundle ----

function mac(secret: string, manifest: Buffer): Buffer {
  return createHmac('sha256', secret)
    .update(`${SIGN_DOMAIN}\n${manifest.length}\n`)
    .update(manifest)
    .digest();
}

const sortedDistinct = (values: Iterable<string>): string[] =>
  [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const compilerName = (c: { id: string; version: string }): string => `${c.id} ${c.version}`;

/** The gzip'd bundle of `records` (a duplicate key: the first wins); throws for a record failing checks. */
export function encodeBundle(records: readonly TierRecord[], opts: BundleWriteOptions): Buffer {
  const byKey = new Map<string, TierRecord>();
  for (const r of records) if (!byKey.has(r.key)) byKey.set(r.key, r);
  const keys = sortedDistinct(byKey.keys());
  const entries: BundleEntryListing[] = [];
  const metas: TarMember[] = [];
  const images = new Map<string, Buffer>();
  for (const key of keys) {
    const rec = byKey.get(key)!;
    if (!isCacheKey(key)) throw new TypeError(`bundle: ${JSON.stringify(key)} is not a cache key`);
    const imageSha256 = sha256Hex(rec.image);
    // A bundle holds verified entries only; the image is hashed here anyway, so its checksum too.
    const problem =
      recordProblem(rec, key, undefined, false) ??
      (imageSha256 !== rec.meta.checksum.value ? 'checksum mismatch' : undefined);
    if (problem) throw new Error(`bundle: entry ${key} fails verification (${problem})`);
    const meta = Buffer.from(JSON.stringify(rec.meta), 'utf8');
    const { target, compiler, imageKind, kernelNames } = rec.meta;
    entries.push({
      key,
      metaSha256: sha256Hex(meta),
      imageSha256,
      imageBytes: rec.image.length,
      target,
      compiler: { id: compiler.id, version: compiler.version },
      imageKind,
      kernelNames: [...kernelNames],
    });
    metas.push({ name: `meta/${key}.json`, data: meta });
    if (!images.has(imageSha256)) images.set(imageSha256, rec.image);
  }
  const manifest: BundleManifest = {
    format: 'cuop-bundle',
    version: 1,
    createdAt: opts.now ?? Date.now(),
    cuopVersion: opts.cuopVersion,
    cacheFormatVersion: CACHE_FORMAT_VERSION,
    entries,
    targets: sortedDistinct(entries.map((e) => e.target)),
    compilers: sortedDistinct(entries.map((e) => compilerName(e.compiler))),
    driverVersions: sortedDistinct(
      keys.flatMap((k) => {
        const v = byKey.get(k)!.meta.driverVersion;
        return v === null ? [] : [v];
      }),
    ),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  const members: TarMember[] = [{ name: MANIFEST, data: manifestBytes }];
  if (opts.signer) {
    const signature = { kid: opts.signer.id, hmac: mac(opts.signer.secret, manifestBytes).toString('hex') };
    members.push({ name: SIGNATURE, data: Buffer.from(JSON.stringify(signature), 'utf8') });
  }
  members.push(...metas);
  for (const [sha, image] of [...images].sort(([a], [b]) => (a < b ? -1 : 1)))
    members.push({ name: `images/${sha}.bin`, data: image });
  return gzipSync(tarMembers(members));
}

/** encodeBundle, written beside `path` and renamed over it: a reader never sees half a bundle. */
export async function writeBundle(
  path: string,
  records: readonly TierRecord[],
  opts: BundleWriteOptions,
): Promise<{ bytes: number; entries: number; signed: boolean }> {
  const data = encodeBundle(records, opts);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const fh = await fs.promises.open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, path);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  return {
    bytes: data.length,
    entries: new Set(records.map((r) => r.key)).size,
    signed: opts.signer !== undefined,
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((s, i) => s === b[i]);

function listingOf(v: unknown): BundleEntryListing | undefined {
  if (!isRecord(v)) return undefined;
  const { key, metaSha256, imageSha256, imageBytes, target, compiler, imageKind, kernelNames } = v;
  if (
    typeof key !== 'string' ||
    !isCacheKey(key) ||
    typeof metaSha256 !== 'string' ||
    !HEX64.test(metaSha256) ||
    typeof imageSha256 !== 'string' ||
    !HEX64.test(imageSha256) ||
    !isCount(imageBytes) ||
    typeof target !== 'string' ||
    !isRecord(compiler) ||
    typeof compiler['id'] !== 'string' ||
    typeof compiler['version'] !== 'string' ||
    typeof imageKind !== 'string' ||
    !isStrings(kernelNames)
  )
    return undefined;
  const c = { id: compiler['id'], version: compiler['version'] };
  return { key, metaSha256, imageSha256, imageBytes, target, compiler: c, imageKind, kernelNames };
}

/** The manifest (only its known fields), or what is wrong with it. */
function manifestOf(raw: unknown): BundleManifest | string {
  if (!isRecord(raw)) return 'it is not a JSON object';
  if (raw['format'] !== 'cuop-bundle') return 'its format is not "cuop-bundle"';
  if (raw['version'] !== 1)
    return `it is version ${JSON.stringify(raw['version'])}, and this cuop reads version 1`;
  const { createdAt, cuopVersion, cacheFormatVersion, entries, targets, compilers, driverVersions } = raw;
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt) || createdAt < 0)
    return 'createdAt is malformed';
  if (typeof cuopVersion !== 'string') return 'cuopVersion is malformed';
  if (!isCount(cacheFormatVersion)) return 'cacheFormatVersion is malformed';
  if (!Array.isArray(entries)) return 'entries is not a list';
  if (!isStrings(targets) || !isStrings(compilers) || !isStrings(driverVersions))
    return 'targets, compilers or driverVersions is malformed';
  const listings: BundleEntryListing[] = [];
  for (const [i, e] of entries.entries()) {
    const l = listingOf(e);
    if (!l) return `entries[${i}] is malformed`;
    // Sorted and distinct, as written: a second listing of a key would point at the same member.
    const prev = listings[listings.length - 1];
    if (prev && prev.key >= l.key) return `entries are not sorted by key, or list ${l.key} twice`;
    listings.push(l);
  }
  // The summaries are what a reader shows before importing: they must not disagree with the entries.
  if (!sameList(targets, sortedDistinct(listings.map((l) => l.target))))
    return 'targets disagrees with its entries';
  if (!sameList(compilers, sortedDistinct(listings.map((l) => compilerName(l.compiler)))))
    return 'compilers disagrees with its entries';
  if (!sameList(driverVersions, sortedDistinct(driverVersions)))
    return 'driverVersions is not sorted and distinct';
  return {
    format: 'cuop-bundle',
    version: 1,
    createdAt,
    cuopVersion,
    cacheFormatVersion,
    entries: listings,
    targets,
    compilers,
    driverVersions,
  };
}

const REFETCH = 'copy it again from its source, or rebuild it with cuop';
const refuse = (why: string): BundleRead => ({ ok: false, rejected: why });

/** Checks the signature: who signed (undefined: unsigned, and allowed), or the refusal. */
function signatureRefusal(
  manifest: Buffer,
  signature: Buffer | undefined,
  opts: BundleReadOptions,
): { refusal: string } | { signedBy: string | undefined } {
  if (!signature) {
    if (opts.requireSignature)
      return {
        refusal:
          'The bundle is unsigned and signatures are required: write it with a signing secret, or allow unsigned bundles.',
      };
    return { signedBy: undefined };
  }
  let sig: unknown;
  try {
    sig = JSON.parse(signature.toString('utf8'));
  } catch {
    sig = undefined;
  }
  if (!isRecord(sig) || typeof sig['kid'] !== 'string' || typeof sig['hmac'] !== 'string')
    return { refusal: `The bundle's signature.json is malformed: ${REFETCH}.` };
  const { kid, hmac } = sig;
  const secret = opts.secrets.find((s) => s.id === kid);
  if (!secret)
    return {
      refusal: `The bundle is signed with key id ${JSON.stringify(kid)}, which is not among the accepted secrets: add that secret, or re-sign the bundle with one held here.`,
    };
  const want = mac(secret.secret, manifest);
  const got = HEX64.test(hmac) ? Buffer.from(hmac, 'hex') : Buffer.alloc(0);
  if (got.length !== want.length || !timingSafeEqual(got, want))
    return {
      refusal: `The bundle's signature (key id ${JSON.stringify(kid)}) does not verify: it was altered or signed with another secret; do not use it, ${REFETCH}.`,
    };
  return { signedBy: kid };
}

/** Why one listed entry must not be imported, or its record. */
function entryOf(
  l: BundleEntryListing,
  metaBytes: Buffer,
  image: Buffer,
  imageSha: string,
): TierRecord | string {
  if (sha256Hex(metaBytes) !== l.metaSha256) return "the metadata's SHA-256 differs from the manifest's";
  if (imageSha !== l.imageSha256)
    return "the image's SHA-256 differs from the manifest's (checksum mismatch)";
  let raw: unknown;
  try {
    raw = JSON.parse(metaBytes.toString('utf8'));
  } catch {
    return 'the metadata is not JSON';
  }
  // Before the schema: another format's metadata may well fail it, and this says why.
  if (
    isRecord(raw) &&
    typeof raw['formatVersion'] === 'number' &&
    raw['formatVersion'] !== CACHE_FORMAT_VERSION
  )
    return `made by another cuop cache format (format version ${raw['formatVersion']}; this cuop uses ${CACHE_FORMAT_VERSION})`;
  const parsed = parseEntryMetadata(raw);
  if (!parsed.success) return `the metadata's field ${parsed.field} is malformed`;
  const meta: EntryMetadata = parsed.data;
  if (meta.key !== l.key) return 'the metadata describes another entry';
  if (
    meta.target !== l.target ||
    meta.compiler.id !== l.compiler.id ||
    meta.compiler.version !== l.compiler.version ||
    meta.imageKind !== l.imageKind ||
    !sameList(meta.kernelNames, l.kernelNames) ||
    image.length !== l.imageBytes
  )
    return "the metadata disagrees with the manifest's listing";
  const record: TierRecord = { key: l.key, image, meta };
  return recordProblem(record, l.key, undefined, true) ?? record;
}

/** Unpacks and verifies a bundle in memory; see the header for what is refused whole and what per entry. */
export function decodeBundle(bytes: Buffer, opts: BundleReadOptions): BundleRead {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.length > maxBytes)
    return refuse(
      `The bundle is ${bytes.length} bytes, more than the ${maxBytes} allowed: raise the limit if it is genuine.`,
    );
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b)
    return refuse(
      'This is not a cuop bundle: it is not gzip-compressed (a .cuopbundle is a gzip’d tar written by cuop).',
    );
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes, { maxOutputLength: Math.min(maxBytes, bufferConstants.MAX_LENGTH) });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE')
      return refuse(
        `The bundle unpacks to more than the ${maxBytes} bytes allowed: raise the limit if it is genuine.`,
      );
    return refuse(`The bundle is truncated or corrupt (gunzip: ${(e as Error).message}): ${REFETCH}.`);
  }
  const untarred = untarMembers(tar);
  if ('bad' in untarred) return refuse(`The bundle is not a tar cuop can read: ${untarred.bad}; ${REFETCH}.`);

  const members = new Map<string, Buffer>();
  for (const m of untarred.members) {
    if (!MEMBER_NAME.test(m.name))
      return refuse(
        `The bundle holds ${JSON.stringify(m.name)}, which is no name a cuop bundle has: do not use it.`,
      );
    if (members.has(m.name))
      return refuse(`The bundle holds ${JSON.stringify(m.name)} twice: do not use it.`);
    members.set(m.name, m.data);
  }
  const manifestBytes = members.get(MANIFEST);
  if (!manifestBytes) return refuse(`The bundle has no ${MANIFEST}: it is not a cuop bundle, or ${REFETCH}.`);
  // The signature before anything of the manifest is believed.
  const sig = signatureRefusal(manifestBytes, members.get(SIGNATURE), opts);
  if ('refusal' in sig) return refuse(sig.refusal);

  let raw: unknown;
  try {
    raw = JSON.parse(manifestBytes.toString('utf8'));
  } catch {
    return refuse(`The bundle's ${MANIFEST} is not JSON: ${REFETCH}.`);
  }
  const manifest = manifestOf(raw);
  if (typeof manifest === 'string')
    return refuse(`The bundle's manifest is malformed (${manifest}): ${REFETCH}.`);

  const listed = new Set([MANIFEST, SIGNATURE]);
  for (const l of manifest.entries) listed.add(`meta/${l.key}.json`).add(`images/${l.imageSha256}.bin`);
  for (const name of members.keys())
    if (!listed.has(name))
      return refuse(
        `The bundle holds ${JSON.stringify(name)}, which its manifest does not list: do not use it.`,
      );
  for (const name of listed)
    if (name !== SIGNATURE && !members.has(name))
      return refuse(`The bundle lacks ${JSON.stringify(name)}, which its manifest lists: ${REFETCH}.`);

  // Each image hashed and copied out once (shared images; the unpacked tar is not kept alive by the records).
  const images = new Map<string, { sha: string; image: Buffer }>();
  const entries: ({ key: string; record: TierRecord } | { key: string; problem: string })[] = [];
  for (const l of manifest.entries) {
    const name = `images/${l.imageSha256}.bin`;
    let img = images.get(name);
    if (!img) {
      const data = members.get(name)!;
      img = { sha: sha256Hex(data), image: Buffer.from(data) };
      images.set(name, img);
    }
    const r = entryOf(l, members.get(`meta/${l.key}.json`)!, img.image, img.sha);
    entries.push(typeof r === 'string' ? { key: l.key, problem: r } : { key: l.key, record: r });
  }
  return { ok: true, manifest, signedBy: sig.signedBy, entries };
}

/**
 * Reads the bundle at `path` (a regular file of at most maxBytes; opened non-blocking, so a FIFO cannot hang
 * it) and decodes it. A file that cannot be opened or read throws the system error.
 */
export async function readBundle(path: string, opts: BundleReadOptions): Promise<BundleRead> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const fh = await fs.promises.open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  let bytes: Buffer;
  try {
    const st = await fh.stat();
    if (!st.isFile()) return refuse(`${path} is not a regular file, so it is no bundle.`);
    if (st.size > maxBytes)
      return refuse(
        `${path} is ${st.size} bytes, more than the ${maxBytes} allowed: raise the limit if it is genuine.`,
      );
    // One read loop into a buffer of the file's size: readFile stops at 2 GiB.
    const buf = Buffer.allocUnsafe(st.size);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    bytes = buf.subarray(0, n);
  } finally {
    await fh.close();
  }
  return decodeBundle(bytes, opts);
}
