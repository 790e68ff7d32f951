// Byte sizes as people write them ('5GB', '512MiB'): for CUOP_CACHE_MAX_SIZE, the cache policy and `cuop cache shrink`.

const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** '5GB' → 5e9, '512MiB' → 536870912, '1.5 g' → 1.5e9, '4096' → 4096. Throws on anything else. */
export function parseByteSize(text: string | number): number {
  let bytes: number;
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new Error(`not a byte size: ${text}`);
    bytes = Math.floor(text);
  } else {
    const m = typeof text === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text) : null;
    const unit = UNITS[(m?.[2] ?? '').toLowerCase() || 'b'];
    if (!m || unit === undefined) {
      throw new Error(`not a byte size: ${JSON.stringify(text)} (use e.g. 1073741824, 512MB, 5GB, 1GiB)`);
    }
    bytes = Math.floor(Number(m[1]) * unit);
  }
  if (!Number.isSafeInteger(bytes)) {
    throw new Error(
      `byte size ${JSON.stringify(text)} is too large (at most ${Number.MAX_SAFE_INTEGER} bytes, ~9 PB)`,
    );
  }
  return bytes;
}
