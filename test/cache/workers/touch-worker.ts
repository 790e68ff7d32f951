// Child process of kernel-cache.test.ts: one disk hit with an injected clock, then a natural exit without close(),
// so only the process-exit flush can record the LRU touch.
import { KernelCache } from '../../../src/cache/kernel-cache.js';
import { specFor } from '../fixtures.js';

const [dir, nowText, indexText] = process.argv.slice(2);
const now = Number(nowText);
const cache = new KernelCache({ dir, env: {}, clock: () => now, policy: { maintenanceIntervalMs: 0 } });
const r = await cache.getOrCompile(specFor(Number(indexText)), () => {
  throw new Error('expected a disk hit, not a compile');
});
process.stdout.write(r.tier);
