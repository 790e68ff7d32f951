// A user's kernel or module spec, checked once and copied: canonical names, options and headers copied, the working
// directory noted (relative include paths are resolved against it). The copy is what gets keyed and compiled, so a spec object mutated after its first use is seen
// (its fields are compared with the copy on every lookup, a few string compares) and never returns the old kernel.
import { sameHeaders, sameStrings } from '../cache/index.js';
import { canonicalKernelName, canonicalKernelNames } from '../compiler/index.js';
import type { ParamType } from '../cuda/index.js';
import type { KernelSpec, ModuleSpec } from './types.js';

export interface PreparedSpec {
  /** Canonical names: one for a kernel spec, sorted for a module. */
  readonly names: readonly string[];
  readonly source: string;
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** As given (copied); keyed and compiled with include paths made absolute against `cwd`. */
  readonly options: readonly string[];
  /** The working directory when the spec was prepared: relative include paths mean directories under it. */
  readonly cwd: string;
  readonly programName: string | undefined;
  /** The fields as given, for the comparison on later lookups. */
  readonly given: {
    readonly source: string;
    readonly name: string | undefined;
    readonly names: readonly string[] | undefined;
    readonly options: readonly string[] | undefined;
    readonly headerEntries: readonly (readonly [string, string])[];
    readonly signature: readonly ParamType[] | undefined;
    readonly programName: string | undefined;
  };
}

function field(cond: boolean, what: string, got: unknown): void {
  if (!cond) {
    const shown = typeof got === 'string' ? JSON.stringify(got.slice(0, 40)) : typeof got;
    throw new TypeError(`${what} (got ${Array.isArray(got) ? 'an array' : shown})`);
  }
}

function checkCommon(spec: Partial<KernelSpec & ModuleSpec>, what: string): void {
  field(typeof spec === 'object' && spec !== null, `${what} must be an object`, spec);
  field(
    typeof spec.source === 'string',
    `${what}.source must be the CUDA source text, a string`,
    spec.source,
  );
  const o = spec.options;
  field(
    o === undefined || (Array.isArray(o) && o.every((x) => typeof x === 'string')),
    `${what}.options must be an array of strings, one flag each (e.g. ['-O3', '-DBM=64']), not one string`,
    o,
  );
  const h = spec.headers;
  field(
    h === undefined ||
      (typeof h === 'object' &&
        h !== null &&
        !Array.isArray(h) &&
        Object.values(h).every((c) => typeof c === 'string')),
    `${what}.headers must map include names to header text ({ 'tile.cuh': '...' })`,
    h,
  );
  field(
    spec.programName === undefined || typeof spec.programName === 'string',
    `${what}.programName must be a string`,
    spec.programName,
  );
}

function prepare(
  spec: Partial<KernelSpec & ModuleSpec>,
  names: readonly string[],
  signature: readonly ParamType[] | undefined,
): PreparedSpec {
  const headerEntries = Object.entries(spec.headers ?? {}).map(([n, c]) => [n, c] as const);
  return {
    names,
    source: spec.source as string,
    headers: spec.headers ? Object.fromEntries(headerEntries) : undefined,
    options: [...(spec.options ?? [])],
    cwd: process.cwd(),
    programName: spec.programName,
    given: {
      source: spec.source as string,
      name: spec.name,
      names: spec.names ? [...spec.names] : undefined,
      options: spec.options ? [...spec.options] : undefined,
      headerEntries,
      signature: signature ? [...signature] : undefined,
      programName: spec.programName,
    },
  };
}

/** Checks a kernel spec's fields (TypeError naming the field) and copies it. */
export function prepareKernelSpec(spec: KernelSpec): PreparedSpec {
  checkCommon(spec, 'kernel spec');
  const sig = spec.signature;
  field(
    sig === undefined || (Array.isArray(sig) && sig.every((t) => typeof t === 'string')),
    'kernel spec.signature must be an array of parameter types',
    sig,
  );
  return prepare(spec, [canonicalKernelName(spec.name, 'kernel spec.name')], sig);
}

/**
 * Checks a module spec's fields and copies it. A program of a link may name no kernel (it defines device
 * functions only): `anyNames` allows that.
 */
export function prepareModuleSpec(spec: ModuleSpec, anyNames = false): PreparedSpec {
  checkCommon(spec, 'module spec');
  const names =
    anyNames && Array.isArray(spec.names) && spec.names.length === 0
      ? []
      : canonicalKernelNames(spec.names, 'module spec.names');
  return prepare(spec, names, undefined);
}

/** True when the spec object still holds what it held when it was prepared. */
export function stillAsPrepared(spec: Partial<KernelSpec & ModuleSpec>, p: PreparedSpec): boolean {
  const g = p.given;
  return (
    spec.source === g.source &&
    spec.name === g.name &&
    sameStrings(spec.options, g.options) &&
    sameHeaders(spec.headers, g.headerEntries) &&
    sameStrings(spec.signature, g.signature) &&
    spec.programName === g.programName &&
    (g.names === undefined || sameStrings(spec.names, g.names))
  );
}
