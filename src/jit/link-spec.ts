// A link spec checked and copied once: its programs as module specs compiled relocatable (-rdc=true, or LTO IR
// under lto), its prebuilt objects as bytes (hashed into the key) or files (tracked like headers read from disk:
// stat first, hash what changed), and the key text that names every input of the link.
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

import { sameStrings, sha256Hex, type KeySpec } from '../cache/index.js';
import {
  canonicalKernelNames,
  detectLinkInputKind,
  isRelocatable,
  LINK_INPUT_KINDS,
  type CompileDependencies,
  type FileDependency,
  type LinkInputKind,
  type LinkerInfo,
} from '../compiler/index.js';
import { ImageFileError } from '../runtime/index.js';
import type { LinkObject, LinkProgram, LinkSpec, ModuleSpec } from './types.js';

/** Version of the link key's text: bump when what it lists changes. */
const LINK_KEY_VERSION = 1;

export interface PreparedObject {
  readonly kind: LinkInputKind | undefined; // undefined: detected from the content
  /** The kind as the spec gave it. */
  readonly givenKind: LinkInputKind | undefined;
  readonly name: string;
  /** Bytes given in the spec (copied) and their SHA-256; a file is read at link time. */
  readonly bytes?: Buffer;
  readonly sha256?: string;
  readonly path?: string;
}

export interface PreparedLink {
  /** One module spec per program, compiled relocatable; kept so the JIT's per-spec memo holds their keys. */
  readonly programs: readonly ModuleSpec[];
  readonly objects: readonly PreparedObject[];
  /** Canonical names the module hands out (every program's names). */
  readonly names: readonly string[];
  readonly lto: boolean;
  readonly deviceRuntime: boolean | 'auto';
  readonly options: readonly string[];
  readonly given: LinkSpec;
  readonly givenPrograms: readonly (LinkProgram & { readonly headersCopy: string })[];
  readonly givenObjects: readonly LinkObject[];
}

const fail = (what: string): never => {
  throw new TypeError(`link spec: ${what}`);
};

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function prepareObject(o: LinkObject, i: number): PreparedObject {
  if (typeof o !== 'object' || o === null) fail(`objects[${i}] must be { path } or { bytes }`);
  const kind = o.kind;
  if (kind !== undefined && !LINK_INPUT_KINDS.includes(kind))
    fail(`objects[${i}].kind must be one of ${LINK_INPUT_KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  if ('path' in o && typeof o.path === 'string') {
    const path = resolve(o.path);
    return { kind, givenKind: kind, name: o.path, path };
  }
  if ('bytes' in o && o.bytes instanceof Uint8Array) {
    if (o.bytes.byteLength === 0) fail(`objects[${i}].bytes is empty`);
    const bytes = Buffer.from(o.bytes); // a copy: the caller may reuse its buffer
    const detected = kind ?? detectLinkInputKind(bytes);
    if (!detected)
      fail(
        `objects[${i}]: cannot tell what these ${bytes.length} bytes are (not a cubin, object, library, fatbin, ` +
          `LTO IR or PTX); pass kind`,
      );
    return {
      kind: detected,
      givenKind: kind,
      name: o.name ?? `object${i}.${detected}`,
      bytes,
      sha256: sha256Hex(bytes),
    };
  }
  return fail(`objects[${i}] must have a path (string) or bytes (Uint8Array)`);
}

/** Checks a link spec's fields (TypeError naming the field) and copies it. */
export function prepareLinkSpec(spec: LinkSpec): PreparedLink {
  if (typeof spec !== 'object' || spec === null) fail('must be an object');
  const programs = spec.programs ?? [];
  const objects = spec.objects ?? [];
  if (!Array.isArray(programs)) fail('programs must be an array of { source, names?, options?, headers? }');
  if (!Array.isArray(objects)) fail('objects must be an array of { path } or { bytes }');
  if (programs.length + objects.length === 0) fail('nothing to link: give programs, objects or both');
  if (spec.linkOptions !== undefined && !isStrings(spec.linkOptions))
    fail('linkOptions must be an array of strings, one flag each');
  const lto = spec.lto ?? false;
  const modules = programs.map((p, i): ModuleSpec => {
    if (typeof p !== 'object' || p === null || typeof p.source !== 'string')
      fail(`programs[${i}].source must be the CUDA source text, a string`);
    if (p.options !== undefined && !isStrings(p.options)) fail(`programs[${i}].options must be strings`);
    const options = [...(p.options ?? [])];
    // Separate compilation: relocatable device code (LTO IR is relocatable by nature).
    if (!lto && !isRelocatable(options)) options.push('-rdc=true');
    return {
      source: p.source,
      names: p.names?.length ? canonicalKernelNames(p.names, `link spec programs[${i}].names`) : [],
      options,
      ...(p.headers ? { headers: { ...p.headers } } : {}),
      programName: p.programName ?? `program${i}.cu`,
    };
  });
  const names = [...new Set(modules.flatMap((m) => m.names))].sort();
  return {
    programs: modules,
    objects: objects.map(prepareObject),
    names,
    lto,
    deviceRuntime: spec.deviceRuntime ?? 'auto',
    options: [...(spec.linkOptions ?? [])],
    given: spec,
    givenPrograms: programs.map((p) => ({ ...p, headersCopy: JSON.stringify(p.headers ?? {}) })),
    givenObjects: [...objects],
  };
}

/** True when the spec object still holds what it held when prepared (bytes compared whole: a memcmp). */
export function linkStillAsPrepared(spec: LinkSpec, p: PreparedLink): boolean {
  const programs = spec.programs ?? [];
  const objects = spec.objects ?? [];
  if (
    (spec.lto ?? false) !== p.lto ||
    (spec.deviceRuntime ?? 'auto') !== p.deviceRuntime ||
    !sameStrings(spec.linkOptions ?? [], p.options) ||
    programs.length !== p.givenPrograms.length ||
    objects.length !== p.givenObjects.length
  )
    return false;
  for (let i = 0; i < programs.length; i++) {
    const a = programs[i] as LinkProgram;
    const b = p.givenPrograms[i] as LinkProgram & { headersCopy: string };
    if (
      a.source !== b.source ||
      a.programName !== b.programName ||
      !sameStrings(a.names ?? [], b.names ?? []) ||
      !sameStrings(a.options ?? [], b.options ?? []) ||
      JSON.stringify(a.headers ?? {}) !== b.headersCopy
    )
      return false;
  }
  for (let i = 0; i < objects.length; i++) {
    const a = objects[i] as LinkObject;
    const b = p.objects[i] as PreparedObject;
    if (a !== p.givenObjects[i] || a.kind !== b.givenKind) return false;
    if ('path' in a ? resolve(a.path) !== b.path : !b.bytes?.equals(a.bytes)) return false;
  }
  return true;
}

/**
 * The key spec of the link: the key text lists every input (each program by its own cache key, which covers its
 * source, headers, options, compiler and arch; each object by its bytes' SHA-256 or its path, whose content the
 * entry's dependencies cover), the device runtime, LTO and the linker's options; the linker is the "compiler".
 */
export function linkKeySpec(
  p: PreparedLink,
  programKeys: readonly string[],
  linker: LinkerInfo,
  arch: string,
  salt: string,
): KeySpec {
  const lines = [
    `cuop-link ${LINK_KEY_VERSION}`,
    `lto ${p.lto}`,
    // 'auto' links it only when needed: a different rule, so a different key from `true`'s (kept as it was).
    `device-runtime ${p.deviceRuntime === false ? 'off' : `${p.deviceRuntime === 'auto' ? 'auto ' : ''}${linker.deviceRuntime ?? 'none'}`}`,
    ...programKeys.map((k) => `program ${k}`),
    ...p.objects.map((o) =>
      o.bytes ? `bytes ${o.kind} ${o.sha256}` : `file ${o.kind ?? 'auto'} ${JSON.stringify(o.path)}`,
    ),
  ];
  return {
    source: `${lines.join('\n')}\n`,
    headers: {},
    nameExpressions: p.names,
    options: [...p.options],
    compiler: { id: linker.id, version: linker.version },
    target: arch,
    imageKind: 'cubin',
    salt,
    fileName: '',
  };
}

/** A file object's bytes, kind and dependency record; ImageFileError when it is missing, empty or unreadable. */
export function readObjectFile(o: PreparedObject): {
  data: Buffer;
  kind: LinkInputKind;
  dependency: FileDependency;
  stable: boolean;
} {
  const path = o.path as string;
  let data: Buffer;
  let before;
  try {
    before = statSync(path);
    data = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageFileError(
      path,
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied (the file must be readable by this user)'
          : String(code ?? err),
    );
  }
  if (data.length === 0) throw new ImageFileError(path, 'the file is empty');
  const kind = o.kind ?? detectLinkInputKind(data);
  if (!kind)
    throw new ImageFileError(
      path,
      'not a cubin, host object, static library, fatbin, LTO IR or PTX; pass kind if it is one of them',
    );
  const after = statSync(path);
  const stable = before.size === after.size && before.mtimeMs === after.mtimeMs && after.size === data.length;
  return {
    data,
    kind,
    stable,
    dependency: {
      path,
      sha256: sha256Hex(data),
      size: after.size,
      mtimeMs: after.mtimeMs,
      ctimeMs: after.ctimeMs,
      ino: after.ino,
    },
  };
}

/** The dependencies of several compiles (and the link's own files) as one set. */
export function mergeDependencies(parts: readonly (CompileDependencies | undefined)[]): CompileDependencies {
  const files = new Map<string, FileDependency>();
  const absent = new Set<string>();
  let stable = true;
  let workingDirectory: string | undefined;
  const untracked: CompileDependencies['untracked'][number][] = [];
  for (const d of parts) {
    if (!d) continue;
    for (const f of d.files) files.set(f.path, f);
    for (const a of d.absent) absent.add(a);
    untracked.push(...d.untracked);
    stable &&= d.stable;
    workingDirectory ??= d.workingDirectory;
  }
  return {
    files: [...files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    absent: [...absent].sort(),
    untracked,
    stable,
    ...(workingDirectory !== undefined ? { workingDirectory } : {}),
  };
}
