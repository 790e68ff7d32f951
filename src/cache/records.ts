// Small non-kernel records in the kernel cache (tuning results, for one). A record is an ordinary cache entry whose
// key spec names the record compiler `cuop-record` and the record's kind, and whose "source" is the record's
// canonical description: so a record flows through the same tiers (memory, disk, Redis), verification (size,
// SHA-256, signature) and bundles as a kernel, and a record can never be mistaken for a kernel (the compiler id is in
// the key) nor a kernel for a record. The payload is small text (JSON); it is stored as a text image (kind `ptx`,
// target the arch it is about) — no driver ever loads it, because nothing asks the JIT for a record's key.
//
// Entries are immutable by key, like kernels: a record's description must cover everything its payload depends on,
// so that one key always means one payload. KernelCache.putRecord's `replace` is for a payload that the layer above
// rejected (a stale or tampered record), never for an update.
import type { KeySpec } from './key.js';

/** The compiler id of every record's key spec: the namespace that keeps records apart from kernels. */
export const RECORD_COMPILER_ID = 'cuop-record';

/** What a record is keyed by: its kind (e.g. `gemm-tuning-winner`), its schema version and its fields. */
export interface RecordDescription {
  /** The record's kind: a name of [a-z0-9-]. */
  readonly kind: string;
  /** The payload's schema version: part of the key, so a new schema never reads an old payload. */
  readonly schema: number;
  /** The arch the record is about (`sm_90`): the key's target, so bundle imports filter records by arch as kernels. */
  readonly target: string;
  /** Everything else the payload depends on; order does not matter (sorted by name). */
  readonly fields: Readonly<Record<string, string | number | boolean>>;
}

const KIND = /^[a-z0-9][a-z0-9-]*$/;
const FIELD = /^[A-Za-z0-9_.]+$/;

/** The canonical text of a description: one `name=value` line per field, sorted by name, after the kind line. */
export function recordText(d: RecordDescription): string {
  if (!KIND.test(d.kind)) throw new TypeError(`record kind ${JSON.stringify(d.kind)} is not [a-z0-9-]`);
  if (!Number.isSafeInteger(d.schema) || d.schema < 0)
    throw new TypeError('record schema must be an integer ≥ 0');
  const names = Object.keys(d.fields).sort();
  const lines = [`cuop record ${d.kind} schema=${d.schema}`];
  for (const n of names) {
    if (!FIELD.test(n)) throw new TypeError(`record field name ${JSON.stringify(n)} is not [A-Za-z0-9_.]`);
    const v = d.fields[n];
    // JSON-encoded values: a value holding a newline or '=' cannot forge another field.
    lines.push(`${n}=${JSON.stringify(v)}`);
  }
  return lines.join('\n') + '\n';
}

/** The key spec of a record: KernelCache.getRecord/putRecord take it (and cacheKey gives its key). */
export function recordKeySpec(d: RecordDescription): KeySpec {
  return {
    source: recordText(d),
    nameExpressions: [d.kind],
    options: [],
    compiler: { id: RECORD_COMPILER_ID, version: String(d.schema) },
    target: d.target,
    imageKind: 'ptx',
  };
}

/** True for the key spec (or an entry's compiler) of a record. */
export function isRecordSpec(spec: Pick<KeySpec, 'compiler'>): boolean {
  return spec.compiler.id === RECORD_COMPILER_ID;
}
