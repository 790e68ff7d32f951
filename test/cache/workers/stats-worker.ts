// Child process of stats.test.ts: compiles its own `own` keys, then hits the shared key `hits` times from memory
// and once from disk; ends with close() or, with 'exit', by process.exit() (the exit hook must flush).
import { KernelCache } from '../../../src/cache/kernel-cache.js';
import { countingCompile, specFor } from '../fixtures.js';

const [dir, id, ownText, hitsText, ending] = process.argv.slice(2);
const own = Number(ownText);
const hits = Number(hitsText);

const quiet = { debug: () => {}, warn: () => {} };
const cache = new KernelCache({
  dir,
  env: {},
  logger: quiet,
  policy: { statsFlushMs: 50, maintenanceIntervalMs: ending === 'natural' ? 1000 : 0 },
});
for (let i = 0; i < own; i++) {
  await cache.getOrCompile(
    specFor(i % 4, { options: [`-DWORKER=${id}`, `-DI=${i}`] }),
    countingCompile(i % 4).compile,
  );
}
// the shared key was published by the parent: first lookup is a disk hit, the rest memory hits
const shared = specFor(0, { options: ['-DSHARED'] });
for (let i = 0; i < hits; i++) await cache.getOrCompile(shared, countingCompile(0).compile);
if (ending === 'exit') process.exit(0);
// 'natural': neither close() nor exit(): the unref'd timers must not keep the process alive, the exit hook flushes
if (ending !== 'natural') await cache.close();
