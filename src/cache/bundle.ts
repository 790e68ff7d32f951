// The bundle format: a warm cache as one file a team ships (a container image, a CI artifact). A gzip-compressed
// POSIX ustar archive, deterministic (mode 0644, mtime 0, owner 0), of regular files only:
//   cuop-bundle.json     the manifest: every entry's key, SHA-256 of its metadata and image, arch, compiler
//   signature.json       { kid, hmac }: HMAC-SHA256 over the manifest's bytes (only when signed)
//   meta/<key>.json      each entry's metadata
//   images/<sha256>.bin  each image, once per distinct content
// Reading is all in memory and strict, so nothing in an archive can name a place on disk. Refused whole: anything
// but a regular file, any other name (`..`, absolute, nested), a duplicate, a file the manifest does not list or one
// it lists that is missing, a malformed manifest, a bad header checksum, a signature that fails (or none where one
// is required), more than maxBytes unpacked. Refused per entry (the others still come in): bytes whose SHA-256
// differs from the listing, metadata that fails its schema or disagrees with the listing, another cache format,
// a record that fails recordProblem.
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';

import { CACHE_FORMAT_VERSION, isCacheKey } from './key.js';
import { parseEntryMetadata } from './metadata.js';
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
  entries: BundleEntryListing[];
  targets: string[];
  compilers: string[];
  driverVersions: string[];
}

export interface BundleWriteOptions {
  signer?: RemoteSecret;
  cuopVersion: string;
  now?: number;
}

export type BundleRead =
  | { ok: false; rejected: string }
  | {
      ok: true;
      manifest: BundleManifest;
      signedBy: string | undefined;
      entries: ({ key: string; record: TierRecord } | { key: string; problem: string })[];
    };

export interface BundleReadOptions {
  secrets: readonly RemoteSecret[];
  requireSignature: boolean;
  /** Bound on the file and on its unpacked size (default 4 GiB). */
  maxBytes?: number;
}

const MANIFEST = 'cuop-bundle.json';
const SIGNATURE = 'signature.json';
const SIGN_DOMAIN = 'cuop-bundle-v1';
const MEMBER = /^(?:cuop-bundle\.json|signature\.json|meta\/[0-9a-f]{64}\.json|images\/[0-9a-f]{64}\.bin)$/;
const DEFAULT_MAX = 4 * 2 ** 30;

// ------------------------------------------------------------------------------------------------ ustar

/** One member header: name, size, type '0' (a regular file) unless a test plants another. */
function header(name: string, size: number, type = '0', linkName = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write(linkName, 157, 100, 'utf8');
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** A tar of `members` in order (type '0' regular files unless told: tests plant links and directories). */
export function tarMembers(
  members: readonly { name: string; data: Buffer; type?: string; linkName?: string }[],
): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    parts.push(header(m.name, m.data.length, m.type ?? '0', m.linkName ?? ''));
    parts.push(m.data, Buffer.alloc((512 - (m.data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const field = (h: Buffer, at: number, len: number): string => {
  const end = h.indexOf(0, at);
  return h.toString('utf8', at, end >= 0 && end < at + len ? end : at + len);
};

/** The members of a tar; throws a sentence for anything but well-formed regular files at allowed names. */
function untar(tar: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let at = 0;
  for (;;) {
    if (at + 512 > tar.length) throw new Error('the archive is truncated (no end-of-archive blocks)');
    const h = tar.subarray(at, at + 512);
    if (h.every((b) => b === 0)) return out;
    const stored = parseInt(field(h, 148, 8).trim(), 8);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (stored !== sum) throw new Error(`a member header at byte ${at} has a bad checksum`);
    const name = (field(h, 345, 155) ? `${field(h, 345, 155)}/` : '') + field(h, 0, 100);
    const type = String.fromCharCode(h[156]!);
    if (type !== '0' && type !== '\0') {
      const what =
        {
          '1': 'a hard link',
          '2': 'a symbolic link',
          '5': 'a directory',
          x: 'an extended header',
          g: 'an extended header',
        }[type] ?? `a member of type ${JSON.stringify(type)}`;
      throw new Error(`${JSON.stringify(name)} is ${what}; a bundle holds regular files only`);
    }
    if (!MEMBER.test(name)) throw new Error(`${JSON.stringify(name)} is not a name a bundle holds`);
    if (out.has(name)) throw new Error(`${JSON.stringify(name)} appears twice`);
    const size = parseInt(field(h, 124, 12).trim(), 8);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`${JSON.stringify(name)} has a bad size`);
    const start = at + 512;
    if (start + size > tar.length) throw new Error(`${JSON.stringify(name)} is truncated`);
    out.set(name, tar.subarray(start, start + size));
    at = start + Math.ceil(size / 512) * 512;
  }
}

// ------------------------------------------------------------------------------------------------ write

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();
const mac = (secret: string, manifest: Buffer): string =>
  createHmac('sha256', secret).update(`${SIGN_DOMAIN}\n`).update(manifest).digest('hex');

export function encodeBundle(records: readonly TierRecord[], opts: BundleWriteOptions): Buffer {
  const byKey = new Map<string, TierRecord>();
  for (const r of records) if (!byKey.has(r.key)) byKey.set(r.key, r);
  const keys = [...byKey.keys()].sort();
  const metas = new Map<string, Buffer>();
  const images = new Map<string, Buffer>();
  const entries: BundleEntryListing[] = keys.map((key) => {
    const r = byKey.get(key)!;
    const meta = Buffer.from(JSON.stringify(r.meta), 'utf8');
    const imageSha256 = sha256Hex(r.image);
    metas.set(key, meta);
    images.set(imageSha256, r.image);
    return {
      key,
      metaSha256: sha256Hex(meta),
      imageSha256,
      imageBytes: r.image.length,
      target: r.meta.target,
      compiler: { id: r.meta.compiler.id, version: r.meta.compiler.version },
      imageKind: r.meta.imageKind,
      kernelNames: [...r.meta.kernelNames],
    };
  });
  const records_ = keys.map((k) => byKey.get(k)!);
  const manifest: BundleManifest = {
    format: 'cuop-bundle',
    version: 1,
    createdAt: opts.now ?? Date.now(),
    cuopVersion: opts.cuopVersion,
    cacheFormatVersion: CACHE_FORMAT_VERSION,
    entries,
    targets: sorted(records_.map((r) => r.meta.target)),
    compilers: sorted(records_.map((r) => `${r.meta.compiler.id} ${r.meta.compiler.version}`)),
    driverVersions: sorted(records_.flatMap((r) => (r.meta.driverVersion ? [r.meta.driverVersion] : []))),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 1), 'utf8');
  const members: { name: string; data: Buffer }[] = [{ name: MANIFEST, data: manifestBytes }];
  if (opts.signer) {
    const sig = { kid: opts.signer.id, hmac: mac(opts.signer.secret, manifestBytes) };
    members.push({ name: SIGNATURE, data: Buffer.from(JSON.stringify(sig), 'utf8') });
  }
  for (const k of keys) members.push({ name: `meta/${k}.json`, data: metas.get(k)! });
  for (const sha of [...images.keys()].sort())
    members.push({ name: `images/${sha}.bin`, data: images.get(sha)! });
  return gzipSync(tarMembers(members), { level: 9 });
}

export async function writeBundle(
  path: string,
  records: readonly TierRecord[],
  opts: BundleWriteOptions,
): Promise<{ bytes: number; entries: number; signed: boolean }> {
  const bytes = encodeBundle(records, opts);
  const tmp = `${path}.tmp-${process.pid}`;
  await fs.promises.writeFile(tmp, bytes, { mode: 0o644 });
  await fs.promises.rename(tmp, path);
  return { bytes: bytes.length, entries: new Set(records.map((r) => r.key)).size, signed: !!opts.signer };
}

// ------------------------------------------------------------------------------------------------ read

function manifestProblem(m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null) return 'it is not a JSON object';
  const o = m as Record<string, unknown>;
  if (o['format'] !== 'cuop-bundle') return 'it is not a cuop bundle manifest';
  if (o['version'] !== 1)
    return `it is of bundle version ${JSON.stringify(o['version'])} (this cuop reads 1)`;
  if (!Array.isArray(o['entries'])) return '"entries" is not a list';
  for (const e of o['entries'] as unknown[]) {
    const x = e as Record<string, unknown> | null;
    const ok =
      x !== null &&
      typeof x === 'object' &&
      typeof x['key'] === 'string' &&
      isCacheKey(x['key']) &&
      typeof x['metaSha256'] === 'string' &&
      /^[0-9a-f]{64}$/.test(x['metaSha256']) &&
      typeof x['imageSha256'] === 'string' &&
      /^[0-9a-f]{64}$/.test(x['imageSha256']) &&
      Number.isSafeInteger(x['imageBytes']) &&
      typeof x['target'] === 'string' &&
      typeof x['imageKind'] === 'string' &&
      typeof (x['compiler'] as Record<string, unknown> | undefined)?.['id'] === 'string' &&
      typeof (x['compiler'] as Record<string, unknown> | undefined)?.['version'] === 'string';
    if (!ok) return `an entry listing is malformed (${JSON.stringify(e).slice(0, 80)})`;
  }
  return undefined;
}

export function decodeBundle(bytes: Buffer, opts: BundleReadOptions): BundleRead {
  const max = opts.maxBytes ?? DEFAULT_MAX;
  const refuse = (why: string): BundleRead => ({ ok: false, rejected: why });
  let members: Map<string, Buffer>;
  try {
    let tar: Buffer;
    try {
      tar = gunzipSync(bytes, { maxOutputLength: max });
    } catch (e) {
      return refuse(
        `it is not a gzip-compressed bundle, or unpacks to more than ${max} bytes (${(e as Error).message})`,
      );
    }
    members = untar(tar);
  } catch (e) {
    return refuse((e as Error).message);
  }
  const manifestBytes = members.get(MANIFEST);
  if (!manifestBytes) return refuse(`it has no ${MANIFEST}`);
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(manifestBytes.toString('utf8')) as BundleManifest;
  } catch {
    return refuse(`its ${MANIFEST} is not JSON`);
  }
  const bad = manifestProblem(manifest);
  if (bad) return refuse(`its ${MANIFEST} is malformed: ${bad}`);

  let signedBy: string | undefined;
  const sigBytes = members.get(SIGNATURE);
  if (sigBytes) {
    let sig: { kid?: unknown; hmac?: unknown };
    try {
      sig = JSON.parse(sigBytes.toString('utf8')) as { kid?: unknown; hmac?: unknown };
    } catch {
      return refuse(`its ${SIGNATURE} is not JSON`);
    }
    const secret = opts.secrets.find((s) => s.id === sig.kid);
    if (!secret)
      return refuse(
        `it is signed with key id ${JSON.stringify(sig.kid)}, which this host does not hold (CUOP_REMOTE_SECRET)`,
      );
    const want = Buffer.from(mac(secret.secret, manifestBytes), 'hex');
    const got = Buffer.from(typeof sig.hmac === 'string' ? sig.hmac : '', 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want))
      return refuse(`its signature (key id ${secret.id}) does not match its contents`);
    signedBy = secret.id;
  } else if (opts.requireSignature) {
    return refuse(
      'it is not signed, and a secret is set (sign it on export, or import with --allow-unsigned)',
    );
  }

  const listed = new Set<string>([MANIFEST, ...(sigBytes ? [SIGNATURE] : [])]);
  for (const e of manifest.entries) listed.add(`meta/${e.key}.json`).add(`images/${e.imageSha256}.bin`);
  for (const name of members.keys())
    if (!listed.has(name))
      return refuse(`it holds ${JSON.stringify(name)}, which its manifest does not list`);
  for (const name of listed)
    if (!members.has(name)) return refuse(`${JSON.stringify(name)} is listed by its manifest but missing`);

  const entries = manifest.entries.map((e) => {
    const problem = (why: string) => ({ key: e.key, problem: why });
    const metaBytes = members.get(`meta/${e.key}.json`)!;
    const image = members.get(`images/${e.imageSha256}.bin`)!;
    if (sha256Hex(metaBytes) !== e.metaSha256)
      return problem('its metadata differs from the manifest (SHA-256)');
    if (sha256Hex(image) !== e.imageSha256) return problem('its image differs from the manifest (SHA-256)');
    let raw: unknown;
    try {
      raw = JSON.parse(metaBytes.toString('utf8'));
    } catch {
      return problem('its metadata is not JSON');
    }
    if ((raw as { formatVersion?: unknown } | null)?.formatVersion !== CACHE_FORMAT_VERSION)
      return problem(
        `made by another cuop cache format (${JSON.stringify((raw as { formatVersion?: unknown } | null)?.formatVersion)}, this cuop uses ${CACHE_FORMAT_VERSION})`,
      );
    const parsed = parseEntryMetadata(raw);
    if (!parsed.success) return problem(`its metadata is malformed (${parsed.field})`);
    const meta = parsed.data;
    if (meta.key !== e.key) return problem('its metadata describes another entry');
    if (
      meta.target !== e.target ||
      meta.imageKind !== e.imageKind ||
      meta.compiler.id !== e.compiler.id ||
      meta.compiler.version !== e.compiler.version ||
      image.length !== e.imageBytes
    )
      return problem('its metadata disagrees with the manifest (arch, compiler, image kind or size)');
    const record: TierRecord = { key: e.key, image, meta };
    const why = recordProblem(record, e.key, undefined, true);
    return why ? problem(why) : { key: e.key, record };
  });
  return { ok: true, manifest, signedBy, entries };
}

export async function readBundle(path: string, opts: BundleReadOptions): Promise<BundleRead> {
  const max = opts.maxBytes ?? DEFAULT_MAX;
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(path);
  } catch (e) {
    return {
      ok: false,
      rejected: `cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    };
  }
  if (!st.isFile()) return { ok: false, rejected: 'it is not a regular file' };
  if (st.size > max) return { ok: false, rejected: `it is ${st.size} bytes, more than the ${max} allowed` };
  return decodeBundle(await fs.promises.readFile(path), opts);
}
