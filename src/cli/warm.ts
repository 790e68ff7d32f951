// `cuop cache warm <manifest>` and `cuop cache check <manifest>`: compile every spec of a manifest for every named
// arch (no GPU needed), and say for each whether it hits here and, for a miss, why. The manifest is what CUOP_RECORD
// or jit.record() wrote (jit/spec-manifest.ts).
import { availableParallelism } from 'node:os';

import type { KernelCache } from '../cache/index.js';
import type { CompilerPreference } from '../compiler/index.js';
import { JitCompiler, readManifest, type SpecEntry } from '../jit/index.js';
import { formatExplanation } from './explain.js';

export interface ManifestOptions {
  /** Comma-separated archs; overrides each entry's own. */
  arch?: string;
  /** Overrides each entry's compiler. */
  compiler?: string;
  json?: boolean;
}

interface Task {
  readonly entry: SpecEntry;
  readonly arch: string;
  readonly compiler: CompilerPreference;
}

const nameOf = (e: SpecEntry): string => ('names' in e.spec ? e.spec.names.join(', ') : e.spec.name);

/** The manifest's entries × archs, each with its compiler. Throws when an entry has no arch and none is given. */
function tasksOf(path: string, o: ManifestOptions): Task[] {
  const entries = readManifest(path);
  const archs = o.arch
    ?.split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (archs?.some((a) => !/^sm_\d+[af]?$/.test(a)))
    throw new Error(`--arch: expected e.g. sm_90,sm_100, got ${o.arch}`);
  if (o.compiler !== undefined && !['nvrtc', 'nvcc', 'auto'].includes(o.compiler))
    throw new Error(`--compiler: expected nvrtc, nvcc or auto, got ${o.compiler}`);
  return entries.flatMap((entry) => {
    const list = archs ?? (entry.arch ? [entry.arch] : []);
    if (list.length === 0)
      throw new Error(`${path}: ${nameOf(entry)} names no arch; pass --arch (e.g. sm_90)`);
    const compiler = (o.compiler ?? entry.compiler ?? 'auto') as CompilerPreference;
    return list.map((arch) => ({ entry, arch, compiler }));
  });
}

/** One JIT per compiler preference, over one cache. */
function jitsFor(cache: KernelCache): (c: CompilerPreference) => JitCompiler {
  const jits = new Map<CompilerPreference, JitCompiler>();
  return (c) => {
    let j = jits.get(c);
    if (!j) jits.set(c, (j = new JitCompiler({ cache, compiler: c, record: null })));
    return j;
  };
}

interface Progress {
  tick(line: string): void;
  stop(): void;
}

/** A bar on a terminal (cli-progress, loaded only then), one plain line per spec otherwise. */
async function progress(total: number, json: boolean): Promise<Progress> {
  if (json) return { tick: () => {}, stop: () => {} };
  if (!process.stderr.isTTY) {
    let done = 0;
    return { tick: (line) => console.error(`[${++done}/${total}] ${line}`), stop: () => {} };
  }
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    { format: 'warm [{bar}] {value}/{total} {last}', stream: process.stderr, hideCursor: true },
    Presets.shades_classic,
  );
  bar.start(total, 0, { last: '' });
  return { tick: (line) => bar.increment({ last: line.slice(0, 60) }), stop: () => bar.stop() };
}

export async function runWarm(
  cache: KernelCache,
  path: string,
  o: ManifestOptions & { jobs?: number },
): Promise<number> {
  const tasks = tasksOf(path, o);
  const jit = jitsFor(cache);
  const jobs = Math.max(1, o.jobs ?? availableParallelism());
  const bar = await progress(tasks.length, o.json ?? false);
  const t0 = performance.now();
  let compiled = 0;
  let cached = 0;
  const failed: { name: string; arch: string; error: string }[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const t = tasks[next++]!;
      const started = performance.now();
      try {
        const r = await jit(t.compiler).compile(t.entry.spec, t.arch);
        const ms = (performance.now() - started).toFixed(0);
        if (r.tier === 'compiled') compiled++;
        else cached++;
        bar.tick(
          `${r.tier === 'compiled' ? 'compiled' : `cached (${r.tier})`} ${nameOf(t.entry)} ${t.arch} ${ms} ms`,
        );
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        failed.push({ name: nameOf(t.entry), arch: t.arch, error });
        bar.tick(`FAILED ${nameOf(t.entry)} ${t.arch}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
  bar.stop();
  const seconds = (performance.now() - t0) / 1000;
  if (o.json) {
    console.log(JSON.stringify({ total: tasks.length, compiled, cached, failed, seconds, jobs }, null, 2));
  } else {
    for (const f of failed) console.error(`failed: ${f.name} for ${f.arch}:\n${f.error}\n`);
    console.log(
      `warm: ${tasks.length} kernels (${new Set(tasks.map((t) => t.entry)).size} specs): ${compiled} compiled, ` +
        `${cached} already cached, ${failed.length} failed in ${seconds.toFixed(1)} s with --jobs ${jobs}`,
    );
  }
  return failed.length > 0 ? 1 : 0;
}

export async function runCheck(cache: KernelCache, path: string, o: ManifestOptions): Promise<number> {
  const tasks = tasksOf(path, o);
  const jit = jitsFor(cache);
  const results = [];
  for (const t of tasks) {
    const explanation = await jit(t.compiler).explain(t.entry.spec, { arch: t.arch });
    results.push({ name: nameOf(t.entry), arch: t.arch, explanation });
  }
  const misses = results.filter((r) => !r.explanation.found).length;
  if (o.json) {
    console.log(
      JSON.stringify(
        {
          total: results.length,
          hits: results.length - misses,
          misses,
          results: results.map((r) => ({ name: r.name, hit: !!r.explanation.found, ...r.explanation })),
        },
        null,
        2,
      ),
    );
  } else {
    for (const r of results) console.log(formatExplanation(r.name, r.explanation));
    console.log(`check: ${results.length - misses} of ${results.length} kernels hit here, ${misses} miss`);
  }
  return misses > 0 ? 1 : 0;
}

/** The cache keys of a manifest's kernels that hit here, and the names of those that do not. */
export async function runManifestKeys(
  cache: KernelCache,
  path: string,
  o: ManifestOptions,
): Promise<{ keys: string[]; misses: string[] }> {
  const jit = jitsFor(cache);
  const keys: string[] = [];
  const misses: string[] = [];
  for (const t of tasksOf(path, o)) {
    const e = await jit(t.compiler).explain(t.entry.spec, { arch: t.arch });
    if (e.found) keys.push(e.found.key);
    else misses.push(`${nameOf(t.entry)} (${t.arch})`);
  }
  return { keys: [...new Set(keys)], misses };
}
