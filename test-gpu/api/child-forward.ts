// Child process for the wrapper test: one Gemm.forward through JitWrapper over the cache dir in argv[2]; prints the
// tier counters of this process as JSON, and the result's checksum so the parent can compare.
import { Device } from '../../src/runtime/index.js';
import { Gemm, Tensor } from '../../src/ops/index.js';
import { JitWrapper } from '../../src/api/index.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: child-forward.js <cacheDir>');
const device = Device.get(0);
const n = 96;
const values = Float32Array.from({ length: n * n }, (_, i) => ((i * 37) % 101) / 101 - 0.5);
const A = Tensor.fromArray(device, values, [n, n]);
const B = Tensor.fromArray(device, values, [n, n]);
const C = Tensor.empty(device, [n, n]);
const gemm = new JitWrapper(new Gemm()).setPersistentCacheDirectory(dir);
await gemm.forward([A, B], [C]);
const s = gemm.jit.getStats().process;
const sum = C.toArray().reduce((a, b) => a + b, 0);
console.log(JSON.stringify({ compiles: s.compiles, disk: s.hits.disk, memory: s.hits.memory, sum }));
await gemm.jit.cache.close();
