// A compile's result as a cache record: its metadata, and under which key it is kept (its own key, or the
// dependent key covering the headers it read from disk), or why it must not be kept at all.
import type { CompileResult } from '../compiler/types.js';
import { dependencyRecords, type Dependencies } from './dependencies.js';
import { CACHE_FORMAT_VERSION, CODEGEN_EPOCH, dependentKey, memoizedFamilyKey, type KeySpec } from './key.js';
import { HOST } from './lock.js';
import type { EntryMetadata } from './metadata.js';
import { sha256Hex as sha } from './sha256.js';
import type { TierRecord } from './tier.js';

/** What the caller adds to an entry's metadata. */
export interface CompileExtras {
  kernelNames?: string[];
  driverVersion?: string;
}

export type CompileRecord =
  /** Cache it under rec.key; `dependencies`: it read files from disk (found through its family's manifest). */
  | { readonly rec: TierRecord; readonly dependencies?: Dependencies }
  /** Use it for this call only: `why` it cannot be cached, and what the user can do about it. */
  | { readonly transient: TierRecord; readonly why: string; readonly advice: string };

function copySignatures(
  sigs: Readonly<Record<string, readonly { kind: string; size: number; align: number; cType?: string }[]>>,
): EntryMetadata['signatures'] {
  const out: NonNullable<EntryMetadata['signatures']> = {};
  for (const [name, params] of Object.entries(sigs)) {
    out[name] = params.map((p) => ({
      kind: p.kind,
      size: p.size,
      align: p.align,
      ...(p.cType !== undefined ? { cType: p.cType } : {}),
    }));
  }
  return out;
}

export function buildMetadata(
  key: string,
  spec: KeySpec,
  r: CompileResult,
  opts: {
    extra?: CompileExtras | undefined;
    dependencies?: Dependencies | undefined;
    saveSource: boolean;
    now: number;
  },
): EntryMetadata {
  const headers: Record<string, string> = {};
  for (const [n, c] of Object.entries(spec.headers ?? {})) headers[n] = sha(c);
  const { extra, dependencies } = opts;
  return {
    formatVersion: CACHE_FORMAT_VERSION,
    key,
    familyKey: memoizedFamilyKey(spec),
    epoch: CODEGEN_EPOCH,
    saltSha256: spec.salt ? sha(spec.salt) : '',
    kernelNames: [...new Set([...spec.nameExpressions, ...(extra?.kernelNames ?? [])])],
    loweredNames: { ...r.loweredNames },
    sourceSha256: sha(spec.source),
    ...(opts.saveSource ? { source: spec.source } : {}),
    headers,
    options: [...spec.options],
    compiler: { id: spec.compiler.id, version: spec.compiler.version },
    target: spec.target,
    requestedImageKind: spec.imageKind,
    imageKind: r.imageKind,
    imageTarget: r.target,
    codec: 'none',
    rawBytes: r.image.length,
    storedBytes: r.image.length,
    checksum: { algorithm: 'sha256', value: sha(r.image) },
    createdAt: opts.now,
    compileMs: r.compileMs,
    driverVersion: extra?.driverVersion ?? null,
    host: HOST,
    log: r.log,
    ...(dependencies ? { dependencies } : {}),
    ...(r.signatures ? { signatures: copySignatures(r.signatures) } : {}),
  };
}

/**
 * The record of a compile of `spec` (key `key`) that started at `startedAt`: kept under the key, under the
 * dependent key when it read headers from disk, or transient when cuop cannot tell every file it read or one
 * changed while it compiled.
 */
export function compileRecord(
  key: string,
  spec: KeySpec,
  result: CompileResult,
  opts: { extra?: CompileExtras | undefined; saveSource: boolean; now: number; startedAt: number },
): CompileRecord {
  const deps = result.dependencies;
  if (deps && (deps.untracked.length > 0 || !deps.stable)) {
    const untracked = deps.untracked.length > 0;
    return {
      transient: { key, image: result.image, meta: buildMetadata(key, spec, result, opts) },
      why: untracked
        ? `cuop cannot tell every file it reads (${deps.untracked
            .slice(0, 3)
            .map((u) => `${u.file}:${u.line}: ${u.text}`)
            .join('; ')})`
        : 'a header it reads changed while it compiled',
      advice: untracked
        ? ' Include headers by name (not through a macro), pass them in `headers`, and spell options out ' +
          'instead of using an options file.'
        : '',
    };
  }
  const onDisk =
    deps && (deps.files.length > 0 || deps.absent.length > 0 || deps.workingDirectory !== undefined);
  if (!onDisk) return { rec: { key, image: result.image, meta: buildMetadata(key, spec, result, opts) } };
  const dependencies: Dependencies = {
    files: dependencyRecords(deps.files, opts.startedAt),
    absent: [...deps.absent],
    ...(deps.workingDirectory !== undefined ? { cwd: deps.workingDirectory } : {}),
  };
  const entryKey = dependentKey(key, deps.files, deps.absent, deps.workingDirectory);
  const meta = buildMetadata(entryKey, spec, result, { ...opts, dependencies });
  return { rec: { key: entryKey, image: result.image, meta }, dependencies };
}
