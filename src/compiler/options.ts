// The compiler options that name files or directories, read the way each backend reads them. Relative paths are
// made absolute against the working directory before anything is keyed: `-Iinclude` means another directory in
// another working directory, and the key (and every other process sharing the cache) must see which.
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/** How one backend spells its options: nvcc splits list options at commas, NVRTC does not. */
export interface OptionDialect {
  readonly listSeparator?: ',';
}
/** NVRTC's spelling: list options are never split. */
export const NVRTC_DIALECT: OptionDialect = {};
/** nvcc's spelling: list options split at commas. */
export const NVCC_DIALECT: OptionDialect = { listSeparator: ',' };

type PathKind = 'dir' | 'file';
// Each spelling of an option whose value is a path: the flag, whether the value may follow `=`, be glued on, or
// come as the next argument.
const PATH_FLAGS: readonly { flag: string; kind: PathKind; role: 'include' | 'system' | 'pre' }[] = [
  { flag: '-I', kind: 'dir', role: 'include' },
  { flag: '--include-path', kind: 'dir', role: 'include' },
  { flag: '-isystem', kind: 'dir', role: 'system' },
  { flag: '--system-include', kind: 'dir', role: 'system' },
  { flag: '-include', kind: 'file', role: 'pre' },
  { flag: '--pre-include', kind: 'file', role: 'pre' },
];
const DEFINE_FLAGS = ['-D', '--define-macro'];

interface Parsed {
  /** Index of the option holding the flag, and of the one holding the value (the same, or the next one). */
  readonly at: number;
  readonly valueAt: number;
  readonly prefix: string;
  readonly value: string;
}

/** Splits `options[i]` as `flag=value`, `flagvalue` (short flags only) or `flag` + `options[i+1]`. */
function split(options: readonly string[], i: number, flag: string): Parsed | undefined {
  const o = options[i] as string;
  if (o === flag) {
    const next = options[i + 1];
    return next === undefined ? undefined : { at: i, valueAt: i + 1, prefix: '', value: next };
  }
  if (o.startsWith(`${flag}=`))
    return { at: i, valueAt: i, prefix: `${flag}=`, value: o.slice(flag.length + 1) };
  // Glued values only for the short forms (-Ifoo, -DX); `-isystemfoo` is not a thing worth guessing at.
  if ((flag === '-I' || flag === '-D') && o.startsWith(flag) && o.length > flag.length) {
    return { at: i, valueAt: i, prefix: flag, value: o.slice(flag.length) };
  }
  return undefined;
}

function values(value: string, dialect: OptionDialect): string[] {
  return dialect.listSeparator ? value.split(dialect.listSeparator) : [value];
}

/** The options with every relative include directory and pre-included file made absolute against `cwd`. */
export function absolutizePathOptions(
  options: readonly string[],
  cwd: string,
  dialect: OptionDialect = NVRTC_DIALECT,
): string[] {
  const out = [...options];
  for (let i = 0; i < out.length; i++) {
    for (const { flag, kind } of PATH_FLAGS) {
      const p = split(out, i, flag);
      if (!p) continue;
      // A directory is resolved against the working directory by the compiler; a pre-included file is looked for
      // there first and then on the include path (-include cuda_fp16.h): made absolute only when it is there.
      const absolute = (v: string): string =>
        v === '' || isAbsolute(v) || (kind === 'file' && !existsSync(resolve(cwd, v))) ? v : resolve(cwd, v);
      const abs = values(p.value, dialect)
        .map(absolute)
        .join(dialect.listSeparator ?? '');
      out[p.valueAt] = `${p.prefix}${abs}`;
      i = p.valueAt;
      break;
    }
  }
  return out;
}

/** The include search list, pre-included files and macros a compile's options give the preprocessor. */
export interface IncludeOptions {
  /** -I dirs in order, then -isystem dirs in order (the preprocessor's search order). */
  readonly includeDirs: string[];
  readonly preIncludes: string[];
  /** -D macros: name → replacement ('1' for a bare -DNAME, as the preprocessor does). */
  readonly defines: Record<string, string>;
}

/** What the preprocessor will search and define, read from (already absolutized) options. */
export function includeOptions(
  options: readonly string[],
  dialect: OptionDialect = NVRTC_DIALECT,
): IncludeOptions {
  const include: string[] = [];
  const system: string[] = [];
  const preIncludes: string[] = [];
  const defines: Record<string, string> = {};
  for (let i = 0; i < options.length; i++) {
    let matched = false;
    for (const { flag, role } of PATH_FLAGS) {
      const p = split(options, i, flag);
      if (!p) continue;
      const list = values(p.value, dialect).filter((v) => v !== '');
      (role === 'include' ? include : role === 'system' ? system : preIncludes).push(...list);
      i = p.valueAt;
      matched = true;
      break;
    }
    if (matched) continue;
    for (const flag of DEFINE_FLAGS) {
      const p = split(options, i, flag);
      if (!p) continue;
      for (const d of values(p.value, dialect)) {
        const eq = d.indexOf('=');
        const name = (eq < 0 ? d : d.slice(0, eq)).trim();
        if (name) defines[name] = eq < 0 ? '1' : d.slice(eq + 1);
      }
      i = p.valueAt;
      break;
    }
  }
  return { includeDirs: [...include, ...system], preIncludes, defines };
}
