// Child process of race.test.ts (and the remote tier's cross-host race): waits for 'go', then looks up kernels
// 0..n-1 cold in a cache dir (shared, or its own with a Redis URL and prefix: another "host"); each compile is a
// real nvcc compile. Reports which keys it compiled and which tier answered each lookup.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KernelCache } from '../../../src/cache/kernel-cache.js';
import type { CompileResult } from '../../../src/compiler/types.js';
import { kernelSource, NVCC, specFor } from '../fixtures.js';

const [dir, nText, mode, remoteUrl, prefix] = process.argv.slice(2);
const remote = remoteUrl
  ? {
      url: remoteUrl,
      prefix: prefix!,
      secrets: [{ id: 'race', secret: 'race-secret-0123456789' }],
      timeoutMs: 500,
    }
  : false;
const n = Number(nText);
const run = promisify(execFile);

async function nvcc(i: number): Promise<CompileResult> {
  const t0 = performance.now();
  const work = mkdtempSync(join(tmpdir(), 'cuop-race-'));
  try {
    writeFileSync(join(work, 'k.cu'), kernelSource(i));
    await run(NVCC, ['-cubin', '-arch=sm_90', '-o', join(work, 'k.cubin'), join(work, 'k.cu')]);
    return {
      image: readFileSync(join(work, 'k.cubin')),
      imageKind: 'cubin',
      target: 'sm_90',
      log: '',
      loweredNames: { [`k${i}`]: `k${i}` },
      compileMs: performance.now() - t0,
      compiler: { id: 'nvcc', version: '13.0.88' },
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

process.on('message', (m) => {
  if (m !== 'go') return;
  void (async () => {
    const cache = new KernelCache({ dir, env: {}, remote, policy: { maintenanceIntervalMs: 0 } });
    const order = Array.from({ length: n }, (_, i) => i).sort(() => Math.random() - 0.5);
    const compiled: number[] = [];
    const tiers: string[] = [];
    await Promise.all(
      order.map(async (i) => {
        const r = await cache.getOrCompile(
          specFor(i, mode === 'opt' ? { options: ['-O2'] } : {}),
          async () => {
            compiled.push(i);
            return nvcc(i);
          },
        );
        tiers.push(r.tier);
      }),
    );
    await cache.close(); // sends the queued publishes first
    const remoteStats = cache.getStats().tiers?.['remote'];
    process.send!({ compiled, tiers, ...(remoteStats ? { remote: remoteStats } : {}) }, () =>
      process.exit(0),
    );
  })();
});
process.send!('ready');
