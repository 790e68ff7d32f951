// `cuop cache explain <spec.json>`: would this kernel hit here, and if not, which inputs differ from the nearest
// cached entries. The spec file is what a user would pass to jit.kernel() / jit.module(), plus where it runs:
//   { "source": "…" | "sourceFile": "k.cu", "name": "k" | "names": ["a", "b"], "options": ["-Iinclude"],
//     "headers": { "x.h": "…" }, "headerFiles": { "x.h": "x.h" }, "arch": "sm_90", "compiler": "nvcc" }
// Paths in it (sourceFile, headerFiles, relative include options) are relative to the spec file's directory.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { KernelCache } from '../cache/index.js';
import { absolutizePathOptions, type CompilerPreference } from '../compiler/index.js';
import { JitCompiler, type JitExplanation, type KernelSpec, type ModuleSpec } from '../jit/index.js';

interface SpecFile {
  source?: unknown;
  sourceFile?: unknown;
  name?: unknown;
  names?: unknown;
  options?: unknown;
  headers?: unknown;
  headerFiles?: unknown;
  arch?: unknown;
  compiler?: unknown;
}

/** A spec file as the spec the JIT takes, its arch and compiler. Throws an Error that says what is wrong. */
export function readSpecFile(path: string): {
  spec: KernelSpec | ModuleSpec;
  arch?: string;
  compiler?: CompilerPreference;
} {
  const base = dirname(resolve(path));
  let raw: SpecFile;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as SpecFile;
  } catch (e) {
    throw new Error(`cannot read the spec file ${path}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
  const fail = (what: string): never => {
    throw new Error(`spec file ${path}: ${what}`);
  };
  if (typeof raw !== 'object' || raw === null) fail('expected a JSON object');
  let source: string;
  if (typeof raw.source === 'string') source = raw.source;
  else if (typeof raw.sourceFile === 'string') source = readFileSync(resolve(base, raw.sourceFile), 'utf8');
  else source = fail('needs "source" (the CUDA text) or "sourceFile" (its path)');
  const headers: Record<string, string> = {};
  if (raw.headers !== undefined) {
    if (typeof raw.headers !== 'object' || raw.headers === null) fail('"headers" must map names to text');
    Object.assign(headers, raw.headers);
  }
  if (raw.headerFiles !== undefined) {
    if (typeof raw.headerFiles !== 'object' || raw.headerFiles === null)
      fail('"headerFiles" must map names to paths');
    for (const [name, p] of Object.entries(raw.headerFiles as Record<string, unknown>)) {
      if (typeof p !== 'string') fail(`headerFiles.${name} must be a path`);
      headers[name] = readFileSync(resolve(base, p as string), 'utf8');
    }
  }
  const optionList = raw.options ?? [];
  if (!Array.isArray(optionList) || !optionList.every((o) => typeof o === 'string'))
    fail('"options" must be an array of strings');
  const options = absolutizePathOptions(optionList as string[], base);
  const common = { source, options, ...(Object.keys(headers).length > 0 ? { headers } : {}) };
  let spec: KernelSpec | ModuleSpec;
  if (typeof raw.name === 'string') spec = { ...common, name: raw.name };
  else if (Array.isArray(raw.names)) spec = { ...common, names: raw.names as string[] };
  else spec = fail('needs "name" (one kernel) or "names" (a module)');
  if (raw.arch !== undefined && typeof raw.arch !== 'string') fail('"arch" must be like "sm_90"');
  if (raw.compiler !== undefined && !['nvrtc', 'nvcc', 'auto'].includes(raw.compiler as string))
    fail('"compiler" must be "nvrtc", "nvcc" or "auto"');
  return {
    spec,
    ...(typeof raw.arch === 'string' ? { arch: raw.arch } : {}),
    ...(raw.compiler !== undefined ? { compiler: raw.compiler as CompilerPreference } : {}),
  };
}

/** The explanation for people: one line for a hit, the nearest entries and their differences for a miss. */
export function formatExplanation(names: string, e: JitExplanation): string {
  const head = `${names} for ${e.arch} with ${e.compiler.id} ${e.compiler.version}`;
  if (e.found) return `${head}: hit (${e.found.tier}, entry ${e.found.key.slice(0, 16)})`;
  const lines = [`${head}: miss (key ${e.key.slice(0, 16)})`];
  if (e.nearest.length === 0)
    lines.push('  no cached entry holds this kernel: it was never compiled with this cache');
  for (const n of e.nearest) {
    const when = new Date(n.createdAt).toISOString().replace('T', ' ').slice(0, 19);
    lines.push(
      `  nearest entry ${n.key.slice(0, 16)} (compiled ${when}, holds ${n.kernelNames.join(', ')}):`,
    );
    if (n.differences.length === 0) lines.push('    - no recorded input differs');
    for (const d of n.differences) lines.push(`    - ${d.text}`);
  }
  return lines.join('\n');
}

export async function runExplain(
  specPath: string,
  opts: { cacheDir: string | null; arch?: string; compiler?: string; json?: boolean },
): Promise<number> {
  const { spec, arch: specArch, compiler: specCompiler } = readSpecFile(specPath);
  const compiler = (opts.compiler ?? specCompiler ?? 'auto') as CompilerPreference;
  const cache = new KernelCache({ dir: opts.cacheDir, policy: { maintenanceIntervalMs: 0 } });
  try {
    const jit = new JitCompiler({ cache, compiler });
    const arch = opts.arch ?? specArch;
    const explanation = await jit.explain(spec, arch ? { arch } : {});
    const names = 'names' in spec ? spec.names.join(', ') : spec.name;
    console.log(opts.json ? JSON.stringify(explanation, null, 2) : formatExplanation(names, explanation));
    return 0;
  } finally {
    await cache.close();
  }
}
