// Child process of launch-features.test.ts: a kernel that printf()s, launched on a foreign stream handle (one made
// by "another library": here the driver directly), then synchronized; the parent reads this process's stdout.
import { driver } from '../../src/cuda/index.js';
import { NvrtcCompiler } from '../../src/compiler/index.js';
import { Device, i32 } from '../../src/runtime/index.js';

const device = Device.get(0);
const r = await new NvrtcCompiler().compile({
  source:
    // printf is one of NVRTC's builtins: no header (NVRTC has no <cstdio>).
    'extern "C" __global__ void hello(int n) { if (threadIdx.x < n) printf("hello from thread %d\\n", threadIdx.x); }',
  arch: device.arch,
  nameExpressions: ['hello'],
});
device.makeCurrent();
const raw = driver.streamCreate(1); // a stream cuop did not make
const stream = device.wrapStream(raw);
device
  .loadModule(r.image)
  .getKernel('hello')
  .launch({ grid: 1, block: 32, stream }, [i32(3)]);
stream.synchronize();
stream.dispose(); // a no-op: not cuop's stream
driver.streamDestroy(raw);
console.log('done');
