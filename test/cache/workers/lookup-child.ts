// One lookup in a fresh process, for tests that must not hang their own process: argv = dir, kernel index,
// cubin path (the "compile" returns it). Prints { tier, warns } as JSON.
import { readFileSync } from 'node:fs';

import { KernelCache } from '../../../src/cache/kernel-cache.js';
import { resultFor, specFor } from '../fixtures.js';

const [dir, index, cubin] = process.argv.slice(2) as [string, string, string];
const warns: string[] = [];
const cache = new KernelCache({
  dir,
  logger: { warn: (m) => warns.push(m), debug: () => {} },
  policy: { maintenanceIntervalMs: 0 },
});
const i = Number(index);
const r = await cache.getOrCompile(specFor(i), async () => resultFor(readFileSync(cubin), `k${i}`));
await cache.close();
process.stdout.write(JSON.stringify({ tier: r.tier, warns, dir: cache.dir }));
