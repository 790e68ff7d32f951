// Child process of deploy-warm.test.ts: a small run of the operators (a GEMM, a softmax, a fused add) through the
// global JIT over the cache dir in argv[2], compiling allowed or not (argv[3] = 'jit' | 'nojit'); CUOP_RECORD in the
// environment records it. Prints this process's counters and each output's checksum as JSON.
import { GlobalJitManager, GlobalPersistentCacheManager } from '../../src/api/index.js';
import { add, gemm, softmax, Tensor } from '../../src/ops/index.js';
import { Device } from '../../src/runtime/index.js';

const [dir, mode] = process.argv.slice(2);
if (!dir || (mode !== 'jit' && mode !== 'nojit'))
  throw new Error('usage: child-ops-run.js <cacheDir> jit|nojit');
GlobalPersistentCacheManager.instance().initialize(dir);
GlobalJitManager.instance().setGlobalConfig({ enableJit: mode === 'jit' });
const device = Device.get(0);
const n = 128;
const values = Float32Array.from({ length: n * n }, (_, i) => ((i * 37) % 101) / 101 - 0.5);
const A = Tensor.fromArray(device, values, [n, n]);
const t0 = performance.now();
const C = await gemm(A, A);
const firstForwardMs = performance.now() - t0;
const afterFirst = GlobalPersistentCacheManager.instance().getStats().process;
const S = await softmax(C);
const D = await add(S, S);
const s = GlobalPersistentCacheManager.instance().getStats().process;
const sum = (t: Tensor): number => t.toArray().reduce((a, b) => a + b, 0);
console.log(
  JSON.stringify({
    compiles: s.compiles,
    disk: s.hits.disk,
    firstForward: { ms: firstForwardMs, disk: afterFirst.hits.disk, compiles: afterFirst.compiles },
    sums: [sum(C), sum(S), sum(D)],
  }),
);
await GlobalJitManager.reset();
