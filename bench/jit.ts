// JIT + cache benchmark on the GPU host: time of Gemm.forward on the first call (cold: compile), a repeat call
// (memory), the first call of a fresh process (disk hit), and the cache-to-launch-ready cost of one GEMM kernel in a
// fresh process. Usage: node build/bench/jit.js [--json out.json]; `--child <dir> <dtype>` is the fresh process.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../src/cache/index.js';
import { JitCompiler } from '../src/jit/index.js';
import { Gemm, kernelSpecOf } from '../src/ops/gemm.js';
import { gemmSource } from '../src/ops/gemm-source.js';
import { Tensor, type DType } from '../src/ops/tensor.js';
import { Device } from '../src/runtime/index.js';

const N = 1024;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] as number;
};

interface Measured {
  forwardMs: number;
  forwardSyncMs: number;
  lookupMs?: number;
  tier: string;
}

function tierOf(jit: JitCompiler, before: ReturnType<JitCompiler['getStats']>['process']): string {
  const after = jit.getStats().process;
  if (after.compiles > before.compiles) return 'compiled';
  if (after.hits.disk > before.hits.disk) return 'disk';
  if (after.hits.memory > before.hits.memory) return 'memory';
  return 'resident';
}

async function forwardOnce(jit: JitCompiler, op: Gemm, A: Tensor, B: Tensor, C: Tensor): Promise<Measured> {
  const before = jit.getStats().process;
  const t = performance.now();
  await op.forward([A, B], [C], { jit });
  const forwardMs = performance.now() - t;
  C.device.synchronize();
  return { forwardMs, forwardSyncMs: performance.now() - t, tier: tierOf(jit, before) };
}

function inputs(device: Device, dtype: DType): [Tensor, Tensor, Tensor] {
  const r = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  return [
    Tensor.fromArray(device, r(N * N), [N, N], dtype),
    Tensor.fromArray(device, r(N * N), [N, N], dtype),
    Tensor.empty(device, [N, N], dtype),
  ];
}

async function child(dir: string, dtype: DType): Promise<void> {
  const device = Device.get(0);
  device.makeCurrent(); // driver init + context: not the cache's cost
  const [A, B, C] = inputs(device, dtype);
  const jit = new JitCompiler({ cache: new KernelCache({ dir }) });
  await jit.compilerInfo();
  const op = new Gemm({ dtype });
  // Cache → launch-ready kernel for this GEMM, measured alone (the lookup forward() does).
  const problem = op.validate([A, B], [C]);
  const spec = kernelSpecOf(
    gemmSource(op.specFor(problem, [A.devicePtr, B.devicePtr, C.devicePtr], device.multiprocessorCount)),
  );
  const before = jit.getStats().process;
  const t = performance.now();
  await jit.kernel(spec, device);
  const lookupMs = performance.now() - t;
  const lookupTier = tierOf(jit, before);
  // Then a whole first forward in a second fresh JIT over the same dir (another disk hit).
  const jit2 = new JitCompiler({ cache: new KernelCache({ dir }) });
  await jit2.compilerInfo();
  const m = await forwardOnce(jit2, op, A, B, C);
  console.log(JSON.stringify({ ...m, lookupMs, lookupTier }));
  await jit.cache.close();
  await jit2.cache.close();
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1] as string, args[2] as DType);
  const jsonPath = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
  // --keep <dir>: use and keep this cache dir (for bench/fresh-process.js) instead of a temp dir per dtype.
  const keep = args.includes('--keep') ? args[args.indexOf('--keep') + 1] : undefined;
  const device = Device.get(0);
  device.makeCurrent();
  const results: Record<string, unknown> = { device: device.name, size: N };
  const rows: string[][] = [['dtype', 'step', 'forward returns', 'incl. sync', 'kernel from']];
  for (const dtype of ['float32', 'float16'] as const) {
    const dir = keep ?? mkdtempSync(join(tmpdir(), 'cuop-bench-jit-'));
    try {
      const [A, B, C] = inputs(device, dtype);
      const jit = new JitCompiler({ cache: new KernelCache({ dir }) });
      await jit.compilerInfo();
      const op = new Gemm({ dtype });
      const first = await forwardOnce(jit, op, A, B, C);
      const repeats: Measured[] = [];
      for (let i = 0; i < 200; i++) repeats.push(await forwardOnce(jit, op, A, B, C));
      const repeat: Measured = {
        forwardMs: median(repeats.map((r) => r.forwardMs)),
        forwardSyncMs: median(repeats.map((r) => r.forwardSyncMs)),
        tier: repeats.at(-1)?.tier ?? '',
      };
      await jit.cache.close();
      const script = fileURLToPath(import.meta.url);
      const fresh: (Measured & { lookupTier: string })[] = [];
      for (let i = 0; i < 3; i++) {
        const out = execFileSync(process.execPath, [script, '--child', dir, dtype], { encoding: 'utf8' });
        fresh.push(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Measured & { lookupTier: string });
      }
      const f = (m: number) => `${m.toFixed(3)} ms`;
      rows.push([dtype, 'first call, empty cache', f(first.forwardMs), f(first.forwardSyncMs), first.tier]);
      rows.push([
        dtype,
        'repeat call (median of 200)',
        f(repeat.forwardMs),
        f(repeat.forwardSyncMs),
        repeat.tier,
      ]);
      const fm = median(fresh.map((x) => x.forwardMs));
      const fs = median(fresh.map((x) => x.forwardSyncMs));
      rows.push([dtype, 'first call, fresh process (median of 3)', f(fm), f(fs), fresh[0]?.tier ?? '']);
      const lk = median(fresh.map((x) => x.lookupMs ?? NaN));
      rows.push([
        dtype,
        'fresh process: disk hit → launch-ready kernel',
        f(lk),
        '',
        fresh[0]?.lookupTier ?? '',
      ]);
      results[dtype] = { first, repeat, fresh };
      for (const t of [A, B, C]) t.dispose();
    } finally {
      if (!keep) rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`\ncuop JIT benchmark — Gemm ${N}³ on ${device.name}`);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log('  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  if (jsonPath) writeFileSync(jsonPath, JSON.stringify(results, null, 2));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
