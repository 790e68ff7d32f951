// What a fresh process saves by reusing a GEMM tuning record: one child process tunes (times the candidates and
// stores the winner in a fresh cache directory), a second one reuses it; a third runs untuned ('off') for reference.
// Each child is test-gpu/ops/child-tune.js (one forward of gelu(A·B + bias) with `tune`); printed: the first
// forward's time in each (tuning or reuse + kernel lookup + launch) and each whole process's wall time.
//
//   node build/bench/gemm-tune-reuse.js [--mode auto|exhaustive] [--shape 4096x4096x4096] [--dtype float16]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}
const mode = arg('--mode', 'auto');
const dims = arg('--shape', '4096x4096x4096').split('x');
const dtype = arg('--dtype', 'float16');
const child = fileURLToPath(new URL('../test-gpu/ops/child-tune.js', import.meta.url));

interface Report {
  reused: boolean | null;
  timed: number | null;
  compiles: number;
  forwardMs: number;
  winner: unknown;
  relError: number;
}
function run(dir: string, m: string): { report: Report; wallMs: number } {
  const t0 = performance.now();
  const out = execFileSync(process.execPath, [child, dir, m, ...dims, dtype], {
    encoding: 'utf8',
    env: { ...process.env, CUOP_CACHE_DIR: dir },
  });
  const wallMs = performance.now() - t0;
  return { report: JSON.parse(out.trim().split('\n').pop() as string) as Report, wallMs };
}

const dir = mkdtempSync(join(tmpdir(), 'cuop-tune-bench-'));
try {
  // Warm the cache with the untuned kernel first, so the 'off' row is a disk hit like the reuse row.
  const off = run(dir, 'off');
  const tuned = run(dir, mode);
  const reused = run(dir, mode);
  console.log(`gemm ${dims.join('x')} ${dtype}, gelu(A·B + bias), tune '${mode}', cache ${dir}`);
  const row = (label: string, r: { report: Report; wallMs: number }): void =>
    console.log(
      `${label.padEnd(22)} first forward ${r.report.forwardMs.toFixed(1).padStart(9)} ms   process ${r.wallMs.toFixed(0).padStart(6)} ms   ` +
        `timed ${String(r.report.timed ?? '-').padStart(3)}   compiles ${r.report.compiles}   reused ${String(r.report.reused)}`,
    );
  row("untuned ('off')", off);
  row('tuning process', tuned);
  row('fresh process, reuse', reused);
  console.log(
    `a fresh process saves ${(tuned.wallMs - reused.wallMs).toFixed(0)} ms of wall time ` +
      `(${(tuned.report.forwardMs - reused.report.forwardMs).toFixed(1)} ms in the first forward) by reusing the record; ` +
      `winner ${JSON.stringify(reused.report.winner)}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
