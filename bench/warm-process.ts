// Whole-process cost with a warm cache (GPU host): spawn fresh `node` processes that import cuop, run one Gemm
// forward through JitWrapper with the persistent cache, synchronize and exit; report wall time from spawn to exit.
// Usage: node build/bench/warm-process.js <cacheDir> [runs]   (`--child <cacheDir>` is the child).
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
if (args[0] === '--child') {
  const t0 = performance.now();
  const { Device, JitWrapper, Gemm, Tensor } = await import('cuop'); // the package entry users import (the bundle)
  const tImport = performance.now();
  const device = Device.get(0);
  const n = 1024;
  const A = Tensor.empty(device, [n, n]);
  const B = Tensor.empty(device, [n, n]);
  const C = Tensor.empty(device, [n, n]);
  A.buffer.fillBytes(0x3c);
  B.buffer.fillBytes(0x3c);
  const tInit = performance.now();
  const gemm = new JitWrapper(new Gemm()).setPersistentCacheDirectory(args[1] as string);
  await gemm.forward([A, B], [C]);
  device.synchronize();
  const tDone = performance.now();
  const s = gemm.jit.getStats().process;
  console.log(
    JSON.stringify({
      importMs: tImport - t0,
      deviceAndBuffersMs: tInit - tImport,
      firstForwardMs: tDone - tInit,
      diskHits: s.hits.disk,
      compiles: s.compiles,
    }),
  );
  await gemm.jit.cache.close();
} else {
  const dir = args[0];
  if (!dir) throw new Error('usage: warm-process.js <cacheDir> [runs]');
  const runs = Number(args[1] ?? 5);
  const script = fileURLToPath(import.meta.url);
  execFileSync(process.execPath, [script, '--child', dir]); // warm the cache (compiles at most once)
  const rows: { wallMs: number; importMs: number; deviceAndBuffersMs: number; firstForwardMs: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const out = execFileSync(process.execPath, [script, '--child', dir], { encoding: 'utf8' });
    const wallMs = performance.now() - t;
    rows.push({
      wallMs,
      ...(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Omit<(typeof rows)[0], 'wallMs'>),
    });
  }
  const med = (k: keyof (typeof rows)[0]) =>
    [...rows.map((r) => r[k])].sort((a, b) => a - b)[rows.length >> 1]!;
  console.log(
    `warm process (spawn → import → device → first Gemm.forward from disk → exit), median of ${runs}: ` +
      `${med('wallMs').toFixed(0)} ms wall; import ${med('importMs').toFixed(0)} ms, device+buffers ` +
      `${med('deviceAndBuffersMs').toFixed(0)} ms, first forward ${med('firstForwardMs').toFixed(2)} ms`,
  );
}
