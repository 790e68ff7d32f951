// Child process of maintenance.test.ts: publishes new entries in a loop until it is killed (SIGKILL).
import { KernelCache } from '../../../src/cache/kernel-cache.js';
import { countingCompile, specFor } from '../fixtures.js';

const [dir, id] = process.argv.slice(2);
const quiet = { debug: () => {}, warn: () => {} };
const cache = new KernelCache({
  dir,
  env: {},
  logger: quiet,
  policy: { statsFlushMs: 20, maintenanceIntervalMs: 0 },
});
const compiles = [0, 1, 2, 3].map((i) => countingCompile(i));
process.send?.('ready');
for (let i = 0; ; i++) {
  const k = i % 4;
  // several publishes in flight at once, so a kill lands between the steps of different ones
  await Promise.all(
    [0, 1, 2].map((j) =>
      cache.getOrCompile(
        specFor(k, { options: [`-DW=${id}`, `-DI=${i}`, `-DJ=${j}`] }),
        compiles[k]!.compile,
      ),
    ),
  );
}
