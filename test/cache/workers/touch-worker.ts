// Child process of kernel-cache.test.ts: a disk hit at time t1 (touched at once), a memory hit at t2, then a natural
// exit without close(): only the process-exit flush can record the second use.
import { KernelCache } from '../../../src/cache/kernel-cache.js';
import { specFor } from '../fixtures.js';

const [dir, t1, t2, indexText] = process.argv.slice(2);
let now = Number(t1);
const cache = new KernelCache({ dir, env: {}, clock: () => now, policy: { maintenanceIntervalMs: 0 } });
const spec = specFor(Number(indexText));
const never = () => {
  throw new Error('expected a hit, not a compile');
};
const tiers = [(await cache.getOrCompile(spec, never)).tier];
now = Number(t2);
tiers.push((await cache.getOrCompile(spec, never)).tier);
process.stdout.write(tiers.join(','));
