// One remote entry as one value (one GET per lookup): a header, the metadata and the image, signed. The signature
// is an HMAC-SHA256 over the key, the metadata bytes and the image, made with the writer's secret and named by its
// key id, so that secrets can be rotated: readers accept every id they hold a secret for. An entry whose signature
// does not verify is never decoded further: a shared cache must not become a way to run someone else's code.
import { createHmac, timingSafeEqual } from 'node:crypto';

import { parseEntryMetadata, type EntryMetadata } from './metadata.js';
import type { TierRecord } from './tier.js';

const MAGIC = Buffer.from('CUOPR1\n');
const SIGN_DOMAIN = 'cuop-remote-entry-v1';

/** A signing secret and its id (the id travels with the entry; the secret never does). */
export interface RemoteSecret {
  readonly id: string;
  readonly secret: string;
}

interface Header {
  /** Key id of the signature; '' for an unsigned entry. */
  readonly kid: string;
  /** HMAC-SHA256, hex; '' for an unsigned entry. */
  readonly sig: string;
  readonly metaBytes: number;
  readonly imageBytes: number;
}

function mac(secret: string, key: string, meta: Buffer, image: Buffer): Buffer {
  return createHmac('sha256', secret)
    .update(`${SIGN_DOMAIN}\n${key}\n${meta.length}\n${image.length}\n`)
    .update(meta)
    .update(image)
    .digest();
}

/** The value stored for `rec`: signed with `signer`, or unsigned when there is none (only if allowed). */
export function encodeRemote(rec: TierRecord, signer: RemoteSecret | undefined): Buffer {
  const meta = Buffer.from(JSON.stringify(rec.meta), 'utf8');
  const header: Header = {
    kid: signer?.id ?? '',
    sig: signer ? mac(signer.secret, rec.key, meta, rec.image).toString('hex') : '',
    metaBytes: meta.length,
    imageBytes: rec.image.length,
  };
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(h.length);
  return Buffer.concat([MAGIC, len, h, meta, rec.image]);
}

export type RemoteDecode =
  | { readonly record: TierRecord }
  /** Not an entry cuop wrote, or torn: a miss. */
  | { readonly malformed: string }
  /** A signature that fails, an unknown key id, or an unsigned entry where signatures are required. */
  | { readonly rejected: string };

/**
 * Decodes the value stored under `key`. `accepted`: the secrets whose ids are trusted; `allowUnsigned`: whether an
 * entry without a signature may be used (off unless the user said so).
 */
export function decodeRemote(
  key: string,
  value: Buffer,
  accepted: readonly RemoteSecret[],
  allowUnsigned: boolean,
): RemoteDecode {
  if (value.length < MAGIC.length + 4 || !value.subarray(0, MAGIC.length).equals(MAGIC))
    return { malformed: 'not a cuop entry' };
  const hLen = value.readUInt32BE(MAGIC.length);
  const hStart = MAGIC.length + 4;
  if (hStart + hLen > value.length) return { malformed: 'truncated header' };
  let header: Header;
  try {
    header = JSON.parse(value.subarray(hStart, hStart + hLen).toString('utf8')) as Header;
  } catch {
    return { malformed: 'header is not JSON' };
  }
  const { kid, sig, metaBytes, imageBytes } = header;
  if (
    typeof kid !== 'string' ||
    typeof sig !== 'string' ||
    !Number.isSafeInteger(metaBytes) ||
    !Number.isSafeInteger(imageBytes) ||
    metaBytes < 0 ||
    imageBytes < 0 ||
    hStart + hLen + metaBytes + imageBytes !== value.length
  ) {
    return { malformed: 'header does not describe the value' };
  }
  const meta = value.subarray(hStart + hLen, hStart + hLen + metaBytes);
  const image = value.subarray(hStart + hLen + metaBytes);
  if (kid === '' && sig === '') {
    if (!allowUnsigned) return { rejected: 'unsigned entry (signatures are required)' };
  } else {
    const secret = accepted.find((s) => s.id === kid);
    if (!secret) return { rejected: `signed with key id ${JSON.stringify(kid)}, which is not accepted here` };
    const want = mac(secret.secret, key, meta, image);
    const got = /^[0-9a-f]{64}$/.test(sig) ? Buffer.from(sig, 'hex') : Buffer.alloc(0);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return { rejected: 'signature mismatch' };
  }
  let parsed: ReturnType<typeof parseEntryMetadata>;
  try {
    parsed = parseEntryMetadata(JSON.parse(meta.toString('utf8')));
  } catch {
    return { malformed: 'metadata is not JSON' };
  }
  if (!parsed.success) return { malformed: 'metadata schema' };
  const m: EntryMetadata = parsed.data;
  // Copied out of the value: the image outlives the reply buffer's other parts.
  return { record: { key, image: Buffer.from(image), meta: m } };
}
