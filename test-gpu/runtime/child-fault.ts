// Child of kernel-fault.test.ts: faults a kernel, prints what cuop reported as the last line (JSON).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { KernelCache } from '../../src/cache/index.js';
import { JitCompiler } from '../../src/jit/index.js';
import { Device, i32, KernelFaultError } from '../../src/runtime/index.js';

const kind = process.argv[2];
const SOURCE = `
extern "C" __device__ void __assertfail(const char *, const char *, unsigned, const char *, decltype(sizeof(0)));
extern "C" __global__ void checked(int* x) {
  if (x[threadIdx.x] != 7) __assertfail("x[threadIdx.x] == 7", "fault.cu", 3, "checked", 1);
}
extern "C" __global__ void wild(int* x) { *(int*)(0x10ull + threadIdx.x * 4096ull) = x[0]; }
extern "C" __global__ void twice(float* x, int n) { if (threadIdx.x < n) x[threadIdx.x] *= 2.0f; }`;

async function main(): Promise<void> {
  const jit = new JitCompiler({
    cache: new KernelCache({ dir: mkdtempSync(join(tmpdir(), 'cuop-fault-')), env: {} }),
    compiler: 'nvrtc',
    record: null,
  });
  const device = Device.get(0);
  const name = kind === 'assert' ? 'checked' : 'wild';
  const k = await jit.kernel({ source: SOURCE, name }, device);
  const buf = device.upload(new Int32Array(32));
  k.launch({ grid: 1, block: 32 }, [buf]);
  let first: unknown;
  try {
    device.synchronize();
  } catch (e) {
    first = e;
  }
  let second: unknown;
  try {
    buf.download();
  } catch (e) {
    second = e;
  }
  let afterReset: number[] | { name: string; message: string; kernel: string | undefined };
  try {
    device.reset();
    const twice = await jit.kernel({ source: SOURCE, name: 'twice' }, device);
    const data = device.upload(new Float32Array([1, 2, 3, 4]));
    twice.launch({ grid: 1, block: 32 }, [data, i32(4)]);
    afterReset = [...data.downloadAs(Float32Array)];
  } catch (err) {
    const f = err as KernelFaultError;
    afterReset = { name: f.name, message: f.message, kernel: f.kernel };
  }
  const e = first as KernelFaultError | undefined;
  console.log(
    JSON.stringify({
      name: e?.name,
      kernel: e?.kernel,
      message: e?.message,
      isFault: first instanceof KernelFaultError,
      secondIsSame: second === first,
      afterReset,
    }),
  );
}

main().catch((e: unknown) => {
  console.log(JSON.stringify({ crashed: String(e) }));
  process.exit(1);
});
