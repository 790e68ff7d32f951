// A fresh process for keys.test.ts: runs the VALUE kernel (header tile.cuh on -I argv[3]) through the cache in
// argv[2] and prints where the kernel came from and what it wrote.
import { KernelCache } from '../../src/cache/index.js';
import { JitCompiler } from '../../src/jit/index.js';
import { Device } from '../../src/runtime/index.js';

const [dir, inc] = process.argv.slice(2) as [string, string];
const device = Device.get(0);
const jit = new JitCompiler({ cache: new KernelCache({ dir }) });
const spec = {
  source: '#include "tile.cuh"\nextern "C" __global__ void value(float* x) { x[threadIdx.x] = VALUE; }\n',
  name: 'value',
  options: [`-I${inc}`],
};
const before = jit.getStats().process;
const k = await jit.kernel(spec, device);
const buf = device.upload(new Float32Array(4));
k.launch({ grid: 1, block: 4 }, [buf]);
device.synchronize();
const s = jit.getStats().process;
const tier = s.compiles > before.compiles ? 'compiled' : s.hits['disk'] ? 'disk' : 'other';
process.stdout.write(`${JSON.stringify({ tier, value: buf.downloadAs(Float32Array)[0] })}\n`);
buf.dispose();
await jit.cache.close();
