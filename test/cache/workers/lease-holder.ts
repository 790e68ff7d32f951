// A process that takes the compile lease of one key (its host's lock file and the fleet's Redis lease) and then
// hangs in its "compile", for the parent to kill: argv = dir, remote URL, prefix, kernel index. Says 'compiling'
// over IPC once it holds both leases.
import { KernelCache } from '../../../src/cache/kernel-cache.js';
import { specFor } from '../fixtures.js';

const [dir, url, prefix, index] = process.argv.slice(2) as [string, string, string, string];
const cache = new KernelCache({
  dir,
  env: {},
  logger: { warn: () => {}, debug: () => {} },
  policy: { maintenanceIntervalMs: 0 },
  remote: { url, prefix, secrets: [{ id: 'k1', secret: 'first-secret-0123456789' }], leaseTtlMs: 10_000 },
});
void cache.getOrCompile(specFor(Number(index)), () => {
  process.send?.('compiling');
  return new Promise(() => {});
});
setInterval(() => {}, 1_000);
