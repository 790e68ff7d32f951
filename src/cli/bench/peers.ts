// `cuop bench --peers`: CuPy and Triton on the same machine in the same run, when python3 has them. Each peer is a
// script of bench/peers/ (shipped with the package) run with a deadline; its rows join cuop's under the same
// kernels and series, so the chart puts their bars beside cuop's.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { runProcess } from './processes.js';
import { KERNELS, SERIES, type BenchRow, type KernelName, type Series, type Tool } from './scenarios.js';

export interface PeerKernel {
  readonly kernel: KernelName;
  /** The kernel's source, written to a .cu file. */
  readonly file: string;
  readonly name: string;
  readonly options: readonly string[];
}

interface PeerOutput {
  readonly version: string;
  readonly rows: ReadonlyArray<{
    kernel: string;
    series: string;
    ms: number;
    method: string;
    samples?: number[];
  }>;
  readonly skipped: ReadonlyArray<{ kernel: string; series?: string; reason: string; method?: string }>;
}

const PEERS: ReadonlyArray<{ tool: Exclude<Tool, 'cuop'>; module: string; script: string; label: string }> = [
  { tool: 'cupy', module: 'cupy', script: 'cupy_peer.py', label: 'CuPy' },
  { tool: 'triton', module: 'triton', script: 'triton_peer.py', label: 'Triton' },
];
const PROBE_TIMEOUT_MS = 120_000;
/** A whole peer run: every kernel's cold compile, repeats and fresh processes. */
const PEER_TIMEOUT_MS = 1_800_000;
const PYTHON = 'python3';

export async function runPeers(
  kernels: readonly PeerKernel[],
  scratch: string,
  opts: { restarts: number; repeats: number },
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const scripts = peerScriptDir();
  for (const p of PEERS) {
    const missing = (why: string): BenchRow => ({
      name: p.tool,
      group: 'peers',
      tool: p.tool,
      value: null,
      unit: 'ms',
      method: `${p.label} through ${PYTHON} bench/peers/${p.script}, the same kernels in the same run`,
      skipped: why,
    });
    if (scripts === undefined) {
      rows.push(missing('bench/peers/ is not next to this cuop (a package without its peer scripts)'));
      continue;
    }
    const probe = await runProcess<{ version: string }>(
      PYTHON,
      ['-c', `import json, ${p.module}; print(json.dumps({"version": ${p.module}.__version__}))`],
      { timeoutMs: PROBE_TIMEOUT_MS },
    );
    if (!probe.result) {
      rows.push(missing(`${PYTHON} with ${p.module} not found (${probe.failure ?? '?'})`));
      continue;
    }
    const work = join(scratch, `peer-${p.tool}`);
    mkdirSync(work, { recursive: true });
    const specFile = join(work, 'spec.json');
    writeFileSync(
      specFile,
      JSON.stringify({
        kernels,
        cacheDir: join(work, 'cache'),
        restarts: opts.restarts,
        repeats: Math.min(opts.repeats, 1000),
        timeoutS: 600,
      }),
    );
    const r = await runProcess<PeerOutput>(PYTHON, [join(scripts, p.script), specFile], {
      timeoutMs: PEER_TIMEOUT_MS,
    });
    if (!r.result) {
      rows.push(missing(`the ${p.label} run failed: ${r.failure ?? '?'}`));
      continue;
    }
    rows.push(...peerRows(p.tool, p.label, r.result));
  }
  return rows;
}

/** A peer's output as rows: its hits get a ratio to its own first compile, as cuop's do. */
export function peerRows(tool: Exclude<Tool, 'cuop'>, label: string, out: PeerOutput): BenchRow[] {
  const rows: BenchRow[] = [];
  const isKernel = (k: string): k is KernelName => (KERNELS as readonly string[]).includes(k);
  const isSeries = (s: string): s is Series => (SERIES as readonly string[]).includes(s);
  for (const r of out.rows) {
    if (!isKernel(r.kernel) || !isSeries(r.series)) continue;
    const compile = out.rows.find((c) => c.kernel === r.kernel && c.series === 'compile')?.ms;
    rows.push({
      name: `${tool}/${r.kernel}/${r.series}`,
      group: r.kernel,
      tool,
      kernel: r.kernel,
      series: r.series,
      value: r.ms,
      unit: 'ms',
      ...(r.series !== 'compile' && compile !== undefined && r.ms > 0
        ? { ratio: compile / r.ms, ratioOf: 'compile / this' }
        : {}),
      method: `${label} ${out.version}: ${r.method}`,
      ...(r.samples ? { notes: `samples ${r.samples.map((s) => s.toFixed(2)).join(', ')} ms` } : {}),
    });
  }
  for (const s of out.skipped) {
    if (!isKernel(s.kernel)) continue;
    const series = s.series !== undefined && isSeries(s.series) ? s.series : undefined;
    rows.push({
      name: `${tool}/${s.kernel}${series ? `/${series}` : ''}`,
      group: s.kernel,
      tool,
      // A kernel the peer cannot run at all stays out of the chart; a series that failed shows as n/a there.
      ...(series ? { kernel: s.kernel, series } : {}),
      value: null,
      unit: 'ms',
      method: `${label} ${out.version}: ${s.method ?? 'not run'}`,
      skipped: s.reason,
    });
  }
  return rows;
}

/** bench/peers/ of the cuop package this file belongs to (build/src/cli/bench/ and dist/cli/chunks/ alike). */
function peerScriptDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'cuop') {
          const peers = join(dir, 'bench', 'peers');
          return existsSync(join(peers, 'cupy_peer.py')) ? peers : undefined;
        }
      } catch {
        // unreadable: keep looking up
      }
    }
    dir = dirname(dir);
  }
  return undefined;
}
