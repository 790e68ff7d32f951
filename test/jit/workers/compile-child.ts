// A fresh process for test/jit/dependencies.test.ts: compiles the tile.cuh kernel through the cache in argv[2]
// with -I argv[3], and prints where it came from and which of the two constants its image holds.
import { KernelCache } from '../../../src/cache/index.js';
import { JitCompiler } from '../../../src/jit/index.js';

const [dir, inc] = process.argv.slice(2) as [string, string];
const holds = (image: Buffer, v: number): boolean => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(v);
  return image.includes(b);
};
const jit = new JitCompiler({
  cache: new KernelCache({ dir, logger: { warn: () => {}, debug: () => {} } }),
  compiler: 'nvcc',
});
const r = await jit.compile(
  {
    source: '#include "tile.cuh"\nextern "C" __global__ void k(float* x) { x[threadIdx.x] = VALUE; }\n',
    name: 'k',
    options: [`-I${inc}`],
  },
  'sm_90',
);
process.stdout.write(
  JSON.stringify({ tier: r.tier, holds55: holds(r.entry.image, 5.5), holds65: holds(r.entry.image, 6.5) }),
);
await jit.cache.close();
