// Worker thread of race.test.ts: its own KernelCache over the shared dir (so only the lock files coordinate it
// with the other threads); waits for 'go', looks up keys 0..n-1 with a compile that takes 300 ms (a real
// nvcc-built image), and reports which keys it compiled and which tier answered each lookup.
import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { KernelCache } from '../../../src/cache/kernel-cache.js';
import { kernelSource, nvccCubin, resultFor, specFor } from '../fixtures.js';

const { dir, n } = workerData as { dir: string; n: number };
const images = Array.from({ length: n }, (_, i) => nvccCubin(kernelSource(i)));
const warns: string[] = [];
const quiet = { debug: () => {}, warn: (m: string) => warns.push(m) };
parentPort?.once('message', () => {
  void (async () => {
    const cache = new KernelCache({ dir, env: {}, logger: quiet, policy: { maintenanceIntervalMs: 0 } });
    const compiled: number[] = [];
    const tiers = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const r = await cache.getOrCompile(specFor(i), async () => {
          compiled.push(i);
          await sleep(300);
          return resultFor(images[i]!, `k${i}`);
        });
        return r.tier;
      }),
    );
    await cache.close();
    parentPort?.postMessage({ compiled, tiers, warns });
  })();
});
parentPort?.postMessage('ready');
