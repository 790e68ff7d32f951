// `cuop cache explain <spec.json>`: would this kernel hit here, and if not, which inputs differ from the nearest
// cached entries. The spec file is what a user would pass to jit.kernel() / jit.module(), plus where it runs:
//   { "source": "…" | "sourceFile": "k.cu", "name": "k" | "names": ["a", "b"], "options": ["-Iinclude"],
//     "headers": { "x.h": "…" }, "headerFiles": { "x.h": "x.h" }, "arch": "sm_90", "compiler": "nvcc" }
// Paths in it (sourceFile, headerFiles, relative include options) are relative to the spec file's directory.
import { KernelCache } from '../cache/index.js';
import type { CompilerPreference } from '../compiler/index.js';
import { JitCompiler, readSpecFile, type JitExplanation } from '../jit/index.js';

/** One spec file as the spec the JIT takes, its arch and compiler (see jit/spec-manifest.ts). */
export { readSpecFile };

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
