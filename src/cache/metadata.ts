// The commit record of one disk entry (metadata/<aa>/<key>.json), validated on every read.
//
// Validated by hand rather than with zod: this runs on the first disk hit of every fresh process, where zod's first
// parse of the schema measured 2–3.6 ms (and 26 µs per parse after), against a whole-lookup target of 0.5 ms.
import { CODECS, type Codec } from './codec.js';
import { isDependencies, type Dependencies } from './dependencies.js';

/** One kernel parameter as the compiled code declares it (see compiler/kernel-signature.ts). */
export interface ParamRecord {
  readonly kind: string;
  readonly size: number;
  readonly align: number;
  readonly cType?: string;
}

/**
 * The metadata file of a cache entry: what was compiled, by which compiler, for which arch, and the image's
 * checksum.
 */
export interface EntryMetadata {
  formatVersion: number;
  key: string;
  /** The key of the entry's family (every input but the names): where its manifest lives. */
  familyKey: string;
  /** cuop's code-generation epoch when it was compiled (in the key). */
  epoch: number;
  /** SHA-256 of the user salt, '' when none (the salt itself may be a secret). */
  saltSha256: string;
  /** Kernel names the caller asked for (name expressions and any extra kernel names). */
  kernelNames: string[];
  /** Name expression → lowered (mangled) name. */
  loweredNames: Record<string, string>;
  sourceSha256: string;
  /** Only when the policy's saveSource is on. */
  source?: string;
  /** Header name → SHA-256 of its content. */
  headers: Record<string, string>;
  options: string[];
  compiler: { id: string; version: string };
  /** The requested target (`sm_90`), as in the key. */
  target: string;
  /** The requested image kind, as in the key. */
  requestedImageKind: 'cubin' | 'ptx' | 'ltoir';
  /** What the image is: PTX when the compiler did not know the arch (then imageTarget is `compute_XX`). */
  imageKind: 'cubin' | 'ptx' | 'ltoir';
  imageTarget: string;
  codec: Codec;
  rawBytes: number;
  storedBytes: number;
  checksum: { algorithm: 'sha256'; value: string };
  createdAt: number;
  compileMs: number;
  driverVersion: string | null;
  host: string;
  log: string;
  /** Files on disk the compile read (and paths that had to stay absent); absent when it read none. */
  dependencies?: Dependencies;
  /** Lowered kernel name → its parameters as the compiled code declares them. */
  signatures?: Record<string, ParamRecord[]>;
}

const HEX64 = /^[0-9a-f]{64}$/;
const IMAGE_KINDS: readonly string[] = ['cubin', 'ptx', 'ltoir'];

type Check = (v: unknown) => boolean;
const str: Check = (v) => typeof v === 'string';
const hex64: Check = (v) => typeof v === 'string' && HEX64.test(v);
const count: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const nonneg: Check = (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const oneOf =
  (values: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v);
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const recordOf =
  (value: Check): Check =>
  (v) =>
    isRecord(v) && Object.values(v).every(value);
const arrayOf =
  (item: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(item);

const isParam: Check = (v) =>
  isRecord(v) &&
  str(v['kind']) &&
  count(v['size']) &&
  count(v['align']) &&
  (v['cType'] === undefined || str(v['cType']));

const FIELDS: Readonly<Record<keyof EntryMetadata, Check>> = {
  formatVersion: (v) => typeof v === 'number' && Number.isInteger(v) && v > 0,
  key: hex64,
  familyKey: hex64,
  epoch: count,
  saltSha256: (v) => v === '' || hex64(v),
  kernelNames: arrayOf(str),
  loweredNames: recordOf(str),
  sourceSha256: hex64,
  source: (v) => v === undefined || typeof v === 'string',
  headers: recordOf(hex64),
  options: arrayOf(str),
  compiler: (v) => isRecord(v) && str(v['id']) && str(v['version']),
  target: str,
  requestedImageKind: oneOf(IMAGE_KINDS),
  imageKind: oneOf(IMAGE_KINDS),
  imageTarget: str,
  codec: oneOf(CODECS),
  rawBytes: count,
  storedBytes: count,
  checksum: (v) => isRecord(v) && v['algorithm'] === 'sha256' && hex64(v['value']),
  createdAt: nonneg,
  compileMs: nonneg,
  driverVersion: (v) => v === null || typeof v === 'string',
  host: str,
  log: str,
  dependencies: (v) => v === undefined || isDependencies(v),
  signatures: (v) => v === undefined || recordOf(arrayOf(isParam))(v),
};
const FIELD_NAMES = Object.keys(FIELDS) as (keyof EntryMetadata)[];

export type MetadataParse = { success: true; data: EntryMetadata } | { success: false; field: string };

/** Check parsed JSON against the metadata's shape; on failure, the first bad field. */
export function parseEntryMetadata(raw: unknown): MetadataParse {
  if (!isRecord(raw)) return { success: false, field: '(not an object)' };
  for (const f of FIELD_NAMES) {
    if (!(FIELDS[f] as Check)(raw[f])) return { success: false, field: f };
  }
  return { success: true, data: raw as unknown as EntryMetadata };
}
