// Child process for the JIT GPU tests and bench: open the cache in argv[2], get the tiled GEMM kernel, launch it once,
// and print one JSON line with the tier it came from and how long the lookup to a launch-ready kernel took.
import { performance } from 'node:perf_hooks';

import { KernelCache } from '../../src/cache/index.js';
import { TILED_GEMM_SOURCE } from '../../src/cli/sample-kernels.js';
import { JitCompiler } from '../../src/jit/index.js';
import { Device, i32 } from '../../src/runtime/index.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: child-lookup.js <cacheDir>');
const device = Device.get(0);
device.makeCurrent(); // driver init and context are not the cache's cost: keep them out of the number
const jit = new JitCompiler({ cache: new KernelCache({ dir }) });
await jit.compilerInfo();
const spec = { source: TILED_GEMM_SOURCE, name: 'tiled_gemm<16>' };
const before = jit.getStats().process;
const t = performance.now();
const k = await jit.kernel(spec, device);
const lookupMs = performance.now() - t;
const after = jit.getStats().process;
const tier =
  after.compiles > before.compiles
    ? 'compiled'
    : after.hits.disk > before.hits.disk
      ? 'disk'
      : after.hits.memory > before.hits.memory
        ? 'memory'
        : 'other';
const buf = device.alloc(4 * 16 * 16);
k.launch({ grid: [1, 1], block: [16, 16] }, [buf, buf, buf, i32(16), i32(16), i32(16)]);
device.synchronize();
buf.dispose();
await jit.cache.close();
console.log(JSON.stringify({ tier, lookupMs }));
