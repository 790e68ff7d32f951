// The operators' CUDA text: templates in src/ops/cuda/*.cu (the start of a whole kernel source) and *.cuh (pieces
// spliced into one), read once per process, on first use, and filled in by the *-source.ts generators.
//
// Template scheme (src/ops/cuda/README.md):
//  - `{{NAME}}` (NAME in [A-Z0-9_]) inside a line is replaced by a string;
//  - a line that is exactly `{{NAME}}` is replaced by a list of lines (none: the line goes away) or a string;
//  - every placeholder must get a value and every value must be used; values are inserted as is, never rescanned;
//  - lines starting with `//#` are notes for the reader of the template: they are dropped, never generated;
//  - a file's text is used as it stands (CRLF read as LF): the generated sources, and so the cache keys, are exactly
//    what the files spell.
//
// Where the files are found:
//  - tsc output (build/src/ops/*.js, also in the offline GPU bundle and the installed package): read from
//    <package root>/src/ops/cuda/, the one copy there is (package.json "files" ships that folder;
//    scripts/bundle-offline.mjs copies it). This module compiles to build/src/ops/cuda-text.js, so the folder is
//    ../../../src/ops/cuda/ from it; nothing is copied into build/, so a plain `tsc` never leaves a stale copy.
//  - the esbuild bundle (dist/, the package's import target): scripts/bundle-lib.mjs inlines every file's text as
//    the global __CUOP_CUDA_FILES__, so the bundle needs no file beside it wherever it is loaded from (its code may
//    sit in dist/index.js or in any chunk, or be bundled again into an application).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Inlined by scripts/bundle-lib.mjs into dist/: file name → text. Undeclared (typeof 'undefined') in build/. */
declare const __CUOP_CUDA_FILES__: Readonly<Record<string, string>> | undefined;

const CUDA_DIR = new URL('../../../src/ops/cuda/', import.meta.url);

/** A template value: a string (a number is written as by String()), or for a placeholder alone on its line a list. */
export type CudaValue = string | number | readonly string[];

const templates = new Map<string, readonly string[]>();
let bundled: Readonly<Record<string, string>> | null | undefined;

/** The lines of src/ops/cuda/<name> as a template: read on first use, then kept for the process. */
function template(name: string): readonly string[] {
  let lines = templates.get(name);
  if (lines === undefined) {
    lines = parseTemplate(readCudaFile(name));
    templates.set(name, lines);
  }
  return lines;
}

function readCudaFile(name: string): string {
  if (bundled === undefined)
    bundled = typeof __CUOP_CUDA_FILES__ === 'undefined' ? null : __CUOP_CUDA_FILES__;
  if (bundled !== null) {
    if (!Object.hasOwn(bundled, name)) {
      throw new Error(
        `cuop: the CUDA source src/ops/cuda/${name} is not in this bundle (dist/): the cuop package is ` +
          'incomplete (rebuild it with "npm run build")',
      );
    }
    return bundled[name] as string;
  }
  const url = new URL(name, CUDA_DIR);
  try {
    return readFileSync(url, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new Error(
      `cuop: cannot read the CUDA source ${fileURLToPath(url)} (${why}): the cuop package is incomplete ` +
        '(src/ops/cuda/ must ship beside build/)',
      { cause: e },
    );
  }
}

/** A template file's text as lines: CRLF read as LF, `//#` note lines dropped. */
export function parseTemplate(raw: string): string[] {
  return raw
    .replace(/\r\n/g, '\n')
    .split('\n')
    .filter((l) => !l.startsWith('//#'));
}

const WHOLE_LINE = /^\{\{([A-Z0-9_]+)\}\}$/;
const INLINE = /\{\{([A-Z0-9_]+)\}\}/g;

/** Fill a parsed template (`label` names it in errors); see the scheme above. */
export function fillTemplate(
  label: string,
  lines: readonly string[],
  values: Readonly<Record<string, CudaValue>>,
): string {
  const used = new Set<string>();
  const value = (key: string): CudaValue => {
    if (!Object.hasOwn(values, key)) throw new Error(`cuop: ${label}: no value for {{${key}}}`);
    used.add(key);
    return values[key] as CudaValue;
  };
  const out: string[] = [];
  for (const line of lines) {
    const whole = WHOLE_LINE.exec(line);
    if (whole) {
      const v = value(whole[1] as string);
      if (typeof v === 'object') out.push(...v);
      else out.push(String(v));
      continue;
    }
    out.push(
      line.replace(INLINE, (_, key: string) => {
        const v = value(key);
        if (typeof v === 'object') {
          throw new Error(`cuop: ${label}: {{${key}}} shares its line with other text, so it takes a string`);
        }
        return String(v);
      }),
    );
  }
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) throw new Error(`cuop: ${label} has no {{${unused.join('}}, {{')}}}`);
  return out.join('\n');
}

/** src/ops/cuda/<name> with its placeholders filled. */
export function fillCuda(name: string, values: Readonly<Record<string, CudaValue>> = {}): string {
  return fillTemplate(`src/ops/cuda/${name}`, template(name), values);
}

/** fillCuda as a list of lines, without the empty one after the file's final newline. */
export function cudaLines(name: string, values: Readonly<Record<string, CudaValue>> = {}): string[] {
  const lines = fillCuda(name, values).split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
