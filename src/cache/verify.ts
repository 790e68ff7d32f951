// The one check a record passes before it is used, whichever tier it came from: the lookup applies it to every
// record from below memory, integrity checks apply it to every entry. A tier decodes; this decides.
import { CACHE_FORMAT_VERSION } from './key.js';
import { sha256Hex } from './sha256.js';
import type { ExpectedIdentity, TierRecord } from './tier.js';

/** Why `rec` must not be used as the entry `key`, or undefined when it is sound. `checksum`: SHA-256 the image. */
export function recordProblem(
  rec: TierRecord,
  key: string,
  expect: ExpectedIdentity | undefined,
  checksum: boolean,
): string | undefined {
  const { meta } = rec;
  if (rec.key !== key || meta.key !== key) return 'metadata describes another entry';
  if (meta.formatVersion !== CACHE_FORMAT_VERSION) return `format version ${meta.formatVersion}`;
  if (
    expect &&
    (meta.target !== expect.target ||
      meta.requestedImageKind !== expect.imageKind ||
      meta.compiler.id !== expect.compiler.id ||
      meta.compiler.version !== expect.compiler.version)
  ) {
    return 'metadata describes another entry';
  }
  if (rec.image.length !== meta.rawBytes) {
    return `image is ${rec.image.length} bytes, expected ${meta.rawBytes}`;
  }
  if (checksum && meta.checksum.algorithm === 'sha256') {
    if (sha256Hex(rec.image) !== meta.checksum.value) return 'checksum mismatch';
  }
  return undefined;
}
