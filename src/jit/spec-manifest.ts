// Kernel specs as files: one spec (`cuop cache explain spec.json`) or a manifest of them (what CUOP_RECORD /
// jit.record() writes, and `cuop cache warm | check | export --manifest` read). A manifest is JSON Lines: a header
// line, then one spec per line, each self-contained (source and in-memory headers inline) with the arch and the
// compiler it was looked up for. Appends are one write each (O_APPEND), so several processes may record into one
// file; readers drop repeated specs.
//   {"cuopManifest":1}
//   {"source":"…","name":"k","options":["-O3"],"headers":{"t.cuh":"…"},"arch":"sm_90","compiler":"nvrtc"}
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, resolve } from 'node:path';

import { absolutizePathOptions, type CompilerPreference } from '../compiler/index.js';
import type { KernelSpec, ModuleSpec } from './types.js';

/** One spec with where it runs: what `jit.kernel()` / `jit.module()` was asked, for which arch and compiler. */
export interface SpecEntry {
  readonly spec: KernelSpec | ModuleSpec;
  readonly arch?: string;
  readonly compiler?: CompilerPreference;
}

const HEADER = '{"cuopManifest":1}';

/** The fields of a spec file or a manifest line; paths in it are relative to `base`. Throws saying what is wrong. */
export function parseSpecRecord(raw: unknown, base: string, where: string): SpecEntry {
  const fail = (what: string): never => {
    throw new Error(`${where}: ${what}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('expected a JSON object');
  const r = raw as Record<string, unknown>;
  let source: string;
  if (typeof r['source'] === 'string') source = r['source'];
  else if (typeof r['sourceFile'] === 'string')
    source = fs.readFileSync(resolve(base, r['sourceFile']), 'utf8');
  else source = fail('needs "source" (the CUDA text) or "sourceFile" (its path)');
  const headers: Record<string, string> = {};
  const inline = r['headers'];
  if (inline !== undefined) {
    if (typeof inline !== 'object' || inline === null || Array.isArray(inline))
      fail('"headers" must map names to text');
    for (const [name, text] of Object.entries(inline as Record<string, unknown>)) {
      if (typeof text !== 'string') fail(`headers.${name} must be the header's text`);
      headers[name] = text as string;
    }
  }
  const files = r['headerFiles'];
  if (files !== undefined) {
    if (typeof files !== 'object' || files === null) fail('"headerFiles" must map names to paths');
    for (const [name, p] of Object.entries(files as Record<string, unknown>)) {
      if (typeof p !== 'string') fail(`headerFiles.${name} must be a path`);
      headers[name] = fs.readFileSync(resolve(base, p as string), 'utf8');
    }
  }
  const optionList = r['options'] ?? [];
  if (!Array.isArray(optionList) || !optionList.every((o) => typeof o === 'string'))
    fail('"options" must be an array of strings');
  const options = absolutizePathOptions(optionList as string[], base);
  const programName = typeof r['programName'] === 'string' ? { programName: r['programName'] } : {};
  const common = {
    source,
    options,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    ...programName,
  };
  let spec: KernelSpec | ModuleSpec;
  if (typeof r['name'] === 'string') spec = { ...common, name: r['name'] };
  else if (Array.isArray(r['names']) && r['names'].every((n) => typeof n === 'string'))
    spec = { ...common, names: r['names'] as string[] };
  else spec = fail('needs "name" (one kernel) or "names" (a module)');
  const arch = r['arch'];
  if (arch !== undefined && (typeof arch !== 'string' || !/^sm_\d+[af]?$/.test(arch)))
    fail('"arch" must be like "sm_90"');
  const compiler = r['compiler'];
  if (compiler !== undefined && !['nvrtc', 'nvcc', 'auto'].includes(compiler as string))
    fail('"compiler" must be "nvrtc", "nvcc" or "auto"');
  return {
    spec,
    ...(typeof arch === 'string' ? { arch } : {}),
    ...(compiler !== undefined ? { compiler: compiler as CompilerPreference } : {}),
  };
}

/** One spec file (a JSON object). */
export function readSpecFile(path: string): SpecEntry {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the spec file ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseSpecRecord(raw, dirname(resolve(path)), `spec file ${path}`);
}

/** Every spec of a manifest, repeats dropped, in first-seen order. Throws naming the file and line of a bad one. */
export function readManifest(path: string): SpecEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the manifest ${path}: ${(e as Error).message}`, { cause: e });
  }
  const base = dirname(resolve(path));
  const seen = new Set<string>();
  const out: SpecEntry[] = [];
  const lines = text.split('\n');
  let sawHeader = false;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `manifest ${path} line ${i + 1}`;
    const raw = readJson(line, where);
    if (typeof raw === 'object' && raw !== null && 'cuopManifest' in raw) {
      if ((raw as { cuopManifest: unknown }).cuopManifest !== 1)
        throw new Error(`${where}: a manifest of another version (this cuop reads version 1)`);
      sawHeader = true;
      return;
    }
    if (!sawHeader) throw new Error(`${where}: not a cuop manifest (the first line must be ${HEADER})`);
    const entry = parseSpecRecord(raw, base, where);
    const id = entryDigest(entry);
    if (seen.has(id)) return;
    seen.add(id);
    out.push(entry);
  });
  if (!sawHeader) throw new Error(`manifest ${path} is empty (the first line must be ${HEADER})`);
  return out;
}

function readJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: not JSON (${(e as Error).message})`, { cause: e });
  }
}

/** The manifest line of an entry (no key order surprises: fields in one order). */
export function entryLine(e: SpecEntry): string {
  const s = e.spec;
  return JSON.stringify({
    source: s.source,
    ...('names' in s ? { names: [...s.names] } : { name: s.name }),
    options: [...(s.options ?? [])],
    ...(s.headers && Object.keys(s.headers).length > 0 ? { headers: sortedRecord(s.headers) } : {}),
    ...(s.programName ? { programName: s.programName } : {}),
    ...(e.arch ? { arch: e.arch } : {}),
    ...(e.compiler ? { compiler: e.compiler } : {}),
  });
}

function sortedRecord(r: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Identity of an entry for deduplication: its line, hashed. */
export function entryDigest(e: SpecEntry): string {
  return createHash('sha256').update(entryLine(e)).digest('hex');
}

/**
 * Appends entries to a manifest file, each once: the file's existing entries are read at the first append, so a
 * rerun adds nothing. Appends are synchronous (a spec is recorded once per spec object, not per lookup).
 */
export class SpecRecorder {
  private seen: Set<string> | undefined;
  private failed = false;

  constructor(
    readonly path: string,
    private readonly warn: (message: string) => void = () => {},
  ) {}

  /** True when the entry was new and written. Never throws: a recording fault is one warning. */
  record(entry: SpecEntry): boolean {
    if (this.failed) return false;
    try {
      this.seen ??= this.existing();
      const id = entryDigest(entry);
      if (this.seen.has(id)) return false;
      const fd = fs.openSync(
        this.path,
        fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT,
        0o644,
      );
      try {
        const empty = fs.fstatSync(fd).size === 0;
        fs.writeSync(fd, `${empty ? `${HEADER}\n` : ''}${entryLine(entry)}\n`);
      } finally {
        fs.closeSync(fd);
      }
      this.seen.add(id);
      return true;
    } catch (e) {
      this.failed = true;
      this.warn(`cannot record kernel specs into ${this.path} (${(e as Error).message}); recording stopped.`);
      return false;
    }
  }

  private existing(): Set<string> {
    if (!fs.existsSync(this.path)) return new Set();
    return new Set(readManifest(this.path).map(entryDigest));
  }
}
