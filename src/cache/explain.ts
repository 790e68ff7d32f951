// Why a lookup missed: the entries closest to a spec (same kernel names) and which of their key inputs differ.
// Each entry's metadata keeps every input's digest separately, so this is a comparison, not a recompile. Runs only
// on a miss (CUOP_DEBUG), in jit.explain() and in `cuop cache explain`: never on a hit.
import { isAbsolute, relative } from 'node:path';

import { fileAt, hashRegularFile } from './dependencies.js';
import { CODEGEN_EPOCH, type KeySpec } from './key.js';
import type { EntryMetadata } from './metadata.js';
import { sha256Hex } from './sha256.js';

/** The inputs a cache key covers, as `KeyDifference.input` names them. */
export type KeyInput =
  'source' | 'header' | 'file' | 'option' | 'names' | 'compiler' | 'arch' | 'imageKind' | 'epoch' | 'salt';

/** One input that differs between the spec and an entry. `text` is the sentence for people. */
export interface KeyDifference {
  readonly input: KeyInput;
  /** The header, file or option concerned. */
  readonly name?: string;
  /** The entry's value, and the spec's (absent for an added or a removed input). */
  readonly from?: string;
  readonly to?: string;
  readonly text: string;
}

/** A cached entry of the same kernel names as the spec, with what differs between its key and the spec's. */
export interface NearEntry {
  readonly key: string;
  readonly createdAt: number;
  readonly kernelNames: readonly string[];
  readonly differences: readonly KeyDifference[];
}

const sha256 = sha256Hex;

/** A path as a person would read it: relative to the working directory when it is inside it. */
function shown(path: string): string {
  const r = relative(process.cwd(), path);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : path;
}

/** The option's identity for pairing an old and a new value: a macro name, a flag before '=', else itself. */
function optionSlot(o: string): string {
  const define = /^(-D|--define-macro=?)\s*([A-Za-z_]\w*)/.exec(o);
  if (define) return `-D${define[2]}`;
  const eq = o.indexOf('=');
  if (eq > 0) return o.slice(0, eq);
  const glued = /^(-O|-arch|-code|-std|--std|-G|-lineinfo|-maxrregcount)/.exec(o);
  return glued ? (glued[1] as string) : o;
}

function optionDifferences(from: readonly string[], to: readonly string[]): KeyDifference[] {
  const out: KeyDifference[] = [];
  const removed = from.filter((o) => !to.includes(o));
  const added = to.filter((o) => !from.includes(o));
  for (const r of removed) {
    const i = added.findIndex((a) => optionSlot(a) === optionSlot(r));
    if (i >= 0) {
      const a = added.splice(i, 1)[0] as string;
      out.push({ input: 'option', name: optionSlot(r), from: r, to: a, text: `option ${r} → ${a}` });
    } else {
      out.push({ input: 'option', name: r, from: r, text: `option ${r} removed` });
    }
  }
  for (const a of added) out.push({ input: 'option', name: a, to: a, text: `option ${a} added` });
  if (out.length === 0 && from.join('\0') !== to.join('\0')) {
    out.push({ input: 'option', from: from.join(' '), to: to.join(' '), text: 'options reordered' });
  }
  return out;
}

/** What differs between `spec` (what is asked for now) and the entry `meta` (what was compiled). */
export function keyDifferences(spec: KeySpec, meta: EntryMetadata): KeyDifference[] {
  const out: KeyDifference[] = [];
  if (sha256(spec.source) !== meta.sourceSha256) out.push({ input: 'source', text: 'source changed' });
  const headers = spec.headers ?? {};
  for (const [name, digest] of Object.entries(meta.headers)) {
    const now = headers[name];
    if (now === undefined) out.push({ input: 'header', name, text: `header ${name} removed` });
    else if (sha256(now) !== digest) out.push({ input: 'header', name, text: `header ${name} changed` });
  }
  for (const name of Object.keys(headers)) {
    if (!(name in meta.headers)) out.push({ input: 'header', name, text: `header ${name} added` });
  }
  for (const f of meta.dependencies?.files ?? []) {
    const now = hashRegularFile(f.path);
    if (now === undefined) {
      out.push({ input: 'file', name: f.path, text: `header ${shown(f.path)} removed` });
    } else if (now !== f.sha256) {
      out.push({ input: 'file', name: f.path, text: `header ${shown(f.path)} changed` });
    }
  }
  for (const p of meta.dependencies?.absent ?? []) {
    if (fileAt(p)) out.push({ input: 'file', name: p, text: `header ${shown(p)} added` });
  }
  const cwd = meta.dependencies?.cwd;
  if (cwd !== undefined && cwd !== process.cwd()) {
    out.push({
      input: 'file',
      from: cwd,
      to: process.cwd(),
      text: `working directory ${cwd} → ${process.cwd()} (an in-memory header includes a file relative to it)`,
    });
  }
  out.push(...optionDifferences(meta.options, spec.options));
  const missing = spec.nameExpressions.filter((n) => !meta.kernelNames.includes(n));
  if (missing.length > 0) {
    out.push({
      input: 'names',
      from: meta.kernelNames.join(', '),
      to: spec.nameExpressions.join(', '),
      text: `kernel ${missing.join(', ')} not in the entry (it holds ${meta.kernelNames.join(', ')})`,
    });
  }
  const c0 = meta.compiler;
  const c1 = spec.compiler;
  if (c0.id !== c1.id || c0.version !== c1.version) {
    const name = (c: { id: string; version: string }) =>
      c0.id === c1.id ? c.version : `${c.id} ${c.version}`;
    out.push({
      input: 'compiler',
      from: `${c0.id} ${c0.version}`,
      to: `${c1.id} ${c1.version}`,
      text: `compiler ${name(c0)} → ${name(c1)}`,
    });
  }
  if (meta.target !== spec.target) {
    out.push({
      input: 'arch',
      from: meta.target,
      to: spec.target,
      text: `arch ${meta.target} → ${spec.target}`,
    });
  }
  if (meta.requestedImageKind !== spec.imageKind) {
    out.push({
      input: 'imageKind',
      from: meta.requestedImageKind,
      to: spec.imageKind,
      text: `image kind ${meta.requestedImageKind} → ${spec.imageKind}`,
    });
  }
  if (meta.epoch !== CODEGEN_EPOCH) {
    out.push({
      input: 'epoch',
      from: String(meta.epoch),
      to: String(CODEGEN_EPOCH),
      text: `cuop code-generation epoch ${meta.epoch} → ${CODEGEN_EPOCH}`,
    });
  }
  if (meta.saltSha256 !== (spec.salt ? sha256(spec.salt) : '')) {
    out.push({ input: 'salt', text: 'cache salt changed (policy salt / CUOP_CACHE_SALT)' });
  }
  return out;
}

/**
 * The entries nearest to `spec`, fewest differences first: those holding one of its kernel names, or when none
 * does, those compiled from the same source.
 */
export function nearestEntries(spec: KeySpec, entries: Iterable<EntryMetadata>, limit = 3): NearEntry[] {
  const names = new Set(spec.nameExpressions);
  const bySource = sha256(spec.source);
  const sameName: EntryMetadata[] = [];
  const sameSource: EntryMetadata[] = [];
  for (const m of entries) {
    if (m.kernelNames.some((n) => names.has(n))) sameName.push(m);
    else if (m.sourceSha256 === bySource) sameSource.push(m);
  }
  const pool = sameName.length > 0 ? sameName : sameSource;
  return pool
    .map((m) => ({
      key: m.key,
      createdAt: m.createdAt,
      kernelNames: m.kernelNames,
      differences: keyDifferences(spec, m),
    }))
    .sort((a, b) => a.differences.length - b.differences.length || b.createdAt - a.createdAt)
    .slice(0, limit);
}
