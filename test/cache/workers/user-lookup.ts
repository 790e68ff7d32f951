// Runs as another user (setpriv) in test/cache/multi-user.test.ts, from a world-readable copy of the cache layer:
// argv = cache dir, source text, cubin path returned by the "compile". Prints { tier, dir, warns, imageSha256 }.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { KernelCache } from '../../../src/cache/kernel-cache.js';

const [dir, source, cubin] = process.argv.slice(2) as [string, string, string];
const warns: string[] = [];
const cache = new KernelCache({
  dir,
  logger: { warn: (m) => warns.push(m), debug: () => {} },
  policy: { maintenanceIntervalMs: 0 },
});
const spec = {
  source,
  nameExpressions: ['k'],
  options: [],
  compiler: { id: 'nvcc', version: '13.0.88' },
  target: 'sm_90',
  imageKind: 'cubin' as const,
};
const image = readFileSync(cubin);
const r = await cache.getOrCompile(spec, async () => ({
  image,
  imageKind: 'cubin',
  target: 'sm_90',
  log: '',
  loweredNames: { k: 'k' },
  compileMs: 1,
  compiler: { id: 'nvcc', version: '13.0.88' },
}));
await cache.close();
process.stdout.write(
  JSON.stringify({
    tier: r.tier,
    dir: cache.dir,
    warns,
    imageSha256: createHash('sha256').update(r.entry.image).digest('hex'),
  }),
);
