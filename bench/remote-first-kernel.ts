// On the GPU host: a process with an empty cache dir launching from the shared tier (Redis), its first kernel beside
// a disk hit's, in alternating fresh processes. Starts its own redis-server (REDIS_SERVER, default redis-server).
// Usage: node build/bench/remote-first-kernel.js [samples=7]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../src/cache/index.js';
import { JitCompiler } from '../src/jit/index.js';
import { Gemm, kernelSpecOf } from '../src/ops/gemm.js';
import { gemmSource } from '../src/ops/gemm-source.js';
import { Device } from '../src/runtime/index.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function child(dir: string): Promise<void> {
  const device = Device.get(0);
  device.makeCurrent();
  const spec = kernelSpecOf(
    gemmSource(
      new Gemm({ dtype: 'float32' }).specFor(
        { M: 1024, N: 1024, K: 1024 },
        [0n, 0n, 0n],
        device.multiprocessorCount,
      ),
    ),
  );
  const t0 = performance.now();
  const jit = new JitCompiler({ cache: new KernelCache({ dir }) });
  await jit.compilerInfo();
  await jit.kernel(spec, device);
  const ms = performance.now() - t0;
  const s = jit.getStats().process;
  const tier = s.compiles > 0 ? 'compiled' : (s.hits['remote'] ?? 0) > 0 ? 'remote' : 'disk';
  await jit.cache.close();
  console.log(JSON.stringify({ ms, tier }));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3]!);
  const samples = Number(process.argv[2] ?? 7);
  const port = 16379;
  const server = spawn(
    process.env['REDIS_SERVER'] ?? 'redis-server',
    ['--port', String(port), '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  await sleep(500);
  const env = {
    ...process.env,
    CUOP_REMOTE_CACHE: `redis://127.0.0.1:${port}`,
    CUOP_REMOTE_SECRET: 'gpu:bench-secret-0123456789',
    CUOP_REMOTE_TIMEOUT_MS: '200',
  };
  const self = fileURLToPath(import.meta.url);
  const run = (dir: string): { ms: number; tier: string } =>
    JSON.parse(
      execFileSync(process.execPath, [self, '--child', dir], { encoding: 'utf8', env })
        .trim()
        .split('\n')
        .pop()!,
    ) as {
      ms: number;
      tier: string;
    };
  const root = mkdtempSync(join(tmpdir(), 'cuop-remote-first-'));
  try {
    const hostA = join(root, 'a');
    console.log(`host A compiles and publishes: ${JSON.stringify(run(hostA))}`);
    const remote: number[] = [];
    const disk: number[] = [];
    for (let i = 0; i < samples; i++) {
      const r = run(join(root, `empty-${i}`));
      if (r.tier !== 'remote') throw new Error(`expected a remote hit, got ${r.tier}`);
      remote.push(r.ms);
      const d = run(hostA);
      if (d.tier !== 'disk') throw new Error(`expected a disk hit, got ${d.tier}`);
      disk.push(d.ms);
    }
    console.log(
      `fresh process, Gemm f32 1024³, cache open + first kernel launch-ready, median of ${samples}:`,
    );
    console.log(
      `  empty cache dir, from Redis (127.0.0.1)   ${median(remote).toFixed(3)} ms  (${remote.map((x) => x.toFixed(2)).join(', ')})`,
    );
    console.log(
      `  warm cache dir, from disk                 ${median(disk).toFixed(3)} ms  (${disk.map((x) => x.toFixed(2)).join(', ')})`,
    );
  } finally {
    server.kill();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
